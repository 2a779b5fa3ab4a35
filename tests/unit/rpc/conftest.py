"""Real mTLS material for exercising hessra_core.rpc."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
import pytest

from hessra_core import pki


@dataclass(frozen=True)
class Pki:
    ca: pki.IssuedCert
    other_ca: pki.IssuedCert
    server: pki.IssuedCert
    client: pki.IssuedCert
    other_client: pki.IssuedCert
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="session")
def rpc_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = pki.create_ca("rpc test CA")
    other = pki.create_ca("rpc other CA")
    server = pki.issue_cert(
        ca, "server", pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"]), server=True
    )
    client = pki.issue_cert(ca, "client", pki.SubjectNames(uris=["urn:test:client"]))
    other_client = pki.issue_cert(other, "other", pki.SubjectNames(uris=["urn:test:other"]))
    root = tmp_path_factory.mktemp("rpc-pki")
    (root / "server.crt").write_bytes(server.cert_pem)
    (root / "server.key").write_bytes(server.key_pem)
    return Pki(ca, other, server, client, other_client, root / "server.crt", root / "server.key")


@pytest.fixture
async def channels() -> AsyncIterator[list[grpc.aio.Channel]]:
    opened: list[grpc.aio.Channel] = []
    yield opened
    for ch in opened:
        await ch.close()
