"""The persisted snapshot file format: atomic writes, and damage detected by checksum."""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core.errors import SnapshotFileError
from hessra_core.snapshot_file import (
    MAGIC,
    encode,
    read_snapshot_file,
    write_snapshot_file,
)

PAYLOAD = b"\x0a\x04main\x12\x20" + bytes(range(32)) * 4


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "state" / "snapshot.bin"
    write_snapshot_file(path, PAYLOAD)
    assert read_snapshot_file(path) == PAYLOAD
    assert path.stat().st_mode & 0o777 == 0o600
    # No temporary files are left behind beside the target.
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.bin"]


def test_replace_keeps_only_new_bytes(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.bin"
    write_snapshot_file(path, PAYLOAD)
    write_snapshot_file(path, b"second")
    assert read_snapshot_file(path) == b"second"


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_snapshot_file(tmp_path / "absent.bin") is None


GOOD = encode(PAYLOAD)


@pytest.mark.parametrize(
    ("damaged", "fragment"),
    [
        (GOOD[:-1], "checksum mismatch"),
        (GOOD[: len(GOOD) // 2], "checksum mismatch"),
        (GOOD[: len(MAGIC) + 10], "truncated before the checksum line"),
        (GOOD[:5], "bad header"),
        (b"", "bad header"),
        (GOOD[:-3] + b"\x00\x00\x00", "checksum mismatch"),
        (GOOD + b"extra", "checksum mismatch"),
    ],
    ids=[
        "one-byte-short",
        "half",
        "inside-checksum",
        "inside-magic",
        "empty",
        "flipped",
        "extended",
    ],
)
def test_damaged_file_is_refused(tmp_path: Path, damaged: bytes, fragment: str) -> None:
    path = tmp_path / "snapshot.bin"
    path.write_bytes(damaged)
    with pytest.raises(SnapshotFileError, match=fragment) as info:
        read_snapshot_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        (b"HESSRA-SNAPSHOT 2\n", "format version 2; this release reads version 1"),
        (b"HESSRA-SNAPSHOT 10\n", "format version 10; this release reads version 1"),
    ],
    ids=["v2", "v10"],
)
def test_file_of_another_format_version_is_named_as_such(
    tmp_path: Path, header: bytes, fragment: str
) -> None:
    # A file written by another release is not "damaged": say what it is, so an operator who
    # rolled back knows why the persisted snapshot was not used.
    path = tmp_path / "snapshot.bin"
    path.write_bytes(header + GOOD[len(MAGIC) :])
    with pytest.raises(SnapshotFileError, match=fragment):
        read_snapshot_file(path)
