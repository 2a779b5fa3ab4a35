"""A delegate's name is chosen by whoever holds the parent token: it must never pick up the
permissions of an unrelated client that a DNS wildcard happens to match.

``base:child`` acts with its own permissions only when the policy names that exact
identity; otherwise it acts with the base client's. A wildcard such as ``*.partner.test``
names DNS hosts, and ``123456789:x.partner.test`` is not one.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2
from hessra_core import tokens


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _wildcard_client(pattern: str) -> dict[str, Any]:
    return {
        "identifier": {"type": "san_dns", "value": pattern},
        "resources": [{"name": "queue", "operations": ["read", "process"]}],
    }


@pytest.mark.parametrize(
    ("pattern", "child"),
    [
        ("*.partner.test", "x.partner.test"),
        ("*-job.partner.test", "x-job.partner.test"),
    ],
    ids=["bare-wildcard", "suffixed-wildcard"],
)
async def test_delegate_named_like_a_wildcard_host_keeps_the_base_permissions(
    issuer: Any, policy: Any, pattern: str, child: str
) -> None:
    policy.clients.append(_wildcard_client(pattern))
    await issuer.change_policy(policy)
    identity = await issuer.stub("serial").RequestIdentityToken(
        issuer_pb2.RequestIdentityTokenRequest(), timeout=5
    )
    root = issuer.files.keypair.public_key
    delegated = tokens.delegate_identity_token(identity.token, child=child, ttl=60, root_keys=root)
    stub = issuer.stub(None, identity_port=True)
    actor = f"123456789:{child}"

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RequestToken(
            issuer_pb2.RequestTokenRequest(resource="queue", operation="read"),
            metadata=_bearer(delegated),
            timeout=5,
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    details = info.value.details() or ""
    for named in (actor, "queue", "read"):
        assert named in details

    # The base client's own permissions still apply to the delegate, under its own name.
    reply = await stub.RequestToken(
        issuer_pb2.RequestTokenRequest(resource="api", operation="read"),
        metadata=_bearer(delegated),
        timeout=5,
    )
    assert reply.subject == actor
    tokens.verify_token(reply.token, root, subject=actor, resource="api", operation="read")
