"""A real, throwaway PostgreSQL cluster for the hessra_authz extension tests.

The session starts one cluster (deploy/postgres/cluster.py: initdb + postgres on a free
loopback port, unix socket in its temp dir, run as the system user ``hessra-pg`` when
we are root) after installing the extension files into the server's SHAREDIR as
`make pg-install` would. The server's PYTHONPATH points at this checkout, so the code
under test is the working tree's.

Only missing PostgreSQL binaries skip these tests; a missing PL/Python or an unreadable
checkout fails them with the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hessra_core.keys import KeyPair

DEPLOY = Path(__file__).resolve().parents[3] / "deploy" / "postgres"
APP_ROLE = "hessra_app"


def _load(name: str) -> ModuleType:
    """deploy/postgres is not a package; load its modules by path, once."""
    qualified = f"hessra_pg_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, DEPLOY / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


installer = _load("install")
cluster = _load("cluster")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A running ThrowawayCluster (``.connect(dbname)``) for the whole session."""
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
    server = cluster.ThrowawayCluster(pg.bindir)
    try:
        server.start()
    except cluster.ClusterError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def template_db(pg_server: Any) -> str:
    """A database with the extension created and no keys, to clone per test."""
    name = "hessra_template"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with pg_server.connect(name, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION hessra_authz CASCADE")
    return name


@pytest.fixture
def fresh_db(pg_server: Any, template_db: str) -> Iterator[str]:
    """A new database (a copy of ``template_db``) for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db} STRATEGY FILE_COPY")
    yield name
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


# The RLS policy as documented in the README: current_setting(name, true) gives NULL
# instead of an ERROR when the application has not set a token, so "no token" means
# "no rows". The seed's form without `true` is covered separately.
RLS_SETUP = """
CREATE TABLE user_data (id int PRIMARY KEY, owner text NOT NULL, note text NOT NULL);
INSERT INTO user_data VALUES (1, 'alice', 'a'), (2, 'bob', 'b'), (3, 'carol', 'c');
ALTER TABLE user_data ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_data_access ON user_data FOR SELECT USING (
    hessra_authz.verify_token(
        current_setting('hessra.token', true),
        current_setting('hessra.subject', true),
        'user_data',
        'read'
    )
);
GRANT SELECT ON user_data TO hessra_app;
"""


@pytest.fixture(scope="session")
def app_role(pg_server: Any) -> str:
    """An ordinary login role: RLS applies to it (superusers and owners bypass RLS)."""
    with pg_server.connect(autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone()
        if not exists:
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER")
    return APP_ROLE


@pytest.fixture(scope="session")
def issuer() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def rls_db(pg_server: Any, template_db: str, app_role: str, issuer: KeyPair) -> str:
    """The seed's row-level security example, with ``issuer`` as the default key."""
    name = "hessra_rls"
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db} STRATEGY FILE_COPY")
    with pg_server.connect(name, autocommit=True) as conn:
        conn.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)",
            [issuer.public_key.to_string()],
        )
        conn.execute(RLS_SETUP)
    return name
