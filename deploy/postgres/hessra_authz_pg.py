"""Server-side runtime of the ``hessra_authz`` PostgreSQL extension.

The extension's SQL functions are thin PL/Python (``plpython3u``) wrappers: each one
fetches the per-backend :class:`Runtime` from PL/Python's ``GD`` and calls a method here.
Token logic is hessra_core's (:func:`hessra_core.tokens.verify_token` and friends); this
module only adds what a database needs around it:

* trusted public keys and service chains live in tables; keys are parsed once per
  backend and cached by their text, so an updated key is simply a different cache entry;
* every verification inside one SQL statement uses the statement's start time
  (``statement_timestamp()``), like ``now()``, and identical calls inside one statement
  are answered from a small memo: an RLS policy calls us once per row with the same token;
* a token is attacker input: whatever is wrong with it, the answer is ``false``, and the
  reason is reported at DEBUG2 (never the token). Configuration problems (no
  default key, unknown key name, malformed ``service_nodes``) are ERRORs, because
  silently showing no rows would hide a broken setup.

It runs inside the PostgreSQL backend, so it must be importable by the server's Python
(see deploy/postgres/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NoReturn

from hessra_core import tokens
from hessra_core.errors import HessraError, KeyFormatError, TokenError
from hessra_core.keys import PublicKey

EXTENSION_VERSION: Final = "0.1.0"
GD_KEY: Final = "hessra_authz.runtime"

# SQLSTATEs of the ERRORs raised here, so callers can tell them apart.
INVALID_PARAMETER_VALUE: Final = "22023"
NULL_VALUE_NOT_ALLOWED: Final = "22004"
UNDEFINED_OBJECT: Final = "42704"
NOT_IN_PREREQUISITE_STATE: Final = "55000"
DATA_CORRUPTED: Final = "XX001"

# Bounded caches: a backend lives long, keys and chains rarely change, and an attacker
# can send arbitrarily many distinct tokens, so nothing here may grow without limit.
_MAX_PARSED = 64
_MAX_MEMO = 256

_KEY_SQL = (
    "SELECT k.public_key, "
    "pg_catalog.date_part('epoch', pg_catalog.statement_timestamp()) AS now "
    "FROM (VALUES (1)) AS one(x) LEFT JOIN hessra_authz.public_keys AS k ON {cond}"
)
_DEFAULT_KEY_SQL = _KEY_SQL.format(cond="k.is_default")
_NAMED_KEY_SQL = _KEY_SQL.format(cond="k.key_name OPERATOR(pg_catalog.=) $1")
_CHAIN_SQL = (
    "SELECT c.service_nodes::pg_catalog.text AS nodes FROM hessra_authz.service_chains AS c "
    "WHERE c.service_name OPERATOR(pg_catalog.=) $1"
)


def runtime(gd: MutableMapping[str, Any], plpy: Any) -> Runtime:
    """The backend's runtime, created on first use and kept in PL/Python's ``GD``."""
    rt = gd.get(GD_KEY)
    if not isinstance(rt, Runtime):
        rt = gd[GD_KEY] = Runtime(plpy)
    return rt


class Runtime:
    """Per-backend state: prepared SPI plans, parsed keys and chains, the statement memo."""

    def __init__(self, plpy: Any) -> None:
        self._plpy = plpy
        self._plans: dict[str, Any] = {}
        self._keys: dict[str, PublicKey] = {}
        self._chains: dict[str, tuple[tokens.ServiceNode, ...]] = {}
        self._memo_now: float | None = None
        self._memo: dict[tuple[Any, ...], bool] = {}

    # -- verification -------------------------------------------------------------------

    def verify_token(
        self, token: str | None, subject: str | None, resource: str | None, op: str | None
    ) -> bool:
        return self.verify_token_with_stored_key(token, None, subject, resource, op)

    def verify_token_with_stored_key(
        self,
        token: str | None,
        key_name: str | None,
        subject: str | None,
        resource: str | None,
        op: str | None,
    ) -> bool:
        if not token or subject is None or resource is None or op is None:
            return False  # an absent token is the ordinary "not authorized" case
        key_text, now = self._stored_key(key_name)
        memo_key = ("token", key_text, token, subject, resource, op)

        def check(key: PublicKey, at: datetime) -> object:
            return tokens.verify_token(
                token, key, subject=subject, resource=resource, operation=op, now=at
            )

        return self._decide(memo_key, key_text, now, check)

    def verify_service_chain_token(
        self,
        token: str | None,
        subject: str | None,
        resource: str | None,
        op: str | None,
        service_nodes: str | None,
        component: str | None,
        *,
        key_name: str | None = None,
    ) -> bool:
        self._require(service_nodes=service_nodes)
        assert service_nodes is not None
        chain = self._parse_chain(service_nodes)
        if component is not None and all(n.component != component for n in chain):
            self._error(
                f"hessra_authz: component {component!r} is not in service_nodes",
                INVALID_PARAMETER_VALUE,
            )
        if not token or subject is None or resource is None or op is None:
            return False
        key_text, now = self._stored_key(key_name)
        memo_key = ("chain", key_text, token, subject, resource, op, service_nodes, component)

        def check(key: PublicKey, at: datetime) -> object:
            return tokens.verify_service_chain_token(
                token,
                key,
                subject=subject,
                resource=resource,
                operation=op,
                chain=chain,
                component=component,
                now=at,
            )

        return self._decide(memo_key, key_text, now, check)

    def verify_service_chain_token_with_stored_config(
        self,
        token: str | None,
        key_name: str | None,
        subject: str | None,
        resource: str | None,
        op: str | None,
        service_name: str,
        component: str | None,
    ) -> bool:
        nodes = self.get_service_chain(service_name)
        return self.verify_service_chain_token(
            token, subject, resource, op, nodes, component, key_name=key_name
        )

    def _decide(
        self,
        memo_key: tuple[Any, ...],
        key_text: str,
        now: float,
        check: Callable[[PublicKey, datetime], object],
    ) -> bool:
        if self._memo_now != now:  # a new statement: earlier answers no longer apply
            self._memo_now = now
            self._memo.clear()
        cached = self._memo.get(memo_key)
        if cached is not None:
            return cached
        key = self._parse_key(key_text)
        try:
            check(key, datetime.fromtimestamp(now, UTC))
            allowed = True
        except TokenError as exc:
            self._plpy.debug(f"hessra_authz: token refused: {exc.reason}: {exc}")
            allowed = False
        except HessraError as exc:
            self._plpy.warning(f"hessra_authz: token refused: {exc.reason}")
            allowed = False
        except Exception as exc:  # fail closed on anything the engine did not foresee
            self._plpy.warning(f"hessra_authz: token refused: unexpected {type(exc).__name__}")
            allowed = False
        if len(self._memo) >= _MAX_MEMO:
            self._memo.clear()
        self._memo[memo_key] = allowed
        return allowed

    # -- stored keys ----------------------------------------------------------------------

    def _stored_key(self, key_name: str | None) -> tuple[str, float]:
        """The stored key's text (default key when ``key_name`` is NULL) and the statement time."""
        if key_name is None:
            rows = self._plpy.execute(self._plan("default_key", _DEFAULT_KEY_SQL, []))
        else:
            rows = self._plpy.execute(self._plan("named_key", _NAMED_KEY_SQL, ["text"]), [key_name])
        row = rows[0]
        if row["public_key"] is None:
            self._missing_key(key_name)
        return row["public_key"], row["now"]

    def get_public_key(self, key_name: str | None) -> str:
        key_text, _ = self._stored_key(key_name)
        return key_text

    def _missing_key(self, key_name: str | None) -> None:
        if key_name is None:
            self._error(
                "hessra_authz: no default public key is configured",
                NOT_IN_PREREQUISITE_STATE,
                hint="Add one with hessra_authz.add_public_key(name, key, true).",
            )
        self._error(f"hessra_authz: no public key found with name: {key_name}", UNDEFINED_OBJECT)

    def add_public_key(self, key_name: str, public_key: str, is_default: bool) -> int:
        self._require(key_name=key_name, public_key=public_key, is_default=is_default)
        self._validate_key(public_key)
        if is_default:
            self._plpy.execute(self._plan("clear_default", _CLEAR_DEFAULT_SQL, []))
        rows = self._plpy.execute(
            self._plan("insert_key", _INSERT_KEY_SQL, ["text", "text", "boolean"]),
            [key_name, public_key, bool(is_default)],
        )
        return int(rows[0]["id"])

    def update_public_key(self, key_name: str, public_key: str, is_default: bool | None) -> bool:
        self._require(key_name=key_name, public_key=public_key)
        self._validate_key(public_key)
        found = self._plpy.execute(self._plan("lock_key", _LOCK_KEY_SQL, ["text"]), [key_name])
        if len(found) == 0:
            return False
        if is_default:
            self._plpy.execute(self._plan("clear_default", _CLEAR_DEFAULT_SQL, []))
        self._plpy.execute(
            self._plan("update_key", _UPDATE_KEY_SQL, ["text", "text", "boolean"]),
            [key_name, public_key, is_default],
        )
        return True

    def delete_public_key(self, key_name: str) -> bool:
        self._require(key_name=key_name)
        rows = self._plpy.execute(self._plan("delete_key", _DELETE_KEY_SQL, ["text"]), [key_name])
        return len(rows) > 0

    def _validate_key(self, public_key: str) -> None:
        try:
            PublicKey.parse(public_key)
        except KeyFormatError as exc:
            self._error(f"hessra_authz: invalid public key format: {exc}", INVALID_PARAMETER_VALUE)

    def _parse_key(self, key_text: str) -> PublicKey:
        key = self._keys.get(key_text)
        if key is None:
            try:
                key = PublicKey.parse(key_text)
            except KeyFormatError as exc:  # only if someone bypassed add/update_public_key
                self._error(f"hessra_authz: stored public key is invalid: {exc}", DATA_CORRUPTED)
            if len(self._keys) >= _MAX_PARSED:
                self._keys.clear()
            self._keys[key_text] = key
        return key

    # -- stored service chains ------------------------------------------------------------

    def add_service_chain(self, service_name: str, service_nodes: str) -> int:
        self._require(service_name=service_name, service_nodes=service_nodes)
        self._parse_chain(service_nodes)
        rows = self._plpy.execute(
            self._plan("insert_chain", _INSERT_CHAIN_SQL, ["text", "jsonb"]),
            [service_name, service_nodes],
        )
        return int(rows[0]["id"])

    def update_service_chain(self, service_name: str, service_nodes: str) -> bool:
        self._require(service_name=service_name, service_nodes=service_nodes)
        self._parse_chain(service_nodes)
        rows = self._plpy.execute(
            self._plan("update_chain", _UPDATE_CHAIN_SQL, ["text", "jsonb"]),
            [service_name, service_nodes],
        )
        return len(rows) > 0

    def delete_service_chain(self, service_name: str) -> bool:
        self._require(service_name=service_name)
        rows = self._plpy.execute(
            self._plan("delete_chain", _DELETE_CHAIN_SQL, ["text"]), [service_name]
        )
        return len(rows) > 0

    def get_service_chain(self, service_name: str) -> str:
        # NULL would match no row and read as "no chain named None".
        self._require(service_name=service_name)
        rows = self._plpy.execute(self._plan("get_chain", _CHAIN_SQL, ["text"]), [service_name])
        if len(rows) == 0:
            self._error(
                f"hessra_authz: no service chain found with name: {service_name}",
                UNDEFINED_OBJECT,
            )
        return str(rows[0]["nodes"])

    def _parse_chain(self, service_nodes: str) -> tuple[tokens.ServiceNode, ...]:
        chain = self._chains.get(service_nodes)
        if chain is None:
            problems: list[str] = []
            chain = parse_service_nodes(service_nodes, problems)
            if problems:
                self._error(
                    "hessra_authz: invalid service_nodes: " + "; ".join(problems),
                    INVALID_PARAMETER_VALUE,
                    hint='Expected [{"component": "...", "public_key": "ed25519/<hex>"}, ...].',
                )
            if len(self._chains) >= _MAX_PARSED:
                self._chains.clear()
            self._chains[service_nodes] = chain
        return chain

    # -- plumbing -------------------------------------------------------------------------

    def _error(self, message: str, sqlstate: str, *, hint: str | None = None) -> NoReturn:
        """Raise a PostgreSQL ERROR (``plpy.error`` raises; the assert tells type checkers)."""
        if hint is None:
            self._plpy.error(message, sqlstate=sqlstate)
        else:
            self._plpy.error(message, sqlstate=sqlstate, hint=hint)
        raise AssertionError("plpy.error returned")  # pragma: no cover

    def _require(self, **values: object) -> None:
        for name, value in values.items():
            if value is None:
                self._error(f"hessra_authz: {name} must not be NULL", NULL_VALUE_NOT_ALLOWED)

    def _plan(self, name: str, sql: str, types: Sequence[str]) -> Any:
        plan = self._plans.get(name)
        if plan is None:
            plan = self._plans[name] = self._plpy.prepare(sql, list(types))
        return plan


