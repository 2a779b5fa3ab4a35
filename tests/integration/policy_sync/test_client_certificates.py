"""Over real mTLS: Resync's allow-list and client certificates it cannot read.

- A DNS SAN holding a byte outside IA5 passes the TLS handshake, but cryptography cannot
  parse it: Resync answers UNAUTHENTICATED naming the certificate (never UNKNOWN with a
  ValueError, never a reconcile) and writes its log line; GetStatus, which needs no
  identity, still answers.
- A certificate presenting several names is allowed when one of them is listed in
  ``server.resync_allowed`` (the CA vouches for each), and refused, naming them, when none is.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import grpc.aio
import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from hessra_core import pki
from hessra_core.testing import GitRemote
from hessra_policy_sync.app import PolicySyncApp
from hessra_policy_sync.testing import ADMIN_URI, DevPki, PolicySyncClient, make_config

from .conftest import AppFactory

# SubjectAlternativeName ::= SEQUENCE { dNSName [2] IA5String "a\xffb" }: 0xff is not IA5.
_BAD_SAN = b"\x30\x05\x82\x03a\xffb"


@pytest.fixture(scope="module")
def client_ca() -> pki.IssuedCert:
    return pki.create_ca("policy-sync test clients' second CA")


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


async def _start(
    start_app: AppFactory,
    dev_pki: DevPki,
    client_ca: pki.IssuedCert,
    tmp_path: Path,
    remote: GitRemote,
) -> PolicySyncApp:
    """policy-sync trusting the test CA and ``client_ca`` for subscribers."""
    bundle = tmp_path / "client-cas.pem"
    bundle.write_bytes(dev_pki.ca_pem + client_ca.cert_pem)
    server = make_config(dev_pki, tmp_path / "state", remote.url).server
    return await start_app(server=replace(server, client_ca_file=bundle))


def _client(
    app: PolicySyncApp, dev_pki: DevPki, cert_pem: bytes, key_pem: bytes
) -> PolicySyncClient:
    creds = grpc.ssl_channel_credentials(dev_pki.ca_pem, key_pem, cert_pem)
    return PolicySyncClient(app.grpc_port, creds)


async def test_a_malformed_extension_is_unauthenticated_and_logged(
    start_app: AppFactory,
    dev_pki: DevPki,
    client_ca: pki.IssuedCert,
    tmp_path: Path,
    remote: GitRemote,
) -> None:
    app = await _start(start_app, dev_pki, client_ca, tmp_path, remote)
    client = _client(app, dev_pki, *_bad_san_client(client_ca))
    try:
        with structlog.testing.capture_logs() as logs:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await client.resync()
            status = await client.status()
    finally:
        await client.close()
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED, info.value.details()
    details = info.value.details() or ""
    assert "CN=weird cannot be parsed" in details
    assert "ValueError" not in details
    assert status.source == remote.url
    lines = [entry for entry in logs if entry.get("event") == "rpc"]
    assert [(entry["method"].rsplit("/", 1)[1], entry["code"]) for entry in lines] == [
        ("Resync", "UNAUTHENTICATED"),
        ("GetStatus", "OK"),
    ]
    assert lines[0]["caller"] == "weird"
    assert not [entry for entry in logs if entry.get("trigger") == "resync"]


@pytest.mark.parametrize(
    ("uris", "allowed"),
    [
        (["spiffe://hessra.test/other", ADMIN_URI], True),
        (["spiffe://hessra.test/other", "spiffe://hessra.test/third"], False),
    ],
    ids=["one-listed", "none-listed"],
)
async def test_a_certificate_with_several_names_needs_one_listed(
    start_app: AppFactory,
    dev_pki: DevPki,
    client_ca: pki.IssuedCert,
    tmp_path: Path,
    remote: GitRemote,
    uris: list[str],
    allowed: bool,
) -> None:
    app = await _start(start_app, dev_pki, client_ca, tmp_path, remote)
    cert = pki.issue_cert(client_ca, "several", pki.SubjectNames(uris=uris))
    client = _client(app, dev_pki, cert.cert_pem, cert.key_pem)
    try:
        if allowed:
            assert (await client.resync()).accepted
            return
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.resync()
    finally:
        await client.close()
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    details = info.value.details() or ""
    assert all(uri in details for uri in uris), details
    assert "not listed in server.resync_allowed" in details
