"""The installer's file handling (deploy/postgres/install.py), against temp dirs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

installer = sys.modules["hessra_pg_install"]  # loaded by conftest.py


def fake_pg(tmp_path: Path, *, plpython: bool = True) -> object:
    share, lib = tmp_path / "share", tmp_path / "lib"
    (share / "extension").mkdir(parents=True)
    lib.mkdir()
    if plpython:
        (lib / "plpython3.so").write_bytes(b"")
    return installer.PgInstall(
        pg_config=tmp_path / "pg_config", bindir=tmp_path, sharedir=share, pkglibdir=lib, major=15
    )


def test_sql_is_rendered_with_the_python_dir() -> None:
    sql = installer.render_sql("/opt/hessra/python")
    assert 'fallback = "/opt/hessra/python"' in sql
    assert "@HESSRA_PYTHON_DIR@" not in sql
    assert "@extschema@" in sql  # left for CREATE EXTENSION to fill in


@pytest.mark.parametrize(
    "bad_dir", ['/opt/"x', "/opt/x\\y", "/opt/$py$"], ids=["quote", "backslash", "dollar-quote"]
)
def test_python_dir_that_would_break_the_sql_is_refused(bad_dir: str) -> None:
    with pytest.raises(installer.InstallError, match="must not contain"):
        installer.render_sql(bad_dir)


def test_install_writes_files_once(tmp_path: Path) -> None:
    pg = fake_pg(tmp_path)
    written = installer.install_extension_files(pg, "/opt/hessra/python")
    names = sorted(p.name for p in written)
    assert names == ["hessra_authz--0.1.0.sql", "hessra_authz.control"]
    assert installer.install_extension_files(pg, "/opt/hessra/python") == []
    # A different python dir changes the SQL, so it is rewritten.
    rewritten = installer.install_extension_files(pg, "/srv/other")
    assert [p.name for p in rewritten] == ["hessra_authz--0.1.0.sql"]
    installed = (tmp_path / "share" / "extension" / "hessra_authz--0.1.0.sql").read_text()
    assert 'fallback = "/srv/other"' in installed


def test_missing_plpython_names_the_package(tmp_path: Path) -> None:
    pg = fake_pg(tmp_path, plpython=False)
    with pytest.raises(installer.InstallError, match="apt-get install postgresql-plpython3-15"):
        installer.install_extension_files(pg)
    assert list((tmp_path / "share" / "extension").iterdir()) == []
