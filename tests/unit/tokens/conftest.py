"""Fixtures for the token engine tests: keys, a three-node chain, and a hessra-py verifier."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from hessra_core.keys import KeyPair
from hessra_core.pki import create_ca
from hessra_core.tokens import ServiceNode


@dataclass(frozen=True)
class Chain:
    keys: dict[str, KeyPair]

    @property
    def nodes(self) -> list[ServiceNode]:
        return [ServiceNode(name, kp.public_key) for name, kp in self.keys.items()]

    @property
    def names(self) -> list[str]:
        return list(self.keys)


@pytest.fixture(scope="session")
def root() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def other_root() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def chain() -> Chain:
    return Chain({n: KeyPair.generate() for n in ("gateway", "fraud_detection", "payments")})


def chain_json(nodes: Sequence[ServiceNode]) -> str:
    """The service chain as hessra-py's verify_service_chain_token_local wants it."""
    return json.dumps(
        [{"component": n.component, "public_key": n.public_key.to_string()} for n in nodes]
    )


@pytest.fixture(scope="session")
def hessra_client(root: KeyPair) -> object:
    """hessra-py configured for offline verification under ``root``.

    It wants the public key as PEM and a parseable CA certificate even though
    local verification never connects anywhere.
    """
    hessra_py = pytest.importorskip("hessra_py")
    ca = create_ca()
    config = (
        hessra_py.HessraConfig.builder()
        .base_url("127.0.0.1")
        .port(1)
        .protocol("http1")
        .server_ca(ca.cert_pem.decode())
        .public_key(root.public_key.to_pem())
        .build()
    )
    return hessra_py.HessraClient(config)
