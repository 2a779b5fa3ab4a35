"""What a policy change grants and revokes: the diff a reviewer needs.

Clients are matched by identifier (type and canonical value), resources by name and CA
certificates by SHA-256 fingerprint, so reordering or reformatting shows no change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hessra_core.policy.model import Client, IdentifierType, Policy, Resource


@dataclass(frozen=True)
class Change:
    """One line of a plan. ``sign`` is ``+`` (added), ``-`` (removed) or ``~`` (changed)."""

    section: str  # "client", "resource", "ca", "version"
    target: str  # the client identifier, resource name or certificate
    sign: str
    what: str  # e.g. "grant", "node", "lifetime"
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {
            "section": self.section,
            "target": self.target,
            "change": {"+": "added", "-": "removed", "~": "changed"}[self.sign],
            "what": self.what,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "count": len(self.changes)}

    def to_text(self) -> str:
        if self.empty:
            return "no changes"
        titles = {"version": "Version", "ca": "CA certificates", "client": "Clients"}
        titles["resource"] = "Resources"
        lines: list[str] = []
        for section in ("version", "ca", "client", "resource"):
            items = [c for c in self.changes if c.section == section]
            if not items:
                continue
            lines.append(f"{titles[section]}:")
            target = None
            for c in items:
                if c.target != target:
                    target = c.target
                    lines.append(f"  {target}")
                lines.append(f"    {c.sign} {c.what}: {c.detail}")
        return "\n".join(lines)


def _client_key(client: Client) -> tuple[IdentifierType, str]:
    return client.identifier.type, client.identifier.canonical


def _grants(client: Client) -> set[tuple[str, str]]:
    return {(g.resource, op) for g in client.grants for op in g.operations}


def _grant_lines(sign: str, target: str, grants: Iterable[tuple[str, str]]) -> list[Change]:
    by_resource: dict[str, list[str]] = {}
    for resource, op in sorted(grants):
        by_resource.setdefault(resource, []).append(op)
    return [
        Change("client", target, sign, "grant", f"{res}: {', '.join(ops)}")
        for res, ops in by_resource.items()
    ]


def _identity(client: Client) -> str:
    if not client.identity_token_enabled:
        return "disabled"
    return f"enabled ({client.effective_identity_token_duration} s)"


def _clients(old: Policy, new: Policy) -> list[Change]:
    before = {_client_key(c): c for c in old.clients}
    after = {_client_key(c): c for c in new.clients}
    out: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        target = f"{key[0].value} `{(b or a).identifier.value}`"  # type: ignore[union-attr]
        if a is None and b is not None:
            out.append(Change("client", target, "+", "client", "new client"))
            out += _grant_lines("+", target, _grants(b))
            if b.identity_token_enabled:
                out.append(Change("client", target, "+", "identity tokens", _identity(b)))
        elif b is None and a is not None:
            out.append(Change("client", target, "-", "client", "client removed"))
            out += _grant_lines("-", target, _grants(a))
        elif a is not None and b is not None:
            if a.identifier.value != b.identifier.value:
                detail = f"`{a.identifier.value}` -> `{b.identifier.value}`"
                out.append(Change("client", target, "~", "token subject", detail))
            out += _grant_lines("+", target, _grants(b) - _grants(a))
            out += _grant_lines("-", target, _grants(a) - _grants(b))
            if _identity(a) != _identity(b):
                detail = f"{_identity(a)} -> {_identity(b)}"
                out.append(Change("client", target, "~", "identity tokens", detail))
    return out


def _mechanisms(resource: Resource) -> str:
    return ", ".join(sorted(m.value for m in resource.mechanisms)) or "none"


def _chain(old: Resource, new: Resource, name: str) -> list[Change]:
    out = []
    a = {n.component: n.public_key.to_string() for n in old.service_chain}
    b = {n.component: n.public_key.to_string() for n in new.service_chain}
    for comp in [n.component for n in new.service_chain if n.component not in a]:
        out.append(Change("resource", name, "+", "chain node", f"{comp} ({b[comp]})"))
    for comp in [n.component for n in old.service_chain if n.component not in b]:
        out.append(Change("resource", name, "-", "chain node", f"{comp} ({a[comp]})"))
    for comp in sorted(a.keys() & b.keys()):
        if a[comp] != b[comp]:
            out.append(
                Change("resource", name, "~", "chain node key", f"{comp}: {a[comp]} -> {b[comp]}")
            )
    common_old = [n.component for n in old.service_chain if n.component in b]
    common_new = [n.component for n in new.service_chain if n.component in a]
    if common_old != common_new:
        detail = f"{' -> '.join(common_old)}  became  {' -> '.join(common_new)}"
        out.append(Change("resource", name, "~", "chain order", detail))
    return out


def _signers(old: Resource, new: Resource, name: str) -> list[Change]:
    out = []
    a = {s.name: s for s in old.required_signers}
    b = {s.name: s for s in new.required_signers}
    for sname in sorted(b.keys() - a.keys()):
        detail = f"{sname} ({b[sname].url}, {b[sname].public_key})"
        out.append(Change("resource", name, "+", "signer", detail))
    for sname in sorted(a.keys() - b.keys()):
        out.append(Change("resource", name, "-", "signer", f"{sname} ({a[sname].url})"))
    for sname in sorted(a.keys() & b.keys()):
        if a[sname].url != b[sname].url:
            detail = f"{sname}: {a[sname].url} -> {b[sname].url}"
            out.append(Change("resource", name, "~", "signer url", detail))
        if a[sname].public_key != b[sname].public_key:
            detail = f"{sname}: {a[sname].public_key} -> {b[sname].public_key}"
            out.append(Change("resource", name, "~", "signer key", detail))
    return out


def _resources(old: Policy, new: Policy) -> list[Change]:
    before = {r.name: r for r in old.resources}
    after = {r.name: r for r in new.resources}
    out: list[Change] = []
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        if a is None and b is not None:
            detail = f"mechanisms: {_mechanisms(b)}; token lifetime {b.lifetime} s"
            out.append(Change("resource", name, "+", "resource", detail))
            out += _chain(Resource(name), b, name) + _signers(Resource(name), b, name)
        elif b is None and a is not None:
            out.append(Change("resource", name, "-", "resource", "resource removed"))
        elif a is not None and b is not None:
            if set(a.mechanisms) != set(b.mechanisms):
                detail = f"{_mechanisms(a)} -> {_mechanisms(b)}"
                out.append(Change("resource", name, "~", "mechanisms", detail))
            out += _chain(a, b, name) + _signers(a, b, name)
            if a.lifetime != b.lifetime:
                detail = f"{a.lifetime} s -> {b.lifetime} s"
                out.append(Change("resource", name, "~", "token lifetime", detail))
    return out


def _cas(policy: Policy) -> dict[str, str]:
    pem = policy.ca_certs_pem
    certs = x509.load_pem_x509_certificates(pem.encode()) if pem.strip() else []
    out = {}
    for cert in certs:
        der = cert.public_bytes(serialization.Encoding.DER)
        fingerprint = hashlib.sha256(der).hexdigest()[:16]
        until = f"{cert.not_valid_after_utc:%Y-%m-%d}"
        out[fingerprint] = f"{cert.subject.rfc4514_string()} (sha256 {fingerprint}, until {until})"
    return out


def plan_changes(old: Policy, new: Policy) -> Plan:
    changes: list[Change] = []
    if old.version != new.version:
        changes.append(
            Change("version", "version", "~", "version", f"{old.version} -> {new.version}")
        )
    a, b = _cas(old), _cas(new)
    for fp in sorted(b.keys() - a.keys()):
        changes.append(Change("ca", "cert_chain", "+", "CA", b[fp]))
    for fp in sorted(a.keys() - b.keys()):
        changes.append(Change("ca", "cert_chain", "-", "CA", a[fp]))
    changes += _clients(old, new) + _resources(old, new)
    return Plan(tuple(changes))


__all__ = ["Change", "Plan", "plan_changes"]
