"""A real issuer and two real signers, in-process on a background event loop.

The servers run on their own thread's loop, so blocking ``Hessra`` calls from a
test do not stall them, and ``AsyncHessra`` tests use their own loop as a real
caller would. Certificates come from ``hessra_core.pki``: our organisation's CA
signs the clients, the issuer and ``legal_dept``; the partner's CA signs only
``partner_company``'s server certificate, so collecting sign-offs needs a per-signer CA.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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

GATEWAY = "uri:urn:test:gateway"
REPORTER = "uri:urn:test:reporter"
LOOPBACK = pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"])


@dataclass
class Stack:
    root: Path
    ca_file: Path
    partner_ca_file: Path
    clients: dict[str, Any]
    issuer_key: KeyPair
    signer_keys: dict[str, KeyPair]
    issuer: IssuerApp
    signers: dict[str, SignerApp]
    policy_dirs: dict[str, Path]
    loop: LoopThread
    ca_pem: bytes = b""
    ports: dict[str, tuple[KeyPair, int]] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.issuer.port}"

    @property
    def identity_server(self) -> str:
        return f"127.0.0.1:{self.issuer.identity_port}"

    def client_kwargs(self, who: str = "gateway") -> dict[str, Any]:
        files = self.clients[who]
        return {
            "cert": files.cert,
            "key": files.key,
            "ca": self.ca_file,
            "signer_ca": {"partner_company": self.partner_ca_file},
        }

    def write_policy(self, org: str, files: dict[str, str]) -> None:
        """Rewrite an organisation's policy and wait until its servers serve it."""
        holders = (
            [self.issuer.holder, self.signers["legal_dept"].holder]
            if org == "ours"
            else [self.signers["partner_company"].holder]
        )
        before = [h.state.digest if h.state else None for h in holders]
        for name, text in files.items():
            (self.policy_dirs[org] / name).write_text(text)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = [h.state.digest if h.state else None for h in holders]
            if all(n != b for n, b in zip(now, before, strict=True)):
                return
            time.sleep(0.05)
        raise AssertionError(f"{org} policy was not picked up")


def our_policy(ca: bytes, signers: dict[str, tuple[KeyPair, int]]) -> dict[str, str]:
    required = [
        {"name": name, "url": f"https://127.0.0.1:{port}", "public_key": kp.public_key.to_string()}
        for name, (kp, port) in signers.items()
    ]
    return policy_files(
        [ca],
        [
            client_entry(
                GATEWAY,
                {"orders": ["read", "create"], "inventory": ["update"], "sensitive": ["export"]},
                identity_token_enabled=True,
                identity_token_duration=600,
            ),
            client_entry(REPORTER, {"reports": ["read"]}),
        ],
        {
            "orders": {"token_lifetime": 60},
            "inventory": {},
            "reports": {},
            "sensitive": {"type": "multi_party", "required_signers": required},
        },
    )


def partner_policy(our_ca: bytes, allow: bool = True) -> dict[str, str]:
    grants = {"sensitive": ["export"]} if allow else {"reports": ["read"]}
    return policy_files([our_ca], [client_entry(GATEWAY, grants)], {"sensitive": {}, "reports": {}})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("sdk-stack")
    ca, partner_ca = pki.create_ca("our org CA"), pki.create_ca("partner org CA")
    (root / "ca.pem").write_bytes(ca.cert_pem)
    (root / "partner-ca.pem").write_bytes(partner_ca.cert_pem)
    tls = root / "tls"
    issuer_tls = write_tls(tls, "issuer", pki.issue_cert(ca, "issuer", LOOPBACK, server=True))
    legal_tls = write_tls(tls, "legal", pki.issue_cert(ca, "legal", LOOPBACK, server=True))
    partner_tls = write_tls(
        tls, "partner", pki.issue_cert(partner_ca, "partner", LOOPBACK, server=True)
    )
    clients = {
        "gateway": write_tls(
            tls, "gateway", pki.issue_cert(ca, "gw", pki.SubjectNames(uris=["urn:test:gateway"]))
        ),
        "reporter": write_tls(
            tls, "reporter", pki.issue_cert(ca, "rp", pki.SubjectNames(uris=["urn:test:reporter"]))
        ),
    }
    issuer_key = KeyPair.generate()
    issuer_key.save(root / "issuer.pem")
    signer_keys = {"legal_dept": KeyPair.generate(), "partner_company": KeyPair.generate()}
    for name, kp in signer_keys.items():
        kp.save(root / f"{name}.pem")
    dirs = {"ours": root / "policy-ours", "partner": root / "policy-partner"}
    for d in dirs.values():
        d.mkdir()
    # The signers must listen before our policy can name their endpoints.
    for name, text in partner_policy(ca.cert_pem).items():
        (dirs["partner"] / name).write_text(text)
    for name, text in our_policy(ca.cert_pem, {}).items():
        (dirs["ours"] / name).write_text(text)

    loop = LoopThread()

    def signer(name: str, tls_files: Any, policy_dir: Path) -> SignerApp:
        config = SignerConfig(
            name=name,
            cert_file=tls_files.cert,
            key_file=tls_files.key,
            signing_key_file=root / f"{name}.pem",
            issuer_keys=KeySet.of(issuer_key.public_key),
            listen="127.0.0.1:0",
            policy_dir=policy_dir,
            policy_poll_interval=0.1,
            shutdown_grace=0.2,
        )
        app = SignerApp(config)
        loop.run(app.start())
        return app

    signers = {
        "legal_dept": signer("legal_dept", legal_tls, dirs["ours"]),
        "partner_company": signer("partner_company", partner_tls, dirs["partner"]),
    }
    issuer = IssuerApp(
        IssuerConfig(
            cert_file=issuer_tls.cert,
            key_file=issuer_tls.key,
            signing_key_files=(root / "issuer.pem",),
            listen="127.0.0.1:0",
            identity_listen="127.0.0.1:0",
            policy_dir=dirs["ours"],
            policy_poll_interval=0.1,
            shutdown_grace=0.2,
        )
    )
    loop.run(issuer.start())
    built = Stack(
        root,
        root / "ca.pem",
        root / "partner-ca.pem",
        clients,
        issuer_key,
        signer_keys,
        issuer,
        signers,
        dirs,
        loop,
        ca.cert_pem,
        {n: (signer_keys[n], app.port) for n, app in signers.items()},
    )
    built.write_policy("ours", our_policy(ca.cert_pem, built.ports))
    try:
        yield built
    finally:
        for app in (issuer, *signers.values()):
            loop.run(app.stop(0))
        loop.close()
