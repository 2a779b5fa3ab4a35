"""Bounds of policy-sync's HTTP listener against the real app on 127.0.0.1: header
limits, the idle/slow-request timeout each connection gets, and the size of ``/status``
when the last commit failed with thousands of diagnostics."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from hessra_policy_sync.http_app import KEEPALIVE_TIMEOUT, MAX_HEADERS
from hessra_policy_sync.status import MAX_STATUS_DIAGNOSTICS
from hessra_policy_sync.testing import eventually


@pytest.fixture
async def app(remote, good_files, start_app):  # type: ignore[no-untyped-def]
    remote.commit_and_push("v1", good_files(resources=("orders",)))
    started = await start_app()
    await eventually(lambda: started.status.view().serving_revision != "")
    return started


async def _raw_get(port: int, headers: list[tuple[str, str]]) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 20)).decode()
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([("X-A", "b")], "200"),
        ([(f"X-H{i}", "v") for i in range(MAX_HEADERS - 2)], "200"),
        ([(f"X-H{i}", "v") for i in range(100)], "400"),
        ([("X-Big", "v" * 9000)], "400"),
    ],
    ids=["one-header", "at-limit", "100-headers", "9000-byte-field"],
)
async def test_header_limits(app: Any, headers: list[tuple[str, str]], status: str) -> None:
    status_line = await _raw_get(app.http_port, headers)
    assert status_line.split(" ")[1] == status, status_line


async def test_slow_or_idle_connections_get_the_short_timeout(app: Any) -> None:
    _reader, writer = await asyncio.open_connection("127.0.0.1", app.http_port)
    try:
        # A request line and half the headers, then nothing: what a slow client sends.
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await writer.drain()
        server = app._http.server
        await eventually(lambda: len(server.connections) == 1)
        [handler] = server.connections
        assert handler.keepalive_timeout == KEEPALIVE_TIMEOUT
        assert KEEPALIVE_TIMEOUT <= 60
    finally:
        writer.close()


async def test_status_lists_a_bounded_number_of_diagnostics(
    app: Any, remote, good_files, client_factory
) -> None:  # type: ignore[no-untyped-def]
    broken = tuple(f"r{i}" for i in range(400))
    remote.commit_and_push("many typos", good_files(resources=broken, typo=True))
    await client_factory(app.grpc_port).resync()
    error = app.status.view().last_error
    assert error is not None
    assert len(error.diagnostics) > MAX_STATUS_DIAGNOSTICS
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.http_port}/status") as response,
    ):
        assert response.status == 200
        body = await response.json()
    assert len(body["last_error"]["diagnostics"]) == MAX_STATUS_DIAGNOSTICS
    assert body["last_error"]["diagnostics_total"] == len(error.diagnostics)
    assert "unknown resource" in body["last_error"]["diagnostics"][0]
    # GetStatus applies the same bound and says how many it left out.
    status = await client_factory(app.grpc_port).status()
    assert len(status.last_error.diagnostics) == MAX_STATUS_DIAGNOSTICS
    hidden = len(error.diagnostics) - MAX_STATUS_DIAGNOSTICS
    assert f"({hidden} more diagnostics not listed;" in status.last_error.message
