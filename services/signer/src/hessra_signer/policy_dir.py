"""Standalone policy: compile a local directory and re-compile it when it changes.

Used with ``--policy-dir`` instead of following the organisation's policy-sync. The
directory goes through ``compile_policy_dir``, the path policy-sync uses, so a
standalone signer accepts exactly the policies a synced one would. Changes are
noticed by polling file stamps (name, size, mtime), which works on every file system;
a bad edit is logged with its diagnostics and the last good snapshot keeps serving.
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

_log = structlog.get_logger("hessra.signer.policy_dir")


def fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    stamps: list[tuple[str, int, int]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            try:
                st = Path(root, name).stat()
            except OSError:
                continue
            stamps.append(
                (str(Path(root, name).relative_to(directory)), st.st_size, st.st_mtime_ns)
            )
    return tuple(sorted(stamps))


def _compile(directory: Path) -> Any:
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
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._task: asyncio.Task[None] | None = None

    async def load_once(self) -> bool:
        stamp = await asyncio.to_thread(fingerprint, self._dir)
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            snapshot = await asyncio.to_thread(_compile, self._dir)
        except PolicyError as exc:
            _log.error(
                "policy_rejected",
                directory=str(self._dir),
                diagnostics=[str(d) for d in exc.diagnostics],
            )
            return False
        except (HessraError, OSError) as exc:
            _log.error("policy_load_failed", directory=str(self._dir), error=str(exc))
            return False
        self._on_snapshot(snapshot)
        return True

    async def start(self) -> None:
        await self.load_once()
        self._task = asyncio.create_task(self._poll(), name="signer-policy-dir-poll")

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


__all__ = ["PolicyDirSource", "fingerprint"]
