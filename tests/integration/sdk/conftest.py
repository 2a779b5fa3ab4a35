"""A real issuer and a real signer over mTLS, for what the SDK reports when they refuse
the client's certificate in the TLS handshake.

Both run in-process on a background event loop, so the blocking client (and the CLI,
through click's runner) can call them from the test thread. ``Certs`` keeps the CA's
key so tests can issue expired, not-yet-valid and wrong-purpose client certificates.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hessra_core import pki
from hessra_core.keys import KeyPair, KeySet
from hessra_core.testing import LoopThread, client_entry, policy_files, write_tls
from hessra_issuer.app import IssuerApp
from hessra_issuer.config import IssuerConfig
from hessra_signer.app import SignerApp
from hessra_signer.config import SignerConfig

GATEWAY = "urn:test:gateway"
LOOPBACK = pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"])


@dataclass(frozen=True)
class Servers:
    root: Path
    ca: pki.IssuedCert
    ca_file: Path
    issuer: str
    signer: str
    issuer_key: KeyPair

    def client_cert(self, name: str, issued: pki.IssuedCert) -> dict[str, Path]:
        files = write_tls(self.root / "clients", name, issued)
        return {"cert": files.cert, "key": files.key}


def client_certs(ca: pki.IssuedCert) -> dict[str, pki.IssuedCert]:
    """Every kind of client certificate the servers must refuse, and one they accept."""
    now = datetime.now(UTC)
    names = pki.SubjectNames(uris=[GATEWAY])
    return {
        "trusted": pki.issue_cert(ca, "gw", names),
        "untrusted_ca": pki.issue_cert(pki.create_ca("someone else's CA"), "gw", names),
        "expired": pki.issue_cert(
            ca, "gw", names, not_before=now - timedelta(days=2), not_after=now - timedelta(days=1)
        ),
        "not_yet_valid": pki.issue_cert(
            ca, "gw", names, not_before=now + timedelta(days=1), not_after=now + timedelta(days=2)
        ),
        "server_only": pki.issue_cert(ca, "gw", names, server=True, client=False),
    }


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("cert-refusal")
    ca = pki.create_ca("our org CA")
    (root / "ca.pem").write_bytes(ca.cert_pem)
    issuer_tls = write_tls(root / "tls", "issuer", pki.issue_cert(ca, "i", LOOPBACK, server=True))
    signer_tls = write_tls(root / "tls", "signer", pki.issue_cert(ca, "s", LOOPBACK, server=True))
    issuer_key, signer_key = KeyPair.generate(), KeyPair.generate()
    issuer_key.save(root / "issuer.pem")
    signer_key.save(root / "signer.pem")
    policy = root / "policy"
    policy.mkdir()
    texts = policy_files(
        [ca.cert_pem], [client_entry(f"uri:{GATEWAY}", {"orders": ["read"]})], {"orders": {}}
    )
    for name, text in texts.items():
        (policy / name).write_text(text)

    loop = LoopThread()
    issuer = IssuerApp(
        IssuerConfig(
            cert_file=issuer_tls.cert,
            key_file=issuer_tls.key,
            signing_key_files=(root / "issuer.pem",),
            listen="127.0.0.1:0",
            policy_dir=policy,
            shutdown_grace=0.2,
        )
    )
    signer = SignerApp(
        SignerConfig(
            name="legal_dept",
            cert_file=signer_tls.cert,
            key_file=signer_tls.key,
            signing_key_file=root / "signer.pem",
            issuer_keys=KeySet.of(issuer_key.public_key),
            listen="127.0.0.1:0",
            policy_dir=policy,
            shutdown_grace=0.2,
        )
    )
    loop.run(issuer.start())
    loop.run(signer.start())
    try:
        yield Servers(
            root,
            ca,
            root / "ca.pem",
            f"127.0.0.1:{issuer.port}",
            f"127.0.0.1:{signer.port}",
            issuer_key,
        )
    finally:
        for app in (issuer, signer):
            loop.run(app.stop(0))
        loop.close()


@pytest.fixture(scope="module")
def scripted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real mTLS server whose issuer and signer answers each test scripts."""
    from .scripted import ScriptedServer

    server = ScriptedServer(tmp_path_factory.mktemp("scripted")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scripted(scripted_server: Any) -> Iterator[Any]:
    scripted_server.reset()
    yield scripted_server
    scripted_server.reset()
