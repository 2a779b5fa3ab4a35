"""The shared policy sources: a polled local directory, or a policy-sync subscription."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hessra_core import pki
from hessra_core.errors import ConfigError
from hessra_core.rpc.subscriber import SnapshotSubscriber
from hessra_core.service.policy_source import PolicyDirSource, fingerprint, open_policy_source

WritePolicy = Callable[..., Path]


@dataclasses.dataclass(frozen=True)
class _Settings:
    policy_dir: Path | None = None
    policy_poll_interval: float = 0.05
    sync_target: str | None = None
    sync_ca_file: Path | None = None
    sync_cert_file: Path | None = None
    sync_key_file: Path | None = None
    snapshot_file: Path | None = None


def test_fingerprint_sees_files_below_but_not_dot_dirs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.toml").write_text("a")
    (tmp_path / "sub" / "b.toml").write_text("bb")
    (tmp_path / ".git" / "HEAD").write_text("ref")
    stamps = fingerprint(tmp_path)
    assert [(name, size) for name, size, _ in stamps] == [("a.toml", 1), ("sub/b.toml", 2)]
    (tmp_path / ".git" / "HEAD").write_text("changed")
    assert fingerprint(tmp_path) == stamps
    (tmp_path / "a.toml").write_text("aaa")
    assert fingerprint(tmp_path) != stamps


async def test_a_directory_compiles_once_per_change(write_policy: WritePolicy) -> None:
    got: list[Any] = []
    source = PolicyDirSource(write_policy(), got.append, interval=60)
    assert await source.load_once() is True
    assert await source.load_once() is False  # nothing changed: nothing compiled
    write_policy(resources=("orders", "reports"))
    assert await source.load_once() is True
    assert [s.digest for s in got] == [got[0].digest, got[1].digest]
    assert got[0].digest != got[1].digest
    assert source.last_error is None


async def test_a_bad_edit_keeps_the_last_good_snapshot(write_policy: WritePolicy) -> None:
    directory = write_policy()
    got: list[Any] = []
    source = PolicyDirSource(directory, got.append, interval=60)
    assert await source.load_once() is True
    (directory / "resources.toml").write_text("version = [not toml\n")
    assert await source.load_once() is False
    assert len(got) == 1
    assert source.last_error is not None
    assert "resources.toml" in source.last_error
    write_policy()
    assert await source.load_once() is True
    assert source.last_error is None


async def test_started_source_picks_up_changes_by_polling(write_policy: WritePolicy) -> None:
    got: list[Any] = []
    source = PolicyDirSource(write_policy(), got.append, interval=0.02, task_name="test-poll")
    await source.start()
    try:
        assert len(got) == 1
        write_policy(resources=("orders", "queue"))
        for _ in range(250):
            if len(got) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(got) == 2
        assert "queue" in {r.name for r in got[1].resources}
    finally:
        await source.stop()
    await source.stop()  # stopping twice is harmless


def test_open_policy_source_picks_the_directory(write_policy: WritePolicy) -> None:
    source = open_policy_source(
        _Settings(policy_dir=write_policy()), lambda s: None, config_source="demo config"
    )
    assert isinstance(source, PolicyDirSource)


def test_open_policy_source_subscribes_to_policy_sync(tmp_path: Path) -> None:
    ca = pki.create_ca("Sync CA")
    client = pki.issue_cert(ca, "client", pki.SubjectNames(uris=["spiffe://test/client"]))
    files = {"ca.pem": ca.cert_pem, "client.pem": client.cert_pem, "client.key": client.key_pem}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    settings = _Settings(
        sync_target="127.0.0.1:1",
        sync_ca_file=tmp_path / "ca.pem",
        sync_cert_file=tmp_path / "client.pem",
        sync_key_file=tmp_path / "client.key",
        snapshot_file=tmp_path / "last.snapshot",
    )
    source = open_policy_source(settings, lambda s: None, config_source="demo config")
    assert isinstance(source, SnapshotSubscriber)
    assert source.current is None


@pytest.mark.parametrize(
    "missing",
    ["sync_target", "sync_ca_file", "sync_cert_file", "sync_key_file"],
    ids=["target", "ca", "cert", "key"],
)
def test_incomplete_sync_settings_are_a_config_error(tmp_path: Path, missing: str) -> None:
    settings = _Settings(
        sync_target="127.0.0.1:1",
        sync_ca_file=tmp_path / "ca.pem",
        sync_cert_file=tmp_path / "client.pem",
        sync_key_file=tmp_path / "client.key",
    )
    settings = dataclasses.replace(settings, **{missing: None})
    with pytest.raises(ConfigError) as caught:
        open_policy_source(settings, lambda s: None, config_source="demo config")
    assert caught.value.problems == ("policy.sync_* settings are incomplete",)
    assert caught.value.source == "demo config"
