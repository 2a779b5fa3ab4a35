"""Matching callers to clients and deciding requests, without scanning every client.

Exact identifiers are one dict lookup each. DNS wildcards are indexed by the labels after
the wildcard label (``worker-*.internal.com`` under ``internal.com``), so a name is only
compared with the patterns sharing its tail, whatever the size of the policy.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from hessra_core.policy.identifiers import (
    PresentedIdentities,
    host_name,
    label_matches,
    split_wildcard,
)
from hessra_core.policy.model import (
    WILDCARD,
    ChainNode,
    Client,
    IdentifierType,
    Mechanism,
    Policy,
    RequiredSigner,
    Resource,
)


class DenyReason(enum.StrEnum):
    UNKNOWN_CLIENT = "unknown_client"
    AMBIGUOUS_CLIENT = "ambiguous_client"
    RESOURCE_NOT_GRANTED = "resource_not_granted"
    OPERATION_NOT_GRANTED = "operation_not_granted"


@dataclass(frozen=True)
class ClientMatch:
    """The client a caller is, and the subject its tokens carry."""

    client: Client
    subject: str


@dataclass(frozen=True)
class Decision:
    """The answer to "may this caller get a token for resource/operation?"."""

    allowed: bool
    resource: str
    operation: str
    subject: str | None = None
    client: Client | None = None
    reason: DenyReason | None = None
    message: str = ""
    mechanisms: tuple[Mechanism, ...] = ()
    service_chain: tuple[ChainNode, ...] = ()
    required_signers: tuple[RequiredSigner, ...] = ()
    lifetime: int = 0


class Ambiguous(Exception):  # internal control flow; never escapes this module
    def __init__(self, candidates: list[str]) -> None:
        self.candidates = candidates


class Matcher:
    """Indexes built once per snapshot."""

    def __init__(self, policy: Policy) -> None:
        self.exact: dict[tuple[IdentifierType, str], Client] = {}
        self.wildcards: dict[str, list[tuple[str, str, Client]]] = {}
        self.by_subject: dict[str, Client] = {}
        # Token subjects two clients share (a serial and a san_dns `1234`): the validator
        # refuses them; a subject that still names two clients is ambiguous, never the first.
        self.shared_subjects: dict[str, list[str]] = {}
        self.grants: dict[int, dict[str, frozenset[str]]] = {}
        self.resources: Mapping[str, Resource] = {r.name: r for r in policy.resources}
        for client in policy.clients:
            ident = client.identifier
            if ident.is_wildcard:
                rest, prefix, suffix = split_wildcard(ident.canonical)
                self.wildcards.setdefault(rest, []).append((prefix, suffix, client))
            else:
                self.exact[(ident.type, ident.canonical)] = client
                first = self.by_subject.setdefault(ident.value, client)
                if first is not client:
                    shared = self.shared_subjects.setdefault(ident.value, [str(first.identifier)])
                    shared.append(str(ident))
            self.grants[id(client)] = {g.resource: frozenset(g.operations) for g in client.grants}

    def _wildcard(self, names: tuple[str, ...]) -> ClientMatch | None:
        """The client whose wildcard one of ``names`` fits.

        ``*`` stands for part of one left-most label of a real host name, as in RFC 6125:
        a name that is not one (``123456789:x.partner.test``, ``a b.partner.test``, an
        empty or non-ASCII label) fits no wildcard, whoever presents it.
        """
        found: dict[int, ClientMatch] = {}
        for presented in names:
            name = host_name(presented)
            if name is None:
                continue
            first, _, rest = name.partition(".")
            for prefix, suffix, client in self.wildcards.get(rest, ()):
                if label_matches(prefix, suffix, first):
                    found.setdefault(id(client), ClientMatch(client, name))
        if len(found) > 1:
            raise Ambiguous([str(m.client.identifier) for m in found.values()])
        return next(iter(found.values()), None)

    def match(self, presented: PresentedIdentities) -> ClientMatch | None:
        """Exact identifiers beat wildcards; raises Ambiguous when no single client wins."""
        hits: dict[int, Client] = {}
        for candidate in presented.exact_candidates():
            client = self.exact.get(candidate)
            if client is not None:
                hits[id(client)] = client
        if len(hits) == 1:
            client = next(iter(hits.values()))
            return ClientMatch(client, client.identifier.value)
        if hits:
            raise Ambiguous([str(c.identifier) for c in hits.values()])
        return self._wildcard(presented.dns) if presented.dns and self.wildcards else None

    def match_subject(self, subject: str) -> ClientMatch | None:
        """The client whose tokens carry ``subject`` (identity-token callers).

        A subject that is not a client's identifier as written is a DNS name, matched as
        a certificate's DNS SAN would be: an exact ``san_dns`` client beats a wildcard, so
        both ways of calling give the same answer for the same name.
        """
        if subject in self.shared_subjects:
            raise Ambiguous(self.shared_subjects[subject])
        client = self.by_subject.get(subject)
        if client is not None:
            return ClientMatch(client, subject)
        name = host_name(subject)
        if name is None:
            return None
        client = self.exact.get((IdentifierType.SAN_DNS, name))
        if client is not None:
            return ClientMatch(client, client.identifier.value)
        return self._wildcard((name,)) if self.wildcards else None

    def decide(self, match: ClientMatch, resource: str, operation: str) -> Decision:
        subject, client = match.subject, match.client
        grants = self.grants[id(client)]
        declared = self.resources.get(resource)
        ops = grants.get(resource)
        if declared is not None and WILDCARD in grants:
            ops = grants[WILDCARD] | (ops or frozenset())
        if declared is None or ops is None:
            if declared is None:
                message = f"resource `{resource}` is not declared (asked by `{subject}`)"
            else:
                message = f"resource `{resource}` is not granted to `{subject}`"
            return Decision(
                False,
                resource,
                operation,
                subject,
                client,
                DenyReason.RESOURCE_NOT_GRANTED,
                message,
            )
        if operation not in ops and WILDCARD not in ops:
            return Decision(
                False,
                resource,
                operation,
                subject,
                client,
                DenyReason.OPERATION_NOT_GRANTED,
                f"operation `{operation}` on `{resource}` is not granted to `{subject}`",
            )
        return Decision(
            True,
            resource,
            operation,
            subject,
            client,
            None,
            f"`{subject}` may `{operation}` `{resource}`",
            declared.mechanisms,
            declared.service_chain,
            declared.required_signers,
            declared.lifetime,
        )


def unknown_client(resource: str, operation: str, presented: str) -> Decision:
    return Decision(
        False,
        resource,
        operation,
        reason=DenyReason.UNKNOWN_CLIENT,
        message=f"no client in the policy matches {presented}",
    )


def ambiguous_client(resource: str, operation: str, candidates: list[str]) -> Decision:
    return Decision(
        False,
        resource,
        operation,
        reason=DenyReason.AMBIGUOUS_CLIENT,
        message="the certificate matches several clients: " + ", ".join(sorted(candidates)),
    )


__all__ = ["ClientMatch", "Decision", "DenyReason", "Matcher"]
