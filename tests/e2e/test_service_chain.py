"""A request through api_gateway -> fraud_detection -> payment_processor, as real processes."""

from __future__ import annotations

import aiohttp
import pytest

from hessra_core import tokens

from .conftest import GATEWAY, Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def _post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(url, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_the_full_chain_passes_in_order(deployment: Deployment) -> None:
    hops = f"{deployment.url('fraud_detection')},{deployment.url('payment_processor')}"
    status, body = await _post(deployment.url("api_gateway"), {"x-next-hops": hops})
    assert status == 200, body
    assert body["path"] == ["api_gateway", "fraud_detection", "payment_processor"]
    assert body["subject"] == GATEWAY


async def test_skipping_fraud_detection_is_refused(deployment: Deployment) -> None:
    status, body = await _post(
        deployment.url("api_gateway"), {"x-next-hops": deployment.url("payment_processor")}
    )
    assert status == 403
    assert body["at"] == "payment_processor"
    assert body["error"] == "missing_attestation"
    assert body["message"] == "Missing attestation from: fraud_detection"


async def test_calling_a_middle_node_directly_is_refused(deployment: Deployment) -> None:
    with deployment.client() as client:
        token = client.request_token("payment_processor", "charge")
    status, body = await _post(
        deployment.url("fraud_detection"),
        {"authorization": f"Bearer {token}", "x-subject": GATEWAY},
    )
    assert status == 403
    assert body["message"] == "Missing attestation from: api_gateway"


async def test_a_middle_node_without_a_token_is_unauthenticated(deployment: Deployment) -> None:
    """Only the head of the chain fetches tokens; the others refuse before the handler runs."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(deployment.url("fraud_detection"), headers={"x-subject": GATEWAY}) as response,
    ):
        body = await response.json()
        assert response.status == 401, body
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["server"] == "uvicorn"
    assert body == {
        "error": "missing_token",
        "message": "No bearer token in the authorization header",
        "at": "fraud_detection",
    }


async def test_the_route_not_the_caller_names_the_action(deployment: Deployment) -> None:
    """x-resource/x-operation headers cannot turn a request into another action."""
    token = tokens.mint_token(
        deployment.issuer_key, subject=GATEWAY, resource="orders", operation="read"
    ).token
    status, body = await _post(
        deployment.url("api_gateway"),
        {
            "authorization": f"Bearer {token}",
            "x-subject": GATEWAY,
            "x-resource": "orders",
            "x-operation": "read",
        },
    )
    assert status == 403, body
    assert body["at"] == "api_gateway"
    assert body["error"] == "resource_mismatch"


async def test_swapped_order_is_refused(deployment: Deployment) -> None:
    """fraud_detection's key attests before api_gateway's. The gateway refuses to carry
    such a token on; and forged past it, payment_processor refuses the path taken."""
    with deployment.client() as client:
        token = client.request_token("payment_processor", "charge")
    keys = deployment.issuer_key.public_key

    def attest(value: str, node: str) -> str:
        return tokens.attest_service_chain_token(
            value, deployment.node_keys[node], resource="payment_processor", root_keys=keys
        )

    swapped = attest(token, "fraud_detection")
    status, body = await _post(
        deployment.url("api_gateway"),
        {
            "authorization": f"Bearer {swapped}",
            "x-subject": GATEWAY,
            "x-next-hops": deployment.url("payment_processor"),
        },
    )
    assert status == 403, body
    assert body["at"] == "api_gateway"
    assert body["error"] == "attestation_out_of_order"

    forged = attest(swapped, "api_gateway")
    status, body = await _post(
        deployment.url("payment_processor"),
        {"authorization": f"Bearer {forged}", "x-subject": GATEWAY},
    )
    assert status == 403, body
    assert body["at"] == "payment_processor"
    assert body["error"] == "attestation_out_of_order"
    assert body["message"] == (
        "Attestation out of order: fraud_detection attested before api_gateway"
    )


def test_chain_verification_locally_and_remotely(deployment: Deployment) -> None:
    from hessra import MissingAttestationError, ServiceChain

    chain = ServiceChain.from_json(deployment.chain_json())
    keys = deployment.issuer_key.public_key
    with deployment.client() as client:
        client.setup()
        token = client.request_token("payment_processor", "charge")
        partial = tokens.attest_service_chain_token(
            token, deployment.node_keys["api_gateway"], resource="payment_processor", root_keys=keys
        )
        client.verify_service_chain_token_local(
            partial, GATEWAY, "payment_processor", "charge", chain, "fraud_detection"
        )
        client.verify_service_chain_token_remote(
            partial, GATEWAY, "payment_processor", "charge", "fraud_detection"
        )
        with pytest.raises(MissingAttestationError) as caught:
            client.verify_service_chain_token_remote(
                partial, GATEWAY, "payment_processor", "charge"
            )
        assert caught.value.component == "fraud_detection"
        assert str(caught.value) == "Missing attestation from: fraud_detection"
        with pytest.raises(MissingAttestationError, match="fraud_detection"):
            client.verify_service_chain_token_local(
                partial, GATEWAY, "payment_processor", "charge", chain, "payment_processor"
            )
