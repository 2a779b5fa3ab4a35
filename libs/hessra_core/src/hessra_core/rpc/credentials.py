"""mTLS server credentials whose trust roots and certificate change without a restart.

``grpc.dynamic_ssl_server_credentials`` asks a fetcher for a new certificate
configuration on every new TLS handshake; returning ``None`` keeps the current
one. :class:`DynamicServerCredentials` answers from two sources:

- the server certificate and key files, re-read when either file's mtime or size
  changes (cert-manager and friends rotate them in place);
- a ``client_ca`` callable returning the PEM bundle of trusted client CAs right now
  (for the issuer and signer: the current policy snapshot's ``[cacerts]``), compared
  by value, so a new snapshot with new CAs applies to the next handshake.

Connections already established keep the trust they were accepted under; services
re-check the peer chain per request when that matters (the issuer does).

The fetcher runs on a gRPC core thread on every handshake, so it only stats two
files and compares bytes; it never raises (a half-written cert file keeps the
previous configuration and is logged once, not re-read until it changes again).

Usage::

    creds = DynamicServerCredentials(cert_file, key_file, client_ca=lambda: holder.ca_pem)
    server.add_secure_port("127.0.0.1:0", creds.server_credentials())
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import grpc
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hessra_core.errors import ConfigError

_log = structlog.get_logger("hessra.rpc.credentials")


@cache
def unreachable_ca_pem() -> bytes:
    """A CA that no client can chain to: its private key is discarded at once.

    Used as the trust root until a real one is known (no snapshot yet), because
    gRPC needs *some* root to require client certificates.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hessra: no trusted client CA yet")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class _FileStamp:
    mtime_ns: int
    size: int


def _stamp(path: Path) -> _FileStamp:
    st = os.stat(path)
    return _FileStamp(st.st_mtime_ns, st.st_size)


def _pair_problems(cert_file: Path, cert_pem: bytes, key_pem: bytes) -> list[str]:
    """Catch a half-rotated pair (new cert, old key) before gRPC fails every handshake."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # No detail: the cause may quote bytes of the private key.
        return [f"{cert_file}: certificate or private key cannot be parsed"]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        return [f"{cert_file}: certificate does not match the private key"]
    return []


class DynamicServerCredentials:
    """Server TLS that re-reads its cert files and asks ``client_ca`` for trust roots."""

    def __init__(
        self,
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        *,
        client_ca: Callable[[], bytes | None] | None = None,
        require_client_auth: bool = True,
    ) -> None:
        self._cert_file = Path(cert_file)
        self._key_file = Path(key_file)
        self._client_ca = client_ca
        self._require = require_client_auth
        self._lock = threading.Lock()
        self._cert_pem, self._key_pem, self._stamps = self._read_pair()
        # The stamps of files whose pair was refused: not re-read until they change again.
        self._rejected: tuple[_FileStamp, _FileStamp] | None = None
        self._ca_pem = self._current_ca()
        self.reloads = 0

    def _read_pair(self) -> tuple[bytes, bytes, tuple[_FileStamp, _FileStamp]]:
        problems = []
        try:
            stamps = (_stamp(self._cert_file), _stamp(self._key_file))
            cert = self._cert_file.read_bytes()
            key = self._key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(
                [f"{exc.filename}: cannot read TLS file: {exc.strerror}"], source="TLS config"
            ) from None
        if b"-----BEGIN CERTIFICATE-----" not in cert:
            problems.append(f"{self._cert_file}: not a PEM certificate")
        if b"PRIVATE KEY-----" not in key:
            problems.append(f"{self._key_file}: not a PEM private key")
        if not problems:
            problems += _pair_problems(self._cert_file, cert, key)
        if problems:
            raise ConfigError(problems, source="TLS config")
        return cert, key, stamps

    def _current_ca(self) -> bytes | None:
        if not self._require:
            return None
        pem = self._client_ca() if self._client_ca is not None else None
        return pem or unreachable_ca_pem()

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self._key_pem, self._cert_pem)], root_certificates=self._ca_pem
        )

    def _reload_pair(self) -> bool:
        """Re-read the cert/key files if they changed; True if a new pair was loaded.

        A pair that cannot be used yet (half-rotated, half-written, a file missing) keeps
        the current one serving and is logged once per change of the files.
        """
        stamps: tuple[_FileStamp, _FileStamp] | None = None
        try:
            stamps = (_stamp(self._cert_file), _stamp(self._key_file))
            if stamps in (self._stamps, self._rejected):
                return False
            self._cert_pem, self._key_pem, self._stamps = self._read_pair()
        except (OSError, ConfigError) as exc:
            if stamps is None or stamps != self._rejected:
                _log.warning(
                    "tls_server_cert_reload_failed",
                    cert_file=str(self._cert_file),
                    error=str(exc),
                    note="keeping the previous certificate and key",
                )
            self._rejected = stamps
            return False
        _log.info("tls_server_cert_reloaded", cert_file=str(self._cert_file))
        return True

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """The gRPC fetcher: a new configuration if anything changed, else None."""
        try:
            with self._lock:
                # The two sources are independent: a server pair that cannot be used yet
                # must not hold back a change of client trust (a CA added or removed).
                changed = self._reload_pair()
                ca = self._current_ca()
                if ca != self._ca_pem:
                    self._ca_pem = ca
                    changed = True
                if not changed:
                    return None
                self.reloads += 1
                return self._configuration()
        except Exception as exc:  # a raising fetcher would fail the handshake
            _log.warning("tls_reload_failed", error=str(exc))
            return None

    def server_credentials(self) -> grpc.ServerCredentials:
        with self._lock:
            initial = self._configuration()
        return grpc.dynamic_ssl_server_credentials(
            initial,
            self.fetch,  # type: ignore[arg-type]  # the stubs miss that None means "unchanged"
            require_client_authentication=self._require,
        )


__all__ = ["DynamicServerCredentials", "unreachable_ca_pem"]
