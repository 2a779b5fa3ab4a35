"""The two calls policy-sync makes into the policy engine, in the reconciler's shapes."""

from __future__ import annotations

from pathlib import Path

from hessra_core.policy.model import CommitInfo
from hessra_core.policy.snapshot import Snapshot, compile_policy_dir
from hessra_core.snapshot_file import decode_snapshot as _decode
from hessra_policy_sync.source import CommitMeta


def compile_snapshot(tree: Path, revision: str | None, commit: CommitMeta | None) -> Snapshot:
    """Validate and compile ``tree``; raises ``PolicyError`` with every diagnostic."""
    info = None
    if commit is not None:
        info = CommitInfo(
            sha=commit.sha,
            author=commit.author,
            committed_at=commit.committed_at,
            message=commit.message,
        )
    return compile_policy_dir(tree, revision=revision, commit=info)


def decode_snapshot(payload: bytes) -> Snapshot:
    return _decode(payload, source="persisted snapshot")


__all__ = ["compile_snapshot", "decode_snapshot"]
