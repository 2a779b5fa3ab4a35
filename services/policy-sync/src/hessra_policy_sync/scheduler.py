"""When reconciles run: coalesced requests, and polling as the safety net behind webhooks.

``ReconcileQueue.request`` never starts a second reconcile beside a running one:
requests that arrive while one runs collapse into a single follow-up, so a burst
of webhook deliveries costs at most two reconciles. Each request returns a future
that resolves with the outcome of a reconcile that *started after* the request, so
a caller that waits (``Resync``) sees its own effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import structlog

from hessra_policy_sync.reconcile import Outcome, Reconciler

log = structlog.get_logger("hessra.policy_sync.scheduler")


class ReconcileQueue:
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler
        self._wakeup = asyncio.Event()
        self._waiters: list[asyncio.Future[Outcome]] = []
        self._want: str | None = None
        self._trigger = "poll"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reconcile-queue")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for waiter in self._waiters:
            waiter.cancel()

    def request(self, *, want: str | None = None, trigger: str = "poll") -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        if want is not None:
            self._want = want  # the newest pushed commit wins; older ones are its ancestors
        self._trigger = trigger
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            waiters, self._waiters = self._waiters, []
            want, self._want = self._want, None
            try:
                outcome = await self._reconciler.reconcile(want=want, trigger=self._trigger)
            except Exception as exc:  # a bug, not a bad policy: keep the loop alive
                log.exception("reconcile_crashed")
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(outcome)


class Poller:
    """Requests a reconcile every ``interval`` seconds, +/- ``jitter`` (a fraction)."""

    def __init__(self, queue: ReconcileQueue, interval: float, jitter: float) -> None:
        self._queue = queue
        self._interval = interval
        self._jitter = jitter
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="poller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def next_delay(self) -> float:
        spread = self._interval * self._jitter
        # Jitter keeps many replicas from hitting the git host in lockstep; not security.
        return max(0.05, self._interval + random.uniform(-spread, spread))  # noqa: S311

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.next_delay())
            self._queue.request(trigger="poll")


__all__ = ["Poller", "ReconcileQueue"]
