"""Secret files other users can read or write are named in a warning at start-up.

policy-sync reads a TLS key, a git credential (SSH key or HTTPS token) and webhook
secrets; it used to start without a word when any of them was world-readable.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
import tomli_w

from hessra_core.testing import GitRemote
from hessra_policy_sync.config import PolicySyncConfig, WebhookConfig, load_config
from hessra_policy_sync.testing import SECRETS, DevPki, make_config

from .conftest import AppFactory


def _exposed(logs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (entry["setting"], entry["path"], entry["mode"])
        for entry in logs
        if entry["event"] == "private_key_file_exposed" and entry["log_level"] == "warning"
    ]


def _secret(path: Path, mode: int, text: str = "s3cr3t-value") -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _server_key(dev_pki: DevPki, tmp_path: Path, mode: int) -> Path:
    key = tmp_path / "server.key"  # a copy: the session's PKI files are shared
    shutil.copyfile(dev_pki.server_key, key)
    key.chmod(mode)
    return key


def _base(dev_pki: DevPki, tmp_path: Path, remote: GitRemote) -> PolicySyncConfig:
    return make_config(dev_pki, tmp_path / "state", remote.url)


async def test_each_exposed_secret_file_is_named_and_private_ones_are_not(
    start_app: AppFactory, dev_pki: DevPki, tmp_path: Path, remote: GitRemote
) -> None:
    key = _server_key(dev_pki, tmp_path, 0o644)
    token = _secret(tmp_path / "token", 0o604, "ghp-NOT-IN-LOGS")
    github = _secret(tmp_path / "github.secret", 0o440)
    generic = _secret(tmp_path / "generic.secret", 0o444)
    config = _base(dev_pki, tmp_path, remote)
    with structlog.testing.capture_logs() as logs:
        await start_app(
            server=replace(config.server, key_file=key),
            source=replace(config.source, token_file=token),
            webhook=WebhookConfig(
                secrets=SECRETS,
                secret_files=(
                    ("webhook.github_secret_file", github),
                    ("webhook.generic_secret_file", generic),
                ),
            ),
        )
    assert _exposed(logs) == [
        ("server.key_file", str(key), "0644"),
        ("source.token_file", str(token), "0604"),
        ("webhook.generic_secret_file", str(generic), "0444"),
    ]
    assert "ghp-NOT-IN-LOGS" not in repr(logs)


async def test_an_exposed_ssh_key_is_named_and_private_files_start_quietly(
    start_app: AppFactory, dev_pki: DevPki, tmp_path: Path, remote: GitRemote
) -> None:
    config = _base(dev_pki, tmp_path, remote)
    key = _server_key(dev_pki, tmp_path, 0o600)
    ssh_key = _secret(tmp_path / "id_ed25519", 0o600)
    with structlog.testing.capture_logs() as quiet:
        app = await start_app(
            server=replace(config.server, key_file=key),
            source=replace(config.source, ssh_key_file=ssh_key),
        )
    await app.stop(grace=0.1)
    ssh_key.chmod(0o644)
    with structlog.testing.capture_logs() as logs:
        await start_app(
            server=replace(config.server, key_file=key),
            source=replace(config.source, ssh_key_file=ssh_key),
        )
    assert _exposed(quiet) == []
    assert _exposed(logs) == [("source.ssh_key_file", str(ssh_key), "0644")]


def test_the_config_keeps_where_each_webhook_secret_came_from(tmp_path: Path) -> None:
    """The secrets' paths are kept (never their values) so start-up can check them."""
    github = _secret(tmp_path / "gh", 0o600)
    generic = _secret(tmp_path / "generic", 0o600)
    (tmp_path / "policy").mkdir()
    path = tmp_path / "policy-sync.toml"
    path.write_text(
        tomli_w.dumps(
            {
                "server": {"plaintext_grpc": True, "state_dir": str(tmp_path / "state")},
                "source": {"kind": "dir", "path": str(tmp_path / "policy")},
                "webhook": {"github_secret_file": str(github), "generic_secret_file": "generic"},
            }
        )
    )
    config = load_config(path, env={})
    assert config.webhook.secret_files == (
        ("webhook.github_secret_file", github),
        ("webhook.generic_secret_file", generic),
    )
    assert config.webhook.secrets.github == b"s3cr3t-value"
    assert "s3cr3t-value" not in repr(config)
