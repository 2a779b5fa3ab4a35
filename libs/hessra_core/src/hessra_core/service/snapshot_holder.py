"""The policy snapshot a service decides by, swapped atomically, plus what derives from it.

Whoever learns of a new snapshot (the policy-dir watcher or the policy-sync
subscriber) calls :meth:`SnapshotHolder.set`; readers take :attr:`~SnapshotHolder.state`
once per request and use that one consistent value throughout, so a swap mid-request
never mixes two policies. The TLS credentials fetcher reads
:attr:`~SnapshotHolder.client_ca_pem` from a gRPC core thread: it is a plain attribute
replaced in one assignment.

Listeners registered with :meth:`SnapshotHolder.on_change` hear about every new
snapshot (and at once about the current one); :class:`ServeWhenReady` is the listener
that turns a server's health to SERVING when its first snapshot arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from cryptography import x509

from hessra_core.errors import NotReadyError

if TYPE_CHECKING:
    from hessra_core.rpc.server import RunningServer


@dataclass(frozen=True)
class ServingState:
    """One snapshot and the parsed trust anchors of its ``[cacerts]``."""

    snapshot: Any  # hessra_core.policy.Snapshot
    anchors: tuple[x509.Certificate, ...]
    # Read on every request (log line, token fact, cache keys): copied once here.
    revision: str = field(init=False)
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "revision", str(self.snapshot.revision))
        object.__setattr__(self, "digest", str(self.snapshot.digest))


def _ca_bytes(snapshot: Any) -> bytes:
    ca = snapshot.ca_certs
    return ca.encode("ascii") if isinstance(ca, str) else bytes(ca)


class SnapshotHolder:
    """Holds the current :class:`ServingState`; notifies listeners on every change.

    ``extra_client_ca_pem`` (a deploy-time CA, for ops tooling) is trusted for TLS
    besides the snapshot's own ``[cacerts]``. ``log_name`` names the service's logger.
    """

    def __init__(
        self, extra_client_ca_pem: bytes = b"", *, log_name: str = "hessra.snapshot"
    ) -> None:
        self._extra_ca = extra_client_ca_pem
        self._state: ServingState | None = None
        self.client_ca_pem: bytes = extra_client_ca_pem
        self._listeners: list[Callable[[ServingState], object]] = []
        self._log = structlog.get_logger(log_name)

    @property
    def state(self) -> ServingState | None:
        return self._state

    def require(self) -> ServingState:
        state = self._state
        if state is None:
            raise NotReadyError("no policy snapshot loaded yet")
        return state

    def on_change(self, listener: Callable[[ServingState], object]) -> None:
        """Call ``listener`` with every new state, and now with the current one if any."""
        self._listeners.append(listener)
        if self._state is not None:
            listener(self._state)

    def set(self, snapshot: Any) -> bool:
        """Serve ``snapshot`` from now on. Returns False if it is the one already served."""
        current = self._state
        if current is not None and current.digest == snapshot.digest:
            return False
        ca = _ca_bytes(snapshot)
        try:
            anchors = tuple(x509.load_pem_x509_certificates(ca)) if ca.strip() else ()
        except ValueError:
            anchors = ()  # validation rejects this; fail closed if it ever slips through
        state = ServingState(snapshot, anchors)
        self._state = state
        # Transport trust is the policy's CAs plus the optional deploy-time CA.
        self.client_ca_pem = ca + (b"\n" + self._extra_ca if self._extra_ca else b"")
        self._log.info(
            "snapshot_applied",
            revision=state.revision,
            digest=state.digest,
            previous=current.digest if current else None,
            trusted_cas=len(anchors),
        )
        for listener in self._listeners:
            # The snapshot is served already: a failing listener (metrics, say) must not
            # keep it from the others, readiness among them.
            try:
                listener(state)
            except Exception:
                self._log.exception("snapshot_listener_failed", revision=state.revision)
        return True


class ServeWhenReady:
    """An :meth:`SnapshotHolder.on_change` listener: health turns SERVING on a snapshot.

    Create it on the server's event loop. Policy sources may deliver from another
    thread, so health is updated on that loop; the task is kept referenced until it
    ends (the loop holds tasks only weakly).
    """

    def __init__(self, running: RunningServer) -> None:
        self._running = running
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, _state: ServingState) -> None:
        if not self._running.serving:
            self._loop.call_soon_threadsafe(self._serve)

    def _serve(self) -> None:
        task = self._loop.create_task(self._running.set_serving(True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["ServeWhenReady", "ServingState", "SnapshotHolder"]
