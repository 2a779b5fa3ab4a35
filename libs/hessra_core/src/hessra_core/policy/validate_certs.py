"""``[cacerts] cert_chain``: the CA certificates client certificates must chain to."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509

from hessra_core.policy._checks import Reporter
from hessra_core.policy.loader import KeyPath

EXPIRY_WARNING = timedelta(days=30)
_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_HINT = (
    "paste each CA certificate in full, from -----BEGIN CERTIFICATE----- "
    "to -----END CERTIFICATE-----"
)


def _label(index: int, cert: x509.Certificate) -> str:
    return f"CA certificate {index} ({cert.subject.rfc4514_string() or 'no subject'})"


def split_pem_blocks(text: str) -> list[str]:
    """Each ``BEGIN CERTIFICATE`` block of ``text``, parsed or not."""
    blocks = []
    for part in text.split(_BEGIN)[1:]:
        end = part.find("-----END CERTIFICATE-----")
        body = part if end < 0 else part[: end + len("-----END CERTIFICATE-----")]
        blocks.append(_BEGIN + body)
    return blocks


def check_cert_chain(
    r: Reporter, where: KeyPath, text: str, now: datetime
) -> list[x509.Certificate]:
    """Parse and check every certificate; report problems; return the good ones."""
    blocks = split_pem_blocks(text)
    if not blocks:
        r.error(where, "`cert_chain` contains no PEM certificate", _PEM_HINT)
        return []
    good = []
    for index, block in enumerate(blocks, start=1):
        try:
            cert = x509.load_pem_x509_certificate(block.encode("utf-8", "replace"))
            # Force the lazy parts to parse now, so a corrupt body fails here, not later.
            cert.extensions  # noqa: B018
        except ValueError:
            r.error(
                where,
                f"CA certificate {index} cannot be parsed: truncated or not a certificate",
                _PEM_HINT,
            )
            continue
        if _check_one(r, where, index, cert, now):
            good.append(cert)
    return good


def _check_one(
    r: Reporter, where: KeyPath, index: int, cert: x509.Certificate, now: datetime
) -> bool:
    label = _label(index, cert)
    ok = True
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        r.error(
            where,
            f"{label} is not a CA certificate (basicConstraints CA flag not set)",
            "list the certificate authority that issues client certificates, not a leaf",
        )
        ok = False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            r.error(where, f"{label} may not sign certificates (keyUsage lacks keyCertSign)")
            ok = False
    except x509.ExtensionNotFound:
        pass
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < not_before:
        r.error(where, f"{label} is not valid before {not_before:%Y-%m-%d %H:%M:%S} UTC")
        ok = False
    elif now > not_after:
        r.error(
            where,
            f"{label} expired on {not_after:%Y-%m-%d %H:%M:%S} UTC",
            "renew the CA certificate",
        )
        ok = False
    elif not_after - now < EXPIRY_WARNING:
        days = (not_after - now).days
        r.warning(
            where,
            f"{label} expires on {not_after:%Y-%m-%d} UTC, in {days} days",
            "renew it and add the new certificate before then",
        )
    return ok


__all__ = ["EXPIRY_WARNING", "check_cert_chain", "split_pem_blocks"]
