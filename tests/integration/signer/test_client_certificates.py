"""Over real mTLS: client certificates the signer cannot use get a clear refusal.

- A DNS SAN holding a byte outside IA5 passes the TLS handshake, but cryptography cannot
  parse it: SignToken answers UNAUTHENTICATED naming the certificate (never UNKNOWN with a
  ValueError), writes its log line, and GetPublicKey (no identity needed) still works.
- A certificate whose names match two clients is refused, naming both, never resolved to
  one of them.
"""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
import structlog

from hessra.v1 import signer_pb2, signer_pb2_grpc
from hessra_core import pki, tokens
from hessra_core.testing import malformed_san_client

from .conftest import CALLER, SIGNER, Harness, World


def _channel(signer: Harness, cert_pem: bytes, key_pem: bytes) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(signer.world.ca.cert_pem, key_pem, cert_pem)
    return grpc.aio.secure_channel(
        f"127.0.0.1:{signer.app.port}",
        creds,
        options=[("grpc.ssl_target_name_override", "localhost")],
    )


def _request(world: World) -> signer_pb2.SignTokenRequest:
    minted = tokens.mint_token(
        world.issuer,
        subject=CALLER,
        resource="sensitive",
        operation="export",
        signers=[tokens.SignerRef(SIGNER, world.signer.public_key)],
    )
    return signer_pb2.SignTokenRequest(token=minted.token, resource="sensitive", operation="export")


async def test_a_malformed_extension_is_unauthenticated_and_logged(
    signer: Harness, world: World
) -> None:
    weird = malformed_san_client(world.ca)
    channel = _channel(signer, weird.cert_pem, weird.key_pem)
    try:
        stub = signer_pb2_grpc.SignerStub(channel)
        with structlog.testing.capture_logs() as logs:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.SignToken(_request(world), timeout=10)
            key = await stub.GetPublicKey(signer_pb2.GetPublicKeyRequest(), timeout=10)
    finally:
        await channel.close()
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED, info.value.details()
    details = info.value.details() or ""
    assert "CN=weird cannot be parsed" in details
    assert "ValueError" not in details
    assert key.signer_name == SIGNER
    lines = [entry for entry in logs if entry.get("event") == "rpc"]
    assert [(entry["method"].rsplit("/", 1)[1], entry["code"]) for entry in lines] == [
        ("SignToken", "UNAUTHENTICATED"),
        ("GetPublicKey", "OK"),
    ]
    assert lines[0]["caller"] == "weird"


async def test_a_certificate_matching_two_clients_is_refused_naming_both(
    signer: Harness, world: World
) -> None:
    # The gateway's URI and the reporter's, in one certificate: two clients match it.
    both = pki.issue_cert(
        world.ca, "both", pki.SubjectNames(uris=["urn:test:gateway", "urn:test:reporter"])
    )
    channel = _channel(signer, both.cert_pem, both.key_pem)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await signer_pb2_grpc.SignerStub(channel).SignToken(_request(world), timeout=10)
    finally:
        await channel.close()
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED, info.value.details()
    details = info.value.details() or ""
    assert "matches several clients" in details
    assert "uri:urn:test:gateway" in details
    assert "uri:urn:test:reporter" in details
