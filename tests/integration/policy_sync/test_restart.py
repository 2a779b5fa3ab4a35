"""policy-sync as a real OS process: restart into service from disk with git gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest

from hessra.v1 import policy_pb2
from hessra_core.errors import SnapshotFileError
from hessra_core.policy.snapshot import compile_policy_dir
from hessra_core.snapshot_file import read_snapshot_file, save_snapshot
from hessra_policy_sync.testing import ADMIN_URI, conditions, eventually

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BINARY = Path(sys.executable).parent / "hessra-policy-sync"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, dev_pki, url: str, grpc_port: int, http_port: int) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy-sync.toml"
    path.write_text(
        f"""
[server]
grpc_listen = "127.0.0.1:{grpc_port}"
http_listen = "127.0.0.1:{http_port}"
cert_file = "{dev_pki.server_cert}"
key_file = "{dev_pki.server_key}"
client_ca_file = "{dev_pki.ca_file}"
state_dir = "state"
resync_allowed = ["{ADMIN_URI}"]
shutdown_grace = 1.0

[source]
kind = "git"
url = "{url}"
branch = "main"
poll_interval = 0.5
poll_jitter = 0.1
fetch_timeout = 10
"""
    )
    return path


class Process:
    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [str(BINARY), "--config", str(config)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def events(self) -> list[dict[str, object]]:
        lines = self.log.read_text(errors="replace").splitlines()
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def stop(self, sig: int = signal.SIGKILL) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self._out.close()
        return code


@pytest.fixture
def processes():  # type: ignore[no-untyped-def]
    started: list[Process] = []
    yield started
    for p in started:
        p.stop()


async def http_get(port: int, path: str) -> int:
    async with httpx.AsyncClient() as client:
        try:
            return (await client.get(f"http://127.0.0.1:{port}{path}", timeout=2)).status_code
        except httpx.TransportError:
            return 0


async def test_restart_serves_persisted_snapshot_with_git_gone(
    tmp_path, dev_pki, remote, good_files, subscriber_factory, client_factory, processes
) -> None:
    remote.commit_and_push("v1", good_files(resources=("orders",)))
    grpc_port, http_port = free_port(), free_port()
    config = write_config(tmp_path, dev_pki, remote.url, grpc_port, http_port)
    log = tmp_path / "policy-sync.log"
    first = Process(config, log)
    processes.append(first)

    sub = await subscriber_factory(grpc_port, persist=tmp_path / "issuer-snapshot.bin")
    await eventually(lambda: sub.digest != "", within=30)
    digest = sub.digest
    assert await http_get(http_port, "/readyz") == 200

    # Kill hard (no chance to flush anything), then take the git remote away.
    first.stop(signal.SIGKILL)
    shutil.rmtree(remote.bare)
    second = Process(config, log)
    processes.append(second)

    async def ready() -> bool:
        return await http_get(http_port, "/readyz") == 200

    deadline = time.monotonic() + 30
    while not await ready():
        assert time.monotonic() < deadline, "restarted policy-sync never became ready"
        await asyncio.sleep(0.1)

    admin = client_factory(grpc_port)
    snapshot = (await admin.stub.GetSnapshot(policy_pb2.GetSnapshotRequest(), timeout=5)).snapshot
    assert snapshot.digest == digest

    async def status_fetch_failed() -> policy_pb2.GetStatusResponse | None:
        status = await admin.status()
        return status if conditions(status).get("Ready") == (False, "FetchFailed") else None

    status = None
    deadline = time.monotonic() + 20
    while status is None:
        assert time.monotonic() < deadline
        status = await status_fetch_failed()
        await asyncio.sleep(0.1)
    assert status.serving_digest == digest
    assert status.last_error.step == policy_pb2.ReconcileError.FETCH

    # The subscriber reconnected and resumed by digest: same snapshot, nothing re-sent.
    await eventually(lambda: sub.connected, within=15)
    assert sub.digest == digest
    assert sub.received == 1
    assert any(e.get("event") == "persisted_snapshot_loaded" for e in second.events())

    # SIGTERM: health goes NOT_SERVING, then the process stops cleanly.
    assert second.stop(signal.SIGTERM) == 0
    events = [e.get("event") for e in second.events()]
    tail = events[events.index("shutdown_requested") :]
    assert tail.index("health_changed") < tail.index("policy_sync_stopped")


async def test_truncated_snapshot_file_is_ignored(
    tmp_path, dev_pki, remote, good_files, client_factory, processes
) -> None:
    # A real persisted snapshot, then cut in half as a crash mid-write of a naive writer would.
    policy_dir = tmp_path / "policy"
    policy_dir.mkdir()
    for name, text in good_files().items():
        (policy_dir / name).write_text(text)
    snapshot_file = tmp_path / "state" / "snapshot.bin"
    save_snapshot(snapshot_file, compile_policy_dir(policy_dir))
    data = snapshot_file.read_bytes()
    snapshot_file.write_bytes(data[: len(data) // 2])

    grpc_port, http_port = free_port(), free_port()
    url = (tmp_path / "no-such-remote.git").as_uri()
    config = write_config(tmp_path, dev_pki, url, grpc_port, http_port)
    proc = Process(config, tmp_path / "policy-sync.log")
    processes.append(proc)

    def ignored() -> list[dict[str, object]]:
        return [e for e in proc.events() if e.get("event") == "persisted_snapshot_ignored"]

    [line] = await eventually(ignored, within=30)
    assert line["reason"] == "corrupt_snapshot_file"
    assert "checksum mismatch" in str(line["error"])
    await eventually(lambda: any(e.get("event") == "policy_sync_started" for e in proc.events()))
    assert await http_get(http_port, "/readyz") == 503
    assert await http_get(http_port, "/healthz") == 200
    admin = client_factory(grpc_port)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.stub.GetSnapshot(policy_pb2.GetSnapshotRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = await admin.status()
    assert status.serving_digest == ""
    assert conditions(status)["Ready"] == (False, "FetchFailed")
    assert proc.proc.poll() is None
    # The damaged file is left for inspection, not half-repaired.
    with pytest.raises(SnapshotFileError, match="checksum mismatch"):
        read_snapshot_file(snapshot_file)
