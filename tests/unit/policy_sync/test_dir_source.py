"""The directory source's revision key, with files the policy does not use beside it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hessra_core import pki
from hessra_core.policy import validate
from hessra_core.testing import paired_policy_change, write_files_atomically
from hessra_policy_sync.config import DirSourceConfig
from hessra_policy_sync.dir_source import DirSource, fingerprint
from hessra_policy_sync.hub import SnapshotHub
from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.policy_adapter import compile_snapshot
from hessra_policy_sync.reconcile import Reconciler
from hessra_policy_sync.status import SyncStatus
from hessra_policy_sync.testing import policy_files

CA = pki.create_ca().cert_pem


def _reconciler(source: DirSource, hub: SnapshotHub) -> Reconciler:
    return Reconciler(
        source=source,
        compiler=compile_snapshot,
        hub=hub,
        persist=lambda snapshot: None,
        status=SyncStatus(source=source.display, branch=None),
        metrics=PolicySyncMetrics(),
    )


async def test_a_file_name_that_is_not_utf8_does_not_wedge_the_reconcile(tmp_path: Path) -> None:
    # Linux file names are bytes: a Latin-1 name copied in from elsewhere is legal, and the
    # fingerprint of the directory must not crash on it (every reconcile would crash with it).
    policy = tmp_path / "policy"
    policy.mkdir()
    for name, text in policy_files(CA).items():
        (policy / name).write_text(text)
    stray = policy / os.fsdecode(b"notes-caf\xe9.txt")
    stray.write_text("v1")
    source = DirSource(DirSourceConfig(path=policy))
    reconciler = _reconciler(source, SnapshotHub())
    outcome = await reconciler.reconcile()
    assert (outcome.result, outcome.error) == ("applied", None)
    before = fingerprint(policy)
    stray.write_text("v2")
    assert fingerprint(policy) != before  # the file still counts towards the key
    await source.close()


CHANGE = paired_policy_change()
BEFORE, AFTER = CHANGE.before, CHANGE.after


async def test_a_change_landing_mid_compile_is_never_published_half_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy"
    policy.mkdir()
    write_files_atomically(policy, BEFORE)
    expected = {
        compile_snapshot(_tree(tmp_path / "before", BEFORE), None, None).digest,
        compile_snapshot(_tree(tmp_path / "after", AFTER), None, None).digest,
    }

    # The edit lands after resources.toml was read and before clients.toml is: the moment
    # that would pair the old resources (no sign-off) with the new clients (the partner).
    real_parse_resources = validate.parse_resources
    landed: list[bool] = []

    def parse_then_edit(*args: Any, **kwargs: Any) -> Any:
        result = real_parse_resources(*args, **kwargs)
        if not landed:
            landed.append(True)
            write_files_atomically(policy, AFTER)
        return result

    monkeypatch.setattr(validate, "parse_resources", parse_then_edit)
    source = DirSource(DirSourceConfig(path=policy))
    hub = SnapshotHub()
    reconciler = _reconciler(source, hub)
    first = await reconciler.reconcile()
    assert landed
    assert first.result == "applied"
    assert first.revision == f"dir:{policy.resolve()}"
    assert first.digest in expected, "published a mix of two states of the directory"
    second = await reconciler.reconcile()  # what the watcher asks for after the edit
    assert second.digest in expected
    current = hub.current
    assert current is not None
    assert current.digest == compile_snapshot(_tree(tmp_path / "after2", AFTER), None, None).digest
    await source.close()


def _tree(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir()
    write_files_atomically(directory, files)
    return directory


async def test_policy_files_that_are_not_regular_files_are_still_reported_by_the_validator(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy"
    policy.mkdir()
    write_files_atomically(policy, {"resources.toml": BEFORE["resources.toml"]})
    (policy / "clients.toml").mkdir()
    source = DirSource(DirSourceConfig(path=policy))
    reconciler = _reconciler(source, SnapshotHub())
    outcome = await reconciler.reconcile()
    assert outcome.error is not None
    assert [str(d) for d in outcome.error.diagnostics if d.is_error] == [
        "clients.toml:0:0: error: clients.toml is not a regular file (it is a directory)"
    ]
    (policy / "clients.toml").rmdir()
    policy.rename(tmp_path / "gone")
    missing = await reconciler.reconcile()
    assert missing.error is not None
    assert missing.error.step.value == "fetch"
    assert missing.error.message == f"dir:{policy.resolve()} does not exist or is not a directory"
    await source.close()
