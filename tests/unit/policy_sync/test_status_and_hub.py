"""Status conditions, the snapshot hub's watch semantics and the reconcile queue's coalescing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hessra_policy_sync.hub import SnapshotHub
from hessra_policy_sync.reconcile import Outcome
from hessra_policy_sync.scheduler import Poller, ReconcileQueue
from hessra_policy_sync.status import ReconcileFailure, Step, SyncStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_conditions_through_good_bad_good() -> None:
    status = SyncStatus(source="file:///r", branch="main")
    status.started(at(0))
    status.fetched("main@sha1:a", at(1))
    status.succeeded("main@sha1:a", "sha256:1", changed=True, now=at(2))
    view = status.view()
    ready = view.condition("Ready")
    assert ready is not None
    assert (ready.status, ready.reason, ready.last_transition_time) == (True, "Succeeded", at(2))

    failure = ReconcileFailure(Step.VALIDATE, "main@sha1:b", "1 error in clients.toml", at(4))
    status.started(at(3))
    status.failed(failure, at(4))
    view = status.view()
    assert [(c.type, c.status, c.reason) for c in view.conditions] == [
        ("Ready", False, "ValidationFailed"),
        ("Reconciling", False, "ValidationFailed"),
        ("Stalled", True, "ValidationFailed"),
    ]
    assert view.serving_revision == "main@sha1:a"
    ready = view.condition("Ready")
    assert ready is not None
    assert "still serving main@sha1:a" in ready.message

    # Same status again: the transition time does not move.
    status.failed(failure, at(9))
    ready = status.view().condition("Ready")
    assert ready is not None
    assert ready.last_transition_time == at(4)

    status.succeeded("main@sha1:c", "sha256:2", changed=True, now=at(10))
    view = status.view()
    assert view.last_error is None
    assert (view.serving_revision, view.serving_digest, view.serving_since) == (
        "main@sha1:c",
        "sha256:2",
        at(10),
    )


@pytest.mark.parametrize(
    ("step", "reason", "stalled"),
    [
        (Step.FETCH, "FetchFailed", False),
        (Step.VALIDATE, "ValidationFailed", True),
        (Step.COMPILE, "CompileFailed", True),
        (Step.PUBLISH, "PublishFailed", False),
    ],
    ids=["fetch", "validate", "compile", "publish"],
)
def test_failure_reasons(step: Step, reason: str, stalled: bool) -> None:
    status = SyncStatus(source="s", branch=None)
    status.failed(ReconcileFailure(step, "", "boom", at(0)), at(0))
    view = status.view()
    ready, stall = view.condition("Ready"), view.condition("Stalled")
    assert ready is not None
    assert stall is not None
    assert (ready.status, ready.reason, stall.status) == (False, reason, stalled)
    assert "no snapshot served yet" in ready.message


@dataclass(frozen=True)
class Snap:
    revision: str
    digest: str

    def to_proto(self) -> None:
        return None


async def test_hub_watch_skips_known_digest_and_delivers_latest() -> None:
    hub = SnapshotHub()
    hub.publish(Snap("r1", "d1"))
    got: list[str] = []

    async def watch(known: str) -> None:
        async for snap in hub.watch(known):
            got.append(snap.digest)

    task = asyncio.create_task(watch("d1"))
    await asyncio.sleep(0.01)
    assert got == []  # the subscriber already holds d1
    hub.publish(Snap("r2", "d2"))
    hub.publish(Snap("r3", "d3"))  # before the watcher runs: only the latest matters
    await asyncio.sleep(0.01)
    assert got == ["d3"]
    hub.publish(Snap("r4", "d3"))  # same content under a new revision: nothing to send
    await asyncio.sleep(0.01)
    assert got == ["d3"]
    hub.close()
    await asyncio.wait_for(task, 1)


class SlowReconciler:
    def __init__(self) -> None:
        self.calls: list[str | None] = []

    async def reconcile(self, *, want: str | None = None, trigger: str = "poll") -> Outcome:
        self.calls.append(want)
        await asyncio.sleep(0.05)
        return Outcome("applied", f"rev{len(self.calls)}", "d", changed=True)


async def test_queue_coalesces_a_burst_into_at_most_two_runs() -> None:
    reconciler = SlowReconciler()
    queue = ReconcileQueue(reconciler)  # type: ignore[arg-type]
    queue.start()
    first = queue.request(want="a" * 40, trigger="webhook")
    await asyncio.sleep(0.01)  # the first run is in progress now
    burst = [queue.request(want=f"{i:040d}", trigger="webhook") for i in range(50)]
    outcomes = await asyncio.gather(first, *burst)
    await queue.stop()
    assert len(reconciler.calls) == 2
    # The follow-up targets the newest pushed commit, and every waiter saw a run that
    # started after its request.
    assert reconciler.calls[1] == f"{49:040d}"
    assert outcomes[0].revision == "rev1"
    assert {o.revision for o in outcomes[1:]} == {"rev2"}


def test_poll_jitter_stays_in_bounds() -> None:
    poller = Poller(None, 10.0, 0.2)  # type: ignore[arg-type]
    delays = [poller.next_delay() for _ in range(500)]
    assert min(delays) >= 8.0
    assert max(delays) <= 12.0
    assert max(delays) - min(delays) > 1.0  # it does jitter
