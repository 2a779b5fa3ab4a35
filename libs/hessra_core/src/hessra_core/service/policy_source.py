"""Where a service's policy comes from: a watched local directory, or policy-sync.

:func:`open_policy_source` picks one from the service's config (``policy.dir`` or
``policy.sync_target``); either way the service hands it a callback that receives
each new compiled snapshot, then ``await source.start()`` / ``await source.stop()``.

:class:`PolicyDirSource` is the standalone mode (``--policy-dir``). The directory goes
through ``compile_policy_dir``, the path policy-sync uses, so a standalone service
accepts exactly the policies a synced one would. A change is noticed by polling the
directory's file stamps (name, size, mtime) every ``interval`` seconds: cheap, and
unlike inotify it works on every file system and in every container. A bad edit is
logged with its diagnostics (file:line) and the last good snapshot keeps serving.
Each revision is compiled from a private copy of the policy files, taken while the
directory's stamps stayed the same, so a change is applied whole or not yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from hessra_core.errors import ConfigError, HessraError, PolicyError, SourceError

Fingerprint = tuple[tuple[str, int, int], ...]
OnSnapshot = Callable[[Any], None]


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


class PolicySource(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class PolicyDirSource:
    """Compiles ``directory`` now and whenever it changes; hands snapshots to ``on_snapshot``."""

    def __init__(
        self,
        directory: Path,
        on_snapshot: OnSnapshot,
        *,
        interval: float = 2.0,
        log_name: str = "hessra.policy_dir",
        task_name: str = "policy-dir-poll",
    ) -> None:
        self._dir = Path(directory).resolve()
        self._on_snapshot = on_snapshot
        self._interval = interval
        self._seen: Fingerprint | None = None
        self._task: asyncio.Task[None] | None = None
        self._task_name = task_name
        self._log = structlog.get_logger(log_name)
        self.last_error: str | None = None

    async def load_once(self) -> bool:
        """Compile if the directory changed since the last attempt; True if a snapshot applied."""
        stamp = await asyncio.to_thread(fingerprint, self._dir)
        if stamp == self._seen:
            return False
        self._seen = stamp
        try:
            snapshot = await asyncio.to_thread(self._compile_stable, stamp)
        except PolicyError as exc:
            self.last_error = str(exc)
            self._log.error(
                "policy_rejected",
                directory=str(self._dir),
                diagnostics=[str(d) for d in exc.diagnostics if getattr(d, "is_error", True)],
            )
            return False
        except (HessraError, OSError) as exc:
            self.last_error = str(exc)
            self._log.error("policy_load_failed", directory=str(self._dir), error=str(exc))
            return False
        self.last_error = None
        self._on_snapshot(snapshot)
        return True

    def _compile_stable(self, stamp: Fingerprint) -> Any:
        """Compile a private copy of the policy files, taken while the directory was still.

        In place, a change to both files landing between their reads would give a policy
        nobody wrote (see ``hessra_core.policy.tree_copy``).
        """
        if not self._dir.is_dir():
            return compile_dir(self._dir)  # reports the missing directory by name
        from hessra_core.policy import compile_policy_dir
        from hessra_core.policy.tree_copy import copy_when_stable

        with tempfile.TemporaryDirectory(prefix="hessra-policy-dir-") as tmp:
            if not copy_when_stable(self._dir, Path(tmp), fingerprint, stamp):
                self._seen = None  # not compiled: try again on the next poll
                raise SourceError(f"{self._dir} kept changing while its policy files were read")
            return compile_policy_dir(Path(tmp), revision=f"dir:{self._dir}")

    async def start(self) -> None:
        await self.load_once()
        self._task = asyncio.create_task(self._poll(), name=self._task_name)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.load_once()
            except Exception as exc:  # keep polling whatever happens
                self._log.error("policy_poll_failed", error=str(exc))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class PolicySettings(Protocol):
    """The ``[policy]`` fields the issuer's and the signer's configs both have."""

    @property
    def policy_dir(self) -> Path | None: ...
    @property
    def policy_poll_interval(self) -> float: ...
    @property
    def sync_target(self) -> str | None: ...
    @property
    def sync_ca_file(self) -> Path | None: ...
    @property
    def sync_cert_file(self) -> Path | None: ...
    @property
    def sync_key_file(self) -> Path | None: ...
    @property
    def snapshot_file(self) -> Path | None: ...


def open_policy_source(
    cfg: PolicySettings,
    on_snapshot: OnSnapshot,
    *,
    config_source: str,
    subscriber_name: str = "",
    log_name: str = "hessra.policy_dir",
    task_name: str = "policy-dir-poll",
) -> PolicySource:
    """A :class:`PolicyDirSource` for ``policy.dir``, else a policy-sync subscription
    (mTLS with the ``policy.sync_*`` files, persisting to ``policy.snapshot_file``).

    ``config_source`` names the config in the ``ConfigError`` raised when the sync
    settings are incomplete (validation normally catches that first).
    """
    if cfg.policy_dir is not None:
        return PolicyDirSource(
            cfg.policy_dir,
            on_snapshot,
            interval=cfg.policy_poll_interval,
            log_name=log_name,
            task_name=task_name,
        )
    import grpc

    from hessra_core.rpc.subscriber import SnapshotSubscriber

    if not (cfg.sync_ca_file and cfg.sync_cert_file and cfg.sync_key_file and cfg.sync_target):
        raise ConfigError(["policy.sync_* settings are incomplete"], source=config_source)
    credentials = grpc.ssl_channel_credentials(
        cfg.sync_ca_file.read_bytes(),
        cfg.sync_key_file.read_bytes(),
        cfg.sync_cert_file.read_bytes(),
    )
    return SnapshotSubscriber(
        cfg.sync_target, credentials, cfg.snapshot_file, on_snapshot, name=subscriber_name
    )


__all__ = [
    "Fingerprint",
    "PolicyDirSource",
    "PolicySettings",
    "PolicySource",
    "compile_dir",
    "fingerprint",
    "open_policy_source",
]
