"""``resources.toml``: every resource, its mechanisms, chain nodes, signers and lifetime.

Both spellings of the product documentation are accepted and produce the same model:
the short ``type = "service_chain"`` + ``nodes`` (or ``type = "multi_party"`` +
``required_signers``) and the long ``mechanisms = [...]`` with
``[resources.<name>.service_chain]`` / ``[resources.<name>.multi_party]`` tables.
"""

from __future__ import annotations

import re
from typing import Any

from hessra_core.errors import KeyFormatError
from hessra_core.keys import PublicKey
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
from hessra_core.policy.loader import KeyPath
from hessra_core.policy.model import (
    MAX_TOKEN_LIFETIME,
    ChainNode,
    Mechanism,
    RequiredSigner,
    Resource,
)

RESOURCE_KEYS = (
    "type",
    "nodes",
    "required_signers",
    "mechanisms",
    "service_chain",
    "multi_party",
    "token_lifetime",
)
_MECHANISMS = tuple(m.value for m in Mechanism)
_BODY_KEY = {Mechanism.SERVICE_CHAIN: "nodes", Mechanism.MULTI_PARTY: "required_signers"}
_URL = re.compile(
    r"^(?:https?://(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?(?:/\S*)?"
    r"|(?P<bhost>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<bport>\d{1,5}))$"
)
URL_HINT = "use https://host[:port], http://host[:port] or host:port"
LIFETIME_HINT = f"tokens live 1 to {MAX_TOKEN_LIFETIME} seconds; the default is 300"


def url_looks_reachable(url: str) -> bool:
    m = _URL.match(url)
    if not m:
        return False
    port = m.group("port") or m.group("bport")
    return port is None or 0 < int(port) < 65536


def parse_resources(r: Reporter, data: dict[str, Any]) -> list[Resource]:
    check_keys(r, data, (), ("version", "resources"))
    table = data.get("resources", {})
    if not isinstance(table, dict):
        r.error(("resources",), f"`resources` must be a table, not {describe(table)}")
        return []
    out = []
    for name, body in table.items():
        where: KeyPath = ("resources", name)
        name_ok = check_name(r, where, name, "resource name", key=True)
        if not isinstance(body, dict):
            r.error(where, f"resource `{name}` must be a table, not {describe(body)}")
            continue
        resource = _parse_resource(r, name, body, where)
        if resource is not None and name_ok:
            out.append(resource)
    return sorted(out, key=lambda res: res.name)


def _mechanisms(r: Reporter, name: str, body: dict[str, Any], where: KeyPath) -> list[Mechanism]:
    """The mechanisms a resource declares, from either spelling."""
    if "type" in body and "mechanisms" in body:
        r.error((*where, "type"), "use either `type` or `mechanisms`, not both", key=True)
        return []
    if "type" in body:
        kind = body["type"]
        if not isinstance(kind, str):
            r.error((*where, "type"), f"`type` must be a string, not {describe(kind)}")
            return []
        if kind not in _MECHANISMS:
            hint = did_you_mean(kind, _MECHANISMS) or "expected `service_chain` or `multi_party`"
            r.error((*where, "type"), f"unknown resource type `{kind}`", hint)
            return []
        return [Mechanism(kind)]
    listed = body.get("mechanisms", [])
    if not isinstance(listed, list):
        r.error((*where, "mechanisms"), "`mechanisms` must be an array of strings")
        return []
    found: list[Mechanism] = []
    for i, item in enumerate(listed):
        at = (*where, "mechanisms", i)
        if not isinstance(item, str):
            r.error(at, f"mechanism must be a string, not {describe(item)}")
        elif item not in _MECHANISMS:
            hint = did_you_mean(item, _MECHANISMS) or "expected `service_chain` or `multi_party`"
            r.error(at, f"unknown mechanism `{item}`", hint)
        elif Mechanism(item) in found:
            r.error(at, f"mechanism `{item}` is listed twice")
        else:
            found.append(Mechanism(item))
    return found


def _parse_resource(
    r: Reporter, name: str, body: dict[str, Any], where: KeyPath
) -> Resource | None:
    errors_before = r.error_count
    check_keys(r, body, where, RESOURCE_KEYS)
    mechanisms = _mechanisms(r, name, body, where)
    short_form = "type" in body
    nodes: tuple[ChainNode, ...] = ()
    signers: tuple[RequiredSigner, ...] = ()
    for mech, body_key in _BODY_KEY.items():
        section = mech.value
        if short_form:
            if section in body:
                r.error(
                    (*where, section),
                    f"[resources.{name}.{section}] needs `mechanisms`, not `type`",
                    f'write mechanisms = ["{section}"] instead of type = ...',
                    key=True,
                )
            source, at = (body, where) if mech in mechanisms else (None, where)
            if mech not in mechanisms and body_key in body:
                r.error(
                    (*where, body_key),
                    f'`{body_key}` needs type = "{section}"',
                    f'add type = "{section}" to [resources.{name}]',
                    key=True,
                )
        else:
            if body_key in body:
                r.error(
                    (*where, body_key),
                    f"`{body_key}` belongs in [resources.{name}.{section}]",
                    f'or write type = "{section}" for the short form',
                    key=True,
                )
            source, at = None, (*where, section)
            if section in body and not isinstance(body[section], dict):
                r.error(at, f"[resources.{name}.{section}] must be a table")
            elif section in body:
                source = body[section]
                check_keys(r, source, at, (body_key,))
                if mech not in mechanisms:
                    r.error(
                        at,
                        f"[resources.{name}.{section}] is present but `mechanisms` "
                        f"does not list `{section}`",
                        f'add "{section}" to `mechanisms`',
                        key=True,
                    )
                    source = None
            elif mech in mechanisms:
                r.error(
                    (*where, "mechanisms"),
                    f"mechanism `{section}` is listed but [resources.{name}.{section}] is missing",
                    f"add [resources.{name}.{section}] with `{body_key}`",
                )
        if source is None or mech not in mechanisms:
            continue
        if mech is Mechanism.SERVICE_CHAIN:
            nodes = _nodes(r, name, source, at)
        else:
            signers = _signers(r, name, source, at)
    lifetime = get_int(r, body, where, "token_lifetime", 1, MAX_TOKEN_LIFETIME, LIFETIME_HINT)
    if r.error_count > errors_before:
        return None
    return Resource(name, tuple(mechanisms), nodes, signers, lifetime)


