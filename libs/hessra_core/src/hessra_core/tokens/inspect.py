"""Looking inside a token: its blocks, rights, expiry, chain progress and sign-offs.

For people and tools (the CLI's ``hessra token inspect``), never for
decisions. Without keys the signatures are not checked and ``verified`` says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hessra_core.errors import IdentityMismatchError, ServiceChainError
from hessra_core.keys import PublicKey
from hessra_core.tokens._authorize import query, world
from hessra_core.tokens._errors import RIGHTS_QUERY
from hessra_core.tokens._load import Keys, load_token, load_unverified
from hessra_core.tokens._source import (
    DELEGATED_FACT,
    DOMAIN_CHECK,
    NAMESPACE_FACT,
    RIGHT_FACT,
    SUBJECT_FACT,
    chain_nodes,
    earliest_expiry,
    is_attestation,
    required_signers,
)
from hessra_core.tokens.chain import check_attestation_order
from hessra_core.tokens.identity import claimed_actor
from hessra_core.tokens.model import ServiceNode

_SIGNOFF_FACT = re.compile(r'^namespace\("([^"\\\n]*)"\);$', re.MULTILINE)
_REVISION_FACT = re.compile(r'^policy_revision\("(.*)"\);$', re.MULTILINE)


@dataclass(frozen=True)
class BlockInfo:
    index: int
    kind: str  # authority | attestation | signoff | delegation | third_party | attenuation
    external_key: str | None
    source: str


@dataclass(frozen=True)
class ChainNodeInfo:
    component: str
    public_key: str
    attested_at: int | None  # position among the attestations, 0-based; None if not yet


@dataclass(frozen=True)
class TokenInfo:
    verified: bool
    kind: str  # authorization | identity | unknown
    root_key_id: int | None
    revocation_ids: list[str]
    blocks: list[BlockInfo]
    rights: list[tuple[str, str, str]]
    subject: str | None
    domain: str | None
    expires_at: datetime | None
    policy_revision: str | None
    service_chain: list[ChainNodeInfo]
    attestation_order: list[str]
    attestation_problem: str | None
    required_signoffs: list[str]
    missing_signoffs: list[str]
    notes: list[str] = field(default_factory=list)
    # Identity tokens checked with keys: the identity the holder speaks for, ``base:child``
    # when its delegation blocks narrowed it (``subject`` stays the issued identity).
    acts_as: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        data["rights"] = [list(r) for r in self.rights]
        return data


def _block_kind(index: int, external: str | None, source: str, verified: bool) -> str:
    if index == 0:
        return "authority"
    if verified and external is None:
        return "attenuation"
    if is_attestation(source):
        return "attestation"
    if NAMESPACE_FACT.search(source):
        return "signoff"
    if DELEGATED_FACT.search(source):
        return "delegation"
    return "third_party" if verified else "block"


def _rights(token: Any, verified: bool, authority: str) -> list[tuple[str, str, str]]:
    if verified:
        found = query(world(token), RIGHTS_QUERY)
        return sorted((str(a), str(b), str(c)) for a, b, c in (f.terms for f in found))
    # Unverified tokens cannot be loaded into an authorizer; read the printed facts.
    return [(a, b, c) for a, b, c in RIGHT_FACT.findall(authority)]


def inspect_token(
    token: str, keys: Keys | None = None, *, chain: Sequence[ServiceNode] | None = None
) -> TokenInfo:
    """Describe ``token``. With ``keys`` its signatures are checked first (errors raise).

    ``chain`` defaults to the nodes the token's own authority block trusts.
    """
    notes: list[str] = []
    if keys is not None:
        loaded = load_token(token, keys)
        parsed, verified, root_key_id = loaded.biscuit, True, loaded.root_key_id
    else:
        parsed, verified = load_unverified(token), False
        root_key_id = parsed.root_key_id()
        notes.append("signatures not checked: no keys given")

    blocks = []
    for i in range(parsed.block_count()):
        external = parsed.block_external_key(i) if verified and i > 0 else None
        source = parsed.block_source(i)
        kind = _block_kind(i, external, source, verified)
        blocks.append(BlockInfo(i, kind, None if external is None else str(external), source))
    if not verified and parsed.block_count() > 1:
        notes.append("block signers are unknown without keys: attestations cannot be attributed")
    authority = blocks[0].source

    rights = _rights(parsed, verified, authority)
    subjects = SUBJECT_FACT.findall(authority)
    token_kind = "authorization" if rights else "identity" if subjects else "unknown"

    if chain is None:
        token_chain = chain_nodes(authority)
        chain_keys = {r.public_key: r.name for r in token_chain}
        order = [(r.name, r.public_key) for r in token_chain]
    else:
        chain_keys = {n.public_key.to_string(): n.component for n in chain}
        order = [(n.component, n.public_key.to_string()) for n in chain]
    attesting = [b.external_key for b in blocks if b.kind == "attestation" and b.external_key]
    attestation_order = [chain_keys.get(k, k) for k in attesting]
    problem = None
    if order or attesting:
        nodes = [ServiceNode(name, PublicKey.parse(key)) for name, key in order]
        try:
            # Judge the path so far: a node that attested implies every node before it.
            check_attestation_order(attesting, nodes, min(len(attesting), len(nodes)))
        except ServiceChainError as exc:
            problem = str(exc)
    service_chain = [
        ChainNodeInfo(
            name,
            key,
            attestation_order.index(name) if name in attestation_order else None,
        )
        for name, key in order
    ]

    required = required_signers(authority)
    signed = {
        (name, b.external_key)
        for b in blocks
        if b.kind == "signoff"
        for name in _SIGNOFF_FACT.findall(b.source)
    }
    if verified:
        missing = [r.name for r in required if (r.name, r.public_key) not in signed]
    else:
        # Without signatures a sign-off is only a claim; report by name and say so.
        missing = [r.name for r in required if r.name not in {n for n, _ in signed}]

    acts_as = None
    if keys is not None and subjects and not rights:  # a verified identity token
        try:
            acts_as = claimed_actor(token, keys)
        except IdentityMismatchError as exc:
            notes.append(f"delegation is ambiguous: {exc.message}")

    domains = DOMAIN_CHECK.findall(authority)
    revisions = _REVISION_FACT.findall(authority)
    return TokenInfo(
        verified=verified,
        kind=token_kind,
        root_key_id=root_key_id,
        revocation_ids=list(parsed.revocation_ids),
        blocks=blocks,
        rights=rights,
        subject=subjects[0] if subjects else None,
        domain=domains[0] if domains else None,
        expires_at=earliest_expiry(parsed),
        policy_revision=revisions[0] if revisions else None,
        service_chain=service_chain,
        attestation_order=attestation_order,
        attestation_problem=problem,
        required_signoffs=[r.name for r in required],
        missing_signoffs=missing,
        notes=notes,
        acts_as=acts_as,
    )


__all__ = ["BlockInfo", "ChainNodeInfo", "TokenInfo", "inspect_token"]
