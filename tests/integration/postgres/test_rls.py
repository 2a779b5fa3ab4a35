"""The seed's row-level security example against a real PostgreSQL server.

An application role sets the token and subject with SET LOCAL and selects from
``user_data``; the policy calls ``hessra_authz.verify_token``. A valid token shows the
rows, anything else shows none, and nothing ever errors or crashes the backend.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hessra_core.keys import KeyPair
from hessra_core.tokens import mint_token

pytestmark = pytest.mark.postgres

SUBJECT = "uri:urn:user:123"
APP_ROLE = "hessra_app"  # created by the app_role fixture in conftest.py
PgServer = Any  # deploy/postgres/cluster.py ThrowawayCluster, handed out by conftest

ALL_ROWS = [1, 2, 3]


def visible_rows(server: PgServer, db: str, token: str | None, subject: str | None) -> list[int]:
    """Select user_data as the application would: one transaction, SET LOCAL, SELECT."""
    with server.connect(db) as conn, conn.transaction():
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(APP_ROLE)))
        if token is not None:
            conn.execute(sql.SQL("SET LOCAL hessra.token = {}").format(sql.Literal(token)))
        if subject is not None:
            conn.execute(sql.SQL("SET LOCAL hessra.subject = {}").format(sql.Literal(subject)))
        rows = conn.execute("SELECT id FROM user_data ORDER BY id").fetchall()
    return [r[0] for r in rows]


def tamper(token: str) -> str:
    """Flip one bit in the middle of the token's bytes (inside the signed payload)."""
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[len(raw) // 2] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def _valid(issuer: KeyPair) -> str:
    return mint_token(issuer, subject=SUBJECT, resource="user_data", operation="read").token


def _expired(issuer: KeyPair) -> str:
    past = datetime.now(UTC) - timedelta(hours=1)
    return mint_token(
        issuer, subject=SUBJECT, resource="user_data", operation="read", ttl=60, now=past
    ).token


def _mint(**overrides: str) -> Callable[[KeyPair], str]:
    def make(issuer: KeyPair) -> str:
        args = {"subject": SUBJECT, "resource": "user_data", "operation": "read", **overrides}
        return mint_token(issuer, **args).token

    return make


CASES: list[tuple[str, Callable[[KeyPair], str | None], str | None, list[int]]] = [
    ("valid", _valid, SUBJECT, ALL_ROWS),
    ("wrong-subject", _valid, "uri:urn:user:456", []),
    ("token-for-other-subject", _mint(subject="uri:urn:user:456"), SUBJECT, []),
    ("wrong-resource", _mint(resource="orders"), SUBJECT, []),
    ("wrong-operation", _mint(operation="write"), SUBJECT, []),
    ("expired", _expired, SUBJECT, []),
    ("tampered", lambda k: tamper(_valid(k)), SUBJECT, []),
    ("other-issuer", lambda _k: _valid(KeyPair.generate()), SUBJECT, []),
    ("absent-token", lambda _k: None, SUBJECT, []),
    ("absent-subject", _valid, None, []),
    ("empty-token", lambda _k: "", SUBJECT, []),
    ("garbage", lambda _k: "not a biscuit token", SUBJECT, []),
    ("truncated", lambda k: _valid(k)[:40], SUBJECT, []),
]


@pytest.mark.parametrize(
    ("make_token", "subject", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_rls_shows_rows_only_for_a_valid_token(
    pg_server: PgServer,
    rls_db: str,
    issuer: KeyPair,
    make_token: Callable[[KeyPair], str | None],
    subject: str | None,
    expected: list[int],
) -> None:
    assert visible_rows(pg_server, rls_db, make_token(issuer), subject) == expected


def test_set_local_token_ends_with_the_transaction(
    pg_server: PgServer, rls_db: str, issuer: KeyPair
) -> None:
    token = _valid(issuer)
    # autocommit: each conn.transaction() below is a real BEGIN/COMMIT, not a savepoint.
    with pg_server.connect(rls_db, autocommit=True) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
        with conn.transaction():
            conn.execute("SELECT set_config('hessra.token', %s, true)", [token])
            conn.execute("SELECT set_config('hessra.subject', %s, true)", [SUBJECT])
            assert len(conn.execute("SELECT id FROM user_data").fetchall()) == 3
        # After COMMIT the placeholder settings read back as '' (not unset): still no rows.
        with conn.transaction():
            assert conn.execute("SELECT id FROM user_data").fetchall() == []


def test_seed_policy_form_errors_without_defaults_and_works_with_them(
    pg_server: PgServer, fresh_db: str, app_role: str, issuer: KeyPair
) -> None:
    """The seed writes current_setting('hessra.token') without `true`: document why not."""
    seed_policy = RLS_SEED_FORM.format(role=app_role)
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)",
            [issuer.public_key.to_string()],
        )
        conn.execute(seed_policy)
    with pg_server.connect(fresh_db) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(app_role)))
        with pytest.raises(psycopg.errors.UndefinedObject, match=r"hessra\.token"):
            conn.execute("SELECT id FROM user_data")
    # With database-level defaults the placeholders always exist, and the seed's form
    # behaves like the documented one.
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {fresh_db} SET hessra.token = ''")
        conn.execute(f"ALTER DATABASE {fresh_db} SET hessra.subject = ''")
    assert visible_rows(pg_server, fresh_db, None, None) == []
    assert visible_rows(pg_server, fresh_db, _valid(issuer), SUBJECT) == ALL_ROWS


