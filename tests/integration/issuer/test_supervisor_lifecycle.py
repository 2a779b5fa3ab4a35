"""The issuer supervisor's process lifecycle as an orchestrator or a laptop exercises it.

- A supervisor killed outright (SIGKILL, a crashed ``honcho``) must not leave workers
  behind: orphans keep serving a stale policy on the port, and with a fixed port a new
  supervisor's workers bind it beside them (``SO_REUSEPORT``), so callers would reach both.
- A configuration problem a worker finds while starting (an address it cannot bind)
  exits 2, as it does with one process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ISSUER = Path(sys.executable).with_name("hessra-issuer")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _write_config(files: Any, *, listen: str, processes: int) -> Path:
    config = files.root / "issuer.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "server": {
                    "listen": listen,
                    "cert_file": str(files.cert_file),
                    "key_file": str(files.key_file),
                    "processes": processes,
                    "port_file": str(files.root / "port.json"),
                    "shutdown_grace": 1.0,
                },
                "keys": {"signing_key_files": [str(files.signing_key)]},
                "policy": {"dir": str(files.policy_dir)},
            }
        )
    )
    return config


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(ISSUER), "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("HESSRA_ISSUER_")},
        )


@pytest.fixture
def reaped() -> Iterator[list[int]]:
    """Pids to SIGKILL after the test, so a failing test leaves no orphan behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_workers_exit_when_the_supervisor_is_killed(files: Any, reaped: list[int]) -> None:
    config = _write_config(files, listen="127.0.0.1:0", processes=2)
    log = files.root / "issuer.log"
    proc = _start(config, log)
    reaped.append(proc.pid)
    port_file = files.root / "port.json"
    deadline = time.monotonic() + 60
    while not port_file.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    pids = json.loads(port_file.read_text())["pids"]
    reaped.extend(pids)
    assert len(pids) == 2
    assert all(_alive(pid) for pid in pids)

    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if _alive(pid)] == [], log.read_text()


def test_worker_that_cannot_bind_its_address_exits_2_like_one_process(files: Any) -> None:
    # A plain listener (no SO_REUSEPORT) holds the port: no worker can bind it.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        listen = f"127.0.0.1:{holder.getsockname()[1]}"
        codes = {}
        for processes in (1, 2):
            config = _write_config(files, listen=listen, processes=processes)
            log = files.root / f"issuer-{processes}.log"
            proc = _start(config, log)
            try:
                codes[processes] = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            output = log.read_text()
            assert listen in output, output
            assert "Traceback" not in output, output
    finally:
        holder.close()
    assert codes == {1: 2, 2: 2}
