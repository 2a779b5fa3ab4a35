"""Over real mTLS: a ``server.resync_allowed`` entry admits only a SAN of its own type.

The allow-list lists a DNS name and a SPIFFE URI. A certificate whose URI SAN spells the
DNS name, or whose URI differs from the listed one only in case, is refused with
PERMISSION_DENIED naming its typed names; the DNS name itself and the exact URI pass.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import grpc
import grpc.aio
import pytest

from hessra_core import pki
from hessra_core.testing import GitRemote
from hessra_policy_sync.testing import DevPki, PolicySyncClient, make_config

from .conftest import AppFactory

ALLOWED = ("admin.ops.test", "uri:spiffe://ops/admin")

CASES = [
    ("dns-name", pki.SubjectNames(dns=["Admin.Ops.Test"]), True),
    ("exact-uri", pki.SubjectNames(uris=["spiffe://ops/admin"]), True),
    ("uri-spelling-the-dns-name", pki.SubjectNames(uris=["admin.ops.test"]), False),
    ("uri-in-other-case", pki.SubjectNames(uris=["spiffe://OPS/Admin"]), False),
    ("email-spelling-the-dns-name", pki.SubjectNames(emails=["admin.ops.test@x.test"]), False),
]


@pytest.mark.parametrize(("names", "allowed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_resync_entry_admits_only_its_own_type(
    start_app: AppFactory,
    dev_pki: DevPki,
    tmp_path: Path,
    remote: GitRemote,
    names: pki.SubjectNames,
    allowed: bool,
) -> None:
    client_ca = pki.create_ca("resync typed names CA")
    bundle = tmp_path / "client-cas.pem"
    bundle.write_bytes(dev_pki.ca_pem + client_ca.cert_pem)
    server = make_config(dev_pki, tmp_path / "state", remote.url).server
    app = await start_app(server=replace(server, client_ca_file=bundle, resync_allowed=ALLOWED))
    cert = pki.issue_cert(client_ca, "caller", names)
    creds = grpc.ssl_channel_credentials(dev_pki.ca_pem, cert.key_pem, cert.cert_pem)
    client = PolicySyncClient(app.grpc_port, creds)
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
    assert "not listed in server.resync_allowed" in details
    assert any(f"{kind}:" in details for kind in ("uri", "email")), details
