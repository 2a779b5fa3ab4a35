"""A verifier told to check a service chain with no nodes is refused at construction.

An empty chain requires no attestation, so it would accept a chain token that no
node ever attested: a chain list that came out empty (an unset setting, say) must
not silently turn chain verification off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hessra import ConfigError, LocalVerifier, ServiceChain, verify_service_chain_token_local
from hessra.middleware.asgi import HessraMiddleware
from hessra.middleware.grpc import HessraServerInterceptor

from .conftest import SUBJECT, ChainWorld


async def _app(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("never called")


BUILDERS: list[tuple[str, Callable[[ChainWorld, Any], Any]]] = [
    ("local_verifier", lambda w, c: LocalVerifier.create(w.root.public_key, chain=c)),
    (
        "verify_function",
        lambda w, c: verify_service_chain_token_local(
            w.mint(), SUBJECT, "payment_processor", "charge", c, public_key=w.root.public_key
        ),
    ),
    ("asgi", lambda w, c: HessraMiddleware(_app, public_keys=w.root.public_key, chain=c)),
    ("grpc", lambda w, c: HessraServerInterceptor(public_keys=w.root.public_key, chain=c)),
]


@pytest.mark.parametrize("empty", [[], (), ServiceChain()], ids=["list", "tuple", "ServiceChain"])
@pytest.mark.parametrize("build", [b[1] for b in BUILDERS], ids=[b[0] for b in BUILDERS])
def test_an_empty_chain_is_a_configuration_error(
    world: ChainWorld, build: Callable[[ChainWorld, Any], Any], empty: Any
) -> None:
    with pytest.raises(ConfigError, match="service chain has no nodes"):
        build(world, empty)


def test_a_chain_with_nodes_still_requires_their_attestations(world: ChainWorld) -> None:
    verifier = LocalVerifier.create(world.root.public_key, chain=world.chain)
    token = world.attest(world.mint(), *world.chain.components)
    assert verifier.verify(token, SUBJECT, "payment_processor", "charge").subject == SUBJECT
