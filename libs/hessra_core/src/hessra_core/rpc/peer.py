"""What a servicer can learn about its caller from the TLS session.

gRPC exposes the verified peer through ``context.auth_context()``: the leaf
certificate as PEM under ``x509_pem_cert`` and, in current releases, the whole
presented chain under ``x509_pem_cert_chain``. Nothing here trusts the
certificate; the transport already checked it, and services that need defense in
depth re-verify it against their current trust roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Protocol

from cryptography import x509


class _HasAuthContext(Protocol):
    def auth_context(self) -> Mapping[str, Iterable[bytes]]: ...


def _first(ctx: Mapping[str, Iterable[bytes]], key: str) -> bytes | None:
    for value in ctx.get(key) or ():
        return value
    return None


def peer_certificate(context: _HasAuthContext) -> x509.Certificate | None:
    """The caller's leaf certificate, or None on a connection without a client cert."""
    pem = _first(context.auth_context(), "x509_pem_cert")
    if not pem:
        return None
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        return None


def peer_certificate_chain(context: _HasAuthContext) -> list[x509.Certificate]:
    """Every certificate the caller presented, leaf first (just the leaf if that is all)."""
    ctx = context.auth_context()
    pem = _first(ctx, "x509_pem_cert_chain")
    if pem:
        try:
            chain = x509.load_pem_x509_certificates(pem)
        except ValueError:
            chain = []
        if chain:
            return chain
    leaf = peer_certificate(context)
    return [leaf] if leaf is not None else []


def peer_pem(context: _HasAuthContext) -> bytes | None:
    """The caller's leaf certificate as PEM bytes, or None on a connection without one."""
    return _first(context.auth_context(), "x509_pem_cert") or None


def peer_label(context: _HasAuthContext) -> str:
    """A short human label for logs: first SAN URI, DNS name or e-mail, else CN, else ``-``."""
    return pem_label(peer_pem(context))


def pem_label(pem: bytes | None) -> str:
    """:func:`peer_label` for certificate bytes already read from the session.

    Called for every RPC by the interceptor, so labels are cached by certificate
    (a connection presents the same certificate on every call). The cache is bounded in
    entries and in bytes per entry: it is keyed by a digest of the certificate, not the
    certificate itself, and labels are cut to :data:`MAX_LABEL_CHARS`, because on a
    listener that does not require a client certificate from our CA any TLS client can
    present one of up to ~100 KB with a SAN just as long."""
    if not pem:
        return "-"
    key = hashlib.sha256(pem).digest()
    label = _LABELS.get(key)
    if label is None:
        label = _shorten(_label_for(pem))
        if len(_LABELS) >= _LABEL_CACHE_SIZE:
            _LABELS.pop(next(iter(_LABELS)))
        _LABELS[key] = label
    return label


MAX_LABEL_CHARS = 256
_LABEL_CACHE_SIZE = 1024
_LABELS: dict[bytes, str] = {}


def _shorten(label: str) -> str:
    if len(label) <= MAX_LABEL_CHARS:
        return label
    return label[: MAX_LABEL_CHARS - 3] + "..."


def _label_for(pem: bytes) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return "-"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        # ValueError: an extension the handshake accepted but cryptography cannot parse.
        # Authentication refuses such a certificate; the log line still needs a label.
        san = None
    if san is not None:
        for kind in (x509.UniformResourceIdentifier, x509.DNSName, x509.RFC822Name):
            names = san.get_values_for_type(kind)
            if names:
                return str(names[0])
    try:
        cns = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    except ValueError:
        cns = []
    if cns:
        value = cns[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return f"serial:{cert.serial_number}"


__all__ = [
    "MAX_LABEL_CHARS",
    "peer_certificate",
    "peer_certificate_chain",
    "peer_label",
    "peer_pem",
    "pem_label",
]
