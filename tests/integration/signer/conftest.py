"""A real signer on 127.0.0.1:0 with real mTLS, real keys and a real policy directory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import tomli_w

from hessra.v1 import signer_pb2_grpc
from hessra_core import pki
from hessra_core.keys import KeyPair, KeySet
from hessra_signer.app import SignerApp
from hessra_signer.config import SignerConfig

SIGNER = "legal_dept"
CALLER = "uri:urn:test:gateway"


@dataclass(frozen=True)
class World:
    ca: pki.IssuedCert
    other_ca: pki.IssuedCert
    server: pki.IssuedCert
    certs: dict[str, pki.IssuedCert]
    issuer: KeyPair
    foreign_issuer: KeyPair
    signer: KeyPair
    partner: KeyPair


@pytest.fixture(scope="session")
def world() -> World:
    ca = pki.create_ca("signer test client CA")
    other = pki.create_ca("another organisation's CA")
    server = pki.issue_cert(
        ca, "signer", pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"]), server=True
    )
    certs = {
        "gateway": pki.issue_cert(ca, "gateway", pki.SubjectNames(uris=["urn:test:gateway"])),
        "reporter": pki.issue_cert(ca, "reporter", pki.SubjectNames(uris=["urn:test:reporter"])),
        "nobody": pki.issue_cert(ca, "nobody", pki.SubjectNames(uris=["urn:test:nobody"])),
        "outsider": pki.issue_cert(other, "gateway", pki.SubjectNames(uris=["urn:test:gateway"])),
    }
    return World(
        ca,
        other,
        server,
        certs,
        KeyPair.generate(),
        KeyPair.generate(),
        KeyPair.generate(),
        KeyPair.generate(),
    )


def write_policy(directory: Path, ca_pem: bytes, clients: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "resources.toml").write_text(
        tomli_w.dumps({"version": "0.2.0", "resources": {"sensitive": {}, "reports": {}}})
    )
    (directory / "clients.toml").write_text(
        tomli_w.dumps(
            {"version": "0.2.0", "cacerts": {"cert_chain": ca_pem.decode()}, "clients": clients}
        )
    )


def base_clients() -> list[dict[str, Any]]:
    return [
        {
            "identifier": {"type": "san_uri", "value": CALLER},
            "resources": [{"name": "sensitive", "operations": ["export"]}],
        },
        {
            "identifier": {"type": "san_uri", "value": "uri:urn:test:reporter"},
            "resources": [{"name": "reports", "operations": ["read"]}],
        },
    ]


@pytest.fixture
def config(tmp_path: Path, world: World) -> SignerConfig:
    (tmp_path / "signer.crt").write_bytes(world.server.cert_pem)
    (tmp_path / "signer.key").write_bytes(world.server.key_pem)
    (tmp_path / "extra-ca.pem").write_bytes(world.other_ca.cert_pem)
    world.signer.save(tmp_path / "legal.pem")
    write_policy(tmp_path / "policy", world.ca.cert_pem, base_clients())
    return SignerConfig(
        name=SIGNER,
        cert_file=tmp_path / "signer.crt",
        key_file=tmp_path / "signer.key",
        signing_key_file=tmp_path / "legal.pem",
        issuer_keys=KeySet.of(world.issuer.public_key),
        listen="127.0.0.1:0",
        # Lets the other CA's certificates through the handshake, so the per-request
        # check against the policy's [cacerts] is what refuses them.
        extra_client_ca_file=tmp_path / "extra-ca.pem",
        policy_dir=tmp_path / "policy",
        policy_poll_interval=0.1,
        shutdown_grace=0.2,
    )


class Harness:
    def __init__(self, app: SignerApp, world: World) -> None:
        self.app = app
        self.world = world
        self._channels: list[grpc.aio.Channel] = []

    def stub(self, who: str) -> Any:
        cert = self.world.certs[who]
        creds = grpc.ssl_channel_credentials(self.world.ca.cert_pem, cert.key_pem, cert.cert_pem)
        channel = grpc.aio.secure_channel(
            f"127.0.0.1:{self.app.port}",
            creds,
            options=[("grpc.ssl_target_name_override", "localhost")],
        )
        self._channels.append(channel)
        return signer_pb2_grpc.SignerStub(channel)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


@pytest.fixture
async def make_signer(config: SignerConfig, world: World) -> AsyncIterator[Callable[..., Any]]:
    started: list[Harness] = []

    async def make(**overrides: Any) -> Harness:
        app = SignerApp(replace(config, **overrides))
        await app.start()
        harness = Harness(app, world)
        started.append(harness)
        return harness

    yield make
    for harness in started:
        await harness.close()
        await harness.app.stop(0)


@pytest.fixture
async def signer(make_signer: Callable[..., Any]) -> Harness:
    harness: Harness = await make_signer()
    return harness
