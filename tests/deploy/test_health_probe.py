"""``hessra-grpc-health`` (deploy/docker/grpc_health_probe.py), the issuer's and signer's
exec probe, against a real mTLS server from ``hessra_core.rpc.start_server``.

Readiness (``--require-serving``) must fail while health is NOT_SERVING and pass once
SERVING; liveness must pass on any answer; a refused handshake, an unreadable file or an
unknown service must fail with their own exit codes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hessra_core import pki
from hessra_core.rpc import DynamicServerCredentials, Listener, RunningServer, start_server

from .conftest import REPO

PROBE = REPO / "deploy" / "docker" / "grpc_health_probe.py"
SERVICE = "hessra.v1.Issuer"


@dataclass(frozen=True)
class Server:
    running: RunningServer
    files: Path

    def argv(
        self, *extra: str, cert: str = "probe", server_name: str = "hessra-issuer"
    ) -> list[str]:
        return [
            sys.executable,
            str(PROBE),
            f"--addr=127.0.0.1:{self.running.port}",
            f"--server-name={server_name}",
            f"--ca={self.files / 'ca.crt'}",
            f"--cert={self.files / (cert + '.crt')}",
            f"--key={self.files / (cert + '.key')}",
            *extra,
        ]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    ca = pki.create_ca("server CA")
    probe_ca = pki.create_ca("probe CA")
    other_ca = pki.create_ca("untrusted CA")
    server_cert = pki.issue_cert(
        ca, "issuer", pki.SubjectNames(dns=["hessra-issuer"]), server=True, client=False
    )
    files = {
        "ca.crt": ca.cert_pem,
        "server.crt": server_cert.cert_pem,
        "server.key": server_cert.key_pem,
    }
    for name, issuing in (("probe", probe_ca), ("stranger", other_ca)):
        issued = pki.issue_cert(issuing, name, pki.SubjectNames(uris=[f"urn:test:{name}"]))
        files[f"{name}.crt"], files[f"{name}.key"] = issued.cert_pem, issued.key_pem
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    creds = DynamicServerCredentials(
        tmp_path / "server.crt", tmp_path / "server.key", client_ca=lambda: probe_ca.cert_pem
    )
    running = await start_server(
        listeners=[Listener("127.0.0.1:0", creds.server_credentials())],
        services=[],
        service_names=[SERVICE],
    )
    try:
        yield Server(running, tmp_path)
    finally:
        await running.stop(0)


async def _run(argv: list[str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_readiness_waits_for_serving_and_liveness_does_not(server: Server) -> None:
    code, out = await _run(server.argv("--require-serving"))
    assert (code, out.strip().endswith("NOT_SERVING")) == (1, True), out
    code, out = await _run(server.argv())
    assert (code, out.strip().endswith("NOT_SERVING")) == (0, True), out

    await server.running.set_serving(True)
    code, out = await _run(server.argv("--require-serving"))
    assert (code, out.strip().endswith(": SERVING")) == (0, True), out
    code, out = await _run(server.argv("--require-serving", f"--service={SERVICE}"))
    assert code == 0, out


@pytest.mark.parametrize(
    ("kwargs", "extra", "code", "message"),
    [
        ({"cert": "stranger"}, (), 3, "UNAVAILABLE"),
        ({"server_name": "someone-else"}, (), 3, "UNAVAILABLE"),
        ({}, ("--service=hessra.v1.Nope",), 3, "NOT_FOUND"),
        ({"cert": "missing"}, (), 2, "cannot read"),
    ],
    ids=["untrusted-client-cert", "wrong-server-name", "unknown-service", "missing-cert-file"],
)
async def test_failures_have_their_own_exit_codes(
    server: Server, kwargs: dict[str, str], extra: tuple[str, ...], code: int, message: str
) -> None:
    await server.running.set_serving(True)
    got, out = await _run(server.argv(*extra, **kwargs))
    assert got == code, out
    assert message in out