RLS_SEED_FORM = """
CREATE TABLE user_data (id int PRIMARY KEY);
INSERT INTO user_data VALUES (1), (2), (3);
ALTER TABLE user_data ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_data_access ON user_data FOR SELECT USING (
    hessra_authz.verify_token(
        current_setting('hessra.token'), current_setting('hessra.subject'), 'user_data', 'read'
    )
);
GRANT SELECT ON user_data TO {role};
"""


def test_many_rows_one_statement_one_answer(
    pg_server: PgServer, rls_db: str, issuer: KeyPair
) -> None:
    """Every row of a statement sees the same decision (the statement memo)."""
    token = _valid(issuer)
    with pg_server.connect(rls_db) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE ok), count(*) FROM ("
            "  SELECT hessra_authz.verify_token(%s, %s, 'user_data', 'read') AS ok"
            "  FROM generate_series(1, 500)) AS t",
            [token, SUBJECT],
        ).fetchone()
    assert row == (500, 500)


def test_per_row_subject_from_a_column(pg_server: PgServer, rls_db: str, issuer: KeyPair) -> None:
    """A policy may take the subject from the row; each row gets its own answer."""
    token = mint_token(issuer, subject="bob", resource="user_data", operation="read").token
    with pg_server.connect(rls_db) as conn:  # superuser: RLS off, the call is explicit here
        rows = conn.execute(
            "SELECT id FROM user_data "
            "WHERE hessra_authz.verify_token(%s, owner, 'user_data', 'read') ORDER BY id",
            [token],
        ).fetchall()
    assert rows == [(2,)]


def test_extension_drops_and_recreates_cleanly(pg_server: PgServer, fresh_db: str) -> None:
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DROP EXTENSION hessra_authz")
        # PostgreSQL 15 keeps the (now empty) schema it created for the extension.
        left = conn.execute(
            "SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid)"
            " + (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid)"
            " FROM pg_namespace AS n WHERE n.nspname = 'hessra_authz'"
        ).fetchall()
        assert left in ([], [(0,)])
        conn.execute("CREATE EXTENSION hessra_authz")
        info = conn.execute("SELECT hessra_authz.info_hessra_authz()").fetchone()
    assert info is not None
    assert info[0].startswith("hessra_authz 0.1.0 (hessra_core from ")
