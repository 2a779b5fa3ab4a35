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
from pathlib import Path

import grpc
import grpc.aio
import pytest
import structlog

from hessra_core import pki
from hessra_core.testing import GitRemote, malformed_san_client
from hessra_policy_sync.app import PolicySyncApp
from hessra_policy_sync.testing import ADMIN_URI, DevPki, PolicySyncClient, make_config

from .conftest import AppFactory


@pytest.fixture(scope="module")
def client_ca() -> pki.IssuedCert:
    return pki.create_ca("policy-sync test clients' second CA")


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
    weird = malformed_san_client(client_ca)
    client = _client(app, dev_pki, weird.cert_pem, weird.key_pem)
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
