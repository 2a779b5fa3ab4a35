"""The issuer supervisor's process lifecycle as an orchestrator or a laptop exercises it.

- A supervisor killed outright (SIGKILL, a crashed ``honcho``) must not leave workers
  behind: orphans keep serving a stale policy on the port, and with a fixed port a new
  supervisor's workers bind it beside them (``SO_REUSEPORT``), so callers would reach both.
- A configuration problem a worker finds while starting (an address it cannot bind)
  exits 2, as it does with one process.
"""

from __future__ import annotations

import contextlib
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

from hessra_issuer.supervisor import MAX_RESTARTS

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
    config = files.write_config(2)
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
            config = files.write_config(processes, listen=listen)
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


def _events(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines (workers share the file, so a line may come out torn)."""
    events = []
    for line in log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


def _kill_worker_0(
    proc: subprocess.Popen[bytes], port_file: Path, log: Path, *, times: int, reaped: list[int]
) -> None:
    """SIGKILL worker 0 each time it is (re)started, until the supervisor saw ``times``
    deaths."""
    seen: set[int] = set()

    def fresh() -> int | None:
        info = None
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(port_file.read_text())
        pid = info["pids"][0] if info else None
        return pid if pid is not None and pid not in seen else None

    for deaths in range(1, times + 1):
        deadline = time.monotonic() + 60
        while (pid := fresh()) is None:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        seen.add(pid)
        reaped.append(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not any(
            e.get("event") == "worker_died" and e.get("recent_deaths") == deaths
            for e in _events(log)
        ):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)


def test_sigterm_during_a_restart_backoff_starts_no_new_worker(
    files: Any, reaped: list[int]
) -> None:
    """The delay before a restart grows to seconds; a SIGTERM then stops at once."""
    config = files.write_config(2)
    log = files.root / "issuer.log"
    proc = _start(config, log)
    reaped.append(proc.pid)
    try:
        # Four deaths make the fourth delay 0.2 * 2**3 = 1.6 s.
        _kill_worker_0(proc, files.root / "port.json", log, times=4, reaped=reaped)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = _events(log)
    assert code == 0, log.read_text()
    last_death = max(i for i, e in enumerate(events) if e.get("event") == "worker_died")
    late = [e for e in events[last_death:] if e.get("event") == "worker_started"]
    assert late == [], log.read_text()


def test_sigterm_drains_workers_and_kills_one_that_does_not_stop(
    files: Any, reaped: list[int]
) -> None:
    config = files.write_config(2)
    log = files.root / "issuer.log"
    proc = _start(config, log)
    reaped.append(proc.pid)
    try:
        port_file = files.root / "port.json"
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        stuck, draining = json.loads(port_file.read_text())["pids"]
        reaped.extend((stuck, draining))
        os.kill(stuck, signal.SIGSTOP)  # a stopped process acts on no SIGTERM
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0, log.read_text()
    assert not _alive(stuck)
    assert not _alive(draining)
    events = _events(log)
    killed = [e for e in events if e.get("event") == "worker_killed"]
    assert [e["pid"] for e in killed] == [stuck], log.read_text()
    # The other worker drained: NOT_SERVING first, then a graceful stop.
    drained = [e.get("event") for e in events if e.get("pid") == draining]
    assert "shutdown_requested" in drained, log.read_text()


def test_a_worker_that_keeps_dying_stops_the_supervisor_with_exit_1(
    files: Any, reaped: list[int]
) -> None:
    """Not half the capacity for ever: after MAX_RESTARTS restarts within the window the
    supervisor gives up, so the orchestrator restarts the pod."""
    config = files.write_config(2)
    log = files.root / "issuer.log"
    proc = _start(config, log)
    reaped.append(proc.pid)
    try:
        _kill_worker_0(proc, files.root / "port.json", log, times=MAX_RESTARTS + 1, reaped=reaped)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 1, log.read_text()
    events = [e.get("event") for e in _events(log)]
    assert "worker_restarts_exhausted" in events, log.read_text()
    pids = {e["pid"] for e in _events(log) if e.get("event") == "worker_started"}
    assert [pid for pid in pids if _alive(pid)] == []


def test_a_restarted_worker_that_never_gets_ready_is_replaced(
    files: Any, reaped: list[int]
) -> None:
    """A replacement that hangs while starting (stopped here with SIGSTOP) is killed after
    the ready timeout and counted as a death, not kept for ever at half the capacity."""
    # Long enough for a healthy worker to start on a busy CI machine, short enough to wait out.
    ready_timeout = 10.0
    config = files.write_config(2, worker_ready_timeout=ready_timeout)
    log = files.root / "issuer.log"
    proc = _start(config, log)
    reaped.append(proc.pid)

    def started() -> list[int]:
        return [e["pid"] for e in _events(log) if e.get("event") == "worker_started"]

    try:
        port_file = files.root / "port.json"
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        victim = json.loads(port_file.read_text())["pids"][0]
        reaped.append(victim)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(started()) < 3:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        hung = started()[2]
        reaped.append(hung)
        os.kill(hung, signal.SIGSTOP)  # before it imported enough to report ready
        deadline = time.monotonic() + ready_timeout + 30
        while len(started()) < 4:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert hung not in json.loads(port_file.read_text())["pids"], "ready before stopped"
        assert not _alive(hung)
        replacement = started()[3]
        reaped.append(replacement)
        deadline = time.monotonic() + 60
        while replacement not in json.loads(port_file.read_text())["pids"]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
