"""A client certificate the server refuses is an authentication error, not "server down".

The issuer and signer refuse an untrusted, expired or missing client certificate in the
TLS handshake; grpcio then reports only ``UNAVAILABLE ... Socket closed``. The SDK
re-checks with a probe handshake and raises ``CertificateRejectedError`` (an
``AuthenticationError``) saying why; a server that is not there stays
``ServiceUnavailableError``. Everything here is real: servers, certificates, sockets.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

from hessra import (
    AsyncHessra,
    AuthenticationError,
    CertificateRejectedError,
    Hessra,
    ServiceUnavailableError,
)
from hessra._channel import TlsFiles
from hessra._status import error_from_rpc, may_be_certificate_refusal
from hessra._tls_probe import probe_client_certificate
from hessra.cli import main as cli
from hessra_core import pki
from hessra_core.testing import write_tls

from .conftest import LOOPBACK, Servers, client_certs, closed_port

# (client certificate, the reason the error gives, words its message must contain)
REFUSED = [
    ("untrusted_ca", "unknown_ca", "CN=someone else's CA, which is not a CA the server trusts"),
    ("expired", "certificate_expired", "it expired at"),
    ("not_yet_valid", "certificate_not_yet_valid", "it is not valid until"),
    ("server_only", "unsupported_certificate", "lacks clientAuth"),
    (None, "certificate_required", "no client certificate was configured"),
]  # fmt: skip
REFUSED_IDS = [r[0] or "no_cert" for r in REFUSED]


def kwargs_for(servers: Servers, which: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"ca": servers.ca_file, "timeout": 5.0}
    if which is not None:
        kwargs |= servers.client_cert(which, client_certs(servers.ca)[which])
    return kwargs


def tls_for(servers: Servers, which: str | None) -> TlsFiles:
    files = servers.client_cert(which, client_certs(servers.ca)[which]) if which else {}
    return TlsFiles(ca=servers.ca_file, **files)


@pytest.mark.parametrize(("which", "why", "words"), REFUSED, ids=REFUSED_IDS)
def test_issuer_refusing_the_certificate_is_an_authentication_error(
    servers: Servers, which: str | None, why: str, words: str
) -> None:
    with (
        Hessra(servers.issuer, **kwargs_for(servers, which)) as client,
        pytest.raises(CertificateRejectedError) as caught,
    ):
        client.request_token("orders", "read")
    error = caught.value
    assert isinstance(error, AuthenticationError)
    assert error.reason == "certificate_rejected"
    assert error.why == why
    assert error.endpoint == f"issuer {servers.issuer}"
    label = "unknown CA" if why == "unknown_ca" else why.replace("_", " ")
    assert error.message.startswith(
        f"issuer {servers.issuer} refused the client certificate ({label}): "
    )
    assert words in error.message


@pytest.mark.parametrize(("which", "why", "words"), REFUSED[:2], ids=REFUSED_IDS[:2])
def test_signer_refusing_the_certificate_names_the_signer(
    servers: Servers, which: str | None, why: str, words: str
) -> None:
    with (
        Hessra(servers.issuer, **kwargs_for(servers, which)) as client,
        pytest.raises(CertificateRejectedError) as caught,
    ):
        client.sign_token("not-a-token", "orders", "read", endpoint=servers.signer)
    assert caught.value.why == why
    assert caught.value.endpoint == f"signer {servers.signer}"
    assert words in caught.value.message


async def test_async_client_reports_the_refusal(servers: Servers) -> None:
    async with AsyncHessra(servers.issuer, **kwargs_for(servers, "expired")) as client:
        with pytest.raises(CertificateRejectedError, match=r"\(certificate expired\)"):
            await client.request_token("orders", "read")


def test_a_trusted_certificate_is_served(servers: Servers) -> None:
    # The same servers and CA accept the right certificate: the refusals above are
    # about the certificate, not the setup.
    with Hessra(servers.issuer, **kwargs_for(servers, "trusted")) as client:
        token = client.request_token("orders", "read")
    assert token
    trusted = tls_for(servers, "trusted")
    assert probe_client_certificate(servers.issuer, trusted) is None


@pytest.mark.parametrize("which", ["trusted", "expired", None], ids=["trusted", "expired", "none"])
def test_server_down_stays_unavailable(servers: Servers, which: str | None) -> None:
    down = f"127.0.0.1:{closed_port()}"
    with (
        Hessra(down, **kwargs_for(servers, which)) as client,
        pytest.raises(ServiceUnavailableError, match="is unreachable") as caught,
    ):
        client.request_token("orders", "read")
    assert not isinstance(caught.value, AuthenticationError)


def test_a_server_we_do_not_trust_stays_unavailable(servers: Servers, tmp_path: Path) -> None:
    # Our side rejecting the server's certificate is not the server refusing ours.
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(pki.create_ca("not the server's CA").cert_pem)
    kwargs = kwargs_for(servers, "trusted") | {"ca": other_ca}
    with (
        Hessra(servers.issuer, **kwargs) as client,
        pytest.raises(ServiceUnavailableError),
    ):
        client.request_token("orders", "read")


@pytest.fixture
def drop_after_accept() -> Iterator[str]:
    """A TCP server that accepts and closes at once, before any TLS: not a refusal."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_server_that_drops_connections_stays_unavailable(
    servers: Servers, drop_after_accept: str
) -> None:
    with (
        Hessra(drop_after_accept, **kwargs_for(servers, "trusted")) as client,
        pytest.raises(ServiceUnavailableError),
    ):
        client.request_token("orders", "read")


