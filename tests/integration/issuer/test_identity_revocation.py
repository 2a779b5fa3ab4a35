"""A policy change revokes identity tokens already issued, and what was delegated from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2
from hessra_core import tokens

GATEWAY = "uri:urn:test:gateway"
ORDERS = issuer_pb2.RequestTokenRequest(resource="orders", operation="read")
REPORTS = issuer_pb2.RequestTokenRequest(resource="reports", operation="read")


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _gateway(policy: Any) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in policy.clients if c["identifier"]["value"] == GATEWAY)
    return found


def _remove_gateway(policy: Any) -> None:
    policy.clients.remove(_gateway(policy))


def _disable_identity_tokens(policy: Any) -> None:
    _gateway(policy)["identity_token_enabled"] = False


async def _status(stub: Any, request: Any, token: str) -> grpc.StatusCode:
    try:
        await stub.RequestToken(request, metadata=_bearer(token), timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


CHANGES = [
    # (id, policy edit, the status a token of the gateway then gets)
    ("client-removed", _remove_gateway, grpc.StatusCode.UNAUTHENTICATED),
    ("identity-tokens-disabled", _disable_identity_tokens, grpc.StatusCode.PERMISSION_DENIED),
]


@pytest.mark.parametrize(("edit", "code"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
async def test_policy_change_revokes_issued_and_delegated_identity_tokens(
    issuer: Any, policy: Any, edit: Callable[[Any], None], code: grpc.StatusCode
) -> None:
    identity = await issuer.stub("uri").RequestIdentityToken(
        issuer_pb2.RequestIdentityTokenRequest(), timeout=5
    )
    # `uri:urn:test:gateway:bot` is a client of its own in the policy, with `reports`.
    delegated = tokens.delegate_identity_token(
        identity.token, child="bot", ttl=60, root_keys=issuer.files.keypair.public_key
    )
    stub = issuer.stub(None, identity_port=True)
    assert await _status(stub, ORDERS, identity.token) is grpc.StatusCode.OK
    assert await _status(stub, REPORTS, delegated) is grpc.StatusCode.OK

    edit(policy)
    await issuer.change_policy(policy)

    assert await _status(stub, ORDERS, identity.token) is code
    assert await _status(stub, REPORTS, delegated) is code