def _key(r: Reporter, at: KeyPath, value: str, owner: str) -> PublicKey | None:
    try:
        return PublicKey.parse(value)
    except KeyFormatError as exc:
        hint = "write `ed25519/<64 hex digits>`, `secp256r1/<66 hex digits>` or a PEM public key"
        r.error(at, f"invalid public key for {owner}: {exc.message}", hint)
        return None


def _entries(
    r: Reporter, name: str, source: dict[str, Any], at: KeyPath, body_key: str, what: str
) -> list[tuple[int, dict[str, Any]]]:
    if body_key not in source:
        r.error(at, f"resource `{name}` has no `{body_key}`", key=True)
        return []
    entries = get_table_list(r, source, at, body_key, what=what)
    if isinstance(source[body_key], list) and not source[body_key]:
        r.error((*at, body_key), f"`{body_key}` of resource `{name}` is empty")
    return entries


def _nodes(r: Reporter, name: str, source: dict[str, Any], at: KeyPath) -> tuple[ChainNode, ...]:
    out: list[ChainNode] = []
    seen: dict[str, KeyPath] = {}
    keys: dict[PublicKey, str] = {}
    for i, node in _entries(r, name, source, at, "nodes", "{ component, public_key } tables"):
        where = (*at, "nodes", i)
        check_keys(r, node, where, ("component", "public_key"))
        component = get_str(r, node, where, "component", what="service-chain node")
        key_text = get_str(r, node, where, "public_key", what="service-chain node")
        if component is not None:
            if not check_name(r, (*where, "component"), component, "component name"):
                component = None
            elif component in seen:
                r.error(
                    (*where, "component"),
                    f"duplicate node `{component}` in the service chain of `{name}`",
                    f"first defined at {r.where(seen[component])}",
                )
                component = None
            else:
                seen[component] = (*where, "component")
        key = _key(r, (*where, "public_key"), key_text, f"node `{component}`") if key_text else None
        if key is not None and key in keys:
            r.error(
                (*where, "public_key"),
                f"node `{component}` uses the same public key as node `{keys[key]}`",
                "every node signs its attestation with its own key",
            )
        elif key is not None and component is not None:
            keys[key] = component
            out.append(ChainNode(component, key))
    return tuple(out)


def _signers(
    r: Reporter, name: str, source: dict[str, Any], at: KeyPath
) -> tuple[RequiredSigner, ...]:
    out: list[RequiredSigner] = []
    seen: dict[str, KeyPath] = {}
    keys: dict[PublicKey, str] = {}
    what = "{ name, url, public_key } tables"
    for i, signer in _entries(r, name, source, at, "required_signers", what):
        where = (*at, "required_signers", i)
        check_keys(r, signer, where, ("name", "url", "public_key"))
        signer_name = get_str(r, signer, where, "name", what="required signer")
        url = get_str(r, signer, where, "url", what="required signer")
        key_text = get_str(r, signer, where, "public_key", what="required signer")
        if signer_name is not None:
            if not check_name(r, (*where, "name"), signer_name, "signer name"):
                signer_name = None
            elif signer_name in seen:
                r.error(
                    (*where, "name"),
                    f"duplicate signer `{signer_name}` for resource `{name}`",
                    f"first defined at {r.where(seen[signer_name])}",
                )
                signer_name = None
            else:
                seen[signer_name] = (*where, "name")
        if url is not None and not url_looks_reachable(url):
            r.error((*where, "url"), f"signer url `{url}` does not look reachable", URL_HINT)
            url = None
        owner = f"signer `{signer_name}`"
        key = _key(r, (*where, "public_key"), key_text, owner) if key_text else None
        if key is not None and key in keys:
            r.error(
                (*where, "public_key"),
                f"signer `{signer_name}` uses the same public key as signer `{keys[key]}`",
                "each party signs with its own key",
            )
        elif key is not None and signer_name is not None and url is not None:
            keys[key] = signer_name
            out.append(RequiredSigner(signer_name, url, key))
    return tuple(out)


__all__ = ["RESOURCE_KEYS", "URL_HINT", "parse_resources", "url_looks_reachable"]
