"""Service chains: the ordered nodes a request must pass through, built in code or read from files.

A chain is what a verifier compares a token's attestations against. Build one
in code, the way the Rust SDK does::

    chain = ServiceChain().with_node("api_gateway", "ed25519/e576...").with_node(
        "fraud_detection", "ed25519/78ef..."
    )

or read it from any of the forms people already have:

- ``chain.toml`` with one ``[[nodes]]`` table per node (``component``, ``public_key``),
  or ``nodes = [{component = ..., public_key = ...}, ...]``;
- a policy ``resources.toml`` plus a resource name, in either of the seed's forms:
  ``type = "service_chain"`` with ``nodes``, or ``mechanisms = ["service_chain"]``
  with ``[resources.X.service_chain] nodes = [...]``;
- JSON, as hessra-py's ``service_chain_json`` takes it: a list of
  ``{"component": ..., "public_key": ...}`` objects (``{"nodes": [...]}`` also works).

Problems are reported all at once as ``file:line:column: field: message``. TOML
is read with the policy loader (``hessra_core.policy.loader``), which knows
where every value sits and accepts the seed's multi-line inline tables (TOML
1.1), so a chain reads the same here as in policy validation. Only the chain
part of a ``resources.toml`` is read: a problem in another resource is for
``hessra policy validate`` to report, not a reason to refuse this chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hessra._errors import ChainConfigError
from hessra_core.errors import KeyFormatError
from hessra_core.keys import PublicKey
from hessra_core.policy.diagnostics import Diagnostic
from hessra_core.policy.loader import KeyPath, TomlDocument, parse_toml
from hessra_core.tokens import ServiceNode


@dataclass(frozen=True)
class ServiceChain:
    """An ordered, immutable sequence of :class:`ServiceNode` with unique names and keys."""

    nodes: tuple[ServiceNode, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))
        problems = _duplicates(self.nodes)
        if problems:
            raise ChainConfigError(problems)

    @classmethod
    def of(cls, *nodes: ServiceNode) -> ServiceChain:
        return cls(tuple(nodes))

    def with_node(
        self, node: ServiceNode | str, public_key: PublicKey | str | None = None
    ) -> ServiceChain:
        """A new chain with ``node`` appended (a ServiceNode, or a component name and key)."""
        if isinstance(node, str):
            if public_key is None:
                raise TypeError("with_node(component, public_key): the public key is missing")
            key = public_key if isinstance(public_key, PublicKey) else PublicKey.parse(public_key)
            node = ServiceNode(component=node, public_key=key)
        elif public_key is not None:
            raise TypeError("with_node(ServiceNode) takes no separate public key")
        return ServiceChain((*self.nodes, node))

    @property
    def components(self) -> tuple[str, ...]:
        return tuple(n.component for n in self.nodes)

    def node(self, component: str) -> ServiceNode:
        for n in self.nodes:
            if n.component == component:
                return n
        raise KeyError(component)

    def before(self, component: str) -> ServiceChain:
        """The nodes that come before ``component`` (what it must see attested)."""
        index = self.components.index(component)
        return ServiceChain(self.nodes[:index])

    def __iter__(self) -> Iterator[ServiceNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, component: object) -> bool:
        return component in self.components

    def to_json(self) -> str:
        """hessra-py's ``service_chain_json`` form."""
        return json.dumps(
            [{"component": n.component, "public_key": n.public_key.to_string()} for n in self.nodes]
        )

    def to_toml(self) -> str:
        """The ``chain.toml`` form, one ``[[nodes]]`` table per node."""
        out = []
        for n in self.nodes:
            out.append(
                f"[[nodes]]\ncomponent = {json.dumps(n.component)}\n"
                f'public_key = "{n.public_key.to_string()}"\n'
            )
        return "\n".join(out)

    # -- reading -----------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, *, resource: str | None = None) -> ServiceChain:
        """Read a chain file: JSON when it ends in ``.json``, else TOML (chain or resources)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise ChainConfigError([f"{p}: cannot read: {reason}"], source=str(p)) from None
        if p.suffix.lower() == ".json":
            return cls.from_json(text, source=str(p))
        return cls.from_toml(text, resource=resource, source=str(p))

    @classmethod
    def from_toml(
        cls, text: str, *, resource: str | None = None, source: str = "<toml>"
    ) -> ServiceChain:
        """Parse ``chain.toml`` text, or ``resources.toml`` text with ``resource`` named."""
        parsed = parse_toml(source, text)
        if isinstance(parsed, Diagnostic):
            raise ChainConfigError([str(parsed)], source=source)
        where = _Where(source, parsed)
        doc = parsed.data
        if "resources" in doc:
            if not resource:
                raise ChainConfigError(
                    [
                        where.at(
                            ("resources",),
                            "this is a resources file: name the resource whose chain to use",
                        )
                    ],
                    source=source,
                )
            path = _chain_of_resource(doc, resource, where)
        elif "nodes" in doc:
            path = ("nodes",)
        else:
            raise ChainConfigError(
                [f"{source}:1:1: expected [[nodes]] tables or a [resources] table"], source=source
            )
        return cls(_parse_nodes(_get(doc, path), path, where))

    @classmethod
    def from_json(
        cls, text: str | bytes | Sequence[Any], *, source: str = "<json>"
    ) -> ServiceChain:
        """Parse hessra-py's ``service_chain_json`` (a list, or ``{"nodes": [...]}``)."""
        if isinstance(text, str | bytes):
            try:
                data: Any = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                where = (
                    f":{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                )
                raise ChainConfigError([f"{source}{where}: invalid JSON: {exc}"]) from None
        else:
            data = text
        path: KeyPath = ()
        if isinstance(data, Mapping) and "nodes" in data:
            data, path = data["nodes"], ("nodes",)
        return cls(_parse_nodes(data, path, _Where(source, None)))


def _label(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class _Where:
    """Renders ``file:line:column: field: message`` (positions from the policy TOML loader)."""

    def __init__(self, source: str, document: TomlDocument | None) -> None:
        self.source = source
        self._document = document

    def at(self, path: KeyPath, message: str) -> str:
        place = self.source
        if self._document is not None:
            line, column = self._document.position(path)
            place = f"{place}:{line}:{column}"
        label = _label(path)
        return f"{place}: {label}: {message}" if label else f"{place}: {message}"


def _get(doc: Mapping[str, Any], path: KeyPath) -> Any:
    value: Any = doc
    for part in path:
        value = value[part]
    return value


def _chain_of_resource(doc: Mapping[str, Any], resource: str, where: _Where) -> KeyPath:
    resources = doc["resources"]
    entry = resources.get(resource) if isinstance(resources, Mapping) else None
    if not isinstance(entry, Mapping):
        known = ", ".join(sorted(resources)) if isinstance(resources, Mapping) else ""
        raise ChainConfigError(
            [
                where.at(
                    ("resources",), f"no resource {resource!r} (resources here: {known or 'none'})"
                )
            ],
            source=where.source,
        )
    nested = entry.get("service_chain")
    if isinstance(nested, Mapping) and "nodes" in nested:
        return ("resources", resource, "service_chain", "nodes")
    if "nodes" in entry:
        return ("resources", resource, "nodes")
    raise ChainConfigError(
        [where.at(("resources", resource), "this resource has no service chain (no nodes)")],
        source=where.source,
    )


def _parse_nodes(raw: Any, path: KeyPath, where: _Where) -> tuple[ServiceNode, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise ChainConfigError([where.at(path, "must be a list of nodes")], source=where.source)
    problems: list[str] = []
    nodes: list[ServiceNode] = []
    for index, item in enumerate(raw):
        at: KeyPath = (*path, index)
        if not isinstance(item, Mapping):
            problems.append(where.at(at, "must be a table with component and public_key"))
            continue
        component, key_text = item.get("component"), item.get("public_key")
        unknown = sorted(set(item) - {"component", "public_key"})
        if unknown:
            problems.append(where.at(at, f"unknown field(s) {', '.join(unknown)}"))
        if not isinstance(component, str) or not component.strip():
            problems.append(where.at((*at, "component"), "a non-empty string is required"))
            component = None
        if not isinstance(key_text, str):
            problems.append(where.at((*at, "public_key"), "a key string is required"))
            continue
        try:
            key = PublicKey.parse(key_text)
        except KeyFormatError as exc:
            problems.append(where.at((*at, "public_key"), exc.message))
            continue
        if component is not None:
            try:
                nodes.append(ServiceNode(component=component, public_key=key))
            except ValueError as exc:
                problems.append(where.at((*at, "component"), str(exc)))
    if not problems and not nodes:
        problems.append(where.at(path, "the chain is empty"))
    problems += _duplicates(nodes, where.source)
    if problems:
        raise ChainConfigError(problems, source=where.source)
    return tuple(nodes)


def _duplicates(nodes: Sequence[ServiceNode], source: str | None = None) -> list[str]:
    problems = []
    seen_names: set[str] = set()
    seen_keys: dict[PublicKey, str] = {}
    prefix = f"{source}: " if source else ""
    for node in nodes:
        if node.component in seen_names:
            problems.append(f"{prefix}component {node.component!r} appears twice in the chain")
        seen_names.add(node.component)
        other = seen_keys.get(node.public_key)
        if other is not None and other != node.component:
            problems.append(
                f"{prefix}components {other!r} and {node.component!r} share one public key"
            )
        seen_keys.setdefault(node.public_key, node.component)
    return problems


__all__ = ["ServiceChain", "ServiceNode"]
