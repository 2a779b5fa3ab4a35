"""Real-git and real-mTLS helpers for policy-sync's tests and benchmarks.

Nothing here is a fake: ``GitRemote`` (from :mod:`hessra_core.testing`) drives the
``git`` CLI against a bare repository served as a ``file://`` remote, and ``DevPki``
writes a development CA with server and client certificates from ``hessra_core.pki``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from hessra.v1 import policy_pb2, policy_pb2_grpc
from hessra_core import pki
from hessra_policy_sync.config import (
    GitSourceConfig,
    PolicySyncConfig,
    ServerConfig,
    WebhookConfig,
    WebhookSecrets,
)


def policy_files(
    ca_pem: bytes,
    *,
    resources: tuple[str, ...] = ("orders",),
    operations: tuple[str, ...] = ("read",),
    subject: str = "uri:urn:service:api-gateway",
    prefix: str = "",
    typo: bool = False,
) -> dict[str, str]:
    """A valid ``clients.toml`` + ``resources.toml`` (``typo=True``: one unknown resource)."""
    ops = ", ".join(f'"{op}"' for op in operations)
    grants = "\n".join(
        f'  {{ name = "{name if not typo else name[:-1] + "x"}", operations = [{ops}] }},'
        for name in resources
    )
    clients = (
        'version = "0.2.0"\n\n[cacerts]\n'
        f"cert_chain = '''{ca_pem.decode()}'''\n\n"
        "[[clients]]\n"
        f'identifier = {{ type = "san_uri", value = "{subject}" }}\n'
        f"resources = [\n{grants}\n]\n"
    )
    tables = "\n".join(f"[resources.{name}]\n" for name in resources)
    return {
        f"{prefix}clients.toml": clients,
        f"{prefix}resources.toml": f'version = "0.2.0"\n\n{tables}',
    }


@dataclass(frozen=True)
class ClientCert:
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class DevPki:
    """A development CA, a loopback server certificate and named client certificates."""

    ca_file: Path
    ca_pem: bytes
    server_cert: Path
    server_key: Path
    clients: dict[str, ClientCert] = field(default_factory=dict)

    @classmethod
    def create(cls, directory: Path, clients: Mapping[str, str]) -> DevPki:
        """``clients`` maps a name to the SAN URI its certificate carries."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = pki.create_ca("policy-sync test CA")
        server = pki.issue_cert(
            ca,
            "policy-sync",
            pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"]),
            server=True,
            client=False,
        )
        (directory / "ca.crt").write_bytes(ca.cert_pem)
        (directory / "server.crt").write_bytes(server.cert_pem)
        (directory / "server.key").write_bytes(server.key_pem)
        issued: dict[str, ClientCert] = {}
        for name, uri in clients.items():
            cert = pki.issue_cert(ca, name, pki.SubjectNames(uris=[uri]))
            (directory / f"{name}.crt").write_bytes(cert.cert_pem)
            (directory / f"{name}.key").write_bytes(cert.key_pem)
            issued[name] = ClientCert(directory / f"{name}.crt", directory / f"{name}.key")
        return cls(
            directory / "ca.crt",
            ca.cert_pem,
            directory / "server.crt",
            directory / "server.key",
            issued,
        )

    def channel_credentials(self, client: str) -> grpc.ChannelCredentials:
        cert = self.clients[client]
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=cert.key_file.read_bytes(),
            certificate_chain=cert.cert_file.read_bytes(),
        )


ADMIN_URI = "spiffe://hessra.test/ops-admin"
ISSUER_URI = "spiffe://hessra.test/issuer"
SECRETS = WebhookSecrets(github=b"gh-secret", gitlab=b"gl-token", generic=b"generic-secret")


def make_config(
    dev_pki: DevPki,
    state_dir: Path,
    url: str,
    *,
    branch: str = "main",
    subpath: str = "",
    poll_interval: float = 60.0,
    webhook: WebhookConfig | None = None,
) -> PolicySyncConfig:
    return PolicySyncConfig(
        server=ServerConfig(
            state_dir=state_dir,
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            cert_file=dev_pki.server_cert,
            key_file=dev_pki.server_key,
            client_ca_file=dev_pki.ca_file,
            resync_allowed=(ADMIN_URI,),
            shutdown_grace=0.5,
        ),
        source=GitSourceConfig(
            url=url,
            branch=branch,
            subpath=subpath,
            poll_interval=poll_interval,
            poll_jitter=0.0,
            fetch_timeout=20.0,
        ),
        webhook=webhook or WebhookConfig(secrets=SECRETS, pushed_commit_attempts=8),
    )


class PolicySyncClient:
    """PolicySync over mTLS as a given identity."""

    def __init__(self, port: int, creds: grpc.ChannelCredentials) -> None:
        self.channel = grpc.aio.secure_channel(f"127.0.0.1:{port}", creds)
        self.stub = policy_pb2_grpc.PolicySyncStub(self.channel)

    async def status(self) -> policy_pb2.GetStatusResponse:
        return await self.stub.GetStatus(policy_pb2.GetStatusRequest(), timeout=10)

    async def resync(self) -> policy_pb2.ResyncResponse:
        return await self.stub.Resync(policy_pb2.ResyncRequest(reason="test"), timeout=30)

    async def close(self) -> None:
        await self.channel.close(None)  # no grace: cancel what is in flight


def conditions(status: policy_pb2.GetStatusResponse) -> dict[str, tuple[bool, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


async def eventually(check: Callable[[], Any], within: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with its last value on timeout."""
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {last!r})")


__all__ = [
    "ADMIN_URI",
    "ISSUER_URI",
    "SECRETS",
    "ClientCert",
    "DevPki",
    "PolicySyncClient",
    "conditions",
    "eventually",
    "make_config",
    "policy_files",
]
