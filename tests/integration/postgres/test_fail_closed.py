"""Adversarial checks of the SQL surface: no stale allow, no hijacked lookup, clear NULLs.

Each test drives the real extension in a throwaway cluster: a key swapped inside one
statement (where the per-statement memo lives), a caller whose search_path puts its own
operators and tables in front of pg_catalog, and NULL names where a value is required.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from hessra_core.keys import KeyPair
from hessra_core.tokens import ServiceNode, mint_token

from .test_keys import SUBJECT, one, token_for

pytestmark = pytest.mark.postgres

VERIFY = "SELECT hessra_authz.verify_token(%s, %s, 'user_data', 'read')"


def test_a_key_replaced_within_one_statement_is_not_answered_from_the_memo(
    pg_server: Any, fresh_db: str
) -> None:
    old, new = KeyPair.generate(), KeyPair.generate()
    token = token_for(old)
    # A DO block is one statement: every call in it shares statement_timestamp(),
    # which is what the per-statement memo is keyed on.
    block = sql.SQL(
        """
        DO $$
        BEGIN
            IF NOT hessra_authz.verify_token({token}, {subject}, 'user_data', 'read') THEN
                RAISE EXCEPTION 'the old key should verify its token';
            END IF;
            PERFORM hessra_authz.update_public_key('issuer', {new_key});
            IF hessra_authz.verify_token({token}, {subject}, 'user_data', 'read') THEN
                RAISE EXCEPTION 'stale allow after the key was replaced';
            END IF;
            PERFORM hessra_authz.delete_public_key('issuer');
            PERFORM hessra_authz.verify_token({token}, {subject}, 'user_data', 'read');
        END
        $$
        """
    ).format(
        token=sql.Literal(token),
        subject=sql.Literal(SUBJECT),
        new_key=sql.Literal(new.public_key.to_string()),
    )
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)",
            [old.public_key.to_string()],
        )
        # After the key is deleted the verification is a configuration ERROR, not a memo hit.
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute(block)


def test_a_callers_search_path_cannot_redirect_the_key_lookup(
    pg_server: Any, fresh_db: str, app_role: str
) -> None:
    issuer, attacker = KeyPair.generate(), KeyPair.generate()
    role = sql.Identifier(app_role)
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)",
            [issuer.public_key.to_string()],
        )
        conn.execute(
            "SELECT hessra_authz.add_public_key('other', %s)", [issuer.public_key.to_pem()]
        )
        # A schema the caller controls, with an always-true text equality and its own
        # statement_timestamp() (far in the future, to expire every token).
        conn.execute(sql.SQL("CREATE SCHEMA evil AUTHORIZATION {}").format(role))
        conn.execute(sql.SQL("SET ROLE {}").format(role))
        conn.execute(
            "CREATE FUNCTION evil.eq(text, text) RETURNS boolean "
            "LANGUAGE sql IMMUTABLE AS 'SELECT true'"
        )
        conn.execute("CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq)")
        conn.execute(
            "CREATE FUNCTION evil.statement_timestamp() RETURNS timestamptz "
            "LANGUAGE sql STABLE AS $$SELECT '2999-01-01'::timestamptz$$"
        )
        conn.execute(
            "CREATE TEMP TABLE public_keys (key_name text, public_key text, is_default boolean)"
        )
        conn.execute(
            "INSERT INTO pg_temp.public_keys VALUES ('issuer', %s, true)",
            [attacker.public_key.to_string()],
        )
        conn.execute("SET search_path = pg_temp, evil, pg_catalog, hessra_authz")
        assert one(conn, VERIFY, [token_for(attacker), SUBJECT]) is False
        assert one(conn, VERIFY, [token_for(issuer), SUBJECT]) is True
        named = (
            "SELECT hessra_authz.verify_token_with_stored_key(%s, 'nope', %s, 'user_data', 'read')"
        )
        with pytest.raises(psycopg.errors.UndefinedObject):
            conn.execute(named, [token_for(issuer), SUBJECT])


def test_null_names_are_null_errors_not_lookups(pg_server: Any, fresh_db: str) -> None:
    issuer, node = KeyPair.generate(), KeyPair.generate()
    nodes = [{"component": "gateway", "public_key": node.public_key.to_string()}]
    token = mint_token(
        issuer,
        subject=SUBJECT,
        resource="user_data",
        operation="read",
        service_chain=[ServiceNode("gateway", node.public_key)],
    ).token
    with pg_server.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "SELECT hessra_authz.add_public_key('issuer', %s, true)",
            [issuer.public_key.to_string()],
        )
        conn.execute("SELECT hessra_authz.add_service_chain('flow', %s)", [Jsonb(nodes)])
        with pytest.raises(
            psycopg.errors.NullValueNotAllowed, match="service_name must not be NULL"
        ):
            conn.execute("SELECT hessra_authz.get_service_chain(NULL)")
        with pytest.raises(
            psycopg.errors.NullValueNotAllowed, match="service_name must not be NULL"
        ):
            conn.execute(
                "SELECT hessra_authz.verify_service_chain_token_with_stored_key("
                "%s, NULL, %s, 'user_data', 'read', NULL)",
                [token, SUBJECT],
            )
        for call in (
            "SELECT hessra_authz.delete_public_key(NULL)",
            "SELECT hessra_authz.delete_service_chain(NULL)",
            "SELECT hessra_authz.update_service_chain(NULL, '[]')",
        ):
            with pytest.raises(psycopg.errors.NullValueNotAllowed):
                conn.execute(call)
