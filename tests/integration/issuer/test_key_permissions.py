"""Private key files other users can read or write are named in a warning at start-up."""

from __future__ import annotations

from typing import Any

import pytest
import structlog


@pytest.mark.parametrize(
    ("mode", "warned"),
    [(0o600, False), (0o440, False), (0o644, True), (0o602, True)],
    ids=["owner-only", "group-read", "world-read", "world-write"],
)
async def test_a_signing_key_open_to_other_users_is_warned_about(
    make_issuer: Any, files: Any, mode: int, warned: bool
) -> None:
    files.key_file.chmod(0o600)
    files.signing_key.chmod(mode)
    with structlog.testing.capture_logs() as logs:
        await make_issuer()
    warnings = [entry for entry in logs if entry["event"] == "private_key_file_exposed"]
    expected = [(str(files.signing_key), f"{mode:04o}")] if warned else []
    assert [(w["path"], w["mode"]) for w in warnings] == expected
    assert all(w["log_level"] == "warning" for w in warnings)
    assert files.keypair.private_pem() not in repr(logs)


async def test_the_tls_key_is_checked_too(make_issuer: Any, files: Any) -> None:
    files.key_file.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        await make_issuer()
    warned = [e["path"] for e in logs if e["event"] == "private_key_file_exposed"]
    assert warned == [str(files.key_file)]
