"""Atomic, self-checking files for persisted policy snapshots.

policy-sync keeps its last good snapshot on disk, and so does every subscriber
(issuer, signer), so that each restarts into service while git or policy-sync
is unreachable. Both use this one format:

    HESSRA-SNAPSHOT 1\\n
    sha256:<hex digest of the payload>\\n
    <payload: the serialized hessra.v1.PolicySnapshot>

The checksum line catches a truncated or corrupted file before protobuf gets to
parse it (protobuf happily parses a prefix of a message); ``Snapshot.from_proto``
then recomputes the snapshot's own canonical digest as a second check.

Writes go to a temporary file in the same directory, are fsynced, renamed over
the target and the directory is fsynced, so a crash leaves either the old file
or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from hessra_core.errors import SnapshotFileError

if TYPE_CHECKING:
    from hessra_core.policy.snapshot import Snapshot

FORMAT_VERSION = 1
MAGIC = b"HESSRA-SNAPSHOT %d\n" % FORMAT_VERSION
_OTHER_VERSION = re.compile(rb"HESSRA-SNAPSHOT ([0-9]{1,9})\n")
_DIGEST_PREFIX = b"sha256:"


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new bytes, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk too.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def encode(payload: bytes) -> bytes:
    """The on-disk form of ``payload``: magic line, checksum line, payload."""
    digest = hashlib.sha256(payload).hexdigest().encode("ascii")
    return MAGIC + _DIGEST_PREFIX + digest + b"\n" + payload


def decode(data: bytes, *, source: str = "snapshot file") -> bytes:
    """The payload inside ``data``; raises ``SnapshotFileError`` if it is not intact."""
    if not data.startswith(MAGIC):
        other = _OTHER_VERSION.match(data)
        if other is not None:
            raise SnapshotFileError(
                f"{source}: snapshot file format version {other.group(1).decode()}; "
                f"this release reads version {FORMAT_VERSION}"
            )
        raise SnapshotFileError(f"{source}: not a hessra snapshot file (bad header)")
    rest = data[len(MAGIC) :]
    line_end = rest.find(b"\n")
    if line_end < 0 or not rest.startswith(_DIGEST_PREFIX):
        raise SnapshotFileError(f"{source}: truncated before the checksum line")
    expected = rest[len(_DIGEST_PREFIX) : line_end].decode("ascii", errors="replace")
    payload = rest[line_end + 1 :]
    actual = hashlib.sha256(payload).hexdigest()
    if len(expected) != len(actual) or expected != actual:
        raise SnapshotFileError(
            f"{source}: checksum mismatch (file is truncated or corrupt; "
            f"expected sha256:{expected[:16]}..., got sha256:{actual[:16]}...)"
        )
    return payload


def write_snapshot_file(path: Path, payload: bytes) -> None:
    """Persist a serialized snapshot atomically with its checksum."""
    write_atomic(Path(path), encode(payload))


def read_snapshot_file(path: Path) -> bytes | None:
    """The payload persisted at ``path``; ``None`` if there is no file.

    Raises ``SnapshotFileError`` when the file exists but is truncated or corrupt.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotFileError(f"{path}: cannot read ({exc.strerror})") from exc
    return decode(data, source=str(path))


def decode_snapshot(payload: bytes, *, source: str = "snapshot") -> Snapshot:
    """A ``Snapshot`` from serialized PolicySnapshot bytes, its digest recomputed.

    Raises ``SnapshotFileError`` for bytes that are not a PolicySnapshot and
    ``PolicyError`` for a snapshot whose digest does not match its content.
    """
    from google.protobuf.message import DecodeError

    from hessra.v1 import policy_pb2
    from hessra_core.policy.snapshot import Snapshot

    try:
        message = policy_pb2.PolicySnapshot.FromString(payload)
    except DecodeError as exc:
        raise SnapshotFileError(f"{source}: not a PolicySnapshot ({exc})") from None
    return Snapshot.from_proto(message)


def load_snapshot(path: Path) -> Snapshot | None:
    """The snapshot persisted at ``path``, ``None`` if there is none; raises if damaged."""
    payload = read_snapshot_file(path)
    return None if payload is None else decode_snapshot(payload, source=str(path))


def save_snapshot(path: Path, snapshot: Snapshot) -> None:
    """Persist ``snapshot`` atomically (blocking: call it off the event loop)."""
    write_snapshot_file(path, snapshot.to_proto().SerializeToString())


__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "decode",
    "decode_snapshot",
    "encode",
    "load_snapshot",
    "read_snapshot_file",
    "save_snapshot",
    "write_atomic",
    "write_snapshot_file",
]
