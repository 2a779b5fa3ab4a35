"""``hessra-policy-sync`` exits like the other services: 2 for a configuration problem.

An address that cannot be bound is found only while starting (the issuer and the signer
report it as ``<prog>: invalid server: ...`` and exit 2); policy-sync used to die with a
traceback and exit 1, which reads as a crash rather than a bad setting.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hessra_core.testing import console_script

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run_with_port_taken(
    tmp_path: Path, files: dict[str, str], flag: str
) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run policy-sync with ``flag`` on an address a plain listener holds."""
    policy = tmp_path / "policy"
    policy.mkdir()
    for name, text in files.items():
        (policy / name).write_text(text)
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    listen = f"127.0.0.1:{holder.getsockname()[1]}"
    addresses = {"--grpc-listen": "127.0.0.1:0", "--http-listen": "127.0.0.1:0", flag: listen}
    try:
        result = subprocess.run(
            [
                console_script("hessra-policy-sync"),
                "--source-kind", "dir",
                "--source-dir", policy,
                "--state-dir", tmp_path / "state",
                *[part for item in addresses.items() for part in item],
                "--plaintext-grpc",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
    finally:
        holder.close()
    return result, listen


def test_grpc_address_in_use_exits_2_naming_it(
    tmp_path: Path, good_files: Callable[..., dict[str, str]]
) -> None:
    result, listen = _run_with_port_taken(tmp_path, good_files(), "--grpc-listen")
    assert result.returncode == 2, result.stderr
    assert f"hessra-policy-sync: invalid server:\n  - main listener {listen}" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_a_start_that_fails_half_way_stops_what_it_started(
    tmp_path: Path, good_files: Callable[..., dict[str, str]]
) -> None:
    # The gRPC server is up when the HTTP address turns out to be taken.
    result, _ = _run_with_port_taken(tmp_path, good_files(), "--http-listen")
    assert result.returncode != 0, result.stderr
    assert '"event": "server_started"' in result.stderr, result.stderr
    assert '"event": "policy_sync_stopped"' in result.stderr, result.stderr


def test_http_address_in_use_exits_2_naming_it(
    tmp_path: Path, good_files: Callable[..., dict[str, str]]
) -> None:
    result, listen = _run_with_port_taken(tmp_path, good_files(), "--http-listen")
    assert result.returncode == 2, result.stderr
    assert f"server.http_listen {listen}: cannot bind" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