@pytest.fixture
def alerting_server(servers: Servers, tmp_path: Path) -> Iterator[str]:
    """An OpenSSL TLS 1.3 server that requires client certificates and, unlike gRPC,
    sends an alert when it refuses one: the probe must report what the alert says."""
    files = write_tls(tmp_path, "alerting", pki.issue_cert(servers.ca, "a", LOOPBACK, server=True))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files.cert, files.key)
    ctx.load_verify_locations(cadata=servers.ca.cert_pem.decode())
    ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(5)
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(64)
            except (ssl.SSLError, OSError):
                pass  # the refusal: OpenSSL has sent its alert

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.parametrize(
    ("which", "why"),
    [("untrusted_ca", "unknown_ca"), ("expired", "certificate_expired"),
     (None, "certificate_required")],
    ids=["untrusted_ca", "expired", "no_cert"],
)  # fmt: skip
def test_probe_reports_what_a_tls_alert_says(
    servers: Servers, alerting_server: str, which: str | None, why: str
) -> None:
    tls = tls_for(servers, which)
    refusal = probe_client_certificate(alerting_server, tls)
    assert refusal is not None
    assert refusal.alert is True
    assert refusal.why == why


def test_probe_takes_inline_pem(servers: Servers) -> None:
    issued = client_certs(servers.ca)["expired"]
    tls = TlsFiles(ca=servers.ca.cert_pem, cert=issued.cert_pem, key=issued.key_pem)
    refusal = probe_client_certificate(servers.issuer, tls)
    assert refusal is not None
    assert refusal.why == "certificate_expired"


def test_grpc_reports_a_refusal_only_as_a_closed_socket(servers: Servers) -> None:
    """What grpcio itself says (the reason for the probe): if a later grpcio reports the
    refusal, this fails and the mapping can read the status directly."""
    issued = client_certs(servers.ca)["expired"]
    creds = grpc.ssl_channel_credentials(servers.ca.cert_pem, issued.key_pem, issued.cert_pem)
    with grpc.secure_channel(servers.issuer, creds) as channel:
        call = channel.unary_unary("/grpc.health.v1.Health/Check")
        with pytest.raises(grpc.RpcError) as caught:
            call(b"", timeout=5)
    exc: Any = caught.value
    assert exc.code() == grpc.StatusCode.UNAVAILABLE
    assert "Socket closed" in exc.details()
    assert may_be_certificate_refusal(exc)
    # Without the probe's finding the mapping keeps calling it unreachable.
    assert type(error_from_rpc(exc, where="issuer x")) is ServiceUnavailableError


CLI_CASES = [
    ("untrusted_ca", "unknown CA"),
    ("expired", "certificate expired"),
    (None, "certificate required"),
]


@pytest.mark.parametrize(("which", "words"), CLI_CASES, ids=[c[0] or "no_cert" for c in CLI_CASES])
def test_cli_prints_the_refusal_and_exits_1(
    servers: Servers, which: str | None, words: str
) -> None:
    args = ["auth", "request", "--server", servers.issuer, "--ca", str(servers.ca_file)]
    args += ["--resource", "orders", "--operation", "read"]
    if which is not None:
        files = servers.client_cert(which, client_certs(servers.ca)[which])
        args += ["--cert", str(files["cert"]), "--key", str(files["key"])]
    result = CliRunner().invoke(cli, args, env={"HESSRA_CERT": "", "HESSRA_KEY": ""})
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert f"Error: issuer {servers.issuer} refused the client certificate ({words})" in (
        result.stderr
    )


def test_cli_json_names_the_reason(servers: Servers) -> None:
    files = servers.client_cert("expired", client_certs(servers.ca)["expired"])
    args = ["auth", "request", "--server", servers.issuer, "--ca", str(servers.ca_file)]
    args += ["--cert", str(files["cert"]), "--key", str(files["key"]), "--json"]
    result = CliRunner().invoke(cli, [*args, "--resource", "orders", "--operation", "read"])
    assert result.exit_code == 1
    assert '"error": "certificate_rejected"' in result.stdout
