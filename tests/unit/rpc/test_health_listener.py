"""The plaintext health-only listener (``start_server(health_listen=...)``) against a real
mTLS server on 127.0.0.1: it reports the same readiness as the main port, serves nothing
but ``grpc.health.v1.Health/Check``, and stops with the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra.v1 import issuer_pb2
from hessra_core import errors
from hessra_core.rpc import (
    LIVENESS,
    DynamicServerCredentials,
    Listener,
    ObservabilityInterceptor,
    RunningServer,
    start_server,
)

from .test_server import client_channel

ISSUER_SERVICE = "hessra.v1.Issuer"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _issuer_like(release: asyncio.Event | None = None) -> Any:
    """``hessra.v1.Issuer/RequestToken`` answering with the resource it was asked for,
    after ``release`` is set (to hold a call in flight)."""

    async def request_token(request: issuer_pb2.RequestTokenRequest, _ctx: Any) -> Any:
        if release is not None:
            await release.wait()
        return issuer_pb2.RequestTokenResponse(token=f"minted-for-{request.resource}")

    handler = grpc.method_handlers_generic_handler(
        ISSUER_SERVICE,
        {
            "RequestToken": grpc.unary_unary_rpc_method_handler(
                request_token,
                request_deserializer=issuer_pb2.RequestTokenRequest.FromString,
                response_serializer=issuer_pb2.RequestTokenResponse.SerializeToString,
            )
        },
    )

    def add(_servicer: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((handler,))

    return add


async def _start(rpc_pki: Any, release: asyncio.Event | None = None) -> RunningServer:
    creds = DynamicServerCredentials(
        rpc_pki.cert_file, rpc_pki.key_file, client_ca=lambda: rpc_pki.ca.cert_pem
    )
    return await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[(_issuer_like(release), None)],
        service_names=[ISSUER_SERVICE],
        interceptors=[ObservabilityInterceptor()],
        health_listen="127.0.0.1:0",
    )


@pytest.fixture
async def running(rpc_pki: Any) -> AsyncIterator[RunningServer]:
    server = await _start(rpc_pki)
    yield server
    await server.stop(0)


def _plain(port: int, channels: list[grpc.aio.Channel]) -> grpc.aio.Channel:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    channels.append(channel)
    return channel


async def _status(channel: grpc.aio.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return int(reply.status)


def _request_token(channel: grpc.aio.Channel) -> Any:
    call = channel.unary_unary(
        f"/{ISSUER_SERVICE}/RequestToken",
        request_serializer=issuer_pb2.RequestTokenRequest.SerializeToString,
        response_deserializer=issuer_pb2.RequestTokenResponse.FromString,
    )
    return call(issuer_pb2.RequestTokenRequest(resource="orders", operation="read"), timeout=5)


async def test_health_port_is_a_separate_port_and_answers_in_plaintext(
    running: RunningServer, channels: list[grpc.aio.Channel]
) -> None:
    assert running.health_port is not None
    assert running.health_port not in (0, running.port)
    assert running.ports["main"] == running.port
    plain = _plain(running.health_port, channels)
    assert await _status(plain) == NOT_SERVING
    # The main port is mTLS-only: the same plaintext call gets no answer there.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _status(_plain(running.port, channels))
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_health_port_reports_readiness_in_step_with_the_main_port(
    running: RunningServer, rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    assert running.health_port is not None
    plain = _plain(running.health_port, channels)
    mtls = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
    channels.append(mtls)

    async def both(service: str = "") -> tuple[int, int]:
        return await _status(plain, service), await _status(mtls, service)

    # No snapshot yet: not ready, but alive.
    assert await both() == (NOT_SERVING, NOT_SERVING)
    assert await both(ISSUER_SERVICE) == (NOT_SERVING, NOT_SERVING)
    assert await both(LIVENESS) == (SERVING, SERVING)
    await running.set_serving(True)
    assert await both() == (SERVING, SERVING)
    assert await both(ISSUER_SERVICE) == (SERVING, SERVING)
    await running.set_serving(False)
    assert await both() == (NOT_SERVING, NOT_SERVING)
    assert await both(LIVENESS) == (SERVING, SERVING)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _status(plain, "no.such.Service")
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


def _watch(channel: grpc.aio.Channel) -> Any:
    async def first() -> Any:
        stream = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        async for reply in stream:
            return reply
        return None

    return first()


def _reflection(channel: grpc.aio.Channel) -> Any:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async def first() -> Any:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        # Write explicitly rather than through a request iterator: when the server ends
        # the call before the write lands, an explicit write raises the call's real
        # status, while the iterator consumer reports a generic INTERNAL.
        call = stub.ServerReflectionInfo(timeout=5)
        await call.write(request)
        await call.done_writing()
        async for reply in call:
            return reply
        return None

    return first()


OTHER_CALLS = [
    ("issuer_request_token", _request_token),
    ("health_watch", _watch),
    ("reflection", _reflection),
]


@pytest.mark.parametrize(("name", "call"), OTHER_CALLS, ids=[c[0] for c in OTHER_CALLS])
async def test_health_port_serves_nothing_but_health_check(
    running: RunningServer,
    rpc_pki: Any,
    channels: list[grpc.aio.Channel],
    name: str,
    call: Any,
) -> None:
    assert running.health_port is not None
    await running.set_serving(True)
    # The main port serves each of these to an authenticated caller ...
    mtls = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
    channels.append(mtls)
    reply = await call(mtls)
    assert reply is not None, name
    if name == "issuer_request_token":
        assert reply.token == "minted-for-orders"
    # ... the health port serves none of them.
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(_plain(running.health_port, channels))
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED, name


async def test_health_port_says_not_serving_while_draining_then_stops_with_the_server(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    release = asyncio.Event()
    running = await _start(rpc_pki, release)
    health_port = running.health_port
    assert health_port is not None
    await running.set_serving(True)
    mtls = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
    channels.append(mtls)
    in_flight = asyncio.ensure_future(_request_token(mtls))
    plain = _plain(health_port, channels)
    assert await _status(plain) == SERVING
    await asyncio.sleep(0.1)  # let the call reach the servicer
    stopping = asyncio.ensure_future(running.stop(grace=10))
    try:
        # Readiness and liveness both go NOT_SERVING first, on the health port too,
        # while the in-flight call still runs.
        for _ in range(100):
            if await _status(plain) == NOT_SERVING:
                break
            await asyncio.sleep(0.02)
        assert await _status(plain) == NOT_SERVING
        assert await _status(plain, LIVENESS) == NOT_SERVING
        assert not in_flight.done()
    finally:
        release.set()
    assert (await in_flight).token == "minted-for-orders"
    await stopping
    # Stopped with the main server: a new connection to the health port is refused.
    fresh = _plain(health_port, channels)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await _status(fresh)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_an_unbindable_health_address_is_a_config_error() -> None:
    with pytest.raises(errors.ConfigError, match=r"health listener 256\.0\.0\.1:1: cannot bind"):
        await start_server(
            listeners=[Listener("127.0.0.1:0", None)],
            services=[],
            service_names=[],
            health_listen="256.0.0.1:1",
        )


async def test_without_health_listen_there_is_no_health_port(rpc_pki: Any) -> None:
    creds = DynamicServerCredentials(
        rpc_pki.cert_file, rpc_pki.key_file, client_ca=lambda: rpc_pki.ca.cert_pem
    )
    running = await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[],
        service_names=[],
    )
    try:
        assert running.health_port is None
        assert running.health_server is None
        assert set(running.ports) == {"main"}
    finally:
        await running.stop(0)
