"""Keys, a three-node chain and token helpers for the SDK and middleware tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from hessra import KeyPair, ServiceChain
from hessra_core.tokens import attest_service_chain_token, mint_token

SUBJECT = "uri:urn:user:123"
COMPONENTS = ("api_gateway", "fraud_detection", "payment_processor")


@dataclass(frozen=True)
class ChainWorld:
    root: KeyPair
    nodes: dict[str, KeyPair]
    chain: ServiceChain

    def mint(self, **kwargs: object) -> str:
        args: dict[str, object] = {
            "subject": SUBJECT,
            "resource": "payment_processor",
            "operation": "charge",
            "service_chain": self.chain.nodes,
        }
        args.update(kwargs)
        return mint_token(self.root, **args).token  # type: ignore[arg-type]

    def attest(self, token: str, *components: str, resource: str = "payment_processor") -> str:
        for component in components:
            token = attest_service_chain_token(
                token, self.nodes[component], resource=resource, root_keys=self.root.public_key
            )
        return token


@pytest.fixture(scope="session")
def root() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="session")
def world(root: KeyPair) -> ChainWorld:
    nodes = {c: KeyPair.generate() for c in COMPONENTS}
    chain = ServiceChain()
    for component in COMPONENTS:
        chain = chain.with_node(component, nodes[component].public_key)
    return ChainWorld(root=root, nodes=nodes, chain=chain)


@pytest.fixture(scope="session")
def mint(root: KeyPair) -> Callable[..., str]:
    def _mint(
        subject: str = SUBJECT, resource: str = "orders", operation: str = "read", **kw: object
    ) -> str:
        return mint_token(
            root,
            subject=subject,
            resource=resource,
            operation=operation,
            **kw,  # type: ignore[arg-type]
        ).token

    return _mint
