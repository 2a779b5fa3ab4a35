"""Why did a server drop the connection? A second TLS handshake finds out.

The issuer and signer refuse an untrusted, expired or missing client certificate in
the TLS handshake (Python gRPC cannot ask for a client certificate without verifying
it). In TLS 1.3 the client finishes its side of the handshake before the server has
looked at the client's certificate, and a gRPC server then closes the socket without
a TLS alert. So all a gRPC client reports is ``UNAVAILABLE: ... Socket closed``:
exactly what it reports for a server going away, measured with grpcio 1.85 for an
unknown CA, an expired certificate, a certificate without ``clientAuth`` and no
certificate at all (``debug_error_string()`` says no more).

:func:`probe_client_certificate` tells the two apart. It repeats the handshake with
the same CA, certificate and key using the ``ssl`` module, then sends the HTTP/2
preface and waits for the server's first frame:

- the handshake completes (the server's certificate checks out) and the server then
  closes without sending a byte, or answers with a certificate alert: the server
  refused our certificate. The alert names the reason when the server sends one;
  otherwise the reason is what our own certificate shows (none configured, expired,
  not yet valid, not for client authentication), else an unknown CA;
- anything else (connection refused, a timeout, our side rejecting the server, the
  server answering with HTTP/2): not a certificate refusal, and the probe returns
  ``None`` so the caller keeps ``ServiceUnavailableError``. When in doubt, ``None``.

The probe runs only on the error path, once per failed call, bounded by ``timeout``.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from hessra._channel import TlsFiles, TlsSource

# An HTTP/2 client preface and an empty SETTINGS frame: a gRPC server that accepted the
# connection answers with its own SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"

# How long to wait for the server to speak first before sending our preface.
_LISTEN_FIRST = 0.5

# OpenSSL's names for the TLS alerts a server sends about a client certificate.
_ALERTS: dict[str, tuple[str, str]] = {
    "TLSV1_ALERT_UNKNOWN_CA": ("unknown_ca", "it is not signed by a CA the server trusts"),
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": ("certificate_expired", "it has expired"),
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": (
        "certificate_required",
        "the server requires a client certificate",
    ),
    "SSLV3_ALERT_BAD_CERTIFICATE": ("bad_certificate", "the server calls it a bad certificate"),
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": (
        "unsupported_certificate",
        "it is not valid for client authentication",
    ),
    "SSLV3_ALERT_CERTIFICATE_REVOKED": ("certificate_revoked", "it has been revoked"),
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": ("certificate_unknown", "the server could not accept it"),
    "TLSV1_ALERT_ACCESS_DENIED": ("access_denied", "the server denied access"),
}


@dataclass(frozen=True)
class CertificateRefusal:
    """What a server refused about our client certificate.

    ``why`` is stable (``unknown_ca``, ``certificate_expired``, ``certificate_not_yet_valid``,
    ``certificate_required``, ``unsupported_certificate``, or another alert's name);
    ``detail`` says it for people; ``alert`` is True when the server's TLS alert said so,
    False when the server gave no reason and ``why`` comes from our own certificate.
    """

    why: str
    detail: str
    alert: bool = False


def _split_target(target: str) -> tuple[str, int] | None:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _read(source: TlsSource | None) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and "-----BEGIN" in source:
        return source.encode("ascii")
    try:
        return Path(source).read_bytes()
    except OSError:
        return None


@contextmanager
def _pem_files(cert: bytes, key: bytes) -> Iterator[tuple[str, str]]:
    """``ssl`` loads a certificate and key only from files: inline PEM goes to a private
    temporary directory (mode 0700, files 0600) that is removed at once."""
    with tempfile.TemporaryDirectory(prefix="hessra-probe-") as tmp:
        paths = (os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem"))
        for path, data in zip(paths, (cert, key), strict=True):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        yield paths


def _context(tls: TlsFiles, cert: bytes | None, key: bytes | None) -> ssl.SSLContext | None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    ca = _read(tls.ca)
    try:
        if ca is not None:
            ctx.load_verify_locations(cadata=ca.decode("ascii", errors="replace"))
        else:
            ctx.load_default_certs()
        if cert is not None and key is not None:
            with _pem_files(cert, key) as (cert_file, key_file):
                ctx.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError, ValueError):
        return None
    return ctx


def _alert(exc: ssl.SSLError) -> CertificateRefusal | None:
    found = _ALERTS.get(str(exc.reason or ""))
    if found is None:
        return None
    why, detail = found
    return CertificateRefusal(why, detail, alert=True)


def _own_certificate_finding(cert_pem: bytes | None) -> CertificateRefusal:
    """The server gave no reason: say what our own certificate shows."""
    if cert_pem is None:
        return CertificateRefusal(
            "certificate_required",
            "no client certificate was configured, and the server requires one",
        )
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return CertificateRefusal("bad_certificate", "the client certificate cannot be parsed")
    now = datetime.now(UTC)
    if cert.not_valid_after_utc < now:
        return CertificateRefusal(
            "certificate_expired", f"it expired at {cert.not_valid_after_utc.isoformat()}"
        )
    if cert.not_valid_before_utc > now:
        return CertificateRefusal(
            "certificate_not_yet_valid",
            f"it is not valid until {cert.not_valid_before_utc.isoformat()}",
        )
    with suppress(x509.ExtensionNotFound):
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            return CertificateRefusal(
                "unsupported_certificate",
                "it is not valid for client authentication (its extendedKeyUsage lacks clientAuth)",
            )
    issuer = cert.issuer.rfc4514_string() or "an unnamed CA"
    return CertificateRefusal(
        "unknown_ca",
        f"it is issued by {issuer}, which is not a CA the server trusts (for the issuer and "
        "signer: not in the policy's [cacerts], or no policy is loaded yet)",
    )


def probe_client_certificate(
    target: str, tls: TlsFiles, *, timeout: float = 3.0
) -> CertificateRefusal | None:
    """Did the server at ``target`` (``host:port``) refuse the client certificate in
    ``tls``? The refusal, or ``None`` when it did not or the probe cannot tell."""
    address = _split_target(target)
    if address is None:
        return None
    cert, key = _read(tls.cert), _read(tls.key)
    if (cert is None) != (key is None):
        return None
    ctx = _context(tls, cert, key)
    if ctx is None:
        return None
    host, port = address
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=tls.server_name or host) as conn,
        ):
            if conn.version() != "TLSv1.3":
                # In TLS 1.2 the server's refusal ends the handshake itself, and an EOF
                # there looks like any other dropped connection: only an alert counts.
                return None
            first = _first_bytes(conn, timeout)
    except ssl.SSLError as exc:
        return _alert(exc)  # the handshake failed: a refusal only if an alert says so
    except OSError:
        return None
    if first is None:
        return None
    if isinstance(first, CertificateRefusal):
        return first
    if first:
        return None  # the server spoke HTTP/2: it accepted the certificate
    return _own_certificate_finding(cert)


def _first_bytes(conn: ssl.SSLSocket, timeout: float) -> bytes | CertificateRefusal | None:
    """After a completed handshake: the server's first bytes, ``b""`` when it closed the
    connection, its certificate alert, or ``None`` when the answer says nothing.

    It listens before it speaks: an HTTP/2 server sends its SETTINGS first, and a server
    refusing the certificate closes at once. Writing first could race that close, and
    the reset our late bytes provoke can discard the alert before we read it.
    """
    try:
        try:
            conn.settimeout(min(timeout, _LISTEN_FIRST))
            return conn.recv(64)
        except TimeoutError:
            pass  # a server that waits for the client's preface
        conn.settimeout(timeout)
        conn.sendall(_H2_PREFACE)
        return conn.recv(64)
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError):
        return b""
    except ssl.SSLError as exc:
        return _alert(exc)
    except OSError:
        return None  # a timeout: the server is slow, not refusing


__all__ = ["CertificateRefusal", "probe_client_certificate"]
