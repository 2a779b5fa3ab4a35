"""The request builders and reply checks the sync and asyncio clients share."""

from __future__ import annotations

from typing import Any

import pytest

from hessra import _errors
from hessra._client_common import (
    PendingSignoff,
    TokenResponse,
    identity_request,
    raise_unless_valid,
    refresh_request,
    service_chain_request,
    sign_request,
    signoffs_to_collect,
    verify_request,
)
from hessra.v1 import issuer_pb2
from hessra_core import errors


@pytest.mark.parametrize(
    ("domain", "has_domain"), [(None, False), ("", True), ("eu", True)], ids=["none", "empty", "eu"]
)
def test_verify_request_sets_domain_only_when_given(domain: str | None, has_domain: bool) -> None:
    request = verify_request("t", "uri:s", "orders", "read", domain)
    assert (request.token, request.subject, request.resource, request.operation) == (
        "t",
        "uri:s",
        "orders",
        "read",
    )
    assert request.HasField("domain") is has_domain
    if has_domain:
        assert request.domain == domain


@pytest.mark.parametrize(
    ("component", "has_component"), [(None, False), ("gateway", True)], ids=["last", "named"]
)
def test_service_chain_request_sets_component_only_when_given(
    component: str | None, has_component: bool
) -> None:
    request = service_chain_request("t", "uri:s", "orders", "read", component)
    assert request.HasField("component") is has_component
    assert request.component == (component or "")
    assert request.resource == "orders"


@pytest.mark.parametrize(
    ("identifier", "ttl"),
    [(None, None), ("uri:me", None), (None, 60), ("uri:me", 60)],
    ids=["bare", "identifier", "ttl", "both"],
)
def test_identity_request_carries_what_was_given(identifier: str | None, ttl: int | None) -> None:
    request = identity_request(identifier, ttl)
    assert request.HasField("identifier") is (identifier is not None)
    assert request.HasField("ttl_seconds") is (ttl is not None)
    assert request.identifier == (identifier or "")
    assert request.ttl_seconds == (ttl or 0)


def test_refresh_and_sign_requests() -> None:
    refresh = refresh_request("old", None)
    assert (refresh.current_token, refresh.HasField("identifier")) == ("old", False)
    assert refresh_request("old", "uri:me").identifier == "uri:me"
    sign = sign_request("t", "orders", "read")
    assert (sign.token, sign.resource, sign.operation) == ("t", "orders", "read")


def test_a_valid_reply_passes() -> None:
    raise_unless_valid(issuer_pb2.VerifyTokenResponse(valid=True))


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("expired", errors.TokenExpiredError),
        ("token_whatever", errors.TokenError),
        ("missing_signoff", errors.MissingSignoffError),
        ("something_new", _errors.HessraError),
    ],
    ids=["expired", "token-prefix", "signoff", "unknown"],
)
def test_a_refusal_raises_the_typed_error(reason: str, error: type[Exception]) -> None:
    reply = issuer_pb2.VerifyTokenResponse(valid=False, reason=reason, message="refused: why")
    with pytest.raises(error, match="refused: why"):
        raise_unless_valid(reply)


PENDING = (PendingSignoff("legal_dept", "https://legal:8443", "ed25519/00"),)


@pytest.mark.parametrize(
    ("response", "pending", "expected"),
    [
        ("tok", None, ("tok", ())),
        ("tok", PENDING, ("tok", PENDING)),
        (TokenResponse(token="tok", pending_signoffs=PENDING), None, ("tok", PENDING)),
        (TokenResponse(token="tok", pending_signoffs=PENDING), (), ("tok", ())),
    ],
    ids=["bare-token", "explicit", "from-response", "explicit-overrides"],
)
def test_signoffs_to_collect(response: Any, pending: Any, expected: tuple[str, Any]) -> None:
    assert signoffs_to_collect(response, pending) == expected
