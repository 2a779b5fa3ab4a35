"""Policy changes apply live, without a restart: trust, access, readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra.v1 import issuer_pb2

ORDERS = issuer_pb2.RequestTokenRequest(resource="orders", operation="read")
PARTNER = {
    "identifier": {"type": "san_uri", "value": "uri:urn:test:partner"},
    "resources": [{"name": "orders", "operations": ["read"]}],
}


async def _code(stub: Any, request: Any = ORDERS) -> grpc.StatusCode:
    try:
        await stub.RequestToken(request, timeout=5)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_ca_rotated_in_by_a_new_snapshot_is_trusted_without_restart(
    issuer: Any, policy: Any
) -> None:
    assert await _code(issuer.stub("rotated")) is grpc.StatusCode.UNAVAILABLE
    pid_port = issuer.app.port
    policy.ca_pems.append(issuer.ids.other_ca.cert_pem)
    policy.clients.append(PARTNER)
    await issuer.change_policy(policy)
    reply = await issuer.stub("rotated").RequestToken(ORDERS, timeout=5)
    assert reply.subject == "uri:urn:test:partner"
    assert reply.policy_revision == issuer.app.holder.state.revision
    assert issuer.app.port == pid_port  # same server, no restart


async def test_access_revoked_by_a_new_snapshot_is_denied_on_an_open_connection(
    issuer: Any, policy: Any
) -> None:
    stub = issuer.stub("uri")
    assert await _code(stub) is grpc.StatusCode.OK
    gateway = policy.clients[0]
    gateway["resources"] = [r for r in gateway["resources"] if r["name"] != "orders"]
    await issuer.change_policy(policy)
    assert await _code(stub) is grpc.StatusCode.PERMISSION_DENIED


async def test_ca_removed_from_policy_stops_open_connections_too(issuer: Any, policy: Any) -> None:
    """The handshake trusted the CA, but the per-request chain check follows the policy."""
    stub = issuer.stub("uri")
    assert await _code(stub) is grpc.StatusCode.OK
    policy.ca_pems = [issuer.ids.other_ca.cert_pem]
    await issuer.change_policy(policy)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RequestToken(ORDERS, timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "not issued by a trusted CA" in (info.value.details() or "")
    # ...and new connections fail in the handshake.
    assert await _code(issuer.stub("uri")) is grpc.StatusCode.UNAVAILABLE


async def test_a_bad_edit_keeps_the_last_good_snapshot(issuer: Any) -> None:
    digest = issuer.app.holder.state.digest
    (issuer.files.policy_dir / "clients.toml").write_text("version = [broken\n")
    await asyncio.sleep(0.5)  # several poll intervals
    assert issuer.app.holder.state.digest == digest
    assert await _code(issuer.stub("uri")) is grpc.StatusCode.OK


async def test_not_serving_until_a_snapshot_loads(
    make_issuer: Any, files: Any, policy: Any
) -> None:
    """Readiness waits for policy; token requests get FAILED_PRECONDITION meanwhile.

    The deploy-time CA (``extra_client_ca_file``) lets the probe connect before any
    policy CA is known."""
    (files.policy_dir / "clients.toml").write_text("version = [broken\n")
    issuer = await make_issuer(extra_client_ca_file=files.extra_ca)
    health = health_pb2_grpc.HealthStub(issuer.channel("uri"))
    reply = await health.Check(health_pb2.HealthCheckRequest(service="hessra.v1.Issuer"), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub("uri").RequestToken(ORDERS, timeout=5)
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "no policy snapshot" in (info.value.details() or "")

    await issuer.change_policy(policy)
    for _ in range(50):
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            break
        await asyncio.sleep(0.05)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert await _code(issuer.stub("uri")) is grpc.StatusCode.OK


async def test_graceful_stop_reports_not_serving_first(issuer: Any) -> None:
    health = health_pb2_grpc.HealthStub(issuer.channel("uri"))
    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await issuer.app.running.health.enter_graceful_shutdown()
    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
