"""Over real mTLS: a certificate with an extension cryptography cannot parse.

The TLS handshake accepts a DNS SAN holding a byte outside IA5; the issuer used to
answer UNKNOWN "Unexpected <class 'ValueError'>: error parsing asn1 value ..." for every
call on such a connection, with no log line. It must refuse it as UNAUTHENTICATED.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from hessra.v1 import issuer_pb2, issuer_pb2_grpc
from hessra_core import pki

# SubjectAlternativeName ::= SEQUENCE { dNSName [2] IA5String "a\xffb" }: 0xff is not IA5.
_BAD_SAN = b"\x30\x05\x82\x03a\xffb"


def _bad_san_client(ca: pki.IssuedCert) -> tuple[bytes, bytes]:
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weird")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, _BAD_SAN),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


async def test_a_malformed_extension_is_unauthenticated_and_logged(
    issuer: Any, tmp_path: Path
) -> None:
    cert_pem, key_pem = _bad_san_client(issuer.ids.ca)
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
