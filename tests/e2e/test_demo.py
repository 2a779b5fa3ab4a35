"""``make demo`` and ``make up`` as a user runs them: real processes under honcho, real git.

Each test runs ``deploy/local/demo.py`` or ``up.py`` with a temporary output directory and
a free, non-default port base, bounded in time, and checks what a user sees: every
step's PASS line, a FAIL line naming the problem, and every port free again afterwards
(no service left behind, also after Ctrl-C).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "local" / "demo.py"
UP = ROOT / "deploy" / "local" / "up.py"
PORTS = 11  # endpoints per stack (deploy/local/stack.py PORT_OFFSETS)
STEPS = 6
RUN_LIMIT = 180  # seconds for a whole demo run on a loaded machine


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_base() -> int:
    """A port base, away from the default 27150, whose whole range is free."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 26000, PORTS + 1)
        if all(_bindable(base + i) for i in range(PORTS)):
            return base
    raise AssertionError("no free range of loopback ports")


def _all_free(base: int, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(_bindable(base + i) for i in range(PORTS)):
            return True
        time.sleep(0.2)
    return False


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")}


@pytest.mark.timeout(RUN_LIMIT + 30)
def test_demo_passes_every_step_and_stops_everything(tmp_path: Path) -> None:
    base = _free_base()
    done = subprocess.run(
        [sys.executable, DEMO, "--out", tmp_path / "demo", "--port-base", str(base)],
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT,
        cwd=ROOT,
        env=_env(),
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    for number in range(1, STEPS + 1):
        assert re.search(rf"^== Step {number}/{STEPS}: ", done.stdout, re.M), output
        assert re.search(rf"^PASS step {number}: ", done.stdout, re.M), output
    assert "FAIL" not in done.stdout
    assert f"demo: all {STEPS} steps passed" in done.stdout
    # What the steps must have shown, not just that they returned.
    assert "Missing attestation from: fraud_detection" in done.stdout
    assert "Required signature from legal_dept not found" in done.stdout
    assert re.search(r"orders/write is live \d+\.\d+s after the webhook", done.stdout)
    assert re.search(r"clients\.toml:\d+:\d+: error: unknown resource `ordrs`", done.stdout)
    assert _all_free(base), "a service still holds a port after the demo exited"


def test_demo_names_a_busy_port_and_starts_nothing(tmp_path: Path) -> None:
    base = _free_base()
    issuer_port = base + 4
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", issuer_port))
        blocker.listen()
        done = subprocess.run(
            [sys.executable, DEMO, "--out", tmp_path / "demo"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={**_env(), "HESSRA_DEMO_PORT_BASE": str(base)},
            check=False,
        )
    assert done.returncode == 1
    assert f"127.0.0.1:{issuer_port} (issuer) is already in use" in done.stderr
    assert "HESSRA_DEMO_PORT_BASE" in done.stderr
    assert "PASS step" not in done.stdout
    assert _all_free(base, within=5)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "HESSRA_DEMO_PORT_BASE='lots' is not a port number"),
        ("80", "port base 80 is out of range"),
        ("65530", "port base 65530 is out of range"),
    ],
    ids=["not-a-number", "privileged", "past-the-end"],
)
def test_a_bad_port_base_is_named(tmp_path: Path, value: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, DEMO, "--out", tmp_path / "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**_env(), "HESSRA_DEMO_PORT_BASE": value},
        check=False,
    )
    assert done.returncode == 1
    assert message in done.stderr
    assert not (tmp_path / "demo").exists()


def test_demo_refuses_to_wipe_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    done = subprocess.run(
        [sys.executable, DEMO, "--out", precious, "--port-base", str(_free_base())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=_env(),
        check=False,
    )
    assert done.returncode == 1
    assert "was not made by the local stack" in done.stderr
    assert (precious / "notes.txt").read_text() == "keep me"


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """stdout lines until one contains ``marker`` (the process must still be running)."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} never printed; got:\n{''.join(seen)}")


@pytest.mark.timeout(RUN_LIMIT + 30)
def test_ctrl_c_during_the_demo_stops_every_service(tmp_path: Path) -> None:
    base = _free_base()
    proc = subprocess.Popen(
        [sys.executable, DEMO, "--out", tmp_path / "demo", "--port-base", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        _read_until(proc, "PASS step 1:", RUN_LIMIT / 2)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert _all_free(base), "a service outlived Ctrl-C"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(RUN_LIMIT + 30)
def test_a_killed_demo_takes_its_services_down(tmp_path: Path) -> None:
    base = _free_base()
    proc = subprocess.Popen(
        [sys.executable, DEMO, "--out", tmp_path / "demo", "--port-base", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=_env(),
    )
    try:
        _read_until(proc, "all five services SERVING", RUN_LIMIT / 2)
        assert not _all_free(base, within=0.1)
        proc.kill()  # SIGKILL: no handler, no finally block runs
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert _all_free(base), "services outlived a killed demo"


def _try_it_commands(printed: str) -> list[str]:
    """The copy-paste block of ``make up``, one shell command per entry."""
    block = printed.split("Try it from another terminal in the repository root:\n", 1)[1]
    block = block.split("\n\n", 1)[0]
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


@pytest.mark.timeout(RUN_LIMIT + 30)
def test_up_serves_until_ctrl_c_and_its_commands_work(tmp_path: Path) -> None:
    base = _free_base()
    out = tmp_path / "stack"
    proc = subprocess.Popen(
        [sys.executable, UP, "--out", out, "--port-base", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
        start_new_session=True,
    )
    try:
        printed = _read_until(proc, "applies a push at once", RUN_LIMIT / 2)
        assert f"127.0.0.1:{base + 4}" in printed  # the issuer's endpoint
        commands = _try_it_commands(printed)
        assert commands[0].startswith(". .venv/bin/activate && source ")
        assert len(commands) >= 8
        # Run them as printed, from a directory that looks like the repository root.
        (tmp_path / "user").mkdir()
        (tmp_path / "user" / ".venv").symlink_to(ROOT / ".venv")
        script = "set -e -o pipefail\n" + "\n".join(commands) + "\n"
        ran = subprocess.run(
            ["bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path / "user",
            env=_env(),
            check=False,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "valid: uri:urn:service:api-gateway may read orders" in ran.stdout
        assert "attested by api_gateway" in ran.stdout
        assert '"serving_revision": "main@sha1:' in ran.stdout
        # A second run must not empty the directory of the running stack.
        second = subprocess.run(
            [sys.executable, DEMO, "--out", out, "--port-base", str(_free_base())],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=_env(),
            check=False,
        )
        assert second.returncode == 1
        assert f"a stack is running from {out}" in second.stderr
        assert (out / "Procfile").exists()
        assert proc.poll() is None, "the stack stopped on its own"
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "every service is down" in stdout
    assert _all_free(base), "a service outlived Ctrl-C"
