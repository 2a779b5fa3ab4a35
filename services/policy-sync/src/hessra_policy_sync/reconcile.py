"""The reconcile loop: ``fetch -> validate/compile -> publish``, one at a time.

Each step is a function that raises ``StepFailed`` with what went wrong; the loop
stops at the first failure, records it in the status and metrics, and leaves the
last good snapshot serving. A revision that was already handled (good or bad) is
not handled again. "Last success" is stamped only when the source was reached and
a good revision is serving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from hessra_core.errors import HessraError, PolicyError, SourceError
from hessra_policy_sync.hub import PublishedSnapshot, SnapshotHub
from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.source import CommitMeta, Fetched, Source
from hessra_policy_sync.status import ReconcileFailure, Step, SyncStatus, summarize

log = structlog.get_logger("hessra.policy_sync.reconcile")

# (policy dir, revision name or None, commit or None) -> snapshot, or raises PolicyError.
Compiler = Callable[[Path, str | None, CommitMeta | None], PublishedSnapshot]
# Persists a snapshot durably; runs in a worker thread.
Persist = Callable[[PublishedSnapshot], None]
# The longest wait between fetches for a pushed commit. The reconcile lock is held while
# waiting, so the doubling must stop somewhere whatever pushed_commit_attempts is.
MAX_RETRY_DELAY = 5.0


class StepFailed(Exception):
    def __init__(self, step: Step, message: str, diagnostics: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.step = step
        self.message = message
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Outcome:
    result: str  # "applied" | "unchanged" | "failed"
    revision: str
    digest: str
    changed: bool
    error: ReconcileFailure | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def fetch(source: Source, want: str | None, *, attempts: int, delay: float) -> Fetched:
    """Fetch; when a webhook named the pushed commit, retry until it is visible.

    Git hosts answer webhooks before every replica serves the new commit, so the first
    fetch may miss it. After ``attempts`` the tip is used anyway: it is the truth.
    """
    for attempt in range(1, attempts + 1):
        try:
            fetched = await source.fetch()
            if want is None or fetched.key == want or await source.contains(want):
                return fetched
        except SourceError as exc:
            raise StepFailed(Step.FETCH, exc.message) from None
        except Exception as exc:
            # A bug in a source must be reported like one in the compiler, not crash the loop.
            log.exception("fetch_crashed", source=source.display)
            raise StepFailed(
                Step.FETCH, f"internal error while fetching ({type(exc).__name__})"
            ) from None
        if attempt < attempts:
            log.info("pushed_commit_not_visible", want=want, tip=fetched.key, attempt=attempt)
            await asyncio.sleep(min(delay * 2 ** (attempt - 1), MAX_RETRY_DELAY))
    log.warning("pushed_commit_never_seen", want=want, tip=fetched.key, attempts=attempts)
    return fetched


async def validate_and_compile(
    source: Source, fetched: Fetched, compiler: Compiler
) -> PublishedSnapshot:
    """Export the revision's files and compile them; PolicyError means validation failed."""
    try:
        async with source.checkout(fetched) as tree:
            return await asyncio.to_thread(compiler, tree, fetched.revision, fetched.commit)
    except SourceError as exc:
        raise StepFailed(Step.FETCH, exc.message) from None
    except PolicyError as exc:
        raise StepFailed(Step.VALIDATE, summarize(exc.diagnostics), exc.diagnostics) from None
    except HessraError as exc:
        raise StepFailed(Step.COMPILE, exc.message) from None
    except Exception as exc:
        # A bug in the compiler must not wedge the loop or leak internals into status.
        log.exception("compile_crashed", revision=fetched.revision)
        raise StepFailed(
            Step.COMPILE, f"internal error while compiling ({type(exc).__name__})"
        ) from None


async def publish(hub: SnapshotHub, persist: Persist, snapshot: PublishedSnapshot) -> None:
    """Persist first, then swap: a snapshot served is a snapshot that survives a restart."""
    try:
        await asyncio.to_thread(persist, snapshot)
    except (OSError, HessraError) as exc:
        raise StepFailed(Step.PUBLISH, f"persisting the snapshot failed: {exc}") from None
    hub.publish(snapshot)


