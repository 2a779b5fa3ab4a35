"""The policy snapshot the signer decides by, and who a caller is under it.

Whoever learns of a new snapshot (the policy-dir watcher or the policy-sync
subscriber) calls :meth:`SnapshotHolder.set`; a request reads :attr:`state` once and
uses that one value throughout, so a swap mid-request never mixes two policies. The
TLS fetcher reads :attr:`client_ca_pem` from a gRPC core thread: a plain attribute
replaced in one assignment.

A TLS connection outlives policy changes, so :func:`authenticate` re-verifies the
caller's chain against the *current* snapshot's ``[cacerts]`` on every request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from cryptography import x509

from hessra_core import x509_identity
from hessra_core.errors import AuthenticationError, NotReadyError
from hessra_core.x509_identity import PresentedIdentities

_log = structlog.get_logger("hessra.signer.snapshot")


@dataclass(frozen=True)
class ServingState:
    """One snapshot and the parsed trust anchors of its ``[cacerts]``."""

    snapshot: Any  # hessra_core.policy.Snapshot
    anchors: tuple[x509.Certificate, ...]

    @property
    def revision(self) -> str:
        return str(self.snapshot.revision)

    @property
    def digest(self) -> str:
        return str(self.snapshot.digest)


class SnapshotHolder:
    """Holds the current :class:`ServingState`; notifies listeners on every change."""

    def __init__(self, extra_client_ca_pem: bytes = b"") -> None:
        self._extra_ca = extra_client_ca_pem
        self._state: ServingState | None = None
        self.client_ca_pem: bytes = extra_client_ca_pem
        self._listeners: list[Callable[[ServingState], None]] = []

    @property
    def state(self) -> ServingState | None:
        return self._state

    def require(self) -> ServingState:
        state = self._state
        if state is None:
            raise NotReadyError("no policy snapshot loaded yet")
        return state

    def on_change(self, listener: Callable[[ServingState], None]) -> None:
        self._listeners.append(listener)
        if self._state is not None:
            listener(self._state)

    def set(self, snapshot: Any) -> bool:
        """Serve ``snapshot`` from now on. Returns False if it is the one already served."""
        current = self._state
        if current is not None and current.digest == snapshot.digest:
            return False
        ca = snapshot.ca_certs
        ca = ca.encode("ascii") if isinstance(ca, str) else bytes(ca)
        try:
            anchors = tuple(x509.load_pem_x509_certificates(ca)) if ca.strip() else ()
        except ValueError:
            anchors = ()  # validation rejects this; fail closed if it ever slips through
        state = ServingState(snapshot, anchors)
        self._state = state
        self.client_ca_pem = ca + (b"\n" + self._extra_ca if self._extra_ca else b"")
        _log.info(
            "snapshot_applied",
            revision=state.revision,
            digest=state.digest,
            previous=current.digest if current else None,
        )
        for listener in self._listeners:
            listener(state)
        return True


def authenticate(pem: bytes | None, state: ServingState) -> PresentedIdentities:
    """The caller's identities, once its certificate chains to the current ``[cacerts]``."""
    if not pem:
        raise AuthenticationError("a client certificate is required")
    cert = x509_identity.load_certificate(pem)
    x509_identity.verify_chain(cert, state.anchors, datetime.now(UTC))
    return x509_identity.identities_from_certificate(cert)


__all__ = ["ServingState", "SnapshotHolder", "authenticate"]
