"""A hung issuer behind a TokenCache: callers queued on one renewal share its failure.

Without that, N callers waiting for the same token each wait out the client's timeout
in turn (the last N times over) and the hung issuer is asked N times. The issuer is
the scripted mTLS server (``scripted.py``), hanging far longer than the timeout.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from hessra import AsyncHessra, Hessra, ServiceUnavailableError, TokenCache
from hessra.v1 import issuer_pb2

from .scripted import ScriptedServer, hang, reply

CALLERS = 4
TIMEOUT = 1.0
ANSWER = issuer_pb2.RequestTokenResponse(token="opaque-token")


def test_waiters_share_a_failed_renewal(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", hang(10.0))
    with Hessra(scripted.target, **scripted.client_kwargs(timeout=TIMEOUT)) as client:
        cache = TokenCache(client)
        start = threading.Barrier(CALLERS)

        def caller() -> BaseException | str:
            start.wait(5)
            try:
                return cache.get("orders", "read")
            except ServiceUnavailableError as exc:
                return exc

        with ThreadPoolExecutor(CALLERS) as pool:
            outcomes = list(pool.map(lambda _: caller(), range(CALLERS)))
        assert all(isinstance(o, ServiceUnavailableError) for o in outcomes)
        assert scripted.calls["RequestToken"] == 1
        # A later caller asks again (the failure is not cached), and may succeed.
        scripted.script("RequestToken", reply(ANSWER))
        assert cache.get("orders", "read") == ANSWER.token


async def test_async_waiters_share_a_failed_renewal(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", hang(10.0))
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=TIMEOUT)) as client:
        cache = TokenCache(client)
        outcomes = await asyncio.gather(
            *(cache.aget("orders", "read") for _ in range(CALLERS)), return_exceptions=True
        )
        assert all(isinstance(o, ServiceUnavailableError) for o in outcomes)
        assert scripted.calls["RequestToken"] == 1
        scripted.script("RequestToken", reply(ANSWER))
        assert await cache.aget("orders", "read") == ANSWER.token
