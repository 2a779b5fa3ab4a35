"""The whole system as real OS processes, started once per test session.

Two organisations, each with its own policy git repository (a bare ``file://``
remote the tests commit to) and its own ``hessra-policy-sync``:

- ours: the issuer and the ``legal_dept`` signer follow our policy-sync;
- the partner: the ``partner_company`` signer follows the partner's policy-sync.

Our CA signs every client certificate, the issuer's and legal_dept's server
certificates; the partner's CA signs partner_company's server certificate and its
policy-sync credentials. The partner's policy trusts our CA for callers. Three
small Starlette services served by uvicorn (``chain_service.py``) form the chain
api_gateway -> fraud_detection -> payment_processor, built on the SDK and the ASGI
middleware.

Readiness is awaited on port files, log lines and gRPC health, never on sleeps;
every process is stopped (SIGTERM, then SIGKILL) at teardown.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from hessra import Hessra, HessraError
from hessra_core import pki
from hessra_core.keys import KeyPair
from hessra_core.testing import (
    GitRemote,
    ServiceProcess,
    TlsFiles,
    client_entry,
    console_script,
    policy_files,
    wait_for,
    wait_for_health,
    write_tls,
)

GATEWAY = "uri:urn:service:api-gateway"
FRAUD = "uri:urn:service:fraud-detection"
PAYMENTS = "uri:urn:service:payment-processor"
ALICE = "uri:urn:user:alice"
NODES = ("api_gateway", "fraud_detection", "payment_processor")
LOOPBACK = pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"])
CHAIN_SERVICE = Path(__file__).with_name("chain_service.py")


@dataclass
class Deployment:
    root: Path
    ca_file: Path
    partner_ca_file: Path
    ca_pem: bytes
    certs: dict[str, TlsFiles]
    issuer_key: KeyPair
    node_keys: dict[str, KeyPair]
    signer_keys: dict[str, KeyPair]
    ours: GitRemote
    partner: GitRemote
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"127.0.0.1:{self.ports['issuer']}"

    @property
    def identity_server(self) -> str:
        return f"127.0.0.1:{self.ports['issuer_identity']}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/handle"

    def client(self, who: str = "api_gateway", **kwargs: Any) -> Hessra:
        files = self.certs[who]
        kwargs.setdefault("signer_ca", {"partner_company": self.partner_ca_file})
        return Hessra(self.issuer, cert=files.cert, key=files.key, ca=self.ca_file, **kwargs)

    def chain_json(self) -> str:
        return json.dumps(
            [
                {"component": n, "public_key": self.node_keys[n].public_key.to_string()}
                for n in NODES
            ]
        )

    # --- policies ---------------------------------------------------------------------

    def our_policy(self, *, multi_party: bool) -> dict[str, str]:
        if not multi_party:
            signers: list[dict[str, str]] = []
        else:
            signers = [
                {
                    "name": name,
                    "url": f"https://127.0.0.1:{self.ports[name]}",
                    "public_key": self.signer_keys[name].public_key.to_string(),
                }
                for name in ("legal_dept", "partner_company")
            ]
        sensitive: dict[str, Any] = (
            {"type": "multi_party", "required_signers": signers} if multi_party else {}
        )
        nodes = [
            {"component": n, "public_key": self.node_keys[n].public_key.to_string()} for n in NODES
        ]
        return policy_files(
            [self.ca_pem],
            [
                client_entry(
                    GATEWAY,
                    {"payment_processor": ["charge"], "sensitive_data": ["export"]},
                    identity_token_enabled=True,
                    identity_token_duration=600,
                ),
                client_entry(FRAUD, {"orders": ["read"]}),
                client_entry(PAYMENTS, {"orders": ["read"]}),
                client_entry(ALICE, {"orders": ["read"]}),
            ],
            {
                "orders": {},
                "payment_processor": {"type": "service_chain", "nodes": nodes},
                "sensitive_data": sensitive,
            },
        )

    def partner_policy(self, *, allow_gateway: bool) -> dict[str, str]:
        grants = {"sensitive_data": ["export"]} if allow_gateway else {"reports": ["read"]}
        return policy_files(
            [self.ca_pem],
            [client_entry(GATEWAY, grants)],
            {"sensitive_data": {}, "reports": {}},
        )

    def signoffs_work(self) -> bool:
        with self.client() as client:
            try:
                response = client.request_token_full("sensitive_data", "export")
                if len(response.pending_signoffs) != 2:
                    return False
                client.collect_multi_party_signoffs(response, "sensitive_data", "export")
            except HessraError:
                return False
        return True


def _start_policy_sync(
    dep: Deployment, name: str, repo: GitRemote, server: TlsFiles, client_ca: Path
) -> None:
    proc = ServiceProcess(
        name,
        [
            console_script("hessra-policy-sync"),
            "--source-url", repo.url,
            "--state-dir", dep.root / f"{name}-state",
            "--grpc-listen", "127.0.0.1:0",
            "--http-listen", "127.0.0.1:0",
            "--cert", server.cert,
            "--key", server.key,
            "--client-ca", client_ca,
            "--poll-interval", "0.3",
        ],
        dep.root / f"{name}.log",
    )  # fmt: skip
    dep.processes[name] = proc
    dep.ports[name] = int(proc.wait_event("policy_sync_started", 60)["grpc_port"])


def _sync_flags(dep: Deployment, sync: str, ca: Path, me: TlsFiles, state: str) -> list[Any]:
    return [
        "--sync-target", f"127.0.0.1:{dep.ports[sync]}",
        "--sync-ca-file", ca,
        "--sync-cert-file", me.cert,
        "--sync-key-file", me.key,
        "--snapshot-file", dep.root / state / "snapshot.bin",
    ]  # fmt: skip


def _health(dep: Deployment, port: int, service: str, ca: Path) -> None:
    files = dep.certs["api_gateway"]
    creds = grpc.ssl_channel_credentials(
        ca.read_bytes(), files.key.read_bytes(), files.cert.read_bytes()
    )
    wait_for_health(port, creds, service, timeout=60)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("e2e")
    ca, partner_ca = pki.create_ca("Our Org CA"), pki.create_ca("Partner Org CA")
    (root / "ca.pem").write_bytes(ca.cert_pem)
    (root / "partner-ca.pem").write_bytes(partner_ca.cert_pem)
    tls = root / "tls"

    def leaf(issuing: pki.IssuedCert, name: str, uri: str) -> TlsFiles:
        return write_tls(tls, name, pki.issue_cert(issuing, name, pki.SubjectNames(uris=[uri])))

    def server(issuing: pki.IssuedCert, name: str) -> TlsFiles:
        return write_tls(tls, name, pki.issue_cert(issuing, name, LOOPBACK, server=True))

    certs = {
        "api_gateway": leaf(ca, "api_gateway", "urn:service:api-gateway"),
        "fraud_detection": leaf(ca, "fraud_detection", "urn:service:fraud-detection"),
        "payment_processor": leaf(ca, "payment_processor", "urn:service:payment-processor"),
        "alice": leaf(ca, "alice", "urn:user:alice"),
        "issuer_sync": leaf(ca, "issuer_sync", "urn:hessra:issuer"),
        "legal_sync": leaf(ca, "legal_sync", "urn:hessra:legal"),
        "partner_sync": leaf(partner_ca, "partner_sync", "urn:partner:signer"),
        "our_sync_server": server(ca, "our_sync_server"),
        "partner_sync_server": server(partner_ca, "partner_sync_server"),
        "issuer": server(ca, "issuer"),
        "legal_dept": server(ca, "legal_dept"),
        "partner_company": server(partner_ca, "partner_company"),
    }
    issuer_key = KeyPair.generate()
    issuer_key.save(root / "issuer-signing.pem")
    node_keys = {n: KeyPair.generate() for n in NODES}
    signer_keys = {n: KeyPair.generate() for n in ("legal_dept", "partner_company")}
    for name, kp in {**node_keys, **signer_keys}.items():
        kp.save(root / f"{name}.pem")
    dep = Deployment(
        root,
        root / "ca.pem",
        root / "partner-ca.pem",
        ca.cert_pem,
        certs,
        issuer_key,
        node_keys,
        signer_keys,
        GitRemote(root / "ours-repo"),
        GitRemote(root / "partner-repo"),
    )
    try:
        # Each organisation's first commit; our multi-party resource follows once the
        # signers listen and their endpoints are known.
        dep.ours.commit_and_push("Initial policy", dep.our_policy(multi_party=False))
        dep.partner.commit_and_push("Partner policy", dep.partner_policy(allow_gateway=True))
        _start_policy_sync(dep, "ours_sync", dep.ours, certs["our_sync_server"], dep.ca_file)
        _start_policy_sync(
            dep, "partner_sync", dep.partner, certs["partner_sync_server"], dep.partner_ca_file
        )
        issuer_port_file = root / "issuer.port.json"
        dep.processes["issuer"] = ServiceProcess(
            "issuer",
            [
                console_script("hessra-issuer"),
                "--listen", "127.0.0.1:0",
                "--identity-listen", "127.0.0.1:0",
                "--cert-file", certs["issuer"].cert,
                "--key-file", certs["issuer"].key,
                "--signing-key", root / "issuer-signing.pem",
                "--port-file", issuer_port_file,
                "--shutdown-grace", "1",
                *_sync_flags(dep, "ours_sync", dep.ca_file, certs["issuer_sync"], "issuer-state"),
            ],
            root / "issuer.log",
        )  # fmt: skip
        signer_files: dict[str, Path] = {}
        for name, sync, ca_file, sync_cert in (
            ("legal_dept", "ours_sync", dep.ca_file, certs["legal_sync"]),
            ("partner_company", "partner_sync", dep.partner_ca_file, certs["partner_sync"]),
        ):
            signer_files[name] = root / f"{name}.port.json"
            dep.processes[name] = ServiceProcess(
                name,
                [
                    console_script("hessra-signer"),
                    "--name", name,
                    "--signing-key", root / f"{name}.pem",
                    "--issuer-public-key", issuer_key.public_key.to_string(),
                    "--listen", "127.0.0.1:0",
                    "--cert-file", certs[name].cert,
                    "--key-file", certs[name].key,
                    "--port-file", signer_files[name],
                    "--shutdown-grace", "1",
                    *_sync_flags(dep, sync, ca_file, sync_cert, f"{name}-state"),
                ],
                root / f"{name}.log",
            )  # fmt: skip
        info = dep.processes["issuer"].wait_port_file(issuer_port_file, 60)
        dep.ports["issuer"], dep.ports["issuer_identity"] = info["port"], info["identity_port"]
        for name, path in signer_files.items():
            dep.ports[name] = dep.processes[name].wait_port_file(path, 60)["port"]
        _health(dep, dep.ports["issuer"], "hessra.v1.Issuer", dep.ca_file)
        _health(dep, dep.ports["legal_dept"], "hessra.v1.Signer", dep.ca_file)
        _health(dep, dep.ports["partner_company"], "hessra.v1.Signer", dep.partner_ca_file)

        for index, node in enumerate(NODES):
            port_file = root / f"{node}.port.json"
            files = certs[node]
            dep.processes[node] = ServiceProcess(
                node,
                [
                    sys.executable, CHAIN_SERVICE,
                    "--component", node,
                    "--chain", dep.chain_json(),
                    "--port-file", port_file,
                    "--issuer", dep.issuer,
                    "--cert", files.cert,
                    "--key", files.key,
                    "--ca", dep.ca_file,
                    "--personal-key", root / f"{node}.pem",
                    *(["--request-token"] if index == 0 else []),
                ],
                root / f"{node}.log",
            )  # fmt: skip
        for node in NODES:
            dep.ports[node] = dep.processes[node].wait_port_file(root / f"{node}.port.json", 60)[
                "port"
            ]
        dep.ours.commit_and_push("Require sign-offs", dep.our_policy(multi_party=True))
        wait_for(dep.signoffs_work, 60, "the multi-party policy to reach the issuer")
        yield dep
    finally:
        for proc in reversed(list(dep.processes.values())):
            proc.stop()


def until(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    return wait_for(predicate, timeout, what)
