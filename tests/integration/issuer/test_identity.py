"""Identity tokens: issue, use as Bearer (on both listeners), delegate, refresh."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2
from hessra_core import tokens

GATEWAY = "uri:urn:test:gateway"


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def _identity(issuer: Any, who: str, **kw: Any) -> Any:
    return await issuer.stub(who).RequestIdentityToken(
        issuer_pb2.RequestIdentityTokenRequest(**kw), timeout=5
    )


def _seconds_left(reply: Any) -> float:
    return (reply.expires_at.ToDatetime(tzinfo=UTC) - datetime.now(UTC)).total_seconds()


async def test_identity_token_lifetime_comes_from_policy(issuer: Any) -> None:
    serial = await _identity(issuer, "serial")
    assert serial.subject == "123456789"
    assert 117 <= _seconds_left(serial) <= 121
    gateway = await _identity(issuer, "uri", ttl_seconds=60)
    assert gateway.subject == GATEWAY
    assert 57 <= _seconds_left(gateway) <= 61
    verified = tokens.verify_identity_token(
        serial.token, issuer.files.keypair.public_key, actor="123456789"
    )
    assert verified.subject == "123456789"


async def test_identity_tokens_only_for_enabled_clients(issuer: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _identity(issuer, "email")
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "not enabled" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _identity(issuer, "uri", identifier="uri:urn:test:someone-else")
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("identity_port", [True, False], ids=["identity-listener", "mtls-listener"])
async def test_bearer_identity_token_authenticates_request_token(
    issuer: Any, identity_port: bool
) -> None:
    """On the identity listener the token is the only credential; on the mTLS listener
    another client's certificate carries the transport and the token picks the actor."""
    identity = await _identity(issuer, "serial")
    stub = issuer.stub(None if identity_port else "dns", identity_port=identity_port)
    reply = await stub.RequestToken(
        issuer_pb2.RequestTokenRequest(resource="api", operation="read"),
        metadata=_bearer(identity.token),
        timeout=5,
    )
    assert reply.subject == "123456789"
    tokens.verify_token(
        reply.token,
        issuer.files.keypair.public_key,
        subject="123456789",
        resource="api",
        operation="read",
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RequestToken(
            issuer_pb2.RequestTokenRequest(resource="queue", operation="read"),
            metadata=_bearer(identity.token),
            timeout=5,
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_delegated_identity_acts_with_base_permissions_as_itself(issuer: Any) -> None:
    identity = await _identity(issuer, "serial")
    root = issuer.files.keypair.public_key
    delegated = tokens.delegate_identity_token(
        identity.token, child="helper", ttl=60, root_keys=root
    )
    stub = issuer.stub(None, identity_port=True)
    reply = await stub.RequestToken(
        issuer_pb2.RequestTokenRequest(resource="api", operation="read"),
        metadata=_bearer(delegated),
        timeout=5,
    )
    assert reply.subject == "123456789:helper"
    tokens.verify_token(
        reply.token, root, subject="123456789:helper", resource="api", operation="read"
    )


async def test_delegate_named_in_policy_gets_its_own_permissions_only(issuer: Any) -> None:
    """`uri:urn:test:gateway:bot` is a client of its own: reports yes, the base's orders no."""
    identity = await _identity(issuer, "uri")
    delegated = tokens.delegate_identity_token(
        identity.token, child="bot", ttl=60, root_keys=issuer.files.keypair.public_key
    )
    stub = issuer.stub(None, identity_port=True)
    reply = await stub.RequestToken(
        issuer_pb2.RequestTokenRequest(resource="reports", operation="read"),
        metadata=_bearer(delegated),
        timeout=5,
    )
    assert reply.subject == "uri:urn:test:gateway:bot"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RequestToken(
            issuer_pb2.RequestTokenRequest(resource="orders", operation="read"),
            metadata=_bearer(delegated),
            timeout=5,
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_refresh_identity_token(issuer: Any) -> None:
    identity = await _identity(issuer, "serial")
    stub = issuer.stub(None, identity_port=True)
    fresh = await stub.RefreshIdentityToken(
        issuer_pb2.RefreshIdentityTokenRequest(current_token=identity.token), timeout=5
    )
    assert fresh.subject == "123456789"
    assert fresh.token != identity.token
    root = issuer.files.keypair.public_key
    delegated = tokens.delegate_identity_token(identity.token, child="x", ttl=60, root_keys=root)
    for request, code in (
        (
            issuer_pb2.RefreshIdentityTokenRequest(current_token=delegated),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (
            issuer_pb2.RefreshIdentityTokenRequest(
                current_token=identity.token, identifier="other"
            ),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (
            issuer_pb2.RefreshIdentityTokenRequest(current_token="garbage"),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.RefreshIdentityToken(request, timeout=5)
        assert info.value.code() is code


async def test_token_from_another_issuer_is_refused(issuer: Any) -> None:
    from hessra_core.keys import KeyPair

    forged = tokens.mint_identity_token(KeyPair.generate(), subject="123456789", ttl=60)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub(None, identity_port=True).RequestToken(
            issuer_pb2.RequestTokenRequest(resource="api", operation="read"),
            metadata=_bearer(forged.token),
            timeout=5,
        )
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert forged.token not in (info.value.details() or "")


async def test_revoking_identity_tokens_in_policy_stops_refresh(issuer: Any, policy: Any) -> None:
    identity = await _identity(issuer, "serial")
    serial = next(c for c in policy.clients if c["identifier"]["type"] == "serial")
    serial["identity_token_enabled"] = False
    await issuer.change_policy(policy)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub(None, identity_port=True).RefreshIdentityToken(
            issuer_pb2.RefreshIdentityTokenRequest(current_token=identity.token), timeout=5
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_verification_on_the_identity_listener_needs_an_identity_token(
    issuer: Any,
) -> None:
    stub = issuer.stub(None, identity_port=True)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetPublicKeys(issuer_pb2.GetPublicKeysRequest(), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    identity = await _identity(issuer, "serial")
    reply = await stub.GetPublicKeys(
        issuer_pb2.GetPublicKeysRequest(), metadata=_bearer(identity.token), timeout=5
    )
    assert reply.keys[0].active
