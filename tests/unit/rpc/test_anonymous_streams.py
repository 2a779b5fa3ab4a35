"""On a TLS listener that does not require a client certificate (the issuer's identity
listener) callers without one get unary calls only: the long-lived streams that would
let them fill ``maximum_concurrent_rpcs`` are refused before they start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hessra_core.rpc import DynamicServerCredentials, Listener, RunningServer
from hessra_core.rpc.server import start_server

from .test_server import client_channel, echo_registration

SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
async def running(rpc_pki: Any) -> AsyncIterator[RunningServer]:
    async def behave(payload: bytes, _ctx: Any) -> bytes:
        return payload

    mtls = DynamicServerCredentials(
        rpc_pki.cert_file, rpc_pki.key_file, client_ca=lambda: rpc_pki.ca.cert_pem
    )
    server_only = DynamicServerCredentials(
        rpc_pki.cert_file, rpc_pki.key_file, require_client_auth=False
    )
    server = await start_server(
        listeners=[
            Listener("127.0.0.1:0", mtls.server_credentials(), "main"),
            Listener("127.0.0.1:0", server_only.server_credentials(), "identity"),
            Listener("127.0.0.1:0", None, "plain"),
        ],
        services=[echo_registration(behave)],
        service_names=["test.Echo"],
        serving=True,
    )
    yield server
    await server.stop(0)


def _open(running: RunningServer, rpc_pki: Any, who: str, channels: list[Any]) -> Any:
    if who == "plain":
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.ports['plain']}")
    elif who == "anonymous":
        channel = client_channel(running.ports["identity"], rpc_pki.ca.cert_pem, None)
    else:
        channel = client_channel(running.ports[who], rpc_pki.ca.cert_pem, rpc_pki.client)
    channels.append(channel)
    return channel


async def _first_watch_status(channel: Any) -> Any:
    stream = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=""), timeout=5
    )
    async for reply in stream:
        stream.cancel()
        return reply.status
    return None


async def _reflect(channel: Any) -> Any:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")

    async def requests() -> AsyncIterator[Any]:
        yield request

    async for reply in stub.ServerReflectionInfo(requests(), timeout=5):
        return reply
    return None


@pytest.mark.parametrize(
    ("who", "refused"),
    # The identity listener does not ask for a certificate, so one is never sent there.
    [("main", False), ("identity", True), ("plain", False), ("anonymous", True)],
    ids=["mtls", "identity-with-cert", "plaintext", "identity-anonymous"],
)
async def test_streams_need_a_client_certificate_on_tls(
    running: RunningServer, rpc_pki: Any, channels: list[Any], who: str, refused: bool
) -> None:
    channel = _open(running, rpc_pki, who, channels)
    # Unary calls are open to everyone who can connect.
    assert await channel.unary_unary("/test.Echo/Call")(b"hi", timeout=5) == b"hi"
    check = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=5
    )
    assert check.status == SERVING
    if not refused:
        assert await _first_watch_status(channel) == SERVING
        assert (await _reflect(channel)).list_services_response.service
        return
    for attempt in (_first_watch_status, _reflect):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt(channel)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
