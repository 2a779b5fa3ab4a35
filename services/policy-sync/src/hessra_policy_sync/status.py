"""The sync loop's status: what is served, what was fetched, the last failure, conditions.

Conditions follow the Kubernetes/Flux shape: ``Ready`` (a good snapshot is serving
and the latest revision applied), ``Reconciling`` (a reconcile is running) and
``Stalled`` (the latest revision cannot apply until the policy is fixed), each with
a CamelCase reason. ``last_transition_time`` moves only when ``status`` flips.
Everything here is touched from the event loop only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

# How many diagnostics of the last error ``/status`` and ``GetStatus`` list: a policy with
# thousands of broken entries would otherwise make every poll megabytes. The totals are
# still given; ``hessra policy validate`` lists them all.
MAX_STATUS_DIAGNOSTICS = 100


class Step(StrEnum):
    FETCH = "fetch"
    VALIDATE = "validate"
    COMPILE = "compile"
    PUBLISH = "publish"


# The Ready=False reason for a failure at each step.
FAILURE_REASON = {
    Step.FETCH: "FetchFailed",
    Step.VALIDATE: "ValidationFailed",
    Step.COMPILE: "CompileFailed",
    Step.PUBLISH: "PublishFailed",
}


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str
    message: str
    last_transition_time: datetime


@dataclass(frozen=True)
class ReconcileFailure:
    """Why the latest reconcile did not apply. ``message`` never carries credentials."""

    step: Step
    revision: str
    message: str
    occurred_at: datetime
    diagnostics: tuple[Any, ...] = ()

    @property
    def reason(self) -> str:
        return FAILURE_REASON[self.step]


@dataclass(frozen=True)
class StatusView:
    """An immutable copy of the status, for RPCs and HTTP."""

    source: str
    branch: str
    serving_revision: str = ""
    serving_digest: str = ""
    serving_since: datetime | None = None
    last_fetch_time: datetime | None = None
    last_fetch_revision: str = ""
    last_attempt_time: datetime | None = None
    last_success_time: datetime | None = None
    last_error: ReconcileFailure | None = None
    conditions: tuple[Condition, ...] = field(default=())

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


class SyncStatus:
    """Mutable tracker behind ``StatusView``; the reconciler reports into it."""

    ORDER = ("Ready", "Reconciling", "Stalled")

    def __init__(self, *, source: str, branch: str | None) -> None:
        self._view = StatusView(source=source, branch=branch or "")
        self._conditions: dict[str, Condition] = {}

    def view(self) -> StatusView:
        conditions = tuple(self._conditions[t] for t in self.ORDER if t in self._conditions)
        return replace(self._view, conditions=conditions)

    def _set(self, type_: str, status: bool, reason: str, message: str, now: datetime) -> None:
        old = self._conditions.get(type_)
        since = old.last_transition_time if old is not None and old.status == status else now
        self._conditions[type_] = Condition(type_, status, reason, message, since)

    def _update(self, **changes: Any) -> None:
        self._view = replace(self._view, **changes)

    def restored(self, revision: str, digest: str, since: datetime, now: datetime) -> None:
        self._update(serving_revision=revision, serving_digest=digest, serving_since=since)
        self._set(
            "Ready", False, "Restored", f"serving persisted {revision}; source not reached yet", now
        )

    def started(self, now: datetime) -> None:
        self._update(last_attempt_time=now)
        self._set("Reconciling", True, "Progressing", "fetching the source", now)

    def fetched(self, revision: str, now: datetime) -> None:
        self._update(last_fetch_time=now, last_fetch_revision=revision)

    def succeeded(self, revision: str, digest: str, *, changed: bool, now: datetime) -> None:
        if changed or self._view.serving_revision != revision:
            self._update(serving_revision=revision, serving_digest=digest, serving_since=now)
        self._update(last_error=None, last_success_time=now)
        self._set("Ready", True, "Succeeded", f"serving {revision}", now)
        self._set("Reconciling", False, "Succeeded", "reconcile finished", now)
        self._set("Stalled", False, "Succeeded", "latest revision applied", now)

    def unchanged_failure(self, now: datetime) -> None:
        """The known-bad revision is still the latest: keep the failure, end Reconciling."""
        failure = self._view.last_error
        reason = failure.reason if failure else "Failed"
        self._set("Reconciling", False, reason, "revision unchanged since it failed", now)

    def failed(self, failure: ReconcileFailure, now: datetime) -> None:
        self._update(last_error=failure)
        serving = self._view.serving_revision
        suffix = f"; still serving {serving}" if serving else "; no snapshot served yet"
        self._set("Ready", False, failure.reason, failure.message + suffix, now)
        self._set("Reconciling", False, failure.reason, "reconcile failed", now)
        # A bad policy waits for a human; an unreachable source may heal by itself.
        stalled = failure.step in (Step.VALIDATE, Step.COMPILE)
        self._set(
            "Stalled",
            stalled,
            failure.reason if stalled else "Retrying",
            "fix the policy and push a new commit" if stalled else "will retry",
            now,
        )


def summarize(diagnostics: Sequence[Any]) -> str:
    """``"2 errors in clients.toml, resources.toml"`` style summary."""
    errors = [d for d in diagnostics if getattr(d, "is_error", True)]
    files = sorted({str(getattr(d, "path", "")) for d in errors if getattr(d, "path", "")})
    where = f" in {', '.join(files)}" if files else ""
    noun = "error" if len(errors) == 1 else "errors"
    return f"{len(errors)} {noun}{where}"


__all__ = [
    "FAILURE_REASON",
    "MAX_STATUS_DIAGNOSTICS",
    "Condition",
    "ReconcileFailure",
    "StatusView",
    "Step",
    "SyncStatus",
    "summarize",
]
