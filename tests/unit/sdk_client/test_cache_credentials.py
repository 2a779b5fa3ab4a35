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
