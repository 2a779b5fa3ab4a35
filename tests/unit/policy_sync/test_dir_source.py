"""The directory source's revision key, with files the policy does not use beside it."""

from __future__ import annotations

import os
from pathlib import Path

from hessra_core import pki
from hessra_policy_sync.config import DirSourceConfig
from hessra_policy_sync.dir_source import DirSource, fingerprint
from hessra_policy_sync.hub import SnapshotHub
from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.policy_adapter import compile_snapshot
from hessra_policy_sync.reconcile import Reconciler
from hessra_policy_sync.status import SyncStatus
from hessra_policy_sync.testing import policy_files

CA = pki.create_ca().cert_pem


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
    reconciler = Reconciler(
        source=source,
        compiler=compile_snapshot,
        hub=SnapshotHub(),
        persist=lambda snapshot: None,
        status=SyncStatus(source=source.display, branch=None),
        metrics=PolicySyncMetrics(),
    )
    outcome = await reconciler.reconcile()
    assert (outcome.result, outcome.error) == ("applied", None)
    before = fingerprint(policy)
    stray.write_text("v2")
    assert fingerprint(policy) != before  # the file still counts towards the key
    await source.close()
