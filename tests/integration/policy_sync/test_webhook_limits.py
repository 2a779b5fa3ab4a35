"""Webhook bodies are the one thing an unauthenticated sender gets us to read: the reads
are bounded in number (503 past it) and in time (408), against real servers on
127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from hessra_policy_sync.config import WebhookConfig, WebhookSecrets
from hessra_policy_sync.http_app import build_http_app
from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.status import StatusView
from hessra_policy_sync.testing import SECRETS, eventually
from hessra_policy_sync.webhook import MAX_CONCURRENT_READS, WebhookReceiver, sign

SIGNATURE_SHAPED = "sha256=" + "a" * 64


def _slow_head(port: int, length: int = 4096) -> bytes:
    return (
        "POST /webhook/generic HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"X-Hessra-Signature: {SIGNATURE_SHAPED}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode() + b'{"ref": '


async def _open_slow(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A delivery that announces a body and sends only its first bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_slow_head(port))
    await writer.drain()
    return reader, writer


async def _post(port: int, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {
        "Content-Type": "application/json",
        "X-Hessra-Signature": sign(SECRETS.generic or b"", body),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/webhook/generic", data=body, headers=headers) as r,
    ):
        return r.status, await r.json(content_type=None)


@pytest.fixture
async def app(remote, good_files, start_app):  # type: ignore[no-untyped-def]
    remote.commit_and_push("v1", good_files(resources=("orders",)))
    return await start_app()


async def test_concurrent_body_reads_are_bounded(app: Any, remote, good_files) -> None:  # type: ignore[no-untyped-def]
    slow = [await _open_slow(app.http_port) for _ in range(MAX_CONCURRENT_READS)]
    try:
        await eventually(lambda: app.webhooks.bodies_in_flight == MAX_CONCURRENT_READS)
        sha = remote.commit_and_push("v2", good_files(resources=("orders", "users")))
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        status, answer = await _post(app.http_port, body)
        assert (status, answer["result"]) == (503, "busy")
    finally:
        for _reader, writer in slow:
            writer.close()
    # Once the slow senders are gone, deliveries are read again.
    await eventually(lambda: app.webhooks.bodies_in_flight == 0)
    status, answer = await _post(app.http_port, body)
    assert (status, answer["result"]) == (202, "accepted")


@pytest.fixture
async def short_timeout_port() -> AsyncIterator[int]:
    receiver = WebhookReceiver(
        WebhookConfig(secrets=WebhookSecrets(generic=SECRETS.generic)),
        branch="main",
        on_push=lambda _sha: None,
        metrics=PolicySyncMetrics(),
        body_timeout=0.2,
    )
    http = build_http_app(
        receiver=receiver,
        metrics=PolicySyncMetrics(),
        ready=lambda: True,
        status=lambda: StatusView(source="test", branch="main"),
    )
    runner = web.AppRunner(http, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def test_body_not_received_in_time_is_408(short_timeout_port: int) -> None:
    reader, writer = await _open_slow(short_timeout_port)
    try:
        status_line = (await asyncio.wait_for(reader.readline(), 20)).decode()
        assert status_line.split(" ")[1] == "408", status_line
        length = 0
        while (line := await asyncio.wait_for(reader.readline(), 20)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        answer = json.loads(await asyncio.wait_for(reader.readexactly(length), 20))
        assert answer["result"] == "timeout"
    finally:
        with contextlib.suppress(ConnectionError):
            writer.close()
