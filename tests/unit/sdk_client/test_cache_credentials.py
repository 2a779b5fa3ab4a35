"""TokenCache against a real issuer: a token is reused only for the credentials that got it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hessra import AsyncHessra, Hessra, PermissionDeniedError, TokenCache

from .conftest import GATEWAY, REPORTER, Stack


def _install(stack: Stack, who: str, cert: Path, key: Path) -> None:
    shutil.copy(stack.clients[who].cert, cert)
    shutil.copy(stack.clients[who].key, key)


def test_rotated_certificate_is_not_served_the_previous_identitys_token(
    stack: Stack, tmp_path: Path
) -> None:
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    _install(stack, "gateway", cert, key)
    with Hessra(stack.server, cert=cert, key=key, ca=stack.ca_file) as client:
        client.setup()
        cache = TokenCache(client)
        gateway_token = cache.get("orders", "read")
        client.verify_token_local(gateway_token, GATEWAY, "orders", "read")
        assert cache.get("orders", "read") == gateway_token
        # The files now hold another identity, which the policy does not let read orders:
        # the cache must ask the issuer again, not hand out the gateway's token.
        _install(stack, "reporter", cert, key)
        with pytest.raises(PermissionDeniedError):
            cache.get("orders", "read")
        reports = cache.get("reports", "read")
        client.verify_token_local(reports, REPORTER, "reports", "read")
        assert cache.get("reports", "read") == reports


async def test_async_cache_follows_certificate_rotation_too(stack: Stack, tmp_path: Path) -> None:
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    _install(stack, "gateway", cert, key)
    async with AsyncHessra(stack.server, cert=cert, key=key, ca=stack.ca_file) as client:
        cache = TokenCache(client)
        first = await cache.aget("orders", "read")
        assert await cache.aget("orders", "read") == first
        _install(stack, "reporter", cert, key)
        with pytest.raises(PermissionDeniedError):
            await cache.aget("orders", "read")


def test_cache_size_is_bounded(stack: Stack) -> None:
    """Expired entries and their locks do not pile up; the oldest entry goes first."""
    now = [0.0]
    with Hessra(stack.server, **stack.client_kwargs()) as client:
        import time

        now[0] = time.time()
        cache = TokenCache(client, clock=lambda: now[0], max_entries=2)
        first = cache.get("orders", "read")
        cache.get("orders", "create")
        now[0] += 1
        cache.get("inventory", "update")
        assert len(cache) == 2
        assert len(cache._locks) <= 2
        # orders/read was the oldest: it is fetched again, not served from the cache.
        assert cache.get("orders", "read") != first
        assert cache.renewals == 4


def test_max_entries_must_be_positive(stack: Stack) -> None:
    with (
        Hessra(stack.server, **stack.client_kwargs()) as client,
        pytest.raises(ValueError, match="max_entries"),
    ):
        TokenCache(client, max_entries=0)
