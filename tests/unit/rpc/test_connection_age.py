"""``connection_age_options``: a server drains each client connection after its maximum
age, and the client reconnects on its own. Against a real mTLS server on 127.0.0.1, a
client's source address (``context.peer()``) tells one TCP connection from the next."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra_core.rpc import connection_age_options

from .test_server import _start, call_echo, client_channel


async def _peer_address(_request: bytes, context: Any) -> bytes:
    return str(context.peer()).encode()


async def _two_calls_apart(rpc_pki: Any, channels: list[grpc.aio.Channel], **kw: Any) -> set[bytes]:
    """The peer addresses the server saw for two calls on one channel, 2.5 s apart."""
    running, _ = await _start(rpc_pki, _peer_address, ca=[rpc_pki.ca.cert_pem], **kw)
    try:
        channel = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
        channels.append(channel)
        first = await call_echo(channel)
        await asyncio.sleep(2.5)
        second = await call_echo(channel)
        return {first, second}
    finally:
        await running.stop(0)


async def test_a_connection_past_its_age_is_replaced_and_calls_keep_working(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    peers = await _two_calls_apart(rpc_pki, channels, options=connection_age_options(1.0, 1.0))
    assert len(peers) == 2, "the second call should arrive on a new connection"


async def test_without_a_maximum_age_the_connection_is_kept(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    peers = await _two_calls_apart(rpc_pki, channels, options=connection_age_options(0, 5.0))
    assert len(peers) == 1


@pytest.mark.parametrize(
    ("max_age", "grace", "expected"),
    [
        (0, 5.0, []),
        (-1, 5.0, []),
        (
            300.0,
            10.0,
            [("grpc.max_connection_age_ms", 300_000), ("grpc.max_connection_age_grace_ms", 10_000)],
        ),
        # Calls in flight always get at least a second to finish.
        (
            60.0,
            0.0,
            [("grpc.max_connection_age_ms", 60_000), ("grpc.max_connection_age_grace_ms", 1_000)],
        ),
    ],
    ids=["off", "negative-off", "five-minutes", "grace-floor"],
)
def test_options(max_age: float, grace: float, expected: list[tuple[str, int]]) -> None:
    assert connection_age_options(max_age, grace) == expected
