"""``hessra_core.service.secret_files``: which secret files other users can reach."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import structlog

from hessra_core.service import secret_files
from hessra_core.service.secret_files import (
    EXPOSED_EVENT,
    ExposedFile,
    exposed_secret_files,
    warn_exposed_secret_files,
)


@pytest.mark.parametrize(
    ("mode", "exposed"),
    [
        (0o600, False),
        (0o400, False),
        (0o440, False),
        (0o660, False),
        (0o644, True),
        (0o604, True),
        (0o602, True),
        (0o601, True),
        (0o444, True),
    ],
    ids=["0600", "0400", "0440", "0660", "0644", "0604", "0602", "0601", "0444"],
)
def test_any_other_bit_exposes_a_file(tmp_path: Path, mode: int, exposed: bool) -> None:
    path = tmp_path / "key.pem"
    path.write_text("secret")
    path.chmod(mode)
    expected = [ExposedFile("k", path, f"{mode:04o}")] if exposed else []
    assert exposed_secret_files({"k": path}) == expected


def test_unset_and_missing_files_are_skipped_and_order_is_kept(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for path in (first, second):
        path.write_text("x")
        path.chmod(0o644)
    files = {"b": second, "unset": None, "gone": tmp_path / "missing", "a": first}
    assert [e.setting for e in exposed_secret_files(files)] == ["b", "a"]


def test_a_symlink_is_judged_by_its_target(tmp_path: Path) -> None:
    """Kubernetes mounts secrets as symlinks (always 0777) to the real files."""
    target = tmp_path / "..data" / "tls.key"
    target.parent.mkdir()
    target.write_text("x")
    target.chmod(0o440)
    link = tmp_path / "tls.key"
    link.symlink_to(target)
    assert exposed_secret_files({"server.key_file": link}) == []
    target.chmod(0o444)
    assert exposed_secret_files({"server.key_file": link}) == [
        ExposedFile("server.key_file", link, "0444")
    ]


def test_the_warning_names_setting_path_and_mode_never_the_contents(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_text("TOP-SECRET-KEY-MATERIAL")
    path.chmod(0o644)
    quiet = tmp_path / "quiet.pem"
    quiet.write_text("x")
    quiet.chmod(0o600)
    log = structlog.get_logger("test.secret_files")
    with structlog.testing.capture_logs() as logs:
        returned = warn_exposed_secret_files(log, {"signer.key_file": path, "other": quiet})
    assert [(e["event"], e["log_level"], e["setting"], e["path"], e["mode"]) for e in logs] == [
        (EXPOSED_EVENT, "warning", "signer.key_file", str(path), "0644")
    ]
    assert returned == [ExposedFile("signer.key_file", path, "0644")]
    assert "TOP-SECRET" not in repr(logs)


def test_all_is_honest() -> None:
    exported = set(secret_files.__all__)
    defined = {
        name
        for name, value in vars(secret_files).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == secret_files.__name__
    }
    assert defined <= exported
    assert all(hasattr(secret_files, name) for name in exported)
