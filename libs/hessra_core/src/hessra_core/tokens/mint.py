"""Minting authorization tokens in Hessra's format."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from hessra_core.keys import KeyPair
from hessra_core.tokens import _authority as src
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens.model import (
    DEFAULT_TTL,
    MAX_TTL,
    MintedToken,
    ServiceNode,
    SignerRef,
    check_key_id,
    check_ttl,
    from_unix,
    to_unix,
)


def _check_names(chain: Sequence[ServiceNode], signers: Sequence[SignerRef]) -> None:
    for kind, names in (
        ("service chain component", [n.component for n in chain]),
        ("signer", [s.name for s in signers]),
    ):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate {kind} names: {', '.join(dupes)}")
    keys = [n.public_key for n in chain]
    if len(set(keys)) != len(keys):
        # The verifier tells nodes apart by key; two nodes sharing one could
        # stand in for each other and defeat the order check.
        raise ValueError("service chain nodes must have distinct public keys")


# Parsing Datalog is a fifth of what minting costs. An issuer mints the same
# few rights over and over, and every token minted in one second shares its
# expiry check, so each term is parsed once per distinct value and reused.
# The caches hold parsed terms only, never keys or tokens.
_RIGHT_CHECK = biscuit.Check(src.AUTHZ_RIGHT_CHECK)


@lru_cache(maxsize=4096)
def _right(subject: str, resource: str, operation: str) -> Any:
    return biscuit.Fact(
        src.AUTHZ_RIGHT, {"subject": subject, "resource": resource, "operation": operation}
    )


@lru_cache(maxsize=64)
def _expiry(expiration: int) -> Any:
    return biscuit.Check(src.AUTHZ_EXPIRY_CHECK, {"expiration": expiration})


@lru_cache(maxsize=256)
def _revision(revision: str) -> Any:
    return biscuit.Fact(src.POLICY_REVISION, {"revision": revision})


@lru_cache(maxsize=1024)
def _node_rule(node: ServiceNode) -> Any:
    return biscuit.Rule(
        src.CHAIN_NODE_RULE,
        {"component": node.component},
        {"node_key": node.public_key.to_biscuit()},
    )


@lru_cache(maxsize=1024)
def _signer_check(signer: SignerRef) -> Any:
    return biscuit.Check(
        src.SIGNER_CHECK, {"signer": signer.name}, {"signer_key": signer.public_key.to_biscuit()}
    )


def mint_token(
    keypair: KeyPair,
    *,
    subject: str,
    resource: str,
    operation: str,
    ttl: int = DEFAULT_TTL,
    domain: str | None = None,
    service_chain: Sequence[ServiceNode] = (),
    signers: Sequence[SignerRef] = (),
    key_id: int | None = None,
    now: datetime | None = None,
    revision: str | None = None,
) -> MintedToken:
    """Mint a token granting ``subject`` exactly ``operation`` on ``resource``.

    ``service_chain`` adds one trust rule per node (the nodes attest later, in
    order); ``signers`` adds one required sign-off each. ``key_id`` defaults to
    the signing key's id so verifiers holding several keys can pick the right one.
    """
    for name, value in (("subject", subject), ("resource", resource), ("operation", operation)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
    if domain is not None and (not isinstance(domain, str) or not domain):
        raise ValueError("domain must be a non-empty string or None")
    check_ttl(ttl, maximum=MAX_TTL)
    check_key_id(key_id)
    if service_chain or signers:
        _check_names(service_chain, signers)
    expiration = to_unix(now) + ttl

    builder = biscuit.BiscuitBuilder()
    builder.add_fact(_right(subject, resource, operation))
    builder.add_check(_RIGHT_CHECK)
    builder.add_check(_expiry(expiration))
    if domain is not None:
        builder.add_code(src.DOMAIN_CHECK, {"domain": domain})
    for node in service_chain:
        builder.add_rule(_node_rule(node))
    for signer in signers:
        builder.add_check(_signer_check(signer))
    if revision is not None:
        builder.add_fact(_revision(revision))
    builder.set_root_key_id(keypair.public_key.key_id if key_id is None else key_id)
    token = builder.build(keypair.biscuit_private_key()).to_base64()
    return MintedToken(token, from_unix(expiration), subject, resource, operation)


__all__ = ["mint_token"]
