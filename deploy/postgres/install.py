"""Install the hessra_authz extension into a PostgreSQL server (`make pg-install`).

Two parts, both idempotent:

1. the extension files (``hessra_authz.control`` and the rendered
   ``hessra_authz--<version>.sql``) into ``$(pg_config --sharedir)/extension``;
2. hessra_core, its pinned dependencies (biscuit-python, cryptography, ...) and the
   server-side runtime module ``hessra_authz_pg`` into a directory of their own
   (default ``/usr/local/lib/hessra_authz/python``) that the extension puts on the
   server Python's ``sys.path``. Nothing is added to the system Python's site-packages,
   so other Python programs on the machine are unaffected.

PL/Python embeds the distribution's libpython (Debian 12: 3.11). Compiled wheels such
as biscuit-python are built for one CPython minor version, so this script refuses to
install when the Python running pip is a different minor version from the server's,
and finally imports everything with the server's interpreter to prove it loads.

Run as a user that may write to those directories (root on Debian):
``sudo make pg-install`` or ``python deploy/postgres/install.py --help``.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXTENSION = "hessra_authz"
VERSION = "0.1.0"
DEFAULT_PYTHON_DIR = "/usr/local/lib/hessra_authz/python"
RUNTIME_MODULE = HERE / "hessra_authz_pg.py"


class InstallError(Exception):
    """Something the operator must fix; the message says what."""


@dataclass(frozen=True)
class PgInstall:
    """Where one PostgreSQL installation keeps its binaries and extension files."""

    pg_config: Path
    bindir: Path
    sharedir: Path
    pkglibdir: Path
    major: int

    @property
    def extension_dir(self) -> Path:
        return self.sharedir / "extension"

    def plpython_library(self) -> Path:
        return self.pkglibdir / "plpython3.so"


def find_pg_config(explicit: str | None = None) -> Path | None:
    """``explicit`` or $PG_CONFIG, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    candidates = [explicit or os.environ.get("PG_CONFIG") or ""]
    versioned = glob.glob("/usr/lib/postgresql/*/bin/pg_config")
    candidates += sorted(versioned, key=lambda p: int(Path(p).parts[-3]), reverse=True)
    candidates.append(shutil.which("pg_config") or "")
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def pg_install(pg_config: Path) -> PgInstall:
    def ask(flag: str) -> str:
        out = subprocess.run([str(pg_config), flag], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    version = ask("--version")  # "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)"
    match = re.search(r"PostgreSQL (\d+)", version)
    if not match:
        raise InstallError(f"{pg_config}: unexpected --version output {version!r}")
    return PgInstall(
        pg_config=pg_config,
        bindir=Path(ask("--bindir")),
        sharedir=Path(ask("--sharedir")),
        pkglibdir=Path(ask("--pkglibdir")),
        major=int(match.group(1)),
    )


def render_sql(python_dir: str) -> str:
    template = (HERE / f"{EXTENSION}--{VERSION}.sql.in").read_text()
    if '"' in python_dir or "\\" in python_dir or "$py$" in python_dir:
        raise InstallError(f"python dir {python_dir!r} must not contain quotes or backslashes")
    return template.replace("@HESSRA_PYTHON_DIR@", python_dir)


def extension_files(python_dir: str) -> dict[str, str]:
    return {
        f"{EXTENSION}.control": (HERE / f"{EXTENSION}.control").read_text(),
        f"{EXTENSION}--{VERSION}.sql": render_sql(python_dir),
    }


def install_extension_files(pg: PgInstall, python_dir: str = DEFAULT_PYTHON_DIR) -> list[Path]:
    """Write the control and SQL files where they differ; returns the paths written.

    Raises InstallError when a file is stale and this user may not replace it.
    """
    if not pg.plpython_library().exists():
        raise InstallError(
            f"PL/Python is not installed for PostgreSQL {pg.major} "
            f"({pg.plpython_library()} is missing); install it with "
            f"`apt-get install postgresql-plpython3-{pg.major}`"
        )
    written = []
    for name, text in extension_files(python_dir).items():
        target = pg.extension_dir / name
        if target.exists() and target.read_text() == text:
            continue
        if not os.access(pg.extension_dir, os.W_OK):
            raise InstallError(
                f"{target} is missing or out of date and {pg.extension_dir} is not writable "
                "by this user; run `sudo make pg-install`"
            )
        fd, tmp = tempfile.mkstemp(dir=pg.extension_dir, prefix=f".{name}.")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)  # atomic: a concurrent CREATE EXTENSION never sees half a file
        written.append(target)
    return written


def server_python(pg: PgInstall) -> Path:
    """The interpreter matching the libpython that plpython3.so links against."""
    out = subprocess.run(
        ["ldd", str(pg.plpython_library())], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"libpython(3\.\d+)", out)
    if not match:
        raise InstallError(f"cannot tell which libpython {pg.plpython_library()} uses:\n{out}")
    for candidate in (f"/usr/bin/python{match.group(1)}", f"/usr/local/bin/python{match.group(1)}"):
        if Path(candidate).exists():
            return Path(candidate)
    raise InstallError(f"no python{match.group(1)} interpreter found for the server's libpython")


def install_python_packages(pg: PgInstall, python_dir: Path) -> None:
    """pip-install hessra_core and its pinned dependencies into ``python_dir``."""
    server_py = server_python(pg)
    server_minor = subprocess.run(
        [str(server_py), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = "{}.{}".format(*sys.version_info[:2])
    if server_minor != ours:
        raise InstallError(
            f"the server's Python is {server_minor} but this is Python {ours}: compiled wheels "
            f"(biscuit-python) would not load; run this script with python{server_minor}"
        )
    python_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--upgrade",
            "--target",
            str(python_dir),
            "-c",
            str(REPO / "requirements" / "constraints.txt"),
            str(REPO / "libs" / "hessra_core"),
        ],
        check=True,
    )
    shutil.copyfile(RUNTIME_MODULE, python_dir / RUNTIME_MODULE.name)
    os.chmod(python_dir / RUNTIME_MODULE.name, 0o644)
    # Prove the server's interpreter can load it all (ABI, missing dependencies).
    subprocess.run(
        [
            str(server_py),
            "-s",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "import biscuit_auth, hessra_core.tokens, hessra_authz_pg",
            str(python_dir),
        ],
        check=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-config", help="pg_config of the target server (default: newest)")
    parser.add_argument(
        "--python-dir",
        default=os.environ.get("HESSRA_PG_PYTHON_DIR", DEFAULT_PYTHON_DIR),
        help=f"where hessra_core is installed for the server (default {DEFAULT_PYTHON_DIR})",
    )
    parser.add_argument(
        "--skip-python", action="store_true", help="only install the extension files"
    )
    args = parser.parse_args(argv)
    pg_config = find_pg_config(args.pg_config)
    if pg_config is None:
        print("pg-install: pg_config not found; apt-get install postgresql", file=sys.stderr)
        return 1
    try:
        pg = pg_install(pg_config)
        written = install_extension_files(pg, args.python_dir)
        for path in written:
            print(f"pg-install: wrote {path}")
        if not args.skip_python:
            install_python_packages(pg, Path(args.python_dir))
            print(f"pg-install: hessra_core installed in {args.python_dir}")
    except InstallError as exc:
        print(f"pg-install: {exc}", file=sys.stderr)
        return 1
    print(f"pg-install: done; in a database run: CREATE EXTENSION {EXTENSION} CASCADE;")
    return 0


if __name__ == "__main__":
    sys.exit(main())
