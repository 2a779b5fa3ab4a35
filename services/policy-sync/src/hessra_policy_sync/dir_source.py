"""A local directory as the policy source, watched with watchdog.

Watchdog calls back on its own thread; the handler only hands the event to the
event loop (``call_soon_threadsafe``), where a debounce timer coalesces a burst of
file events (an editor's save is several) into one reconcile request.
The revision key is a fingerprint of the files, so touching a file without
changing it does nothing.

A revision is compiled from a private copy of the policy files, taken when the
directory's fingerprint is the same before and after copying. In place,
``resources.toml`` and ``clients.toml`` are read at different moments, so a change to
both (a ``git pull``, a Kubernetes ConfigMap update) landing in between would give a
snapshot of a state nobody wrote, e.g. a new grant without its new sign-off rule.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from hessra_core.errors import SourceError
from hessra_core.policy.tree_copy import copy_when_stable
from hessra_policy_sync.config import DirSourceConfig
from hessra_policy_sync.source import Fetched

# Copies attempted while the directory keeps changing under them before giving up (the
# watcher asks again once it is quiet).
_COPY_ATTEMPTS = 5


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
        # Named after the directory, not after the private copy it is compiled from.
        return Fetched(key=key, revision=self.display, commit=None)

    async def contains(self, sha: str) -> bool:
        return True

    @asynccontextmanager
    async def checkout(self, fetched: Fetched) -> AsyncIterator[Path]:
        tree = await asyncio.to_thread(self._copy_stable, fetched.key)
        try:
            yield tree
        finally:
            await asyncio.to_thread(shutil.rmtree, tree, True)

    def _copy_stable(self, key: str) -> Path:
        """A private copy of the policy files, of one state of the directory.

        The copy stands for the state fingerprinted just before it when the fingerprint
        just after it is the same. The copy may be newer than ``key``; the next reconcile
        then sees the new fingerprint and finds the same digest.
        """
        if not self._root.is_dir():
            # rglob finds nothing in a missing directory rather than failing; say why here.
            raise SourceError(f"{self.display} does not exist or is not a directory")
        tree = Path(tempfile.mkdtemp(prefix="hessra-policy-dir-"))
        try:
            if copy_when_stable(self._root, tree, fingerprint, key, attempts=_COPY_ATTEMPTS):
                return tree
        except OSError as exc:
            shutil.rmtree(tree, ignore_errors=True)
            raise SourceError(f"reading {self.display} failed: {exc.strerror}") from None
        shutil.rmtree(tree, ignore_errors=True)
        raise SourceError(f"{self.display} kept changing while its policy files were read")

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            await asyncio.to_thread(observer.join, 5.0)


__all__ = ["DirSource", "fingerprint"]
