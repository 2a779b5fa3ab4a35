"""What every service's ``main()`` does the same way: flags, exit codes, signals.

- :func:`service_parser` starts the argument parser with ``--config`` (and ``--check``);
  :func:`add_setting_flags` adds one ``--kebab-case`` string flag per config field and
  :func:`setting_overrides` turns the flags given into ``load_config`` overrides.
- Exit codes: :data:`EXIT_OK` (0), :data:`EXIT_CONFIG` (2: bad configuration, reported
  on stderr as ``<prog>: <problems>`` by :func:`report_error`).
- :func:`report_ok` prints the ``--check`` verdict; :func:`run_service` runs the
  service's coroutine, turning a ``ConfigError`` raised while starting into exit 2.
- :func:`shutdown_signals` turns SIGTERM/SIGINT into an ``asyncio.Event`` for services
  that are not one gRPC server (``hessra_core.rpc.serve_until_signalled`` is for those);
  :func:`start_and_serve` starts a gRPC service with those signals already caught.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from hessra_core.errors import ConfigError

if TYPE_CHECKING:
    from hessra_core.rpc.server import RunningServer

_log = structlog.get_logger("hessra.service")

EXIT_OK = 0
EXIT_CONFIG = 2
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def service_parser(prog: str, description: str, *, check: bool = True) -> argparse.ArgumentParser:
    """A parser with ``--config FILE`` and, unless ``check=False``, ``--check``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", type=Path, help="TOML config file")
    if check:
        parser.add_argument(
            "--check", action="store_true", help="validate config and keys, then exit"
        )
    return parser


def add_setting_flags(parser: argparse.ArgumentParser, flags: Iterable[str]) -> None:
    """``--foo-bar`` (a string, default None) for each flag name ``foo_bar``."""
    for flag in flags:
        parser.add_argument("--" + flag.replace("_", "-"), dest=flag, default=None)


def setting_overrides(
    args: argparse.Namespace, flags: Mapping[str, str], lists: Iterable[str] = ()
) -> dict[str, Any]:
    """Config overrides from the flags given: ``flags`` maps a flag's dest to its config
    field; ``lists`` are repeatable flags whose dest is the field. A flag not given (or
    given empty) overrides nothing."""
    overrides: dict[str, Any] = {
        field: getattr(args, flag) for flag, field in flags.items() if getattr(args, flag)
    }
    for dest in lists:
        if getattr(args, dest):
            overrides[dest] = getattr(args, dest)
    return overrides


def report_error(prog: str, exc: Exception) -> int:
    """Print ``<prog>: <exc>`` on stderr; the exit code of a bad configuration."""
    print(f"{prog}: {exc}", file=sys.stderr)
    return EXIT_CONFIG


def report_ok(prog: str, detail: str) -> int:
    """Print the ``--check`` verdict; the exit code of a good configuration."""
    print(f"{prog}: configuration OK ({detail})")
    return EXIT_OK


def run_service(prog: str, serve: Callable[[], Awaitable[None]]) -> int:
    """``asyncio.run(serve())``; a ``ConfigError`` raised while starting exits 2."""

    async def main() -> None:
        await serve()

    try:
        asyncio.run(main())
    except ConfigError as exc:
        return report_error(prog, exc)
    return EXIT_OK


@contextlib.contextmanager
def shutdown_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (on the running loop).

    Enter it before starting anything, so a signal that arrives during start-up is
    not lost: the service starts, sees the event set, and shuts down cleanly.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in SHUTDOWN_SIGNALS:
            loop.remove_signal_handler(sig)


async def start_and_serve(
    start: Callable[[], Awaitable[RunningServer]],
    *,
    grace: float,
    on_started: Callable[[], object] | None = None,
) -> None:
    """Run ``start()`` with SIGTERM/SIGINT already caught, then serve until one arrives.

    A pod deleted while the service compiles its policy or reads its persisted snapshot
    would otherwise die by the signal with no log line; here start-up finishes, the
    server stops gracefully, and ``main()`` exits 0. ``on_started`` runs only when the
    service is going to serve (it writes port files and the like).
    """
    from hessra_core.rpc.server import serve_until_signalled

    with shutdown_signals() as stop_requested:
        running = await start()
        if stop_requested.is_set():
            _log.info("shutdown_requested_during_start", grace_s=grace)
            await running.stop(grace)
            return
        if on_started is not None:
            on_started()
        # Still inside the block: serve_until_signalled replaces these handlers with its
        # own, so there is no moment without one.
        await serve_until_signalled(running, grace=grace)


__all__ = [
    "EXIT_CONFIG",
    "EXIT_OK",
    "SHUTDOWN_SIGNALS",
    "add_setting_flags",
    "report_error",
    "report_ok",
    "run_service",
    "service_parser",
    "setting_overrides",
    "shutdown_signals",
    "start_and_serve",
]
