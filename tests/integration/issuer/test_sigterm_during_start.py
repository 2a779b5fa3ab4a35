"""SIGTERM while a single-process issuer starts is a clean stop (exit 0), as once it serves.

Without a supervisor the issuer installed its signal handlers only once start-up was
over: a pod deleted while it read its persisted snapshot died by the signal (exit
status -15, 143 in a container) with no log line, which reads as a crash.

Start-up is held open deterministically: the persisted snapshot file is a FIFO, so the
issuer blocks reading it (after its gRPC server started) until the test opens and closes
the other end.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hessra_core.testing import ServiceProcess, console_script

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sigterm_while_reading_the_persisted_snapshot_exits_0(
    files: Any, ids: Any, tmp_path: Path
) -> None:
    fifo = tmp_path / "snapshot.bin"
    os.mkfifo(fifo)
    (tmp_path / "sync-ca.pem").write_bytes(ids.ca.cert_pem)
    proc = ServiceProcess(
        "issuer",
        [
            console_script("hessra-issuer"),
            "--signing-key", files.signing_key,
            "--listen", "127.0.0.1:0",
            "--cert-file", files.cert_file,
            "--key-file", files.key_file,
            "--sync-target", "127.0.0.1:1",  # never reached: start-up ends before
            "--sync-ca-file", tmp_path / "sync-ca.pem",
            "--sync-cert-file", files.cert_file,
            "--sync-key-file", files.key_file,
            "--snapshot-file", fifo,
            "--shutdown-grace", "0.5",
        ],
        tmp_path / "issuer.log",
    )  # fmt: skip
    try:
        code = proc.sigterm_during_start(
            fifo, held_after="server_started", started="issuer_started"
        )
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.stop()
    log = (tmp_path / "issuer.log").read_text()[-3000:]
    assert code == 0, log
    assert proc.events("shutdown_requested_during_start"), log
