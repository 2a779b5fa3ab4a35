"""A real issuer on 127.0.0.1:0 with real mTLS, real keys and a real policy directory.

Certificates come from ``hessra_core.pki`` per test session. The policy is written
as TOML into a temporary directory that the issuer compiles through the same
``compile_policy_dir`` path as policy-sync and re-reads when it changes, so tests
change policy exactly the way an operator would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import tomli_w

from hessra.v1 import issuer_pb2_grpc
from hessra_core import pki
from hessra_core.keys import KeyPair
from hessra_issuer.app import IssuerApp
from hessra_issuer.config import IssuerConfig

GATEWAY = "uri:urn:test:gateway"
GATEWAY_BOT = "uri:urn:test:gateway:bot"


@dataclass(frozen=True)
class Identities:
    """Client certificates, one per identifier type plus the awkward cases."""

    ca: pki.IssuedCert
    other_ca: pki.IssuedCert
    server: pki.IssuedCert
    certs: dict[str, pki.IssuedCert]


def _issue(ca: pki.IssuedCert, name: str, names: pki.SubjectNames, **kw: Any) -> pki.IssuedCert:
    return pki.issue_cert(ca, name, names, **kw)


@pytest.fixture(scope="session")
def ids() -> Identities:
    ca = pki.create_ca("issuer test client CA")
    other = pki.create_ca("untrusted CA")
    server = pki.issue_cert(
        ca, "issuer", pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"]), server=True
    )
    past = datetime.now(UTC) - timedelta(days=30)
    certs = {
        "uri": _issue(ca, "gateway", pki.SubjectNames(uris=["urn:test:gateway"])),
        "dns": _issue(ca, "worker", pki.SubjectNames(dns=["worker-7.internal.test"])),
        "dns_upper": _issue(ca, "worker9", pki.SubjectNames(dns=["WORKER-9.Internal.Test"])),
        "dns_deeper": _issue(ca, "deep", pki.SubjectNames(dns=["worker-7.evil.internal.test"])),
        "dns_empty_label": _issue(ca, "empty", pki.SubjectNames(dns=["worker-.internal.test"])),
        "dns_other_prefix": _issue(ca, "other", pki.SubjectNames(dns=["xworker-7.internal.test"])),
        "email": _issue(ca, "ops", pki.SubjectNames(emails=["ops@Example.test"])),
        "ip": _issue(ca, "metrics", pki.SubjectNames(ips=["10.1.2.3"])),
        "serial": _issue(ca, "serial", pki.SubjectNames(), serial=123456789),
        "unknown": _issue(ca, "nobody", pki.SubjectNames(uris=["urn:test:nobody"])),
        "untrusted": _issue(other, "gateway", pki.SubjectNames(uris=["urn:test:gateway"])),
        "rotated": _issue(other, "partner", pki.SubjectNames(uris=["urn:test:partner"])),
        "expired": _issue(
            ca,
            "expired",
            pki.SubjectNames(uris=["urn:test:gateway"]),
            not_before=past,
            not_after=past + timedelta(days=1),
        ),
    }
    return Identities(ca, other, server, certs)


@dataclass
class ChainKeys:
    nodes: dict[str, KeyPair] = field(
        default_factory=lambda: {
            n: KeyPair.generate() for n in ("api_gateway", "fraud_detection", "payment_processor")
        }
    )
    signers: dict[str, KeyPair] = field(
        default_factory=lambda: {n: KeyPair.generate() for n in ("legal_dept", "partner_org")}
    )


@pytest.fixture(scope="session")
def chain_keys() -> ChainKeys:
    return ChainKeys()


def _client(kind: str, value: str, grants: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    return {
        "identifier": {"type": kind, "value": value},
        "resources": [{"name": n, "operations": ops} for n, ops in grants.items()],
        **extra,
    }


@dataclass
class PolicySpec:
    """The policy as data; ``write`` renders clients.toml and resources.toml."""

    ca_pems: list[bytes]
    clients: list[dict[str, Any]]
    resources: dict[str, dict[str, Any]]

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        clients = {
            "version": "0.2.0",
            "cacerts": {"cert_chain": b"".join(self.ca_pems).decode()},
            "clients": self.clients,
        }
        resources = {"version": "0.2.0", "resources": self.resources}
        # Write both, then bump mtimes: the issuer notices a change by file stamps.
        (directory / "resources.toml").write_text(tomli_w.dumps(resources))
        (directory / "clients.toml").write_text(tomli_w.dumps(clients))


def base_policy(ids: Identities, keys: ChainKeys) -> PolicySpec:
    chain = [
        {"component": name, "public_key": kp.public_key.to_string()}
        for name, kp in keys.nodes.items()
    ]
    signers = [
        {
            "name": name,
            "url": f"https://{name.replace('_', '-')}.example.test:8443",
            "public_key": kp.public_key.to_string(),
        }
        for name, kp in keys.signers.items()
    ]
    return PolicySpec(
        ca_pems=[ids.ca.cert_pem],
        clients=[
            _client(
                "san_uri",
                GATEWAY,
                {
                    "orders": ["read", "create"],
                    "payments": ["charge"],
                    "sensitive": ["export"],
                    "combo": ["run"],
                    "short": ["read"],
                },
                identity_token_enabled=True,
                identity_token_duration=3600,
            ),
            _client("san_uri", GATEWAY_BOT, {"reports": ["read"]}),
            _client("san_dns", "worker-*.internal.test", {"queue": ["read", "process"]}),
            _client("san_email", "ops@example.test", {"audit": ["write"]}),
            _client("san_ip", "10.1.2.3", {"metrics": ["write"]}),
            _client(
                "serial",
                "123456789",
                {"api": ["read"]},
                identity_token_enabled=True,
                identity_token_duration=120,
            ),
        ],
        resources={
            "orders": {},
            "reports": {},
            "queue": {},
            "audit": {},
            "metrics": {},
            "api": {},
            "short": {"token_lifetime": 30},
            "payments": {"type": "service_chain", "nodes": chain},
            "sensitive": {"type": "multi_party", "required_signers": signers},
            "combo": {
                "mechanisms": ["service_chain", "multi_party"],
                "service_chain": {"nodes": chain},
                "multi_party": {"required_signers": signers},
            },
        },
    )


@dataclass
class Files:
    root: Path
    policy_dir: Path
    cert_file: Path
    key_file: Path
    signing_key: Path
    old_key_pub: Path
    extra_ca: Path
    keypair: KeyPair
    old_keypair: KeyPair

    def config(self, **overrides: Any) -> IssuerConfig:
        cfg = IssuerConfig(
            cert_file=self.cert_file,
            key_file=self.key_file,
            signing_key_files=(self.signing_key,),
            verify_key_files=(self.old_key_pub,),
            listen="127.0.0.1:0",
            identity_listen="127.0.0.1:0",
            policy_dir=self.policy_dir,
            policy_poll_interval=0.1,
            shutdown_grace=0.5,
        )
        return replace(cfg, **overrides)

    def write_config(self, processes: int, *, poll_interval: float = 2.0, **server: Any) -> Path:
        """``issuer.toml`` in ``root`` for a ``hessra-issuer`` process: ``processes`` workers
        on 127.0.0.1:0 with a port file in ``root``; ``server`` overrides server keys."""
        config = self.root / "issuer.toml"
        settings = {
            "listen": "127.0.0.1:0",
            "cert_file": str(self.cert_file),
            "key_file": str(self.key_file),
            "processes": processes,
            "port_file": str(self.root / "port.json"),
            "shutdown_grace": 1.0,
            **server,
        }
        config.write_text(
            tomli_w.dumps(
                {
                    "server": settings,
                    "keys": {"signing_key_files": [str(self.signing_key)]},
                    "policy": {"dir": str(self.policy_dir), "poll_interval": poll_interval},
                }
            )
        )
        return config


@pytest.fixture
def files(tmp_path: Path, ids: Identities, chain_keys: ChainKeys) -> Files:
    keypair, old = KeyPair.generate(), KeyPair.generate()
    (tmp_path / "issuer.crt").write_bytes(ids.server.cert_pem)
    (tmp_path / "issuer.key").write_bytes(ids.server.key_pem)
    keypair.save(tmp_path / "signing.pem")
    (tmp_path / "old.pub").write_text(old.public_key.to_pem())
    (tmp_path / "extra-ca.pem").write_bytes(ids.ca.cert_pem)
    policy_dir = tmp_path / "policy"
    base_policy(ids, chain_keys).write(policy_dir)
    return Files(
        tmp_path,
        policy_dir,
        tmp_path / "issuer.crt",
        tmp_path / "issuer.key",
        tmp_path / "signing.pem",
        tmp_path / "old.pub",
        tmp_path / "extra-ca.pem",
        keypair,
        old,
    )


class Harness:
    """A started in-process issuer plus channel helpers."""

    def __init__(self, app: IssuerApp, ids: Identities, files: Files) -> None:
        self.app = app
        self.ids = ids
        self.files = files
        self._channels: list[grpc.aio.Channel] = []

    def channel(self, who: str | None, *, identity_port: bool = False) -> grpc.aio.Channel:
        cert = self.ids.certs[who] if who else None
        creds = grpc.ssl_channel_credentials(
            self.ids.ca.cert_pem,
            cert.key_pem if cert else None,
            cert.cert_pem if cert else None,
        )
        port = self.app.identity_port if identity_port else self.app.port
        channel = grpc.aio.secure_channel(
            f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", "localhost")]
        )
        self._channels.append(channel)
        return channel

    def stub(self, who: str | None, *, identity_port: bool = False) -> Any:
        return issuer_pb2_grpc.IssuerStub(self.channel(who, identity_port=identity_port))

    async def change_policy(self, spec: PolicySpec) -> None:
        """Write a new policy and wait until the issuer serves it."""
        before = self.app.holder.state.digest if self.app.holder.state else None
        spec.write(self.files.policy_dir)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = self.app.holder.state
            if state is not None and state.digest != before:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the issuer did not pick up the new policy")

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


@pytest.fixture
async def issuer(ids: Identities, files: Files) -> AsyncIterator[Harness]:
    app = IssuerApp(files.config())
    await app.start()
    harness = Harness(app, ids, files)
    try:
        yield harness
    finally:
        await harness.close()
        await app.stop(0)


@pytest.fixture
async def make_issuer(ids: Identities, files: Files) -> AsyncIterator[Callable[..., Any]]:
    """Start extra issuers with config overrides; they are stopped at teardown."""
    started: list[tuple[IssuerApp, Harness]] = []

    async def make(**overrides: Any) -> Harness:
        app = IssuerApp(files.config(**overrides))
        await app.start()
        harness = Harness(app, ids, files)
        started.append((app, harness))
        return harness

    yield make
    for app, harness in started:
        await harness.close()
        await app.stop(0)


def trailing(call_error_or_call: Any) -> dict[str, str]:
    return dict(call_error_or_call.trailing_metadata() or ())


@pytest.fixture
def policy(ids: Identities, chain_keys: ChainKeys) -> PolicySpec:
    """A fresh copy of the base policy to edit and hand to ``Harness.change_policy``."""
    return base_policy(ids, chain_keys)