def parse_service_nodes(text: str, problems: list[str]) -> tuple[tokens.ServiceNode, ...]:
    """Parse ``[{"component":..,"public_key":..}, ...]``, appending every problem found."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        problems.append(f"not JSON: {exc}")
        return ()
    if not isinstance(data, list):
        problems.append(f"expected a JSON array, got {type(data).__name__}")
        return ()
    if not data:
        # An empty chain would require no attestation at all, so a "chain-verified" token
        # would be any token: refuse it, as the SDK refuses an empty chain file.
        problems.append("the chain is empty: give at least one node")
        return ()
    nodes: list[tokens.ServiceNode] = []
    seen: set[str] = set()
    seen_keys: dict[str, str] = {}
    for i, item in enumerate(data):
        where = f"[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: expected an object")
            continue
        component, key_text = item.get("component"), item.get("public_key")
        extra = sorted(set(item) - {"component", "public_key"})
        if extra:
            problems.append(f"{where}: unknown field(s) {', '.join(extra)}")
        if not isinstance(component, str) or not component:
            problems.append(f"{where}.component: expected a non-empty string")
            continue
        if component in seen:
            problems.append(f"{where}.component: duplicate component {component!r}")
        seen.add(component)
        if not isinstance(key_text, str):
            problems.append(f"{where}.public_key: expected a string")
            continue
        try:
            key = PublicKey.parse(key_text)
        except KeyFormatError as exc:
            problems.append(f"{where}.public_key: {exc}")
            continue
        # Attestations are told apart by their signing key: two nodes sharing one key
        # could stand in for each other.
        other = seen_keys.setdefault(key.to_string(), component)
        if other != component:
            problems.append(f"{where}.public_key: duplicate public_key (also {other!r}'s)")
        try:
            nodes.append(tokens.ServiceNode(component, key))
        except ValueError as exc:
            problems.append(f"{where}.component: {exc}")
    return tuple(nodes)


def info() -> str:
    import hessra_core

    return f"hessra_authz {EXTENSION_VERSION} (hessra_core from {hessra_core.__path__[0]})"


_CLEAR_DEFAULT_SQL = "UPDATE hessra_authz.public_keys SET is_default = false WHERE is_default"
_INSERT_KEY_SQL = (
    "INSERT INTO hessra_authz.public_keys (key_name, public_key, is_default) "
    "VALUES ($1, $2, $3) RETURNING id"
)
_LOCK_KEY_SQL = (
    "SELECT id FROM hessra_authz.public_keys WHERE key_name OPERATOR(pg_catalog.=) $1 FOR UPDATE"
)
_UPDATE_KEY_SQL = (
    "UPDATE hessra_authz.public_keys SET public_key = $2, "
    "is_default = COALESCE($3, is_default), updated_at = pg_catalog.now() "
    "WHERE key_name OPERATOR(pg_catalog.=) $1"
)
_DELETE_KEY_SQL = (
    "DELETE FROM hessra_authz.public_keys WHERE key_name OPERATOR(pg_catalog.=) $1 RETURNING id"
)
_INSERT_CHAIN_SQL = (
    "INSERT INTO hessra_authz.service_chains (service_name, service_nodes) "
    "VALUES ($1, $2) RETURNING id"
)
_UPDATE_CHAIN_SQL = (
    "UPDATE hessra_authz.service_chains SET service_nodes = $2, updated_at = pg_catalog.now() "
    "WHERE service_name OPERATOR(pg_catalog.=) $1 RETURNING id"
)
_DELETE_CHAIN_SQL = (
    "DELETE FROM hessra_authz.service_chains "
    "WHERE service_name OPERATOR(pg_catalog.=) $1 RETURNING id"
)
