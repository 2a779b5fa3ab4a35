"""SIGTERM while the supervisor waits for its workers is a clean stop, not a failed start.

A pod deleted while the issuer starts used to exit 1 with "issuer_start_failed: workers
did not report ready in time", which reads as a broken deployment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ISSUER = Path(sys.executable).with_name("hessra-issuer")


def test_sigterm_during_start_up_exits_0_without_a_start_failure(files: Any) -> None:
    config = files.write_config(2)
    log_path = files.root / "issuer.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(ISSUER), "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("HESSRA_ISSUER_")},
        )
        try:
            # The supervisor logs worker_started once its signal handlers are in place and
            # it has spawned a worker; the workers take a while longer to report ready.
            deadline = time.monotonic() + 30
            while b"worker_started" not in log_path.read_bytes():
                assert time.monotonic() < deadline, log_path.read_text()
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.02)
            assert not (files.root / "port.json").exists(), "workers were ready too soon"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text()
    assert code == 0, output
    assert "issuer_start_failed" not in output
    assert "did not report ready" not in output
