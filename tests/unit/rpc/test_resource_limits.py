"""Resource bounds of ``start_server`` against real mTLS servers on 127.0.0.1: oversized
requests, oversized metadata and a flood of calls in flight are refused with a status
instead of being parsed or queued without limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra_core.rpc import DynamicServerCredentials, Listener, RunningServer
from hessra_core.rpc.server import (
    DEFAULT_MAX_RECEIVE_BYTES,
    DEFAULT_MAX_STREAMS_PER_CONNECTION,
    HEALTH_MAX_RECEIVE_BYTES,
    start_server,
)

from .test_server import call_echo, client_channel, echo_registration


class _Gate:
    """An echo behaviour that holds every call until released, counting calls entered."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.all_in = asyncio.Event()
        self.expect = 0

    async def handle(self, payload: bytes, _ctx: Any) -> bytes:
        self.entered += 1
        if self.entered >= self.expect:
            self.all_in.set()
        await self.release.wait()
        return payload[:16]


async def _start(rpc_pki: Any, behavior: Any, **kw: Any) -> RunningServer:
    creds = DynamicServerCredentials(
        rpc_pki.cert_file, rpc_pki.key_file, client_ca=lambda: rpc_pki.ca.cert_pem
    )
    return await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[echo_registration(behavior)],
        service_names=["test.Echo"],
        **kw,
    )


@pytest.fixture
async def echo(rpc_pki: Any) -> AsyncIterator[RunningServer]:
    async def behave(payload: bytes, _ctx: Any) -> bytes:
        return len(payload).to_bytes(8, "big")

    running = await _start(rpc_pki, behave, health_listen="127.0.0.1:0", serving=True)
    yield running
    await running.stop(0)


def _channel(rpc_pki: Any, running: RunningServer, channels: list[grpc.aio.Channel]) -> Any:
    channel = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
    channels.append(channel)
    return channel


async def test_defaults_are_applied(echo: RunningServer) -> None:
    assert echo.options["grpc.max_receive_message_length"] == DEFAULT_MAX_RECEIVE_BYTES
    assert echo.options["grpc.max_concurrent_streams"] == DEFAULT_MAX_STREAMS_PER_CONNECTION
    assert echo.options["grpc.so_reuseport"] == 1
    # Off by default: gRPC's pool is shared, so one client could fill it (see below).
    assert echo.maximum_concurrent_rpcs is None


async def test_caller_options_override_defaults(rpc_pki: Any) -> None:
    running = await _start(
        rpc_pki, _Gate().handle, options=[("grpc.max_receive_message_length", 1024)]
    )
    try:
        assert running.options["grpc.max_receive_message_length"] == 1024
    finally:
        await running.stop(0)


@pytest.mark.parametrize(
    ("size", "code"),
    [
        (DEFAULT_MAX_RECEIVE_BYTES - 64, None),
        (DEFAULT_MAX_RECEIVE_BYTES + 1, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (3 * 1024 * 1024, grpc.StatusCode.RESOURCE_EXHAUSTED),  # under gRPC's own 4 MiB
    ],
    ids=["just-under-cap", "just-over-cap", "3MiB"],
)
async def test_request_size_is_capped(
    echo: RunningServer,
    rpc_pki: Any,
    channels: list[grpc.aio.Channel],
    size: int,
    code: grpc.StatusCode | None,
) -> None:
    channel = _channel(rpc_pki, echo, channels)
    if code is None:
        assert int.from_bytes(await call_echo(channel, b"x" * size), "big") == size
        return
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call_echo(channel, b"x" * size)
    assert caught.value.code() == code


async def test_oversized_metadata_is_refused(
    echo: RunningServer, rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    channel = _channel(rpc_pki, echo, channels)
    call = channel.unary_unary("/test.Echo/Call")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(b"ping", timeout=5, metadata=[("x-big", "a" * 64 * 1024)])
    assert caught.value.code() in (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
    )
    # The connection is still usable for well-behaved calls.
    assert int.from_bytes(await call_echo(channel, b"ok"), "big") == 2


async def test_calls_past_an_explicit_concurrency_bound_are_refused(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    gate = _Gate()
    gate.expect = 4
    running = await _start(rpc_pki, gate.handle, maximum_concurrent_rpcs=4)
    try:
        channel = _channel(rpc_pki, running, channels)
        held = [asyncio.ensure_future(call_echo(channel, b"held")) for _ in range(4)]
        await asyncio.wait_for(gate.all_in.wait(), 10)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call_echo(channel, b"one too many")
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert gate.entered == 4
        gate.release.set()
        assert await asyncio.gather(*held) == [b"held"] * 4
        # Once the held calls finished, new calls are served again.
        gate.expect = 0
        assert await asyncio.wait_for(asyncio.gather(call_echo(channel, b"later")), 10) == [
            b"later"
        ]
    finally:
        gate.release.set()
        await running.stop(0)


async def test_health_listener_caps_request_size(
    echo: RunningServer, channels: list[grpc.aio.Channel]
) -> None:
    assert echo.health_port
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{echo.health_port}")
    channels.append(channel)
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Check(
            health_pb2.HealthCheckRequest(service="s" * (HEALTH_MAX_RECEIVE_BYTES + 1)), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_withheld_requests_do_not_lock_out_health_probes(
    echo: RunningServer, channels: list[grpc.aio.Channel]
) -> None:
    """A client that opens calls and never sends their request messages holds them
    in flight; that must not starve anyone else (here, the kubelet's probes)."""
    assert echo.health_port
    hog = grpc.aio.insecure_channel(f"127.0.0.1:{echo.health_port}")
    probe = grpc.aio.insecure_channel(f"127.0.0.1:{echo.health_port}")
    channels += [hog, probe]
    never = asyncio.Event()

    async def withheld() -> AsyncIterator[bytes]:
        await never.wait()
        yield b""

    check = "/grpc.health.v1.Health/Check"
    held = [hog.stream_unary(check)(withheld(), timeout=30) for _ in range(80)]
    try:
        # Calls on one connection arrive in order: once a call made after the 80 is
        # answered, the 80 are in flight on the server.
        for channel in (hog, probe):
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert not any(call.done() for call in held)
    finally:
        for call in held:
            call.cancel()
