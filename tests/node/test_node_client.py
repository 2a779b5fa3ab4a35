"""A Node.js client (grpc-js, .proto loaded at run time) gets tokens from a real issuer.

The issuer runs as its own OS process (``hessra-issuer`` with flags) on 127.0.0.1 with
real mTLS; ``node client.js`` connects with a client certificate, calls RequestToken and
prints JSON. The token must then verify with ``hessra_core.tokens`` for exactly the
subject, resource and operation asked for, and for nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
import tomli_w
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra_core import pki
from hessra_core.errors import HessraError
from hessra_core.keys import KeyPair
from hessra_core.tokens import inspect_token, verify_token

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
NODE = shutil.which("node")
ISSUER = Path(sys.executable).with_name("hessra-issuer")
SUBJECT = "uri:urn:test:node-client"

if NODE is None:
    pytest.skip(
        "node is not installed: the Node.js client test needs `node` on PATH "
        "(and `npm ci --prefix tests/node`)",
        allow_module_level=True,
    )
if not (HERE / "node_modules" / "@grpc" / "grpc-js").is_dir():
    pytest.fail(
        "tests/node/node_modules is missing: run `make node-deps` (npm ci --prefix tests/node)",
        pytrace=False,
    )


@dataclass(frozen=True)
class RunningIssuer:
    port: int
    ca: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path
    stranger_key: Path
    keypair: KeyPair


def _write_policy(directory: Path, ca_pem: bytes) -> None:
    directory.mkdir()
    clients = {
        "version": "0.2.0",
        "cacerts": {"cert_chain": ca_pem.decode()},
        "clients": [
            {
                "identifier": {"type": "san_uri", "value": SUBJECT},
                "resources": [{"name": "orders", "operations": ["read", "create"]}],
            }
        ],
    }
    resources = {"version": "0.2.0", "resources": {"orders": {}, "payroll": {}}}
    (directory / "resources.toml").write_text(tomli_w.dumps(resources))
    (directory / "clients.toml").write_text(tomli_w.dumps(clients))


def _wait_serving(port: int, creds: grpc.ChannelCredentials, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    with grpc.secure_channel(
        f"127.0.0.1:{port}", creds, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"hessra-issuer exited with {proc.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise AssertionError("the issuer did not report SERVING within 30 s")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    root = tmp_path_factory.mktemp("node-issuer")
    ca = pki.create_ca("node client test CA")
    server = pki.issue_cert(
        ca, "issuer", pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"]), server=True
    )
    client = pki.issue_cert(ca, "node", pki.SubjectNames(uris=["urn:test:node-client"]))
    stranger = pki.issue_cert(ca, "stranger", pki.SubjectNames(uris=["urn:test:stranger"]))
    files = {
        "ca.crt": ca.cert_pem,
        "issuer.crt": server.cert_pem,
        "issuer.key": server.key_pem,
        "client.crt": client.cert_pem,
        "client.key": client.key_pem,
        "stranger.crt": stranger.cert_pem,
        "stranger.key": stranger.key_pem,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    keypair = KeyPair.generate()
    keypair.save(root / "signing.pem")
    _write_policy(root / "policy", ca.cert_pem)
    port_file = root / "port.json"
    log = (root / "issuer.log").open("w")
    proc = subprocess.Popen(
        [
            str(ISSUER),
            "--listen=127.0.0.1:0",
            f"--cert-file={root / 'issuer.crt'}",
            f"--key-file={root / 'issuer.key'}",
            f"--signing-key={root / 'signing.pem'}",
            f"--policy-dir={root / 'policy'}",
            f"--port-file={port_file}",
            "--shutdown-grace=0.5",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")},
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"hessra-issuer did not start: {_tail(root / 'issuer.log')}")
            time.sleep(0.1)
        port = int(json.loads(port_file.read_text())["port"])
        creds = grpc.ssl_channel_credentials(ca.cert_pem, client.key_pem, client.cert_pem)
        _wait_serving(port, creds, proc)
        yield RunningIssuer(
            port,
            root / "ca.crt",
            root / "client.crt",
            root / "client.key",
            root / "stranger.crt",
            root / "stranger.key",
            keypair,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]


def _node(issuer: RunningIssuer, *extra: str, cert: Path | None = None) -> Any:
    key = issuer.client_key if cert is None else cert.with_suffix(".key")
    done = subprocess.run(
        [
            str(NODE),
            str(HERE / "client.js"),
            "--target",
            f"127.0.0.1:{issuer.port}",
            "--server-name",
            "localhost",
            "--ca",
            str(issuer.ca),
            "--cert",
            str(cert or issuer.client_cert),
            "--key",
            str(key),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done


@pytest.mark.parametrize(
    ("resource", "operation", "ttl"),
    [("orders", "read", None), ("orders", "create", "60")],
    ids=["read-default-ttl", "create-ttl-60"],
)
def test_node_client_gets_a_token_that_verifies_for_exactly_its_grant(
    issuer: RunningIssuer, resource: str, operation: str, ttl: str | None
) -> None:
    extra = ["--resource", resource, "--operation", operation]
    if ttl is not None:
        extra += ["--ttl", ttl]
    done = _node(issuer, *extra)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)

    assert out["subject"] == SUBJECT
    assert out["pending_signoffs"] == []
    assert out["policy_revision"].startswith("dir:")
    token = out["token"]
    # Biscuit v3, URL-safe base64 with padding.
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    assert len(token) % 4 == 0

    verified = verify_token(
        token,
        issuer.keypair.public_key,
        subject=SUBJECT,
        resource=resource,
        operation=operation,
    )
    assert (verified.subject, verified.resource, verified.operation) == (
        SUBJECT,
        resource,
        operation,
    )
    assert verified.root_key_id == out["key_id"]
    info = inspect_token(token, issuer.keypair.public_key)
    assert info.verified
    assert info.rights == [(SUBJECT, resource, operation)]
    assert info.root_key_id == out["key_id"]
    lifetime = (datetime.fromisoformat(out["expires_at"]) - datetime.now(UTC)).total_seconds()
    expected = int(ttl) if ttl else 300
    assert expected - 30 <= lifetime <= expected + 1


@pytest.mark.parametrize(
    ("subject", "resource", "operation"),
    [
        (SUBJECT, "orders", "delete"),
        (SUBJECT, "payroll", "read"),
        ("uri:urn:test:stranger", "orders", "read"),
    ],
    ids=["other-operation", "other-resource", "other-subject"],
)
def test_the_node_token_is_refused_for_anything_else(
    issuer: RunningIssuer, subject: str, resource: str, operation: str
) -> None:
    done = _node(issuer, "--resource", "orders", "--operation", "read")
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["token"]
    with pytest.raises(HessraError):
        verify_token(
            token,
            issuer.keypair.public_key,
            subject=subject,
            resource=resource,
            operation=operation,
        )


@pytest.mark.parametrize(
    ("who", "resource", "operation", "code"),
    [
        ("client", "payroll", "read", "PERMISSION_DENIED"),
        ("stranger", "orders", "read", "UNAUTHENTICATED"),
        ("client", "orders", "", "INVALID_ARGUMENT"),
    ],
    ids=["not-granted", "unknown-client", "empty-operation"],
)
def test_node_client_reports_refusals_as_grpc_status(
    issuer: RunningIssuer, who: str, resource: str, operation: str, code: str
) -> None:
    cert = issuer.stranger_cert if who == "stranger" else None
    done = _node(issuer, "--resource", resource, "--operation", operation, cert=cert)
    assert done.returncode == 1, done.stdout
    error = json.loads(done.stderr)["error"]
    assert error["name"] == code
    assert error["details"]


def test_node_client_usage_errors_exit_2(issuer: RunningIssuer) -> None:
    done = _node(issuer, "--resource", "orders")
    assert done.returncode == 2
    assert "--operation is required" in done.stderr
