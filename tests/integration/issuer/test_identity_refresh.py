"""Refreshing is for the identity token as issued, never for an attenuated derivative."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2
from hessra_core import tokens


async def test_a_just_in_time_derivative_cannot_be_refreshed(issuer: Any) -> None:
    identity = await issuer.stub("serial").RequestIdentityToken(
        issuer_pb2.RequestIdentityTokenRequest(), timeout=5
    )
    # What travels over the network: valid for a few seconds, whoever intercepts it.
    jit = tokens.jit_identity_token(identity.token, root_keys=issuer.files.keypair.public_key)
    stub = issuer.stub(None, identity_port=True)
    # It still authenticates a request during its short life...
    reply = await stub.RequestToken(
        issuer_pb2.RequestTokenRequest(resource="api", operation="read"),
        metadata=[("authorization", f"Bearer {jit}")],
        timeout=5,
    )
    assert reply.subject == "123456789"
    # ...but cannot be exchanged for a fresh full-lifetime identity token.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RefreshIdentityToken(
            issuer_pb2.RefreshIdentityTokenRequest(current_token=jit), timeout=5
        )
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "as issued" in (info.value.details() or "")
    # The token as issued still refreshes.
    fresh = await stub.RefreshIdentityToken(
        issuer_pb2.RefreshIdentityTokenRequest(current_token=identity.token), timeout=5
    )
    assert fresh.subject == "123456789"
