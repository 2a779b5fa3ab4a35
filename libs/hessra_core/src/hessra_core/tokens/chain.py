"""Service chains: nodes attest in order; a verifier checks the path taken.

Each node appends a third-party block ``service({resource});`` signed with its
own key. Hessra's verifier checks only that the required attestations exist.
Ours also checks their order: reading the blocks' external keys in sequence,
the attestations must follow the configured chain, each node once, and a
verifying component needs every node before it. Sign-off blocks of a
multi-party resource may sit between attestations and are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from hessra_core.errors import (
    AttestationOrderError,
    MissingAttestationError,
    ServiceChainError,
    UnknownAttesterError,
)
from hessra_core.keys import KeyPair, PublicKey
from hessra_core.tokens import _authority as src
from hessra_core.tokens._authorize import RIGHT_POLICY, authorize, fact, node_checks, require_str
from hessra_core.tokens._errors import Context
from hessra_core.tokens._load import Keys, LoadedToken, append_third_party, load_token
from hessra_core.tokens._source import is_attestation
from hessra_core.tokens.limits import DEFAULT_LIMITS, RunLimits
from hessra_core.tokens.model import ServiceNode, VerifiedToken, to_unix


def attest_service_chain_token(
    token: str, keypair: KeyPair, *, resource: str, root_keys: Keys
) -> str:
    """Append this node's attestation. The token's signatures are checked first."""
    require_str(("resource", resource))
    loaded = load_token(token, root_keys)
    return append_third_party(loaded, keypair, src.ATTESTATION_BLOCK, {"resource": resource})


def attesters(loaded: LoadedToken) -> tuple[str, ...]:
    """External keys of the token's attestation blocks, in block order."""
    cached = loaded.memo.get("attesters")
    if cached is not None:
        return tuple(cached)
    token = loaded.biscuit
    found = []
    for i in range(1, token.block_count()):
        external = token.block_external_key(i)
        if external is not None and is_attestation(token.block_source(i)):
            found.append(str(external))
    loaded.memo["attesters"] = tuple(found)
    return tuple(found)


def check_attestation_order(
    attesting_keys: Sequence[str], chain: Sequence[ServiceNode], required: int
) -> list[str]:
    """Raise unless the attestations follow ``chain`` and cover its first ``required`` nodes.

    Returns the attesting components in order.
    """
    by_key = {node.public_key.to_string(): node.component for node in chain}
    order = [node.component for node in chain]
    # An outsider's attestation is the gravest finding, so it is reported first.
    for key in attesting_keys:
        if key not in by_key:
            raise UnknownAttesterError(
                f"Attestation signed by {key}, which is not a node of this service chain"
            )
    names: list[str] = []
    for key in attesting_keys:
        component = by_key[key]
        if component in names:
            raise AttestationOrderError(f"Duplicate attestation from: {component}")
        names.append(component)
    for position, component in enumerate(names):
        expected = order[position]
        if component == expected:
            continue
        if expected not in names and position < required:
            raise MissingAttestationError(expected)
        raise AttestationOrderError(
            f"Attestation out of order: {component} attested before {expected}"
        )
    if len(names) < required:
        raise MissingAttestationError(order[len(names)])
    return names


@lru_cache(maxsize=256)
def _check_chain(chain: tuple[ServiceNode, ...]) -> None:
    """Refuse a verifier chain no token could satisfy, or one that demands nothing.

    An empty chain would make every token "chain-verified". A component named
    twice, or two components sharing a key, can never be satisfied (attestations
    are told apart by key, each node once), and the token would be blamed for it.
    """
    if not chain:
        raise ServiceChainError("the service chain has no nodes: give at least one")
    components: set[str] = set()
    owners: dict[PublicKey, str] = {}
    for node in chain:
        if node.component in components:
            raise ServiceChainError(f"the service chain names component {node.component!r} twice")
        components.add(node.component)
        owner = owners.setdefault(node.public_key, node.component)
        if owner != node.component:
            raise ServiceChainError(
                f"components {owner!r} and {node.component!r} of the service chain "
                "share one public key"
            )


def _required_count(chain: tuple[ServiceNode, ...], component: str | None) -> int:
    _check_chain(chain)
    if component is None:
        return len(chain)
    for position, node in enumerate(chain):
        if node.component == component:
            return position
    raise ServiceChainError(f"Component {component!r} is not part of the service chain")


def verify_service_chain_token(
    token: str,
    keys: Keys,
    *,
    subject: str,
    resource: str,
    operation: str,
    chain: Sequence[ServiceNode],
    component: str | None = None,
    domain: str | None = None,
    now: datetime | None = None,
    limits: RunLimits = DEFAULT_LIMITS,
) -> VerifiedToken:
    """Verify the right as ``verify_token`` does, plus the path the token took.

    Every node before ``component`` (all nodes when it is None) must have
    attested, in chain order, exactly once. A ``chain`` that is empty, names a
    component twice or gives two components one key raises ``ServiceChainError``
    before the token is looked at.
    """
    require_str(("subject", subject), ("resource", resource), ("operation", operation))
    chain = tuple(chain)
    required = _required_count(chain, component)
    loaded = load_token(token, keys)
    # The order depends only on the token and the chain: check it once per cached token.
    order_key = ("order", chain, required)
    if order_key not in loaded.memo:
        check_attestation_order(attesters(loaded), chain, required)
        loaded.memo[order_key] = True
    facts = [
        fact("time", to_unix(now)),
        fact("subject", subject),
        fact("resource", resource),
        fact("operation", operation),
    ]
    if domain is not None:
        require_str(("domain", domain))
        facts.append(fact("domain", domain))
    needed = chain[:required]
    checks = node_checks(resource, needed)

    def ctx() -> Context:  # built only if verification fails
        return Context(
            "authorization",
            subject,
            resource,
            operation,
            domain,
            node_checks=[n.component for n in needed],
        )

    authorize(loaded, facts, RIGHT_POLICY, ctx, checks=checks, limits=limits)
    return VerifiedToken(subject, resource, operation, loaded.root_key_id, loaded.biscuit)


__all__ = [
    "attest_service_chain_token",
    "check_attestation_order",
    "verify_service_chain_token",
]
