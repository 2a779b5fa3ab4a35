"""The issuer as real OS processes: two workers on one port, supervised, policy swaps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hessra.v1 import issuer_pb2, issuer_pb2_grpc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ISSUER = Path(sys.executable).with_name("hessra-issuer")
ORDERS = issuer_pb2.RequestTokenRequest(resource="orders", operation="read")


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _read_port_file(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Processes:
    def __init__(self, files: Any, ids: Any, processes: int) -> None:
        self.files = files
        self.ids = ids
        self.port_file = files.root / "port.json"
        config = files.write_config(processes, poll_interval=0.2)
        self.log = (files.root / "issuer.log").open("wb")
        self.proc = subprocess.Popen(
            [str(ISSUER), "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("HESSRA_ISSUER_")},
        )
        self.info = _wait_for(lambda: _read_port_file(self.port_file), 60, "the port file")

    def call(self, who: str = "uri") -> tuple[str, grpc.StatusCode]:
        """One request on a NEW connection (the kernel picks the worker per connection)."""
        cert = self.ids.certs[who]
        creds = grpc.ssl_channel_credentials(self.ids.ca.cert_pem, cert.key_pem, cert.cert_pem)
        with grpc.secure_channel(
            f"127.0.0.1:{self.info['port']}",
            creds,
            options=[("grpc.ssl_target_name_override", "localhost")],
        ) as channel:
            stub = issuer_pb2_grpc.IssuerStub(channel)
            try:
                _, call = stub.RequestToken.with_call(ORDERS, timeout=10)
                code, trailing = grpc.StatusCode.OK, call.trailing_metadata()
            except grpc.RpcError as exc:
                code, trailing = exc.code(), exc.trailing_metadata()
        return dict(trailing or ())["x-hessra-worker-pid"], code

    def answers_until_all_pids(self, pids: set[str], limit: int = 200) -> dict[str, set[Any]]:
        seen: dict[str, set[Any]] = {}
        for _ in range(limit):
            pid, code = self.call()
            seen.setdefault(pid, set()).add(code)
            if pids <= set(seen):
                return seen
        raise AssertionError(f"only pids {sorted(seen)} answered in {limit} connections")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


@pytest.fixture
def two_workers(files: Any, ids: Any) -> Iterator[Processes]:
    procs = Processes(files, ids, processes=2)
    try:
        yield procs
    finally:
        procs.stop()


def test_two_workers_serve_and_a_policy_swap_reaches_both(
    two_workers: Processes, policy: Any
) -> None:
    pids = {str(p) for p in two_workers.info["pids"]}
    assert len(pids) == 2
    assert str(two_workers.proc.pid) not in pids  # the parent only supervises
    seen = two_workers.answers_until_all_pids(pids)
    assert all(codes == {grpc.StatusCode.OK} for codes in seen.values()), seen

    gateway = policy.clients[0]
    gateway["resources"] = [r for r in gateway["resources"] if r["name"] != "orders"]
    policy.write(two_workers.files.policy_dir)
    # Every worker follows the policy on its own; wait until both deny.
    denied: set[str] = set()
    deadline = time.monotonic() + 30
    while denied != pids and time.monotonic() < deadline:
        pid, code = two_workers.call()
        if code is grpc.StatusCode.PERMISSION_DENIED:
            denied.add(pid)
    assert denied == pids


def test_supervisor_restarts_a_crashed_worker_and_stops_on_sigterm(
    two_workers: Processes,
) -> None:
    victim, survivor = two_workers.info["pids"]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> dict[str, Any] | None:
        info = _read_port_file(two_workers.port_file)
        return info if info and victim not in info["pids"] and len(info["pids"]) == 2 else None

    info = _wait_for(replaced, 30, "a replacement worker")
    assert survivor in info["pids"]
    assert info["port"] == two_workers.info["port"]
    two_workers.answers_until_all_pids({str(p) for p in info["pids"]})
    assert two_workers.stop() == 0
    for pid in info["pids"]:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_single_process_cli_with_flags(files: Any, ids: Any, tmp_path: Path) -> None:
    port_file = tmp_path / "single.json"
    log = (tmp_path / "single.log").open("wb")
    proc = subprocess.Popen(
        [
            str(ISSUER),
            "--policy-dir",
            str(files.policy_dir),
            "--cert-file",
            str(files.cert_file),
            "--key-file",
            str(files.key_file),
            "--signing-key",
            str(files.signing_key),
            "--listen",
            "127.0.0.1:0",
            "--port-file",
            str(port_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        info = _wait_for(lambda: _read_port_file(port_file), 30, "the port file")
        assert info["pids"] == [proc.pid]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    lines = [
        json.loads(line)
        for line in (tmp_path / "single.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(line.get("event") == "issuer_started" for line in lines)


def test_bad_config_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nlisten = "nowhere"\nprocesses = 0\n[keys]\nbogus = 1\n')
    result = subprocess.run(
        [str(ISSUER), "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    for expected in (
        "unknown key `keys.bogus`",
        "server.listen",
        "server.processes",
        "server.cert_file is required",
        "exactly one of policy.dir",
    ):
        assert expected in result.stderr
