"""A chain read from our files, as JSON, means the same to hessra-py as to us."""

from __future__ import annotations

from typing import Any

import pytest

from hessra import MissingAttestationError, ServiceChain, verify_service_chain_token_local
from hessra_core.pki import create_ca

from .conftest import SUBJECT, ChainWorld

hessra_py = pytest.importorskip("hessra_py")
ASK = (SUBJECT, "payment_processor", "charge")


@pytest.fixture(scope="module")
def hessra_client(world: ChainWorld) -> Any:
    # hessra-py wants a PEM key and a parseable CA even though local verification is offline.
    config = (
        hessra_py.HessraConfig.builder()
        .base_url("127.0.0.1")
        .port(1)
        .protocol("http1")
        .server_ca(create_ca().cert_pem.decode())
        .public_key(world.root.public_key.to_pem())
        .build()
    )
    return hessra_py.HessraClient(config)


def accepts(client: Any, token: str, chain_json: str, component: str | None) -> bool:
    try:
        client.verify_service_chain_token_local(token, *ASK, chain_json, component)
    except hessra_py.HessraPyException:
        return False
    return True


def test_toml_chain_as_json_agrees_with_hessra_py(world: ChainWorld, hessra_client: Any) -> None:
    chain = ServiceChain.from_toml(world.chain.to_toml())
    as_json = chain.to_json()
    token = world.attest(world.mint(), "api_gateway")
    # fraud_detection is next: both verifiers accept; payment_processor is not: both refuse.
    assert accepts(hessra_client, token, as_json, "fraud_detection")
    verify_service_chain_token_local(
        token, *ASK, as_json, "fraud_detection", public_key=world.root.public_key
    )
    assert not accepts(hessra_client, token, as_json, "payment_processor")
    with pytest.raises(MissingAttestationError, match="fraud_detection"):
        verify_service_chain_token_local(
            token, *ASK, chain, "payment_processor", public_key=world.root.public_key
        )
