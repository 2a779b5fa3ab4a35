"""Service chains: attestations must follow the configured order, each node once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import biscuit_auth
import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    ServiceNode,
    SignerRef,
    add_signoff,
    attest_service_chain_token,
    mint_token,
    verify_service_chain_token,
    verify_token,
)

from .conftest import Chain

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK = {"subject": "alice", "resource": "orders", "operation": "read"}


def minted(root: KeyPair, chain: Chain, **extra: object) -> str:
    return mint_token(root, **ASK, service_chain=chain.nodes, now=NOW, **extra).token  # type: ignore[arg-type]


def attest(token: str, root: KeyPair, signers: Sequence[KeyPair], resource: str = "orders") -> str:
    for kp in signers:
        token = attest_service_chain_token(token, kp, resource=resource, root_keys=root.public_key)
    return token


def verify(token: str, root: KeyPair, chain: Chain, component: str | None) -> None:
    verify_service_chain_token(
        token, root.public_key, **ASK, chain=chain.nodes, component=component, now=NOW
    )


@pytest.mark.parametrize("step", [0, 1, 2, 3], ids=["none", "one", "two", "three"])
def test_correct_partial_chain_is_accepted_at_each_component(
    root: KeyPair, chain: Chain, step: int
) -> None:
    token = attest(minted(root, chain), root, [chain.keys[n] for n in chain.names[:step]])
    component = chain.names[step] if step < 3 else None
    verify(token, root, chain, component)
    # Every earlier component accepts it too: their prefix is a prefix of this one.
    for earlier in chain.names[:step]:
        verify(token, root, chain, earlier)


@pytest.mark.parametrize("step", [0, 1, 2], ids=["none", "one", "two"])
def test_incomplete_chain_is_refused_at_the_end(root: KeyPair, chain: Chain, step: int) -> None:
    token = attest(minted(root, chain), root, [chain.keys[n] for n in chain.names[:step]])
    with pytest.raises(errors.MissingAttestationError) as info:
        verify(token, root, chain, None)
    assert str(info.value) == f"Missing attestation from: {chain.names[step]}"


ORDER_CASES = [
    # (id, attesting node names, component, error, message)
    (
        "reordered",
        ["fraud_detection", "gateway"],
        "payments",
        errors.AttestationOrderError,
        "Attestation out of order: fraud_detection attested before gateway",
    ),
    (
        "reordered-full",
        ["gateway", "payments", "fraud_detection"],
        None,
        errors.AttestationOrderError,
        "Attestation out of order: payments attested before fraud_detection",
    ),
    (
        "skipped",
        ["gateway", "payments"],
        None,
        errors.MissingAttestationError,
        "Missing attestation from: fraud_detection",
    ),
    (
        "skipped-first",
        ["fraud_detection"],
        "payments",
        errors.MissingAttestationError,
        "Missing attestation from: gateway",
    ),
    (
        "duplicated",
        ["gateway", "gateway"],
        "payments",
        errors.AttestationOrderError,
        "Duplicate attestation from: gateway",
    ),
    (
        "duplicated-later",
        ["gateway", "fraud_detection", "fraud_detection"],
        "payments",
        errors.AttestationOrderError,
        "Duplicate attestation from: fraud_detection",
    ),
    (
        "ahead-of-a-skipped-node",
        ["gateway", "payments"],
        "fraud_detection",
        errors.AttestationOrderError,
        "Attestation out of order: payments attested before fraud_detection",
    ),
]


@pytest.mark.parametrize(
    ("order", "component", "error", "message"),
    [c[1:] for c in ORDER_CASES],
    ids=[c[0] for c in ORDER_CASES],
)
def test_wrong_paths_get_their_specific_error(
    root: KeyPair,
    chain: Chain,
    order: list[str],
    component: str | None,
    error: type[Exception],
    message: str,
) -> None:
    token = attest(minted(root, chain), root, [chain.keys[n] for n in order])
    with pytest.raises(error) as info:
        verify(token, root, chain, component)
    assert str(info.value) == message


def test_attestation_by_an_outside_key_is_refused(root: KeyPair, chain: Chain) -> None:
    outsider = KeyPair.generate()
    token = attest(minted(root, chain), root, [chain.keys["gateway"], outsider])
    with pytest.raises(errors.UnknownAttesterError, match=outsider.public_key.to_string()):
        verify(token, root, chain, "payments")


def test_verifier_chain_with_other_keys_refuses(root: KeyPair, chain: Chain) -> None:
    token = attest(minted(root, chain), root, [chain.keys["gateway"]])
    impostors = [ServiceNode(n.component, KeyPair.generate().public_key) for n in chain.nodes]
    with pytest.raises(errors.UnknownAttesterError):
        verify_service_chain_token(
            token, root.public_key, **ASK, chain=impostors, component="fraud_detection", now=NOW
        )


def test_token_minted_for_another_chain_is_refused(root: KeyPair, chain: Chain) -> None:
    # The verifier's chain uses the nodes' real keys, but the token trusts none of them.
    token = mint_token(root, **ASK, now=NOW).token
    token = attest(token, root, [chain.keys["gateway"]])
    with pytest.raises(errors.MissingAttestationError, match="gateway"):
        verify(token, root, chain, "fraud_detection")


def test_attestation_for_another_resource_does_not_count(root: KeyPair, chain: Chain) -> None:
    token = attest(minted(root, chain), root, [chain.keys["gateway"]], resource="invoices")
    with pytest.raises(errors.MissingAttestationError, match="gateway"):
        verify(token, root, chain, "fraud_detection")


def test_holder_appended_service_fact_is_not_an_attestation(root: KeyPair, chain: Chain) -> None:
    parsed = biscuit_auth.Biscuit.from_base64(minted(root, chain), root.public_key.to_biscuit())
    forged = parsed.append(biscuit_auth.BlockBuilder("service({r});", {"r": "orders"}))
    with pytest.raises(errors.MissingAttestationError, match="gateway"):
        verify(forged.to_base64(), root, chain, "fraud_detection")


def test_unknown_component_is_refused(root: KeyPair, chain: Chain) -> None:
    with pytest.raises(errors.ServiceChainError, match="billing"):
        verify(minted(root, chain), root, chain, "billing")


def test_attesting_needs_the_trusted_root(root: KeyPair, other_root: KeyPair, chain: Chain) -> None:
    token = mint_token(other_root, **ASK, service_chain=chain.nodes, now=NOW).token
    with pytest.raises(errors.SignatureError):
        attest(token, root, [chain.keys["gateway"]])


def test_signoffs_between_attestations_are_skipped(root: KeyPair, chain: Chain) -> None:
    legal = KeyPair.generate()
    token = minted(root, chain, signers=[SignerRef("legal_dept", legal.public_key)])
    token = attest(token, root, [chain.keys["gateway"]])
    token = add_signoff(token, legal, signer_name="legal_dept", root_keys=root.public_key, now=NOW)
    token = attest(token, root, [chain.keys["fraud_detection"], chain.keys["payments"]])
    verify(token, root, chain, None)


def test_chain_verification_still_checks_the_right(root: KeyPair, chain: Chain) -> None:
    token = attest(minted(root, chain), root, [chain.keys[n] for n in chain.names])
    with pytest.raises(errors.SubjectMismatchError):
        verify_service_chain_token(
            token, root.public_key, **{**ASK, "subject": "mallory"}, chain=chain.nodes, now=NOW
        )
    # Plain verification does not look at the chain; it still checks the right.
    verify_token(token, root.public_key, **ASK, now=NOW)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        (lambda k: [ServiceNode("a", k), ServiceNode("b", k)], "distinct public keys"),
        (
            lambda k: [ServiceNode("a", k), ServiceNode("a", KeyPair.generate().public_key)],
            "duplicate service chain component",
        ),
    ],
    ids=["shared-key", "duplicate-name"],
)
def test_mint_refuses_ambiguous_chains(root: KeyPair, nodes: object, message: str) -> None:
    assert callable(nodes)
    with pytest.raises(ValueError, match=message):
        mint_token(root, **ASK, service_chain=nodes(KeyPair.generate().public_key))


@pytest.mark.parametrize(
    "name", ['a"b', "a\\b", "a\nb", ""], ids=["quote", "backslash", "newline", "empty"]
)
def test_node_names_must_read_back_unambiguously(name: str) -> None:
    with pytest.raises(ValueError, match="component"):
        ServiceNode(name, KeyPair.generate().public_key)
