"""SIGTERM while the signer starts is a clean stop (exit 0), as once it serves.

The signer used to install its signal handlers only once start-up was over: a pod
deleted while the signer compiled its policy or read its persisted snapshot died by the
signal (exit status -15, 143 in a container) with no log line, which reads as a crash.

Start-up is held open deterministically: the persisted snapshot file is a FIFO, so the
signer blocks reading it (after its gRPC server started) until the test opens and closes
the other end.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from hessra_core.testing import ServiceProcess, console_script
from hessra_signer.config import SignerConfig

from .conftest import SIGNER, World

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sigterm_while_reading_the_persisted_snapshot_exits_0(
    config: SignerConfig, world: World, tmp_path: Path
) -> None:
    fifo = tmp_path / "snapshot.bin"
    os.mkfifo(fifo)
    gateway = world.certs["gateway"]
    (tmp_path / "sync.crt").write_bytes(gateway.cert_pem)
    (tmp_path / "sync.key").write_bytes(gateway.key_pem)
    (tmp_path / "sync-ca.pem").write_bytes(world.ca.cert_pem)
    proc = ServiceProcess(
        "signer",
        [
            console_script("hessra-signer"),
            "--name", SIGNER,
            "--signing-key", config.signing_key_file,
            "--issuer-public-key", world.issuer.public_key.to_string(),
            "--listen", "127.0.0.1:0",
            "--cert-file", config.cert_file,
            "--key-file", config.key_file,
            "--sync-target", "127.0.0.1:1",  # never reached: start-up ends before
            "--sync-ca-file", tmp_path / "sync-ca.pem",
            "--sync-cert-file", tmp_path / "sync.crt",
            "--sync-key-file", tmp_path / "sync.key",
            "--snapshot-file", fifo,
            "--shutdown-grace", "0.5",
        ],
        tmp_path / "signer.log",
    )  # fmt: skip
    try:
        code = proc.sigterm_during_start(
            fifo, held_after="server_started", started="signer_started"
        )
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.stop()
    log = (tmp_path / "signer.log").read_text()[-3000:]
    assert code == 0, log
    assert proc.events("shutdown_requested_during_start"), log
