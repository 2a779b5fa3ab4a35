"""A local directory as the policy source, watched with watchdog.

Watchdog calls back on its own thread; the handler only hands the event to the
event loop (``call_soon_threadsafe``), where a debounce timer coalesces a burst of
file events (an editor's save is several) into one reconcile request.
The revision key is a fingerprint of the files, so touching a file without
changing it does nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from hessra_core.errors import SourceError
from hessra_policy_sync.config import DirSourceConfig
from hessra_policy_sync.source import Fetched


def fingerprint(root: Path) -> str:
    """``sha256:<hex>`` over every regular file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        # fsencode: a file name is bytes, and need not be UTF-8 (str.encode would raise).
        rel = os.fsencode(path.relative_to(root).as_posix())
        data = path.read_bytes()
        digest.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big") + data)
    return f"sha256:{digest.hexdigest()}"


class _Handler(FileSystemEventHandler):
    def __init__(self, loop: asyncio.AbstractEventLoop, poke: Callable[[], None]) -> None:
        self._loop = loop
        self._poke = poke

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        with suppress(RuntimeError):  # the loop is closing
            self._loop.call_soon_threadsafe(self._poke)


class DirSource:
    kind = "dir"

    def __init__(self, config: DirSourceConfig) -> None:
        self._config = config
        self._root = config.path.resolve()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._timer: asyncio.TimerHandle | None = None

    @property
    def display(self) -> str:
        return f"dir:{self._root}"

    @property
    def branch(self) -> None:
        return None

    def watch(self, on_change: Callable[[], None]) -> None:
        """Call ``on_change`` on the event loop once the directory has been quiet a moment."""
        loop = asyncio.get_running_loop()

        def poke() -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_later(self._config.debounce, on_change)

        observer = Observer()
        observer.schedule(_Handler(loop, poke), str(self._root), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    async def fetch(self) -> Fetched:
        try:
            key = await asyncio.to_thread(fingerprint, self._root)
        except OSError as exc:
            raise SourceError(f"reading {self.display} failed: {exc.strerror}") from None
        return Fetched(key=key, revision=None, commit=None)

    async def contains(self, sha: str) -> bool:
        return True

    @asynccontextmanager
    async def checkout(self, fetched: Fetched) -> AsyncIterator[Path]:
        # Compiled in place: a change during compilation fires the watcher again, and the
        # next reconcile sees a new fingerprint.
        yield self._root

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            await asyncio.to_thread(observer.join, 5.0)


__all__ = ["DirSource", "fingerprint"]
