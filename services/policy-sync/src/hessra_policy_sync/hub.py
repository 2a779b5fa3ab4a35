"""The serving snapshot and the streams waiting for the next one.

``publish`` swaps the current snapshot with one reference assignment and wakes
every watcher. A watcher that falls behind gets the latest snapshot, never an
out-of-date one and never one out of order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol


class PublishedSnapshot(Protocol):
    @property
    def revision(self) -> str: ...

    @property
    def digest(self) -> str: ...

    def to_proto(self) -> Any: ...


class SnapshotHub:
    def __init__(self) -> None:
        self._current: PublishedSnapshot | None = None
        self._changed = asyncio.Event()
        self._closed = False
        self._listeners: list[Callable[[PublishedSnapshot], None]] = []

    @property
    def current(self) -> PublishedSnapshot | None:
        return self._current

    def add_listener(self, listener: Callable[[PublishedSnapshot], None]) -> None:
        """Call ``listener`` (on the event loop) after every publish."""
        self._listeners.append(listener)

    def publish(self, snapshot: PublishedSnapshot) -> None:
        self._current = snapshot
        # Wake everyone waiting on this generation, then start a new one.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in self._listeners:
            listener(snapshot)

    def close(self) -> None:
        """End every watch stream (shutdown)."""
        self._closed = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def watch(self, known_digest: str = "") -> AsyncIterator[PublishedSnapshot]:
        """The current snapshot unless its digest is ``known_digest``, then every new one."""
        last = known_digest
        while not self._closed:
            changed = self._changed
            current = self._current
            if current is not None and current.digest != last:
                last = current.digest
                yield current
                continue
            await changed.wait()


__all__ = ["PublishedSnapshot", "SnapshotHub"]
