"""Private key files other users can read or write are named in a warning at start-up.

A world-readable signing key lets anyone on the host co-sign as this organisation; the
signer used to start without a word about it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from hessra_signer.config import SignerConfig

from .conftest import World


def _exposed(logs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (entry["setting"], entry["path"], entry["mode"])
        for entry in logs
        if entry["event"] == "private_key_file_exposed" and entry["log_level"] == "warning"
    ]


@pytest.mark.parametrize(
    ("mode", "warned"),
    [(0o600, False), (0o440, False), (0o644, True), (0o602, True)],
    ids=["owner-only", "group-read", "world-read", "world-write"],
)
async def test_a_signing_key_open_to_other_users_is_warned_about(
    make_signer: Callable[..., Any], config: SignerConfig, world: World, mode: int, warned: bool
) -> None:
    config.key_file.chmod(0o600)
    config.signing_key_file.chmod(mode)
    with structlog.testing.capture_logs() as logs:
        await make_signer()
    path = str(config.signing_key_file)
    assert _exposed(logs) == ([("signer.key_file", path, f"{mode:04o}")] if warned else [])
    assert world.signer.private_pem() not in repr(logs)


async def test_the_tls_key_and_the_policy_sync_client_key_are_checked_too(
    make_signer: Callable[..., Any], config: SignerConfig, tmp_path: Path
) -> None:
    """The sync key is only read when subscribing; its mode is checked whatever the source."""
    sync_key = tmp_path / "sync.key"
    sync_key.write_bytes(config.key_file.read_bytes())
    sync_key.chmod(0o604)
    config.signing_key_file.chmod(0o600)
    config.key_file.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        await make_signer(sync_key_file=sync_key)
    assert _exposed(logs) == [
        ("server.key_file", str(config.key_file), "0644"),
        ("policy.sync_key_file", str(sync_key), "0604"),
    ]
