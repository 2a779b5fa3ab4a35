"""hessra_core.rpc against a real grpc.aio server on 127.0.0.1:0 with real mTLS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra_core import errors, pki
from hessra_core.rpc import (
    DynamicServerCredentials,
    Listener,
    ObservabilityInterceptor,
    RunningServer,
    annotate,
    peer_label,
    start_server,
)
from hessra_core.rpc.status import REASON_METADATA_KEY

ECHO_SERVICE = "test.Echo"


def echo_registration(
    behavior: Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Any],
) -> tuple[Callable[[Any, grpc.aio.Server], None], None]:
    """A generic (bytes in, bytes out) service ``test.Echo/Call`` run by ``behavior``."""
    handler = grpc.method_handlers_generic_handler(
        ECHO_SERVICE, {"Call": grpc.unary_unary_rpc_method_handler(behavior)}
    )

    def add(_servicer: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((handler,))

    return add, None


def client_channel(port: int, ca: bytes, cert: pki.IssuedCert | None) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(
        ca, cert.key_pem if cert else None, cert.cert_pem if cert else None
    )
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", "localhost")]
    )


async def call_echo(channel: grpc.aio.Channel, payload: bytes = b"ping") -> Any:
    return await channel.unary_unary(f"/{ECHO_SERVICE}/Call")(payload, timeout=5)


async def _start(
    rpc_pki: Any, behavior: Any, *, ca: list[bytes], cert_file: Path | None = None, **kw: Any
) -> tuple[RunningServer, DynamicServerCredentials]:
    creds = DynamicServerCredentials(
        cert_file or rpc_pki.cert_file,
        rpc_pki.key_file if cert_file is None else cert_file.with_suffix(".key"),
        client_ca=lambda: ca[0],
    )
    running = await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[echo_registration(behavior)],
        service_names=["test.Echo"],
        interceptors=[ObservabilityInterceptor(trailing_metadata=[("x-test", "1")])],
        **kw,
    )
    return running, creds


async def _peer(_request: bytes, context: Any) -> bytes:
    annotate(resource="echo", operation="call", decision="allow", token="SECRET-TOKEN")
    return peer_label(context).encode()


async def test_trusted_client_is_served_and_untrusted_is_refused_at_handshake(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    running, _ = await _start(rpc_pki, _peer, ca=[rpc_pki.ca.cert_pem])
    try:
        good = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
        bad = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.other_client)
        anonymous = client_channel(running.port, rpc_pki.ca.cert_pem, None)
        channels += [good, bad, anonymous]
        assert await call_echo(good) == b"urn:test:client"
        for ch in (bad, anonymous):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call_echo(ch)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await running.stop(0)


async def test_client_ca_rotates_live_for_new_connections(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    ca = [rpc_pki.ca.cert_pem]
    running, creds = await _start(rpc_pki, _peer, ca=ca)
    try:
        first = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.other_client)
        channels.append(first)
        with pytest.raises(grpc.aio.AioRpcError):
            await call_echo(first)
        ca[0] = rpc_pki.ca.cert_pem + rpc_pki.other_ca.cert_pem
        second = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.other_client)
        channels.append(second)
        assert await call_echo(second) == b"urn:test:other"
        assert creds.reloads >= 1
    finally:
        await running.stop(0)


async def test_server_certificate_reloads_from_disk(
    rpc_pki: Any, tmp_path: Path, channels: list[grpc.aio.Channel]
) -> None:
    new_server_ca = pki.create_ca("rotated server CA")
    rotated = pki.issue_cert(
        new_server_ca, "server2", pki.SubjectNames(dns=["localhost"]), server=True
    )
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(rpc_pki.server.cert_pem)
    key_file.write_bytes(rpc_pki.server.key_pem)
    running, _ = await _start(rpc_pki, _peer, ca=[rpc_pki.ca.cert_pem], cert_file=cert_file)
    try:
        trusting_new = client_channel(running.port, new_server_ca.cert_pem, rpc_pki.client)
        channels.append(trusting_new)
        with pytest.raises(grpc.aio.AioRpcError):
            await call_echo(trusting_new)
        key_file.write_bytes(rotated.key_pem)
        cert_file.write_bytes(rotated.cert_pem)
        again = client_channel(running.port, new_server_ca.cert_pem, rpc_pki.client)
        channels.append(again)
        assert await call_echo(again) == b"urn:test:client"
    finally:
        await running.stop(0)


def test_mismatched_cert_and_key_is_a_config_error(rpc_pki: Any, tmp_path: Path) -> None:
    (tmp_path / "a.crt").write_bytes(rpc_pki.client.cert_pem)
    (tmp_path / "a.key").write_bytes(rpc_pki.server.key_pem)
    with pytest.raises(errors.ConfigError, match="does not match the private key"):
        DynamicServerCredentials(tmp_path / "a.crt", tmp_path / "a.key")
    with pytest.raises(errors.ConfigError, match="cannot read TLS file"):
        DynamicServerCredentials(tmp_path / "missing.crt", tmp_path / "a.key")


RAISED = [
    (
        errors.PermissionDeniedError("subject s may not read orders"),
        "PERMISSION_DENIED",
        "subject s may not read orders",
        "permission_denied",
    ),
    (
        errors.NotReadyError("no policy snapshot loaded yet"),
        "FAILED_PRECONDITION",
        "no policy snapshot loaded yet",
        "no_snapshot",
    ),
    (RuntimeError("password=hunter2"), "INTERNAL", "internal error", "internal"),
]


@pytest.mark.parametrize(("exc", "code", "message", "reason"), RAISED, ids=[r[1] for r in RAISED])
async def test_interceptor_maps_errors_and_logs_one_line(
    rpc_pki: Any,
    channels: list[grpc.aio.Channel],
    exc: Exception,
    code: str,
    message: str,
    reason: str,
) -> None:
    async def fail(_request: bytes, _context: Any) -> bytes:
        annotate(resource="orders", operation="read", private_key="PRIVATE")
        raise exc

    running, _ = await _start(rpc_pki, fail, ca=[rpc_pki.ca.cert_pem])
    try:
        channel = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
        channels.append(channel)
        with structlog.testing.capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as info:
            await call_echo(channel)
        assert info.value.code().name == code
        assert info.value.details() == message
        assert (REASON_METADATA_KEY, reason) in tuple(info.value.trailing_metadata() or ())
        lines = [entry for entry in logs if entry["event"] == "rpc"]
        assert len(lines) == 1
        line = lines[0]
        assert line["code"] == code
        assert line["caller"] == "urn:test:client"
        assert (line["resource"], line["operation"]) == ("orders", "read")
        assert "private_key" not in line
        assert "hunter2" not in repr(line)
    finally:
        await running.stop(0)


async def test_success_line_has_canonical_fields_and_no_secrets(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    running, _ = await _start(rpc_pki, _peer, ca=[rpc_pki.ca.cert_pem])
    try:
        channel = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
        channels.append(channel)
        with structlog.testing.capture_logs() as logs:
            call = channel.unary_unary("/test.Echo/Call")(b"x", timeout=5)
            await call
            trailing = await call.trailing_metadata()
        [line] = [entry for entry in logs if entry["event"] == "rpc"]
        assert line["method"] == "/test.Echo/Call"
        assert line["code"] == "OK"
        assert line["decision"] == "allow"
        assert {"caller", "resource", "operation", "revision", "latency_ms"} <= set(line)
        assert "SECRET-TOKEN" not in repr(line)
        assert ("x-test", "1") in tuple(trailing or ())
    finally:
        await running.stop(0)


async def test_health_follows_readiness_and_graceful_stop(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    running, _ = await _start(rpc_pki, _peer, ca=[rpc_pki.ca.cert_pem])
    channel = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
    channels.append(channel)
    stub = health_pb2_grpc.HealthStub(channel)

    async def status(service: str = "") -> int:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return int(reply.status)

    try:
        assert await status() == health_pb2.HealthCheckResponse.NOT_SERVING
        await running.set_serving(True)
        assert await status() == health_pb2.HealthCheckResponse.SERVING
        assert await status("test.Echo") == health_pb2.HealthCheckResponse.SERVING
        await running.health.enter_graceful_shutdown()
        assert await status() == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await running.stop(0)


async def test_binding_a_taken_port_is_a_config_error(rpc_pki: Any) -> None:
    running, _ = await _start(rpc_pki, _peer, ca=[rpc_pki.ca.cert_pem])
    try:
        with pytest.raises(errors.ConfigError, match="cannot bind"):
            await start_server(
                listeners=[Listener("256.0.0.1:1", None)],
                services=[],
                service_names=[],
            )
    finally:
        await running.stop(0)


async def test_server_streaming_calls_are_logged_once_and_errors_mapped(
    rpc_pki: Any, channels: list[grpc.aio.Channel]
) -> None:
    async def stream(_request: bytes, _context: Any) -> Any:
        annotate(resource="snapshots")
        yield b"one"
        yield b"two"
        raise errors.NotReadyError("source went away")

    handler = grpc.method_handlers_generic_handler(
        "test.Stream", {"Watch": grpc.unary_stream_rpc_method_handler(stream)}
    )

    def add(_servicer: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((handler,))

    creds = DynamicServerCredentials(
        rpc_pki.cert_file, rpc_pki.key_file, client_ca=lambda: rpc_pki.ca.cert_pem
    )
    running = await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[(add, None)],
        service_names=["test.Stream"],
        interceptors=[ObservabilityInterceptor()],
    )
    try:
        channel = client_channel(running.port, rpc_pki.ca.cert_pem, rpc_pki.client)
        channels.append(channel)
        received: list[bytes] = []

        async def drain() -> None:
            async for item in channel.unary_stream("/test.Stream/Watch")(b"", timeout=5):
                received.append(item)

        with structlog.testing.capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as info:
            await drain()
        assert received == [b"one", b"two"]
        assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        [line] = [entry for entry in logs if entry["event"] == "rpc"]
        assert (line["code"], line["resource"]) == ("FAILED_PRECONDITION", "snapshots")
    finally:
        await running.stop(0)
