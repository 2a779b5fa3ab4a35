"""A certificate whose names match two clients is refused, never resolved to one of them,
and the refusal says so (it used to say the certificate "matches no client")."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2, issuer_pb2_grpc
from hessra_core import pki


@pytest.mark.parametrize(
    "rpc", ["RequestToken", "RequestIdentityToken"], ids=["token", "identity-token"]
)
async def test_a_certificate_matching_two_clients_is_refused_naming_both(
    issuer: Any, rpc: str
) -> None:
    # The gateway's URI and the serial client's serial, in one certificate.
    both = pki.issue_cert(
        issuer.ids.ca, "both", pki.SubjectNames(uris=["urn:test:gateway"]), serial=123456789
    )
    creds = grpc.ssl_channel_credentials(issuer.ids.ca.cert_pem, both.key_pem, both.cert_pem)
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{issuer.app.port}",
        creds,
        options=[("grpc.ssl_target_name_override", "localhost")],
    )
    stub = issuer_pb2_grpc.IssuerStub(channel)
    request: Any = (
        issuer_pb2.RequestTokenRequest(resource="api", operation="read")
        if rpc == "RequestToken"
        else issuer_pb2.RequestIdentityTokenRequest()
    )
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await getattr(stub, rpc)(request, timeout=5)
    finally:
        await channel.close()
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    details = info.value.details() or ""
    assert "matches several clients" in details
    assert "uri:urn:test:gateway" in details
    assert "123456789" in details
