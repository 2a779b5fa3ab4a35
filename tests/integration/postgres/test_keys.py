"""Stored trusted keys: add, update, delete, get, the default key, privileges, caching."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from hessra_core.keys import Algorithm, KeyPair
from hessra_core.tokens import mint_token

pytestmark = pytest.mark.postgres

SUBJECT = "uri:urn:user:123"


def one(conn: psycopg.Connection, query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def token_for(issuer: KeyPair) -> str:
    return mint_token(issuer, subject=SUBJECT, resource="user_data", operation="read").token


VERIFY = "SELECT hessra_authz.verify_token(%s, %s, 'user_data', 'read')"


def test_key_lifecycle(pg_server: Any, fresh_db: str) -> None:
    first, second = KeyPair.generate(), KeyPair.generate(Algorithm.SECP256R1)
    first_text = first.public_key.to_string()
    second_pem = second.public_key.to_pem()
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        first_id = one(conn, "SELECT hessra_authz.add_public_key('first', %s, true)", [first_text])
        second_id = one(conn, "SELECT hessra_authz.add_public_key('second', %s)", [second_pem])
        assert first_id > 0
        assert second_id > first_id
        # Keys read back exactly as stored, whatever their notation.
        assert one(conn, "SELECT hessra_authz.get_public_key('first')") == first_text
        assert one(conn, "SELECT hessra_authz.get_public_key('second')") == second_pem
        assert one(conn, "SELECT hessra_authz.get_public_key()") == first_text
        assert one(conn, "SELECT hessra_authz.get_public_key(NULL)") == first_text

        # Making another key the default moves the flag; there is only ever one default.
        assert one(conn, "SELECT hessra_authz.update_public_key('second', %s, true)", [second_pem])
        assert one(conn, "SELECT hessra_authz.get_public_key()") == second_pem
        defaults = one(conn, "SELECT count(*) FROM hessra_authz.public_keys WHERE is_default")
        assert defaults == 1

        # is_default NULL keeps the flag; false clears it.
        replacement = KeyPair.generate().public_key.to_string()
        assert one(conn, "SELECT hessra_authz.update_public_key('second', %s)", [replacement])
        assert one(conn, "SELECT hessra_authz.get_public_key()") == replacement
        assert one(
            conn, "SELECT hessra_authz.update_public_key('second', %s, false)", [replacement]
        )
        with pytest.raises(
            psycopg.errors.ObjectNotInPrerequisiteState, match="no default public key"
        ):
            conn.execute("SELECT hessra_authz.get_public_key()")

        # Unknown names: update and delete say false, get is an error.
        assert not one(conn, "SELECT hessra_authz.update_public_key('nope', %s)", [first_text])
        assert one(conn, "SELECT hessra_authz.delete_public_key('first')") is True
        assert one(conn, "SELECT hessra_authz.delete_public_key('first')") is False
        with pytest.raises(psycopg.errors.UndefinedObject, match="no public key found"):
            conn.execute("SELECT hessra_authz.get_public_key('first')")


BAD_KEYS = [
    ("empty", ""),
    ("no-algorithm", "abcdef"),
    ("unknown-algorithm", "rsa/00ff"),
    ("not-hex", "ed25519/zz"),
    ("short", "ed25519/00ff"),
    ("garbage-pem", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"),
]


@pytest.mark.parametrize("bad_key", [k for _, k in BAD_KEYS], ids=[n for n, _ in BAD_KEYS])
def test_invalid_keys_are_refused_with_a_clear_error(
    pg_server: Any, template_db: str, bad_key: str
) -> None:
    with pg_server.connect(template_db) as conn:  # rolled back: the template stays clean
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid public key format"):
            conn.execute("SELECT hessra_authz.add_public_key('bad', %s)", [bad_key])
        conn.rollback()
        count = one(conn, "SELECT count(*) FROM hessra_authz.public_keys")
    assert count == 0


def test_duplicate_names_and_nulls_are_errors(pg_server: Any, fresh_db: str) -> None:
    key = KeyPair.generate().public_key.to_string()
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute("SELECT hessra_authz.add_public_key('k', %s)", [key])
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("SELECT hessra_authz.add_public_key('k', %s)", [key])
        with pytest.raises(psycopg.errors.NullValueNotAllowed, match="public_key must not be NULL"):
            conn.execute("SELECT hessra_authz.add_public_key('k2', NULL)")
        with pytest.raises(psycopg.errors.NullValueNotAllowed, match="key_name must not be NULL"):
            conn.execute("SELECT hessra_authz.add_public_key(NULL, %s)", [key])


def test_verification_needs_a_default_key_but_an_absent_token_does_not(
    pg_server: Any, fresh_db: str
) -> None:
    token = token_for(KeyPair.generate())
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        assert one(conn, VERIFY, [None, SUBJECT]) is False
        assert one(conn, VERIFY, ["", SUBJECT]) is False
        with pytest.raises(
            psycopg.errors.ObjectNotInPrerequisiteState, match="no default public key"
        ) as err:
            conn.execute(VERIFY, [token, SUBJECT])
        assert err.value.diag.message_hint is not None
        assert "add_public_key" in err.value.diag.message_hint
        # The token never appears in the error.
        assert token not in str(err.value)


def test_verify_with_stored_key_by_name(pg_server: Any, fresh_db: str) -> None:
    default, named = KeyPair.generate(), KeyPair.generate(Algorithm.SECP256R1)
    query = "SELECT hessra_authz.verify_token_with_stored_key(%s, %s, %s, 'user_data', 'read')"
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "SELECT hessra_authz.add_public_key('default', %s, true)",
            [default.public_key.to_string()],
        )
        conn.execute(
            "SELECT hessra_authz.add_public_key('partner', %s)", [named.public_key.to_pem()]
        )
        assert one(conn, query, [token_for(named), "partner", SUBJECT]) is True
        assert one(conn, query, [token_for(default), "partner", SUBJECT]) is False
        assert one(conn, query, [token_for(default), None, SUBJECT]) is True
        assert one(conn, query, [token_for(named), None, SUBJECT]) is False
        with pytest.raises(psycopg.errors.UndefinedObject, match="no public key found"):
            conn.execute(query, [token_for(named), "missing", SUBJECT])


def test_updated_key_takes_effect_in_a_backend_that_cached_the_old_one(
    pg_server: Any, fresh_db: str
) -> None:
    old, new = KeyPair.generate(), KeyPair.generate()
    old_token, new_token = token_for(old), token_for(new)
    with (
        pg_server.connect(fresh_db, autocommit=True) as reader,
        pg_server.connect(fresh_db, autocommit=True) as admin,
    ):
        admin.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)", [old.public_key.to_string()]
        )
        assert one(reader, VERIFY, [old_token, SUBJECT]) is True
        assert one(reader, VERIFY, [new_token, SUBJECT]) is False
        admin.execute(
            "SELECT hessra_authz.update_public_key('issuer', %s)", [new.public_key.to_string()]
        )
        assert one(reader, VERIFY, [old_token, SUBJECT]) is False
        assert one(reader, VERIFY, [new_token, SUBJECT]) is True
        admin.execute("SELECT hessra_authz.delete_public_key('issuer')")
        with pytest.raises(
            psycopg.errors.ObjectNotInPrerequisiteState, match="no default public key"
        ):
            reader.execute(VERIFY, [new_token, SUBJECT])


def test_untrusted_roles_cannot_change_trusted_keys(
    pg_server: Any, fresh_db: str, app_role: str
) -> None:
    issuer = KeyPair.generate()
    key = issuer.public_key.to_string()
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute("SELECT hessra_authz.add_public_key('issuer', %s, true)", [key])
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(app_role)))
        attacker_key = KeyPair.generate().public_key.to_string()
        attempts = [
            ("SELECT hessra_authz.add_public_key('evil', %s, true)", [attacker_key]),
            ("SELECT hessra_authz.update_public_key('issuer', %s)", [attacker_key]),
            ("SELECT hessra_authz.delete_public_key('issuer')", None),
            (
                "INSERT INTO hessra_authz.public_keys (key_name, public_key) VALUES ('e', %s)",
                [attacker_key],
            ),
            ("UPDATE hessra_authz.public_keys SET public_key = %s", [attacker_key]),
            ("DELETE FROM hessra_authz.public_keys", None),
            ("SELECT hessra_authz.add_service_chain('c', '[]')", None),
        ]
        for query, params in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query, params)
        # Reading keys and verifying tokens is open to everybody.
        assert one(conn, "SELECT hessra_authz.get_public_key()") == key
        assert one(conn, VERIFY, [token_for(issuer), SUBJECT]) is True


def test_backend_survives_hostile_tokens(pg_server: Any, rls_db: str) -> None:
    hostile = [
        "A" * 200_000,
        "=" * 64,
        "\u00e9\u4e2d\U0001f600",
        "EiQKIgoC" * 50,
        "-_" * 1000,
    ]
    with pg_server.connect(rls_db, autocommit=True) as conn:
        pid = one(conn, "SELECT pg_backend_pid()")
        for token in hostile:
            assert one(conn, VERIFY, [token, SUBJECT]) is False
        assert one(conn, "SELECT pg_backend_pid()") == pid
