"""Who gets a token: every identifier type, wildcard edges, and every way to be refused."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2
from hessra_core import tokens

IDENTIFIER_CASES = [
    ("uri", "orders", "read", "uri:urn:test:gateway"),
    ("dns", "queue", "process", "worker-7.internal.test"),
    ("dns_upper", "queue", "read", "worker-9.internal.test"),
    ("email", "audit", "write", "ops@example.test"),
    ("ip", "metrics", "write", "10.1.2.3"),
    ("serial", "api", "read", "123456789"),
]


def _request(resource: str, operation: str, **kw: Any) -> issuer_pb2.RequestTokenRequest:
    return issuer_pb2.RequestTokenRequest(resource=resource, operation=operation, **kw)


@pytest.mark.parametrize(
    ("who", "resource", "operation", "subject"),
    IDENTIFIER_CASES,
    ids=[c[0] for c in IDENTIFIER_CASES],
)
async def test_each_identifier_type_gets_a_token_for_its_grant(
    issuer: Any, who: str, resource: str, operation: str, subject: str
) -> None:
    reply = await issuer.stub(who).RequestToken(_request(resource, operation), timeout=5)
    assert reply.subject == subject
    assert reply.policy_revision == issuer.app.holder.state.revision
    assert reply.key_id == issuer.files.keypair.public_key.key_id
    verified = tokens.verify_token(
        reply.token,
        issuer.files.keypair.public_key,
        subject=subject,
        resource=resource,
        operation=operation,
    )
    assert verified.root_key_id == reply.key_id


DENIED_CASES = [
    ("uri", "orders", "delete", "operation `delete` on `orders`"),
    ("uri", "queue", "read", "resource `queue` is not granted"),
    ("dns", "orders", "read", "resource `orders` is not granted"),
    ("serial", "nope", "read", "resource `nope` is not declared"),
]


@pytest.mark.parametrize(
    ("who", "resource", "operation", "why"),
    DENIED_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in DENIED_CASES],
)
async def test_policy_denial_is_permission_denied_naming_subject_resource_operation(
    issuer: Any, who: str, resource: str, operation: str, why: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub(who).RequestToken(_request(resource, operation), timeout=5)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    details = info.value.details() or ""
    assert why in details
    assert f"`{operation}`" in details
    assert f"`{resource}`" in details
    assert dict(info.value.trailing_metadata() or ())["x-hessra-reason"] == "permission_denied"


WILDCARD_MISSES = ["dns_deeper", "dns_empty_label", "dns_other_prefix", "unknown"]


@pytest.mark.parametrize("who", WILDCARD_MISSES, ids=WILDCARD_MISSES)
async def test_trusted_cert_matching_no_client_is_unauthenticated(issuer: Any, who: str) -> None:
    """`worker-*.internal.test` covers exactly one label: not zero characters, not two labels."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub(who).RequestToken(_request("queue", "read"), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "no client in the policy matches" in (info.value.details() or "")


REFUSED_AT_HANDSHAKE = ["untrusted", "expired", None]


@pytest.mark.parametrize("who", REFUSED_AT_HANDSHAKE, ids=["untrusted-ca", "expired", "no-cert"])
async def test_mtls_listener_refuses_bad_certificates_in_the_handshake(
    issuer: Any, who: str | None
) -> None:
    """The handshake itself fails, so no RPC ever reaches the servicer."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub(who).RequestToken(_request("orders", "read"), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_identity_listener_without_credentials_is_unauthenticated(issuer: Any) -> None:
    stub = issuer.stub(None, identity_port=True)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RequestToken(_request("orders", "read"), timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "client certificate or an identity token" in (info.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RequestToken(
            _request("orders", "read"), metadata=[("authorization", "Basic abc")], timeout=5
        )
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_bad_requests_are_invalid_argument(issuer: Any) -> None:
    stub = issuer.stub("uri")
    for request in (
        _request("", "read"),
        _request("orders", ""),
        _request("orders", "read", ttl_seconds=601),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.RequestToken(request, timeout=5)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_every_response_names_the_worker_pid(issuer: Any) -> None:
    import os

    call = issuer.stub("uri").RequestToken(_request("orders", "read"), timeout=5)
    await call
    assert dict(await call.trailing_metadata())["x-hessra-worker-pid"] == str(os.getpid())
