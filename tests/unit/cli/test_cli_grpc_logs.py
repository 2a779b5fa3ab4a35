"""The CLI's stderr carries its own refusal, not gRPC's C-core handshake log lines.

A real gRPC server on loopback presents a certificate from a CA the CLI is not told to
trust; the real ``hessra`` process must report that once, in its own words.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from hessra_core import pki

GRPC_NOISE = "ssl_transport_security"


@pytest.fixture
def untrusted_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TLS gRPC server whose CA is not the one the client will pass as --ca."""
    server_ca, client_ca = pki.create_ca("Server CA"), pki.create_ca("Client CA")
    server_cert = pki.issue_cert(
        server_ca, "server", pki.SubjectNames(ips=["127.0.0.1"]), server=True, client=False
    )
    client = pki.issue_cert(client_ca, "client", pki.SubjectNames(uris=["urn:service:cli"]))
    for name, data in {
        "client.crt": client.cert_pem,
        "client.key": client.key_pem,
        "client-ca.crt": client_ca.cert_pem,
    }.items():
        (tmp_path / name).write_bytes(data)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    creds = grpc.ssl_server_credentials(
        [(server_cert.key_pem, server_cert.cert_pem)],
        root_certificates=client_ca.cert_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    try:
        yield f"127.0.0.1:{port}", tmp_path
    finally:
        server.stop(grace=None)


@pytest.mark.parametrize(
    ("verbosity", "noise_expected"),
    [(None, False), ("INFO", True)],
    ids=["quiet-by-default", "user-asked-for-grpc-logs"],
)
def test_handshake_failure_is_reported_once(
    hessra_bin: Path,
    untrusted_server: tuple[str, Path],
    verbosity: str | None,
    noise_expected: bool,
) -> None:
    target, files = untrusted_server
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HESSRA_", "GRPC_"))}
    if verbosity is not None:
        env["GRPC_VERBOSITY"] = verbosity
    result = subprocess.run(
        [
            str(hessra_bin),
            "auth",
            "public-keys",
            "--server",
            target,
            "--cert",
            str(files / "client.crt"),
            "--key",
            str(files / "client.key"),
            "--ca",
            str(files / "client-ca.crt"),  # not the server's CA: the handshake fails
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=files,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "is unreachable (UNAVAILABLE)" in result.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr  # the cause stays in our message
    assert (GRPC_NOISE in result.stderr) is noise_expected, result.stderr
