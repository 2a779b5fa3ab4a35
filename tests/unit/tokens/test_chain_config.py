"""A verifier's own service chain must be usable before any token is judged against it.

An empty chain demands no attestation at all, and a chain naming a component twice
or giving two components one key cannot be satisfied and would blame the token.
Both are refused with an error about the chain, never answered as if the token
were at fault, and an empty chain never verifies a token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    ServiceNode,
    attest_service_chain_token,
    mint_token,
    verify_service_chain_token,
)

from .conftest import Chain

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK: dict[str, Any] = {"subject": "alice", "resource": "orders", "operation": "read"}


def _fully_attested(root: KeyPair, chain: Chain) -> str:
    token = mint_token(root, **ASK, service_chain=chain.nodes, now=NOW).token
    for name in chain.names:
        token = attest_service_chain_token(
            token, chain.keys[name], resource="orders", root_keys=root.public_key
        )
    return token


@pytest.mark.parametrize("component", [None, "gateway"], ids=["whole-chain", "component"])
def test_an_empty_chain_verifies_nothing(
    root: KeyPair, chain: Chain, component: str | None
) -> None:
    # A plain token nobody attested: with an empty chain it used to pass as chain-verified.
    token = mint_token(root, **ASK, now=NOW).token
    with pytest.raises(errors.ServiceChainError, match="no nodes"):
        verify_service_chain_token(
            token, root.public_key, **ASK, chain=[], component=component, now=NOW
        )


def test_a_component_named_twice_is_a_chain_error(root: KeyPair, chain: Chain) -> None:
    token = _fully_attested(root, chain)
    nodes = chain.nodes
    twice = [*nodes[:2], ServiceNode("gateway", nodes[2].public_key)]
    with pytest.raises(errors.ServiceChainError) as info:
        verify_service_chain_token(token, root.public_key, **ASK, chain=twice, now=NOW)
    assert str(info.value) == "the service chain names component 'gateway' twice"
    assert not isinstance(info.value, errors.AttestationOrderError)


def test_two_components_sharing_a_key_is_a_chain_error(root: KeyPair, chain: Chain) -> None:
    token = _fully_attested(root, chain)
    nodes = chain.nodes
    shared = [*nodes[:2], ServiceNode("payments", nodes[0].public_key)]
    with pytest.raises(errors.ServiceChainError) as info:
        verify_service_chain_token(
            token, root.public_key, **ASK, chain=shared, component="payments", now=NOW
        )
    assert str(info.value) == (
        "components 'gateway' and 'payments' of the service chain share one public key"
    )
    assert not isinstance(info.value, errors.MissingAttestationError)


def test_a_sound_chain_still_verifies(root: KeyPair, chain: Chain) -> None:
    token = _fully_attested(root, chain)
    verified = verify_service_chain_token(token, root.public_key, **ASK, chain=chain.nodes, now=NOW)
    assert (verified.subject, verified.resource, verified.operation) == ("alice", "orders", "read")
