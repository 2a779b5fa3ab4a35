"""Channels across close(), certificate rotation with calls in flight, and cancellation.

A platform runs many clients for a long time: files rotate under load, tasks are
cancelled by their callers, clients are closed while others still use them. Each
case here runs against a real mTLS server (``scripted.py``) whose answers are slow
on purpose, so a call is really in flight when the thing under test happens.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from hessra import AsyncHessra, ClientClosedError, ConfigError, Hessra, TokenCache
from hessra.v1 import issuer_pb2

from .scripted import ScriptedServer, hang, reply

SLOW = 1.0  # seconds a scripted answer takes: long enough to rotate files meanwhile
ANSWER = issuer_pb2.RequestTokenResponse(token="not-a-real-token", subject="s")


def rotate(server: ScriptedServer) -> None:
    """Rewrite the client's certificate files as a rotation would (same identity)."""
    for path in (server.client_tls.cert, server.client_tls.key):
        data = path.read_bytes()
        path.write_bytes(data)
        later = time.time() + 5
        os.utime(path, (later, later))


def test_a_closed_client_refuses_calls_and_opens_no_channel(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", reply(ANSWER))
    client = Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0))
    with client:
        assert client.request_token("orders", "read") == ANSWER.token
    client.close()  # a second close is harmless
    with pytest.raises(ClientClosedError) as caught:
        client.request_token("orders", "read")
    assert "is closed" in caught.value.message
    assert client._pool.open_channels == 0
    assert scripted.calls["RequestToken"] == 1


async def test_a_closed_async_client_refuses_calls(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", reply(ANSWER))
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        assert await client.request_token("orders", "read") == ANSWER.token
    await client.close()
    with pytest.raises(ClientClosedError):
        await client.request_token("orders", "read")
    assert client._pool.open_channels == 0


def test_closing_with_a_call_in_flight_raises_client_closed(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", hang(5.0))
    client = Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0))
    with ThreadPoolExecutor(1) as pool:
        pending: Future[str] = pool.submit(client.request_token, "orders", "read")
        scripted.wait_called("RequestToken")
        client.close()
        with pytest.raises(ClientClosedError):
            pending.result(timeout=5)


async def test_closing_an_async_client_mid_call_is_not_a_cancellation(
    scripted: ScriptedServer,
) -> None:
    scripted.script("RequestToken", hang(5.0))
    client = AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0))
    call = asyncio.ensure_future(client.request_token("orders", "read"))
    await scripted.called("RequestToken")
    await client.close()
    with pytest.raises(ClientClosedError):
        await call


def test_rotation_does_not_cancel_calls_in_flight(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", reply(ANSWER, delay=SLOW))
    with (
        Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        first: Future[str] = pool.submit(client.request_token, "orders", "read")
        scripted.wait_called("RequestToken")
        rotate(scripted)
        assert client.request_token("orders", "read") == ANSWER.token  # on a new channel
        assert client._pool.rebuilds == 1
        assert first.result(timeout=5) == ANSWER.token  # the old channel let it finish
        assert client._pool.open_channels == 1  # ... and then closed


async def test_async_rotation_does_not_cancel_calls_in_flight(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", reply(ANSWER, delay=SLOW))
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        first = asyncio.ensure_future(client.request_token("orders", "read"))
        await scripted.called("RequestToken")
        rotate(scripted)
        assert await client.request_token("orders", "read") == ANSWER.token
        assert await first == ANSWER.token
        assert client._pool.rebuilds == 1
        assert client._pool.open_channels == 1


async def test_a_cancelled_call_leaks_no_channel(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", hang(5.0))
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        call = asyncio.ensure_future(client.request_token("orders", "read"))
        await scripted.called("RequestToken")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        scripted.script("RequestToken", reply(ANSWER))
        rotate(scripted)
        assert await client.request_token("orders", "read") == ANSWER.token
        # The cancelled call released its channel, so the rotation closed it at once.
        assert client._pool.open_channels == 1


async def test_a_cancelled_cache_renewal_leaves_no_lock_held(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", hang(5.0))
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        cache = TokenCache(client)
        renewal = asyncio.ensure_future(cache.aget("orders", "read"))
        waiter = asyncio.ensure_future(cache.aget("orders", "read"))
        await scripted.called("RequestToken")
        renewal.cancel()
        with pytest.raises(asyncio.CancelledError):
            await renewal
        scripted.script("RequestToken", reply(ANSWER))
        # The caller that was waiting behind the cancelled renewal goes on by itself.
        assert await asyncio.wait_for(waiter, 5) == ANSWER.token
        assert not any(lock.locked() for lock in cache._alocks.values())


def test_close_from_another_thread_is_safe(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", reply(ANSWER))
    client = Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0))
    client.request_token("orders", "read")
    closers = [threading.Thread(target=client.close) for _ in range(4)]
    for t in closers:
        t.start()
    for t in closers:
        t.join(5)
    assert client._pool.open_channels == 0


def test_an_async_client_reused_on_another_loop_says_so(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", reply(ANSWER))
    client = AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0))
    assert asyncio.run(client.request_token("orders", "read")) == ANSWER.token
    with pytest.raises(ConfigError) as caught:
        asyncio.run(client.request_token("orders", "read"))
    assert "create one AsyncHessra per event loop" in caught.value.message
    assert scripted.calls["RequestToken"] == 1
    asyncio.run(client.close())  # from yet another loop: marks it closed, does not fail
    assert client._pool.open_channels == 0
