"""Local verification helpers: plain tokens, service chains, typed refusals and hints."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hessra import (
    AuthContext,
    KeyPair,
    KeySet,
    LocalVerifier,
    MissingAttestationError,
    MissingFieldError,
    MissingSignoffError,
    MissingTokenError,
    OperationMismatchError,
    ResourceMismatchError,
    SignatureError,
    SignerRef,
    SubjectMismatchError,
    TokenError,
    TokenExpiredError,
    hints_for,
    verify_service_chain_token_local,
    verify_token_local,
)
from hessra_core.errors import ConfigError, MalformedTokenError, UnknownKeyIdError

from .conftest import SUBJECT, ChainWorld


def test_valid_token_returns_what_it_proved(mint: Callable[..., str], root: KeyPair) -> None:
    token = mint()
    ctx = verify_token_local(token, SUBJECT, "orders", "read", public_key=root.public_key)
    assert isinstance(ctx, AuthContext)
    assert ctx.triple == (SUBJECT, "orders", "read")
    assert ctx.token == token
    assert token not in repr(ctx)


@pytest.mark.parametrize(
    "key_form",
    [
        lambda k: k,
        lambda k: k.to_string(),
        lambda k: k.to_pem(),
        lambda k: k.to_pem().encode(),
        lambda k: KeySet.of(k, KeyPair.generate().public_key),
        lambda k: [KeyPair.generate().public_key.to_string(), k],
    ],
    ids=["PublicKey", "text", "pem", "pem-bytes", "keyset-rotation", "list"],
)
def test_every_key_form_is_accepted(
    mint: Callable[..., str], root: KeyPair, key_form: Callable[..., object]
) -> None:
    ctx = verify_token_local(
        mint(),
        SUBJECT,
        "orders",
        "read",
        public_key=key_form(root.public_key),  # type: ignore[arg-type]
    )
    assert ctx.subject == SUBJECT


@pytest.mark.parametrize(
    ("subject", "resource", "operation", "error"),
    [
        ("uri:urn:user:999", "orders", "read", SubjectMismatchError),
        (SUBJECT, "users", "read", ResourceMismatchError),
        (SUBJECT, "orders", "delete", OperationMismatchError),
    ],
    ids=["subject", "resource", "operation"],
)
def test_anything_but_the_exact_right_is_refused(
    mint: Callable[..., str],
    root: KeyPair,
    subject: str,
    resource: str,
    operation: str,
    error: type[TokenError],
) -> None:
    with pytest.raises(error):
        verify_token_local(mint(), subject, resource, operation, public_key=root.public_key)


def test_expired_token_says_so_with_the_seed_message(
    mint: Callable[..., str], root: KeyPair
) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    token = mint(ttl=60, now=past)
    with pytest.raises(TokenExpiredError, match=r"^Token has expired") as info:
        verify_token_local(token, SUBJECT, "orders", "read", public_key=root.public_key)
    assert "Request a new token just before use" in hints_for(info.value)


def test_wrong_key_is_refused(mint: Callable[..., str]) -> None:
    other = KeyPair.generate().public_key
    with pytest.raises(SignatureError):
        verify_token_local(mint(), SUBJECT, "orders", "read", public_key=other)
    # With several keys the token's key id picks one, and none matches.
    others = KeySet.of(other, KeyPair.generate().public_key)
    with pytest.raises(UnknownKeyIdError):
        verify_token_local(mint(), SUBJECT, "orders", "read", public_key=others)


@pytest.mark.parametrize(
    ("token", "subject", "error"),
    [
        ("", SUBJECT, MissingTokenError),
        ("   ", SUBJECT, MissingTokenError),
        ("not-a-token", SUBJECT, MalformedTokenError),
        ("A" * 70_000, SUBJECT, MalformedTokenError),
        ("x", "", MissingFieldError),
    ],
    ids=["empty", "blank", "garbage", "huge", "no-subject"],
)
def test_missing_and_malformed_input(
    root: KeyPair, token: str, subject: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        verify_token_local(token, subject, "orders", "read", public_key=root.public_key)


def test_component_without_chain_is_a_config_error(root: KeyPair) -> None:
    with pytest.raises(ConfigError, match="component was given without a service chain"):
        LocalVerifier.create(root.public_key, component="api_gateway")


def test_no_keys_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        LocalVerifier.create([])


# -- service chains, the seed's walkthrough ---------------------------------------


def test_each_component_verifies_what_came_before_it(world: ChainWorld) -> None:
    token = world.mint()
    pk = world.root.public_key
    # api_gateway is first: nothing before it.
    verify_service_chain_token_local(
        token, SUBJECT, "payment_processor", "charge", world.chain, "api_gateway", public_key=pk
    )
    token = world.attest(token, "api_gateway")
    # fraud_detection, with the seed's partial chain (just the gateway).
    partial = world.chain.before("fraud_detection")
    verify_service_chain_token_local(
        token, SUBJECT, "payment_processor", "charge", partial, "fraud_detection", public_key=pk
    )
    verify_service_chain_token_local(
        token,
        SUBJECT,
        "payment_processor",
        "charge",
        world.chain,
        "fraud_detection",
        public_key=pk,
    )
    token = world.attest(token, "fraud_detection")
    ctx = verify_service_chain_token_local(
        token,
        SUBJECT,
        "payment_processor",
        "charge",
        world.chain,
        "payment_processor",
        public_key=pk,
    )
    assert ctx.component == "payment_processor"


def test_skipped_node_is_named(world: ChainWorld) -> None:
    token = world.attest(world.mint(), "api_gateway")
    with pytest.raises(MissingAttestationError) as info:
        verify_service_chain_token_local(
            token,
            SUBJECT,
            "payment_processor",
            "charge",
            world.chain,
            "payment_processor",
            public_key=world.root.public_key,
        )
    assert str(info.value) == "Missing attestation from: fraud_detection"
    assert "Ensure services attest in the correct order" in hints_for(info.value)


def test_chain_as_hessra_py_json(world: ChainWorld) -> None:
    token = world.attest(world.mint(), "api_gateway", "fraud_detection", "payment_processor")
    ctx = verify_service_chain_token_local(
        token,
        SUBJECT,
        "payment_processor",
        "charge",
        world.chain.to_json(),
        None,
        public_key=world.root.public_key,
    )
    assert ctx.resource == "payment_processor"


def test_missing_signoff_is_named(root: KeyPair) -> None:
    from hessra_core.tokens import mint_token

    legal = SignerRef("legal_dept", KeyPair.generate().public_key)
    token = mint_token(
        root, subject=SUBJECT, resource="sensitive_data", operation="export", signers=(legal,)
    ).token
    with pytest.raises(MissingSignoffError) as info:
        verify_token_local(token, SUBJECT, "sensitive_data", "export", public_key=root.public_key)
    assert str(info.value) == "Required signature from legal_dept not found"
    assert hints_for(info.value)