class Reconciler:
    def __init__(
        self,
        *,
        source: Source,
        compiler: Compiler,
        hub: SnapshotHub,
        persist: Persist,
        status: SyncStatus,
        metrics: PolicySyncMetrics,
        pushed_commit_attempts: int = 6,
        retry_delay: float = 0.1,
    ) -> None:
        self._source = source
        self._compiler = compiler
        self._hub = hub
        self._persist = persist
        self._status = status
        self._metrics = metrics
        self._attempts = pushed_commit_attempts
        self._retry_delay = retry_delay
        self._lock = asyncio.Lock()
        self._last_key: str | None = None
        self._last_key_good = False
        # Why the last key was refused, so it stays the reported cause while it is the tip.
        self._last_key_failure: ReconcileFailure | None = None
        self.count = 0

    async def reconcile(self, *, want: str | None = None, trigger: str = "poll") -> Outcome:
        async with self._lock:
            return await self._reconcile(want, trigger)

    async def _reconcile(self, want: str | None, trigger: str) -> Outcome:
        self.count += 1
        started = time.perf_counter()
        self._status.started(_now())
        revision = ""
        fetched: Fetched | None = None
        try:
            fetched = await fetch(
                self._source, want, attempts=self._attempts, delay=self._retry_delay
            )
            revision = fetched.revision or self._source.display
            self._status.fetched(revision, _now())
            if fetched.key == self._last_key:
                outcome = self._unchanged(revision)
            else:
                snapshot = await validate_and_compile(self._source, fetched, self._compiler)
                revision = snapshot.revision
                current = self._hub.current
                changed = current is None or current.digest != snapshot.digest
                await publish(self._hub, self._persist, snapshot)
                self._last_key, self._last_key_good = fetched.key, True
                self._succeeded(snapshot.revision, snapshot.digest, changed=changed)
                outcome = Outcome("applied", snapshot.revision, snapshot.digest, changed)
        except StepFailed as exc:
            failure = ReconcileFailure(exc.step, revision, exc.message, _now(), exc.diagnostics)
            if fetched is not None and exc.step in (Step.VALIDATE, Step.COMPILE):
                # The revision itself is bad: do not retry it until it changes.
                self._last_key, self._last_key_good = fetched.key, False
                self._last_key_failure = failure
            self._status.failed(failure, _now())
            self._metrics.errors.labels(reason=failure.reason).inc()
            outcome = self._served("failed", changed=False, error=failure)
        elapsed = time.perf_counter() - started
        self._metrics.reconciles.labels(result=outcome.result).inc()
        self._metrics.duration.observe(elapsed)
        self._log(outcome, trigger, want, elapsed)
        return outcome

    def _unchanged(self, revision: str) -> Outcome:
        if self._last_key_good:
            current = self._hub.current
            if current is not None:
                self._succeeded(current.revision, current.digest, changed=False)
        else:
            failure = self._last_key_failure
            if failure is not None and self._status.view().last_error is not failure:
                # Another failure (the source unreachable for a while) was recorded since;
                # the source answers again and the tip is still this bad revision.
                self._status.failed(failure, _now())
            self._status.unchanged_failure(_now())
        error = None if self._last_key_good else self._status.view().last_error
        outcome = self._served("unchanged", changed=False, error=error)
        return outcome

    def _succeeded(self, revision: str, digest: str, *, changed: bool) -> None:
        self._status.succeeded(revision, digest, changed=changed, now=_now())
        self._metrics.set_serving(revision, digest)
        self._metrics.last_success.set(time.time())

    def _served(self, result: str, *, changed: bool, error: ReconcileFailure | None) -> Outcome:
        current = self._hub.current
        return Outcome(
            result,
            current.revision if current else "",
            current.digest if current else "",
            changed,
            error,
        )

    def _log(self, outcome: Outcome, trigger: str, want: str | None, elapsed: float) -> None:
        fields: dict[str, Any] = {
            "result": outcome.result,
            "trigger": trigger,
            "source": self._source.display,
            "revision": outcome.revision,
            "digest": outcome.digest,
            "changed": outcome.changed,
            "duration_ms": round(elapsed * 1000, 1),
        }
        if want:
            fields["want"] = want
        if outcome.error is not None and outcome.result == "failed":
            fields["reason"] = outcome.error.reason
            fields["failed_revision"] = outcome.error.revision
            fields["error"] = outcome.error.message
            fields["diagnostics"] = [str(d) for d in outcome.error.diagnostics][:20]
            log.warning("reconcile", **fields)
        else:
            log.info("reconcile", **fields)


__all__ = ["MAX_RETRY_DELAY", "Compiler", "Outcome", "Persist", "Reconciler", "StepFailed"]
