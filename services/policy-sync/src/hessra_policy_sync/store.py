"""The last good snapshot on disk, so a restart serves at once even with git down.

The file format (checksum line + serialized PolicySnapshot) and the atomic write
live in ``hessra_core.snapshot_file``, shared with every subscriber. A damaged
file is logged and ignored: policy-sync then starts empty and fills in from git.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from hessra_core.errors import HessraError
from hessra_core.snapshot_file import read_snapshot_file, write_snapshot_file
from hessra_policy_sync.hub import PublishedSnapshot

log = structlog.get_logger("hessra.policy_sync.store")

SNAPSHOT_FILE = "snapshot.bin"


class SnapshotStore:
    def __init__(self, state_dir: Path, decode: Callable[[bytes], PublishedSnapshot]) -> None:
        self.path = Path(state_dir) / SNAPSHOT_FILE
        self._decode = decode

    def save(self, snapshot: PublishedSnapshot) -> None:
        """Write atomically (temp file, fsync, rename, fsync dir). Blocking: run off the loop."""
        write_snapshot_file(self.path, snapshot.to_proto().SerializeToString())

    def load(self) -> PublishedSnapshot | None:
        """The persisted snapshot, or None if there is none or it is damaged (logged)."""
        try:
            payload = read_snapshot_file(self.path)
            if payload is None:
                log.info("no_persisted_snapshot", path=str(self.path))
                return None
            snapshot = self._decode(payload)
        except HessraError as exc:
            log.error(
                "persisted_snapshot_ignored",
                path=str(self.path),
                reason=exc.reason,
                error=exc.message,
                note="starting without a snapshot until the source is reached",
            )
            return None
        log.info(
            "persisted_snapshot_loaded",
            path=str(self.path),
            revision=snapshot.revision,
            digest=snapshot.digest,
        )
        return snapshot


__all__ = ["SNAPSHOT_FILE", "SnapshotStore"]
