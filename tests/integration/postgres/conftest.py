"""A real, throwaway PostgreSQL cluster for the hessra_authz extension tests.

The session starts one cluster in a temp dir (initdb + postgres on a free loopback port,
unix socket in the same dir), installs the extension files into the server's SHAREDIR
(as `make pg-install` would) and points the server's PYTHONPATH at this checkout, so the
code under test is the working tree's. PostgreSQL refuses to run as root, so when the
tests run as root the cluster runs as the system user ``hessra-pg`` (created if absent).

Only missing PostgreSQL binaries skip these tests; a missing PL/Python or an unreadable
checkout fails them with the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy" / "postgres"
RUN_AS = os.environ.get("HESSRA_PG_TEST_USER", "hessra-pg")
START_TIMEOUT = 30.0


def _load_installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hessra_pg_install", DEPLOY / "install.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


installer = _load_installer()


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    socket_dir: Path
    log: Path

    def connect(self, dbname: str = "postgres", **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname=dbname, **kwargs
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *argv] if os.geteuid() == 0 else argv


def _server_pythonpath() -> str:
    paths = [
        DEPLOY,
        REPO / "libs" / "hessra_core" / "src",
        Path(sysconfig.get_paths()["purelib"]),
        Path(sysconfig.get_paths()["platlib"]),
    ]
    return os.pathsep.join(dict.fromkeys(str(p) for p in paths))


def _check_readable(paths: str) -> None:
    for path in paths.split(os.pathsep):
        probe = subprocess.run(_as_server_user(["test", "-r", path, "-a", "-x", path]))
        if probe.returncode != 0:
            pytest.fail(
                f"{path} is not readable by the PostgreSQL server user {RUN_AS!r}; put the "
                "checkout where other users can read it (e.g. not under /root)"
            )


def _log_tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    except OSError:
        return "(no server log)"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    pg_config = installer.find_pg_config()
    if pg_config is None:
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    pg = installer.pg_install(pg_config)
    for binary in ("initdb", "postgres"):
        if not (pg.bindir / binary).exists():
            pytest.skip(f"PostgreSQL binary {pg.bindir / binary} not found")
    try:
        installer.install_extension_files(pg)
    except installer.InstallError as exc:
        pytest.fail(str(exc))

    if os.geteuid() == 0:
        _ensure_user(RUN_AS)
    pythonpath = _server_pythonpath()
    _check_readable(pythonpath)

    base = Path(tempfile.mkdtemp(prefix="hessra-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user=RUN_AS)
    data, log = base / "data", base / "postgres.log"
    initdb = [str(pg.bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run(
        _as_server_user(
            [*initdb, "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": pythonpath}
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(base),
        # A throwaway cluster: durability buys nothing and costs time on a shared machine.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "20",
    }
    postgres = [str(pg.bindir / "postgres"), "-D", str(data), "-p", str(port)]
    for name, value in settings.items():
        postgres += ["-c", f"{name}={value}"]
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            _as_server_user(postgres),
            env=env,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = PgServer(host="127.0.0.1", port=port, socket_dir=base, log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"postgres exited with {proc.returncode}:\n{_log_tail(log)}")
            try:
                server.connect(connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    pytest.fail(f"postgres did not accept connections:\n{_log_tail(log)}")
                time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # fast shutdown of this cluster only
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(pg_server: PgServer) -> str:
    """A database with the extension created and no keys, to clone per test."""
    name = "hessra_template"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with pg_server.connect(name, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION hessra_authz CASCADE")
    return name


@pytest.fixture
def fresh_db(pg_server: PgServer, template_db: str) -> Iterator[str]:
    """A new database (a copy of ``template_db``) for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db} STRATEGY FILE_COPY")
    yield name
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
