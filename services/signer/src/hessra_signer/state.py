"""The policy snapshot the signer decides by, and who a caller is under it.

The snapshot lives in the shared :class:`~hessra_core.service.snapshot_holder.SnapshotHolder`
(atomic swap; a request reads :attr:`state` once and uses that one value throughout).

A TLS connection outlives policy changes, so :func:`authenticate` re-verifies the
caller's chain against the *current* snapshot's ``[cacerts]`` on every request.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hessra_core import x509_identity
from hessra_core.errors import AuthenticationError
from hessra_core.service.snapshot_holder import ServingState, SnapshotHolder
from hessra_core.x509_identity import PresentedIdentities


def authenticate(pem: bytes | None, state: ServingState) -> PresentedIdentities:
    """The caller's identities, once its certificate chains to the current ``[cacerts]``."""
    if not pem:
        raise AuthenticationError("a client certificate is required")
    cert = x509_identity.load_certificate(pem)
    x509_identity.verify_chain(cert, state.anchors, datetime.now(UTC))
    return x509_identity.identities_from_certificate(cert)


__all__ = ["ServingState", "SnapshotHolder", "authenticate"]
