"""Client-CA rotation keeps working while the server's own cert/key files are mid-rotation.

The two sources of a TLS configuration change independently: the policy's ``[cacerts]``
(a new snapshot) and the server certificate files (cert-manager). A pair on disk that is
not usable yet (new key, old certificate) must keep the previous pair serving, and must
not hold back a trust change that arrives meanwhile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra_core import pki
from hessra_core.rpc import DynamicServerCredentials, Listener, RunningServer, start_server

METHOD = "/test.Echo/Call"


def _channel(port: int, ca: bytes, cert: pki.IssuedCert) -> grpc.aio.Channel:
    creds = grpc.ssl_channel_credentials(ca, cert.key_pem, cert.cert_pem)
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", "localhost")]
    )


async def _echo(request: bytes, _context: Any) -> bytes:
    return request


async def _start(creds: DynamicServerCredentials) -> RunningServer:
    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(_echo)}
    )

    def add(_servicer: Any, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((handler,))

    return await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[(add, None)],
        service_names=["test.Echo"],
        reflection_enabled=False,
    )


async def _works(port: int, ca: bytes, cert: pki.IssuedCert, opened: list[Any]) -> bool:
    channel = _channel(port, ca, cert)
    opened.append(channel)
    try:
        reply = await channel.unary_unary(METHOD)(b"ping", timeout=5)
    except grpc.aio.AioRpcError as exc:
        # A refused handshake; any other failure is not what these tests look for.
        if exc.code() is not grpc.StatusCode.UNAVAILABLE:
            raise
        return False
    return bool(reply == b"ping")


@pytest.mark.parametrize(
    "broken",
    ["key-rotated-first", "key-garbage", "key-removed"],
    ids=["key-rotated-first", "key-garbage", "key-removed"],
)
async def test_trust_follows_the_policy_while_the_server_pair_is_broken(
    rpc_pki: Any, tmp_path: Path, channels: list[grpc.aio.Channel], broken: str
) -> None:
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(rpc_pki.server.cert_pem)
    key_file.write_bytes(rpc_pki.server.key_pem)
    trusted = [rpc_pki.ca.cert_pem]
    creds = DynamicServerCredentials(cert_file, key_file, client_ca=lambda: trusted[0])
    running = await _start(creds)
    server_ca = rpc_pki.ca.cert_pem
    try:
        assert await _works(running.port, server_ca, rpc_pki.client, channels)
        assert not await _works(running.port, server_ca, rpc_pki.other_client, channels)

        # The server's key file changes first; its certificate has not been written yet.
        if broken == "key-rotated-first":
            key_file.write_bytes(pki.issue_cert(rpc_pki.ca, "next", pki.SubjectNames()).key_pem)
        elif broken == "key-garbage":
            key_file.write_bytes(b"-----BEGIN PRIVATE KEY-----\nhalf")
        else:
            key_file.unlink()
        # The old pair keeps serving...
        assert await _works(running.port, server_ca, rpc_pki.client, channels)

        # ...and a new snapshot that trusts another CA applies to the next handshake,
        trusted[0] = rpc_pki.ca.cert_pem + rpc_pki.other_ca.cert_pem
        assert await _works(running.port, server_ca, rpc_pki.other_client, channels)
        # as does one that stops trusting a CA.
        trusted[0] = rpc_pki.other_ca.cert_pem
        assert not await _works(running.port, server_ca, rpc_pki.client, channels)
        assert await _works(running.port, server_ca, rpc_pki.other_client, channels)
    finally:
        await running.stop(0)
