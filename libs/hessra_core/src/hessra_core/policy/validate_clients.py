"""``clients.toml``: who the clients are and what each may ask for.

Identifier conflicts are settled like this (the README repeats it):

* the same identifier (same type, same canonical value) on two clients is an error;
* an exact identifier beats a wildcard one, so ``worker-1.internal.com`` may sit beside
  ``worker-*.internal.com``;
* two wildcards that some DNS name matches both are an error (no rule could pick one);
* two identifiers of different types written the same (a ``serial`` and a ``san_dns``
  ``1234``, a ``san_ip`` and a ``san_dns`` ``10.0.0.1``) are an error: tokens carry the
  value as their subject, so neither verifiers nor identity tokens could tell them apart;
* at request time, a certificate whose names match several clients with no single exact
  winner is refused as ambiguous (see ``Snapshot.decide``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hessra_core.policy._checks import (
    Reporter,
    check_keys,
    check_name,
    describe,
    get_int,
    get_str,
    get_table_list,
)
from hessra_core.policy.diagnostics import did_you_mean
from hessra_core.policy.identifiers import (
    IdentifierFormatError,
    canonicalise,
    example_overlap,
    split_wildcard,
    wildcards_overlap,
)
from hessra_core.policy.loader import KeyPath
from hessra_core.policy.model import (
    MAX_IDENTITY_TOKEN_DURATION,
    WILDCARD,
    Client,
    Grant,
    Identifier,
    IdentifierType,
)

CLIENT_KEYS = ("identifier", "resources", "identity_token_enabled", "identity_token_duration")
_TYPES = tuple(t.value for t in IdentifierType)


@dataclass(frozen=True)
class _Located:
    client: Client
    where: KeyPath


def parse_clients(
    r: Reporter,
    data: dict[str, Any],
    declared: set[str] | None,
    *,
    check_references: bool = True,
    ca_issuers: int = 1,
) -> list[Client]:
    """Every valid client. ``declared`` is None when resources.toml is missing.

    ``ca_issuers`` is how many distinct CAs ``[cacerts]`` trusts: a serial number is
    unique only among one CA's certificates, so with several a serial client is a warning.
    """
    check_keys(r, data, (), ("version", "cacerts", "clients"))
    if "clients" not in data:
        r.warning((), "no [[clients]]: every token request will be refused")
        return []
    if not isinstance(data["clients"], list) or not all(
        isinstance(c, dict) for c in data["clients"]
    ):
        r.error(("clients",), "`clients` must be an array of tables written [[clients]]", key=True)
        return []
    located = []
    for i, body in get_table_list(r, data, (), "clients", what="tables"):
        client = _parse_client(r, body, ("clients", i), declared, check_references)
        if client is not None:
            located.append(_Located(client, ("clients", i)))
    _check_conflicts(r, located)
    if ca_issuers > 1:
        _warn_serials(r, located, ca_issuers)
    return [item.client for item in located]


def _warn_serials(r: Reporter, located: list[_Located], ca_issuers: int) -> None:
    for item in located:
        ident = item.client.identifier
        if ident.type is IdentifierType.SERIAL:
            r.warning(
                (*item.where, "identifier", "value"),
                f"serial `{ident.value}` is unique only per CA, and [cacerts] trusts "
                f"{ca_issuers}: a certificate from any of them with this serial is this client",
                "identify the client by a SAN its CA alone issues",
            )


def _identifier(r: Reporter, body: dict[str, Any], where: KeyPath) -> Identifier | None:
    if "identifier" not in body:
        r.error(
            where, "client has no `identifier`", 'add identifier = { type = "...", value = "..." }'
        )
        return None
    ident = body["identifier"]
    at = (*where, "identifier")
    if not isinstance(ident, dict):
        r.error(at, f"`identifier` must be a table {{ type, value }}, not {describe(ident)}")
        return None
    check_keys(r, ident, at, ("type", "value"))
    kind = get_str(r, ident, at, "type", what="identifier")
    value = get_str(r, ident, at, "value", what="identifier")
    if kind is None or value is None:
        return None
    if kind not in _TYPES:
        hint = did_you_mean(kind, _TYPES) or "expected one of " + ", ".join(_TYPES)
        r.error((*at, "type"), f"unknown identifier type `{kind}`", hint)
        return None
    id_type = IdentifierType(kind)
    try:
        canonical = canonicalise(id_type, value)
    except IdentifierFormatError as exc:
        r.error((*at, "value"), exc.message, exc.hint)
        return None
    shown = canonical if id_type is IdentifierType.SERIAL else value
    identifier = Identifier(id_type, shown, canonical)
    if identifier.is_wildcard:
        r.warning(
            (*at, "value"),
            f"wildcard identifier `{value}` admits every certificate whose name fits it",
            "make sure the CA issues such names only to these clients",
        )
    return identifier


def _parse_client(
    r: Reporter, body: dict[str, Any], where: KeyPath, declared: set[str] | None, refs: bool
) -> Client | None:
    before = r.error_count
    check_keys(r, body, where, CLIENT_KEYS)
    identifier = _identifier(r, body, where)
    grants = _grants(r, body, where, declared, refs)
    enabled = body.get("identity_token_enabled", False)
    if not isinstance(enabled, bool):
        r.error(
            (*where, "identity_token_enabled"),
            f"`identity_token_enabled` must be true or false, not {describe(enabled)}",
        )
        enabled = False
    duration = get_int(
        r,
        body,
        where,
        "identity_token_duration",
        1,
        MAX_IDENTITY_TOKEN_DURATION,
        "identity tokens live 1 second to 1 day; the default is 3600",
    )
    if "identity_token_duration" in body and not body.get("identity_token_enabled"):
        r.warning(
            (*where, "identity_token_duration"),
            "`identity_token_duration` has no effect without identity_token_enabled = true",
            key=True,
        )
    if "resources" not in body and not enabled:
        r.warning(where, "client grants nothing: it has no `resources`")
    if identifier is None or r.error_count > before:
        return None
    return Client(identifier, grants, enabled, duration)


def _grants(
    r: Reporter, body: dict[str, Any], where: KeyPath, declared: set[str] | None, refs: bool
) -> tuple[Grant, ...]:
    grants: list[Grant] = []
    seen: dict[str, KeyPath] = {}
    what = "{ name, operations } tables"
    for i, entry in get_table_list(r, body, where, "resources", what=what):
        at = (*where, "resources", i)
        check_keys(r, entry, at, ("name", "operations"))
        name = get_str(r, entry, at, "name", what="resource entry")
        operations = _operations(r, entry, at, name)
        if name is None or (refs and not _resource_ref(r, (*at, "name"), name, declared)):
            continue
        if name in seen:
            r.error(
                (*at, "name"),
                f"resource `{name}` is granted twice to this client",
                f"merge its operations into the entry at {r.where(seen[name])}",
            )
            continue
        seen[name] = (*at, "name")
        if operations is not None:
            grants.append(Grant(name, operations))
    return tuple(grants)


def _resource_ref(r: Reporter, at: KeyPath, name: str, declared: set[str] | None) -> bool:
    if name == WILDCARD:
        r.warning(
            at,
            "wildcard resource `*` grants every resource, including ones added later",
            "grant the resources this client needs by name",
        )
        return True
    if not check_name(r, at, name, "resource name"):
        return False
    if declared is None:
        r.error(at, f"unknown resource `{name}`", "resources.toml is missing, so none are declared")
        return False
    if name not in declared:
        hint = did_you_mean(name, declared) or "declare it in resources.toml"
        r.error(at, f"unknown resource `{name}`", hint)
        return False
    return True


def _operations(
    r: Reporter, entry: dict[str, Any], at: KeyPath, name: str | None
) -> tuple[str, ...] | None:
    if "operations" not in entry:
        r.error(at, f"resource entry `{name}` has no `operations`")
        return None
    ops = entry["operations"]
    if not isinstance(ops, list):
        r.error(
            (*at, "operations"), f"`operations` must be an array of strings, not {describe(ops)}"
        )
        return None
    if not ops:
        r.error((*at, "operations"), f"`operations` for `{name}` is empty", "list at least one")
        return None
    out: list[str] = []
    ok = True
    for i, op in enumerate(ops):
        where = (*at, "operations", i)
        if not isinstance(op, str):
            r.error(where, f"operation must be a string, not {describe(op)}")
            ok = False
        elif op == WILDCARD:
            r.warning(
                where,
                f"wildcard operation `*` grants every operation on `{name}`",
                "list the operations this client needs",
            )
            out.append(op)
        elif not check_name(r, where, op, "operation name"):
            ok = False
        elif op in out:
            r.error(where, f"operation `{op}` is listed twice")
            ok = False
        else:
            out.append(op)
    return tuple(out) if ok else None


def _check_conflicts(r: Reporter, located: list[_Located]) -> None:
    """Duplicates among all identifiers, exact identifiers of different types sharing a
    token subject, and overlaps among DNS wildcards with the same tail."""
    exact: dict[tuple[IdentifierType, str], _Located] = {}
    subjects: dict[str, _Located] = {}
    by_rest: dict[str, list[_Located]] = {}
    for item in located:
        ident = item.client.identifier
        at = (*item.where, "identifier", "value")
        key = (ident.type, ident.canonical)
        if key in exact:
            first = exact[key]
            r.error(
                at,
                f"duplicate identifier {ident.type.value} `{ident.value}`",
                f"also used by the client at {r.where(first.where)}; merge the two clients",
            )
            continue
        exact[key] = item
        if not ident.is_wildcard:
            first = subjects.setdefault(ident.value, item)
            if first is not item:
                r.error(
                    at,
                    f"{ident.type.value} `{ident.value}` is the same token subject as "
                    f"{first.client.identifier.type.value} `{ident.value}`",
                    f"client at {r.where(first.where)}; tokens could not tell the two apart",
                )
            continue
        rest = split_wildcard(ident.canonical)[0]
        for other in by_rest.get(rest, ()):
            theirs = other.client.identifier.canonical
            if wildcards_overlap(ident.canonical, theirs):
                r.error(
                    at,
                    f"wildcard `{ident.value}` overlaps `{other.client.identifier.value}`: "
                    f"`{example_overlap(ident.canonical, theirs)}` would match both",
                    f"other client at {r.where(other.where)}; make the patterns disjoint",
                )
                break
        by_rest.setdefault(rest, []).append(item)


__all__ = ["CLIENT_KEYS", "parse_clients"]
