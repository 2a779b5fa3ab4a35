"""Who is calling: a verified client certificate, or an identity token.

Two ways in, decided per request:

- **Client certificate** (the mTLS listener). The TLS handshake already checked the
  chain against the snapshot's ``[cacerts]`` (plus the optional deploy-time CA), but a
  connection outlives policy changes, so every request re-verifies the chain against
  the *current* snapshot with ``x509_identity.verify_chain`` (defense in depth: a CA
  removed from policy stops working on open connections too). Successful checks are
  cached per (certificate, snapshot digest) and the dates re-checked on every hit.
- **Identity token**, as ``authorization: Bearer <token>`` metadata. On the mTLS
  listener the transport still requires a client certificate, and the bearer token
  selects the acting identity (a client with a cert may act as its delegate). On the
  optional identity listener (``server.identity_listen``: server-authenticated TLS,
  no client certificate requested) the token is the only credential. The actor is
  the token's narrowest identity: ``base`` for a plain token, ``base:child`` for one
  delegated to ``child``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from hessra_core import tokens, x509_identity
from hessra_core.errors import AuthenticationError, TokenError
from hessra_core.keys import KeySet
from hessra_core.service.snapshot_holder import ServingState
from hessra_core.x509_identity import PresentedIdentities

BEARER_PREFIX = "bearer "
_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. Exactly one of ``identities`` and ``actor`` is set."""

    label: str
    identities: PresentedIdentities | None = None
    actor: str | None = None  # identity-token callers: base or base:child
    base_subject: str | None = None  # identity-token callers: the token's subject

    @property
    def via_token(self) -> bool:
        return self.actor is not None


@dataclass(frozen=True)
class _CertEntry:
    caller: Caller
    # Validity as Unix seconds: a float comparison on every hit instead of a timezone-aware
    # datetime.now() and two datetime comparisons.
    not_before: float
    not_after: float


class CertificateAuthenticator:
    """Verifies peer certificates against the current snapshot, with a small LRU."""

    def __init__(self) -> None:
        self._cache: OrderedDict[tuple[bytes, str], _CertEntry] = OrderedDict()

    def authenticate(self, pem: bytes | None, state: ServingState) -> Caller:
        if not pem:
            raise AuthenticationError(
                "a client certificate or an identity token (authorization: Bearer) is required"
            )
        key = (pem, state.digest)
        entry = self._cache.get(key)
        if entry is None:
            now = datetime.now(UTC)
            cert = x509_identity.load_certificate(pem)
            ca = x509_identity.verify_chain(cert, state.anchors, now)
            identities = x509_identity.identities_from_certificate(cert)
            entry = _CertEntry(
                # Caller is immutable, so one instance serves every request on this cert.
                Caller(label=_label(cert), identities=identities),
                # The entry is good only while both the leaf and its CA are: a CA that
                # expires while its snapshot is still served must stop authenticating.
                max(cert.not_valid_before_utc, ca.not_valid_before_utc).timestamp(),
                min(cert.not_valid_after_utc, ca.not_valid_after_utc).timestamp(),
            )
            self._cache[key] = entry
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return entry.caller
        if not entry.not_before <= time.time() <= entry.not_after:
            self._cache.pop(key, None)
            raise AuthenticationError(
                f"client certificate {entry.caller.label} or the CA that issued it is expired"
            )
        self._cache.move_to_end(key)
        return entry.caller


def _label(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string() or f"serial={cert.serial_number}"
    except ValueError:  # a subject cryptography cannot parse; the serial still names it
        return f"serial={cert.serial_number}"


def bearer_token(metadata: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> str | None:
    """The identity token from ``authorization: Bearer <token>``, if present."""
    if metadata is None:
        return None
    items = metadata.items() if isinstance(metadata, Mapping) else metadata
    values = [value for name, value in items if name.lower() == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        # Two credentials in one call: whichever we picked, a proxy or the caller may
        # have meant the other. Refuse, as the SDK middleware does.
        raise AuthenticationError("authorization metadata appears more than once")
    value = values[0]
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    if text[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
        raise AuthenticationError("authorization metadata must be `Bearer <identity token>`")
    token = text[len(BEARER_PREFIX) :].strip()
    if not token:
        raise AuthenticationError("the Bearer identity token is empty")
    return token


def authenticate_identity_token(token: str, keys: KeySet) -> Caller:
    """Verify an identity token (signature, expiry, delegation) and return its actor:
    the narrowest identity its delegation blocks allow, verified for exactly that."""
    try:
        verified = tokens.verify_acting_identity(token, keys)
    except TokenError as exc:
        raise AuthenticationError(f"identity token refused: {exc.message}") from exc
    return Caller(label=verified.actor, actor=verified.actor, base_subject=verified.subject)


__all__ = [
    "Caller",
    "CertificateAuthenticator",
    "authenticate_identity_token",
    "bearer_token",
]
