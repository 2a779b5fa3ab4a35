"""The PolicySync gRPC service: a thin adapter over the hub, the status and the queue.

Errors are raised from ``hessra_core.errors``; the shared interceptor maps them to
status codes (``hessra_core.rpc.status``) and writes the one log line per RPC.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import grpc
from cryptography import x509
from google.protobuf.timestamp_pb2 import Timestamp

from hessra.v1 import common_pb2, policy_pb2, policy_pb2_grpc
from hessra_core.errors import NotReadyError, PermissionDeniedError
from hessra_core.policy.identifiers import canonical_email, canonical_ip, canonical_uri, host_name
from hessra_core.rpc import annotate, peer_certificate
from hessra_core.x509_identity import identities_from_certificate
from hessra_policy_sync.hub import SnapshotHub
from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.reconcile import Outcome
from hessra_policy_sync.status import (
    MAX_STATUS_DIAGNOSTICS,
    Condition,
    ReconcileFailure,
    StatusView,
    Step,
)

_STEPS = {
    Step.FETCH: policy_pb2.ReconcileError.FETCH,
    Step.VALIDATE: policy_pb2.ReconcileError.VALIDATE,
    Step.COMPILE: policy_pb2.ReconcileError.COMPILE,
    Step.PUBLISH: policy_pb2.ReconcileError.PUBLISH,
}


def _ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def diagnostic_pb(diagnostic: Any) -> common_pb2.Diagnostic:
    severity = str(getattr(diagnostic, "severity", "error"))
    msg = common_pb2.Diagnostic(
        path=str(getattr(diagnostic, "path", "")),
        line=max(0, int(getattr(diagnostic, "line", 0) or 0)),
        column=max(0, int(getattr(diagnostic, "column", 0) or 0)),
        severity=(
            common_pb2.Diagnostic.WARNING
            if severity.lower().endswith("warning")
            else common_pb2.Diagnostic.ERROR
        ),
        message=str(getattr(diagnostic, "message", diagnostic)),
    )
    hint = getattr(diagnostic, "hint", None)
    if hint:
        msg.hint = str(hint)
    return msg


def failure_pb(failure: ReconcileFailure) -> policy_pb2.ReconcileError:
    shown = failure.diagnostics[:MAX_STATUS_DIAGNOSTICS]
    message = failure.message
    if len(failure.diagnostics) > len(shown):
        message += (
            f" ({len(failure.diagnostics) - len(shown)} more diagnostics not listed; "
            "`hessra policy validate` shows them all)"
        )
    return policy_pb2.ReconcileError(
        step=_STEPS[failure.step],
        revision=failure.revision,
        message=message,
        diagnostics=[diagnostic_pb(d) for d in shown],
        occurred_at=_ts(failure.occurred_at),
    )


def condition_pb(condition: Condition) -> policy_pb2.Condition:
    return policy_pb2.Condition(
        type=condition.type,
        status=condition.status,
        reason=condition.reason,
        message=condition.message,
        last_transition_time=_ts(condition.last_transition_time),
    )


def status_pb(view: StatusView, subscribers: int) -> policy_pb2.GetStatusResponse:
    return policy_pb2.GetStatusResponse(
        source=view.source,
        branch=view.branch,
        serving_revision=view.serving_revision,
        serving_digest=view.serving_digest,
        serving_since=_ts(view.serving_since),
        last_fetch_time=_ts(view.last_fetch_time),
        last_fetch_revision=view.last_fetch_revision,
        last_attempt_time=_ts(view.last_attempt_time),
        last_error=failure_pb(view.last_error) if view.last_error else None,
        conditions=[condition_pb(c) for c in view.conditions],
        subscriber_count=subscribers,
    )


def presented_names(cert: x509.Certificate) -> set[str]:
    """Every SAN of a client certificate as ``type:value``, canonical form.

    Types are ``uri``, ``dns``, ``email`` and ``ip``: a URI SAN ``ops.example.com`` is
    ``uri:ops.example.com`` and never equals the DNS name ``dns:ops.example.com``.
    """
    ids = identities_from_certificate(cert)
    return {
        *(f"uri:{v}" for v in ids.uris),
        *(f"dns:{v}" for v in ids.dns),
        *(f"email:{v}" for v in ids.emails),
        *(f"ip:{v}" for v in ids.ips),
    }


def _allowed_name(entry: str) -> str | None:
    """One ``server.resync_allowed`` entry as ``presented_names`` writes it; None if invalid.

    An entry may say its type: ``uri:<URI>`` (compared exactly), ``dns:<host name>``
    (case-insensitive, one trailing dot ignored), ``email:<address>`` (domain
    case-insensitive) or ``ip:<address>``. Without a prefix the value's form says it: an
    IP address, else a host name, else an address with ``@`` and no URI scheme, else a
    URI with a scheme (``spiffe://ops/admin``). A value of none of these forms allows no one.
    """
    kind, sep, rest = entry.partition(":")
    typed = _TYPED.get(kind.lower()) if sep else None
    if typed is not None:
        return typed(rest)
    for read in (_ip, _dns, _email, _uri):
        name = read(entry)
        if name is not None:
            return name
    return None


def _ip(value: str) -> str | None:
    try:
        return f"ip:{canonical_ip(value)}" if value == value.strip() else None
    except ValueError:
        return None


def _dns(value: str) -> str | None:
    host = host_name(value)
    return f"dns:{host}" if host is not None else None


def _email(value: str, *, typed: bool = False) -> str | None:
    local, at, domain = value.rpartition("@")
    if not (local and at and domain) or (not typed and _URI.fullmatch(value)):
        return None  # untyped `mailto:a@b.test` is a URI
    return f"email:{canonical_email(value)}"


def _uri(value: str) -> str | None:
    uri = canonical_uri(value)
    return f"uri:{uri}" if _URI.fullmatch(uri) else None


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
_TYPED: dict[str, Callable[[str], str | None]] = {
    "uri": lambda value: _uri(f"uri:{value}"),
    "dns": _dns,
    "email": lambda value: _email(value, typed=True),
    "ip": _ip,
}


def allowed_names(entries: frozenset[str] | tuple[str, ...]) -> frozenset[str]:
    """The ``server.resync_allowed`` entries as ``type:value`` names (see ``_allowed_name``)."""
    return frozenset(name for name in map(_allowed_name, entries) if name is not None)


# A grpc.aio servicer context, typed by the request and response of its method.
_Context = grpc.aio.ServicerContext


class PolicySyncServicer(policy_pb2_grpc.PolicySyncServicer):
    def __init__(
        self,
        *,
        hub: SnapshotHub,
        status: Callable[[], StatusView],
        resync: Callable[[], asyncio.Future[Outcome]],
        metrics: PolicySyncMetrics,
        resync_allowed: frozenset[str],
        plaintext: bool = False,
    ) -> None:
        self._hub = hub
        self._status = status
        self._resync = resync
        self._metrics = metrics
        self._resync_allowed = allowed_names(resync_allowed)
        self._plaintext = plaintext
        self._subscribers = 0
        # The last snapshot published and its message, built once for every stream.
        self._message: tuple[object, policy_pb2.WatchSnapshotsResponse] | None = None

    @property
    def subscribers(self) -> int:
        return self._subscribers

    async def WatchSnapshots(
        self,
        request: policy_pb2.WatchSnapshotsRequest,
        context: _Context[policy_pb2.WatchSnapshotsRequest, policy_pb2.WatchSnapshotsResponse],
    ) -> AsyncIterator[policy_pb2.WatchSnapshotsResponse]:
        annotate(subscriber=request.subscriber[:100], known_digest=request.known_digest[:80])
        self._subscribers += 1
        self._metrics.subscribers.set(self._subscribers)
        sent = 0
        try:
            # Headers now, not with the first snapshot: a subscriber that already holds the
            # serving digest learns at once that it is connected.
            await context.send_initial_metadata(())
            async for snapshot in self._hub.watch(request.known_digest):
                sent += 1
                annotate(revision=snapshot.revision, sent=sent)
                yield self._response(snapshot)
        finally:
            self._subscribers -= 1
            self._metrics.subscribers.set(self._subscribers)

    def _response(self, snapshot: Any) -> policy_pb2.WatchSnapshotsResponse:
        """The message for ``snapshot``, converted once and shared by every stream.

        A publish wakes every subscriber at once: converting a large policy per stream
        would hold the event loop for (streams x conversion) and keep one copy each.
        """
        cached = self._message
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        message = policy_pb2.WatchSnapshotsResponse(snapshot=snapshot.to_proto())
        self._message = (snapshot, message)
        return message

    async def GetSnapshot(
        self,
        request: policy_pb2.GetSnapshotRequest,
        context: _Context[policy_pb2.GetSnapshotRequest, policy_pb2.GetSnapshotResponse],
    ) -> policy_pb2.GetSnapshotResponse:
        snapshot = self._hub.current
        if snapshot is None:
            raise NotReadyError("no good policy snapshot has been made yet")
        annotate(revision=snapshot.revision)
        return policy_pb2.GetSnapshotResponse(snapshot=snapshot.to_proto())

    async def GetStatus(
        self,
        request: policy_pb2.GetStatusRequest,
        context: _Context[policy_pb2.GetStatusRequest, policy_pb2.GetStatusResponse],
    ) -> policy_pb2.GetStatusResponse:
        view = self._status()
        annotate(revision=view.serving_revision)
        return status_pb(view, self._subscribers)

    async def Resync(
        self,
        request: policy_pb2.ResyncRequest,
        context: _Context[policy_pb2.ResyncRequest, policy_pb2.ResyncResponse],
    ) -> policy_pb2.ResyncResponse:
        annotate(resync_reason=request.reason[:200])
        self._authorize_resync(context)
        # shield: a caller's deadline must not cancel the reconcile other callers share.
        outcome = await asyncio.shield(self._resync())
        annotate(revision=outcome.revision, result=outcome.result)
        return policy_pb2.ResyncResponse(
            accepted=True,
            revision=outcome.revision,
            changed=outcome.changed,
            error=failure_pb(outcome.error) if outcome.error else None,
        )

    def _authorize_resync(
        self, context: _Context[policy_pb2.ResyncRequest, policy_pb2.ResyncResponse]
    ) -> None:
        cert = peer_certificate(context)
        if cert is None:
            raise PermissionDeniedError(
                "Resync needs a client certificate naming an identity in server.resync_allowed"
            )
        names = presented_names(cert)
        if not names & self._resync_allowed:
            shown = ", ".join(sorted(names)) or "no SAN"
            raise PermissionDeniedError(
                f"caller ({shown}) may not call Resync: not listed in server.resync_allowed"
            )
        annotate(decision="allow")


__all__ = ["PolicySyncServicer", "diagnostic_pb", "presented_names", "status_pb"]
