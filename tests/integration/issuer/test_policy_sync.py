"""The issuer subscribed to a real policy-sync over mTLS, and restarting without it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2
from hessra_policy_sync.app import PolicySyncApp
from hessra_policy_sync.config import DirSourceConfig, PolicySyncConfig, ServerConfig

ORDERS = issuer_pb2.RequestTokenRequest(resource="orders", operation="read")


@pytest.fixture
async def policy_sync(files: Any, ids: Any) -> AsyncIterator[PolicySyncApp]:
    (files.root / "ca.pem").write_bytes(ids.ca.cert_pem)
    config = PolicySyncConfig(
        server=ServerConfig(
            state_dir=files.root / "policy-sync-state",
            grpc_listen="127.0.0.1:0",
            http_listen="127.0.0.1:0",
            cert_file=files.cert_file,
            key_file=files.key_file,
            client_ca_file=files.root / "ca.pem",
            shutdown_grace=0.2,
        ),
        source=DirSourceConfig(path=files.policy_dir, poll_interval=0.3, debounce=0.05),
    )
    app = PolicySyncApp(config)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def _sync_overrides(files: Any, ids: Any, port: int) -> dict[str, Any]:
    (files.root / "ca.pem").write_bytes(ids.ca.cert_pem)
    (files.root / "sync.crt").write_bytes(ids.certs["uri"].cert_pem)
    (files.root / "sync.key").write_bytes(ids.certs["uri"].key_pem)
    return {
        "policy_dir": None,
        "sync_target": f"127.0.0.1:{port}",
        "sync_ca_file": files.root / "ca.pem",
        "sync_cert_file": files.root / "sync.crt",
        "sync_key_file": files.root / "sync.key",
        "snapshot_file": files.root / "issuer-state" / "snapshot.bin",
    }


async def _wait_serving(harness: Any, digest: str | None = None) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = harness.app.holder.state
        if state is not None and (digest is None or state.digest == digest):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the issuer never served the expected snapshot")


async def test_issuer_follows_policy_sync_and_restarts_from_its_persisted_copy(
    policy_sync: PolicySyncApp, make_issuer: Any, files: Any, ids: Any, policy: Any
) -> None:
    overrides = _sync_overrides(files, ids, policy_sync.grpc_port)
    issuer = await make_issuer(**overrides)
    await _wait_serving(issuer)
    first = issuer.app.holder.state
    assert first.revision.startswith("dir:")
    reply = await issuer.stub("uri").RequestToken(ORDERS, timeout=5)
    assert reply.policy_revision == first.revision

    gateway = policy.clients[0]
    gateway["resources"] = [r for r in gateway["resources"] if r["name"] != "orders"]
    policy.write(files.policy_dir)
    assert await _until(lambda: issuer.app.holder.state.digest != first.digest)
    revoked = issuer.app.holder.state
    assert revoked.digest != first.digest
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub("uri").RequestToken(ORDERS, timeout=5)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED

    # policy-sync goes away; a restarted issuer serves the snapshot it persisted.
    await policy_sync.stop()
    await issuer.app.stop(0)
    restarted = await make_issuer(**overrides)
    await _wait_serving(restarted, revoked.digest)
    assert await _until(lambda: restarted.app.running.serving)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await restarted.stub("uri").RequestToken(ORDERS, timeout=5)
    assert info.value.code() is grpc.StatusCode.PERMISSION_DENIED
    reply = await restarted.stub("uri").RequestToken(
        issuer_pb2.RequestTokenRequest(resource="payments", operation="charge"), timeout=5
    )
    assert reply.policy_revision == revoked.revision


async def _until(predicate: Any, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.05)):
        if predicate():
            return True
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    return bool(predicate())
