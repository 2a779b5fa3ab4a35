"""Over real mTLS: a certificate with an extension cryptography cannot parse.

The TLS handshake accepts a DNS SAN holding a byte outside IA5; the issuer used to
answer UNKNOWN "Unexpected <class 'ValueError'>: error parsing asn1 value ..." for every
call on such a connection, with no log line. It must refuse it as UNAUTHENTICATED.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import structlog

from hessra.v1 import issuer_pb2, issuer_pb2_grpc
from hessra_core.testing import malformed_san_client


async def test_a_malformed_extension_is_unauthenticated_and_logged(
    issuer: Any, tmp_path: Path
) -> None:
    weird = malformed_san_client(issuer.ids.ca)
    cert_pem, key_pem = weird.cert_pem, weird.key_pem
    creds = grpc.ssl_channel_credentials(issuer.ids.ca.cert_pem, key_pem, cert_pem)
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{issuer.app.port}",
        creds,
        options=[("grpc.ssl_target_name_override", "localhost")],
    )
    try:
        stub = issuer_pb2_grpc.IssuerStub(channel)
        with structlog.testing.capture_logs() as logs:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.RequestToken(
                    issuer_pb2.RequestTokenRequest(resource="api", operation="read"), timeout=5
                )
            keys = await stub.GetPublicKeys(issuer_pb2.GetPublicKeysRequest(), timeout=5)
    finally:
        await channel.close()
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    details = info.value.details() or ""
    assert "CN=weird cannot be parsed" in details
    assert "ValueError" not in details
    # Calls that need no identity still work, and each call wrote its one line.
    assert keys.keys
    lines = [entry for entry in logs if entry.get("event") == "rpc"]
    assert [(entry["method"].rsplit("/", 1)[1], entry["code"]) for entry in lines] == [
        ("RequestToken", "UNAUTHENTICATED"),
        ("GetPublicKeys", "OK"),
    ]
    assert lines[0]["caller"] == "weird"
