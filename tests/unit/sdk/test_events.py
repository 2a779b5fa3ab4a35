"""verify_event: the seed's event payload shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from hessra import (
    KeyPair,
    LocalVerifier,
    MalformedRequestError,
    MissingFieldError,
    OperationMismatchError,
    ResourceMismatchError,
    SubjectMismatchError,
    TokenExpiredError,
    attach_authorization,
    verify_event,
)

from .conftest import SUBJECT

EVENT = {"event_id": "evt_123", "type": "order.created", "data": {"id": 7}}


def _event(token: str, **claims: str) -> dict[str, Any]:
    fields = {"subject": SUBJECT, "resource": "orders", "operation": "create", **claims}
    return attach_authorization(EVENT, token=token, **fields)


@pytest.mark.parametrize(
    "encode",
    [lambda e: e, json.dumps, lambda e: json.dumps(e).encode()],
    ids=["dict", "json-text", "json-bytes"],
)
def test_valid_event_returns_the_verified_triple(
    root: KeyPair, mint: Callable[..., str], encode: Callable[[Any], Any]
) -> None:
    event = _event(mint(operation="create"))
    assert event["data"] == {"id": 7}
    assert "authorization" not in EVENT
    ctx = verify_event(encode(event), root.public_key, resource="orders", operation="create")
    assert ctx.triple == (SUBJECT, "orders", "create")


def test_a_verifier_can_be_reused(root: KeyPair, mint: Callable[..., str]) -> None:
    verifier = LocalVerifier.create(root.public_key)
    assert verify_event(_event(mint(operation="create")), verifier).operation == "create"


@pytest.mark.parametrize(
    ("event", "expect", "error", "message"),
    [
        ("{", {}, MalformedRequestError, "not valid JSON"),
        ("[1]", {}, MalformedRequestError, "not a JSON object"),
        ({"type": "x"}, {}, MissingFieldError, "Missing authorization"),
        ({"authorization": "tok"}, {}, MalformedRequestError, "not an object"),
        (
            {"authorization": {"token": "t", "subject": SUBJECT, "resource": "orders"}},
            {},
            MissingFieldError,
            "Missing operation",
        ),
        (
            "CLAIMS",
            {"resource": "payments"},
            ResourceMismatchError,
            "claims resource 'orders', but this consumer requires 'payments'",
        ),
        ("CLAIMS", {"operation": "delete"}, OperationMismatchError, "requires 'delete'"),
        ("CLAIMS", {"subject": "uri:urn:other"}, SubjectMismatchError, "requires 'uri:urn:other'"),
    ],
    ids=[
        "bad-json",
        "not-object",
        "no-block",
        "block-not-object",
        "missing-field",
        "consumer-resource",
        "consumer-operation",
        "consumer-subject",
    ],
)
def test_refusals_are_typed(
    root: KeyPair,
    mint: Callable[..., str],
    event: Any,
    expect: dict[str, str],
    error: type[Exception],
    message: str,
) -> None:
    if event == "CLAIMS":
        event = _event(mint(operation="create"))
    with pytest.raises(error, match=message):
        verify_event(event, root.public_key, **expect)


def test_token_that_does_not_match_its_claims_is_refused(
    root: KeyPair, mint: Callable[..., str]
) -> None:
    # The event claims "create" but carries a token for "read".
    with pytest.raises(OperationMismatchError):
        verify_event(_event(mint(operation="read")), root.public_key)


def test_expired_event_token(root: KeyPair, mint: Callable[..., str]) -> None:
    from datetime import UTC, datetime, timedelta

    token = mint(operation="create", ttl=5, now=datetime.now(UTC) - timedelta(minutes=5))
    with pytest.raises(TokenExpiredError, match="Token has expired"):
        verify_event(_event(token), root.public_key)


def test_oversized_event_is_refused_before_parsing(root: KeyPair) -> None:
    with pytest.raises(MalformedRequestError, match="larger than"):
        verify_event(" " * (1024 * 1024 + 1), root.public_key)
