"""Standalone policy: compile a local directory and re-compile it when it changes.

Used with ``--policy-dir`` instead of a policy-sync subscription. The directory goes
through the same ``compile_policy_dir`` path as policy-sync, so a standalone issuer
accepts exactly the policies a synced one would. A change is noticed by polling the
directory's file stamps (name, size, mtime) every ``interval`` seconds: cheap, and
unlike inotify it works on every file system and in every container. A bad edit is
logged with its diagnostics (file:line) and the last good snapshot keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from hessra_core.errors import HessraError, PolicyError

_log = structlog.get_logger("hessra.issuer.policy_dir")

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(directory: Path) -> Fingerprint:
    """Name, size and mtime of every regular file below ``directory`` (dot-dirs skipped)."""
    stamps: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(root, name)
            try:
                st = path.stat()
            except OSError:
                continue
            stamps.append((str(path.relative_to(directory)), st.st_size, st.st_mtime_ns))
    return tuple(sorted(stamps))


def compile_dir(directory: Path) -> Any:
    from hessra_core.policy import compile_policy_dir

    return compile_policy_dir(directory)


class PolicyDirSource:
    """Compiles ``directory`` now and whenever it changes; hands snapshots to ``on_snapshot``."""

    def __init__(
        self, directory: Path, on_snapshot: Callable[[Any], object], *, interval: float = 2.0
    ) -> None:
        self._dir = Path(directory).resolve()
        self._on_snapshot = on_snapshot
        self._interval = interval
        self._seen: Fingerprint | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    async def load_once(self) -> bool:
        """Compile if the directory changed since the last attempt; True if a snapshot applied."""
        stamp = await asyncio.to_thread(fingerprint, self._dir)
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            snapshot = await asyncio.to_thread(compile_dir, self._dir)
        except PolicyError as exc:
            self.last_error = str(exc)
            _log.error(
                "policy_rejected",
                directory=str(self._dir),
                diagnostics=[str(d) for d in exc.diagnostics if getattr(d, "is_error", True)],
            )
            return False
        except (HessraError, OSError) as exc:
            self.last_error = str(exc)
            _log.error("policy_load_failed", directory=str(self._dir), error=str(exc))
            return False
        self.last_error = None
        self._on_snapshot(snapshot)
        return True

    async def start(self) -> None:
        await self.load_once()
        self._task = asyncio.create_task(self._poll(), name="policy-dir-poll")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.load_once()
            except Exception as exc:  # keep polling whatever happens
                _log.error("policy_poll_failed", error=str(exc))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


__all__ = ["PolicyDirSource", "compile_dir", "fingerprint"]
