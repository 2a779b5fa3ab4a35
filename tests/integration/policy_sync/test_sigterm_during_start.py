"""SIGTERM while policy-sync starts is a clean stop (exit 0), as once it serves.

Start-up is held open deterministically: the persisted snapshot in the state directory
is a FIFO, so policy-sync blocks reading it until the test opens and closes the other
end. The signal handlers are in place by then, so the stop waits for start-up to finish
and then shuts down as usual.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hessra_core.testing import ServiceProcess, console_script
from hessra_policy_sync.store import SNAPSHOT_FILE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sigterm_while_reading_the_persisted_snapshot_exits_0(
    tmp_path: Path, good_files: Callable[..., dict[str, str]]
) -> None:
    policy = tmp_path / "policy"
    policy.mkdir()
    for name, text in good_files().items():
        (policy / name).write_text(text)
    state = tmp_path / "state"
    state.mkdir()
    os.mkfifo(state / SNAPSHOT_FILE)
    proc = ServiceProcess(
        "policy-sync",
        [
            console_script("hessra-policy-sync"),
            "--source-kind", "dir",
            "--source-dir", policy,
            "--state-dir", state,
            "--grpc-listen", "127.0.0.1:0",
            "--http-listen", "127.0.0.1:0",
            "--plaintext-grpc",  # logged just before the persisted snapshot is read
        ],
        tmp_path / "policy-sync.log",
    )  # fmt: skip
    try:
        code = proc.sigterm_during_start(
            state / SNAPSHOT_FILE,
            held_after="INSECURE_PLAINTEXT_GRPC",
            started="policy_sync_started",
        )
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.stop()
    log = (tmp_path / "policy-sync.log").read_text()[-3000:]
    assert code == 0, log
    assert proc.events("shutdown_requested"), log
    assert proc.events("policy_sync_stopped"), log
