"""Several issuer workers as OS processes sharing one port.

biscuit-python holds the GIL while it signs and verifies, so one Python process
is one core: the issuer scales with processes, not threads. Every worker binds
the same address with ``SO_REUSEPORT`` and the kernel spreads new connections
between them. Each worker follows the policy on its own (its own policy-dir poll
or policy-sync subscription), so a new snapshot reaches every worker.

The parent only supervises:

- with port 0 it first binds the address itself (``SO_REUSEPORT``, not listening:
  the kernel hands connections only to listening sockets) to fix a port every
  worker then binds, and keeps that socket open so nobody else takes the port
  (for each of the main, identity and health listeners; each worker serves the
  health port too, reporting its own readiness);
- it starts workers with the ``spawn`` method (gRPC does not survive ``fork``),
  waits for each to report its ports, then writes ``server.port_file``; a worker
  that finds a configuration problem while starting (an address it cannot bind)
  exits 2, and so does the supervisor, as one process would;
- it restarts a worker that dies, with a growing delay, and gives up (exit 1)
  after ``MAX_RESTARTS`` deaths within ``RESTART_WINDOW`` seconds; a replacement
  not ready within ``server.worker_ready_timeout`` is killed and counts as a death;
- SIGTERM/SIGINT are forwarded to every worker as SIGTERM (each drains
  gracefully), stragglers are killed after the grace period;
- a worker whose supervisor dies without that (SIGKILL) gets SIGTERM (from the
  kernel on Linux, from a watcher thread elsewhere) and drains too, so no orphan
  keeps serving the port.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog

from hessra_core.errors import ConfigError
from hessra_core.rpc import configure_logging
from hessra_core.service.entrypoint import EXIT_CONFIG, report_error
from hessra_issuer.app import IssuerApp, WorkerInfo, write_port_file
from hessra_issuer.config import IssuerConfig

_log = structlog.get_logger("hessra.issuer.supervisor")

MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def reserve(address: str) -> tuple[socket.socket | None, str]:
    """Bind ``address`` with SO_REUSEPORT if its port is 0; return the socket and fixed address."""
    host, _, port = address.rpartition(":")
    if int(port) != 0:
        return None, address
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((bare, 0))
    return sock, f"{host}:{sock.getsockname()[1]}"


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _exit_with_parent(parent_pid: int) -> None:
    """SIGTERM this worker when the supervisor dies, however it dies.

    A supervisor killed outright (SIGKILL, OOM, a crashed process manager) runs no
    clean-up; its workers would keep serving, with a policy nobody follows any more, on
    a port the next supervisor binds beside them. On Linux the kernel sends the signal
    (``PR_SET_PDEATHSIG``, which fires when the parent *thread* ends: the supervisor
    starts every worker from its main thread); elsewhere a thread watches the parent
    pid. Either way the worker drains as on any SIGTERM.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if not armed:

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    elif os.getppid() != parent_pid:
        # The supervisor died before the request above was made.
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(config: IssuerConfig, index: int, ready: Any, parent_pid: int) -> None:
    configure_logging(config.log_level, service="issuer", worker=index, pid=os.getpid())
    _exit_with_parent(parent_pid)

    def started(app: IssuerApp) -> None:
        info = app.info()
        ready.put(
            (index, info.pid, info.port, info.identity_port, info.metrics_port, info.health_port)
        )

    try:
        asyncio.run(IssuerApp(config, worker_index=index).run(started))
    except ConfigError as exc:
        # Say what is wrong once, as one process would, and exit 2 so the supervisor
        # does too (a traceback and exit 1 read as a crash, not a bad configuration).
        sys.exit(report_error("hessra-issuer", exc))


class _WorkerConfigError(RuntimeError):
    """A worker exited :data:`EXIT_CONFIG` while starting (it printed why)."""


@dataclass
class _Worker:
    index: int
    process: Any
    info: WorkerInfo | None = None


class Supervisor:
    def __init__(self, config: IssuerConfig) -> None:
        self._sockets: list[socket.socket] = []
        main_sock, listen = reserve(config.listen)
        identity = config.identity_listen
        id_sock = None
        if identity:
            id_sock, identity = reserve(identity)
        health = config.health_listen
        health_sock = None
        if health:
            health_sock, health = reserve(health)
        self._sockets = [s for s in (main_sock, id_sock, health_sock) if s is not None]
        self.config = config.with_listen(listen, identity, health)
        self._ctx = multiprocessing.get_context("spawn")
        self._ready = self._ctx.Queue()
        self._workers: dict[int, _Worker] = {}
        self._deaths: list[float] = []
        self._stopping = False

    def _spawn(self, index: int) -> None:
        process = self._ctx.Process(
            target=_worker_main,
            args=(self.config, index, self._ready, os.getpid()),
            name=f"hessra-issuer-worker-{index}",
        )
        process.start()
        self._workers[index] = _Worker(index, process)
        _log.info("worker_started", worker=index, pid=process.pid)

    def _collect_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(w.info is None for w in self._workers.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping:
                raise TimeoutError("workers did not report ready in time")
            try:
                index, pid, port, identity_port, metrics_port, health_port = self._ready.get(
                    timeout=min(remaining, 0.5)
                )
            except Exception:  # queue.Empty
                for worker in self._workers.values():
                    if worker.info is None and not worker.process.is_alive():
                        error = (
                            _WorkerConfigError
                            if worker.process.exitcode == EXIT_CONFIG
                            else RuntimeError
                        )
                        raise error(
                            f"worker {worker.index} exited with {worker.process.exitcode} "
                            "during start-up"
                        ) from None
                continue
            if index in self._workers:
                self._workers[index].info = WorkerInfo(
                    pid, port, identity_port, metrics_port, index, health_port=health_port
                )

    def _write_port_file(self) -> None:
        infos = [w.info for w in sorted(self._workers.values(), key=lambda w: w.index) if w.info]
        if self.config.port_file is not None and infos:
            write_port_file(self.config.port_file, infos[0].port, infos[0].identity_port, infos)

    def _request_stop(self, signum: int, _frame: Any) -> None:
        self._stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        try:
            for index in range(self.config.processes):
                self._spawn(index)
            self._collect_ready(self.config.worker_ready_timeout)
            self._write_port_file()
            _log.info(
                "issuer_supervising",
                listen=self.config.listen,
                pids=[w.process.pid for w in self._workers.values()],
            )
            return self._supervise()
        except (TimeoutError, RuntimeError) as exc:
            if self._stopping:
                # Asked to stop before every worker was up (a pod deleted while it
                # starts): a clean stop, not a failed start.
                _log.info("shutdown_requested_during_start")
                return 0
            _log.error("issuer_start_failed", error=str(exc))
            return EXIT_CONFIG if isinstance(exc, _WorkerConfigError) else 1
        finally:
            self._shutdown()

    def _supervise(self) -> int:
        while not self._stopping:
            sentinels = [w.process.sentinel for w in self._workers.values()]
            multiprocessing.connection.wait(sentinels, timeout=0.5)
            for worker in list(self._workers.values()):
                if self._stopping or worker.process.is_alive():
                    continue
                now = time.monotonic()
                self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW] + [now]
                _log.error(
                    "worker_died",
                    worker=worker.index,
                    exitcode=worker.process.exitcode,
                    recent_deaths=len(self._deaths),
                )
                if len(self._deaths) > MAX_RESTARTS:
                    _log.error("worker_restarts_exhausted", window_s=RESTART_WINDOW)
                    return 1
                if not self._wait_unless_stopping(min(0.2 * 2 ** (len(self._deaths) - 1), 5.0)):
                    break
                self._spawn(worker.index)
                try:
                    self._collect_ready(self.config.worker_ready_timeout)
                except (TimeoutError, RuntimeError) as exc:
                    if self._stopping:
                        break
                    _log.error("worker_restart_failed", worker=worker.index, error=str(exc))
                    self._kill_unready()
                    continue
                self._write_port_file()
        return 0

    def _kill_unready(self) -> None:
        """Kill a replacement still starting after the ready timeout (hung on a mount, a
        stopped process): the loop then counts it as a death and starts another, where
        keeping it would serve at reduced capacity for ever and stall the next restart."""
        for worker in self._workers.values():
            if worker.info is None and worker.process.is_alive():
                _log.error("worker_killed", worker=worker.index, pid=worker.process.pid)
                worker.process.kill()
                worker.process.join(5.0)

    def _wait_unless_stopping(self, delay: float) -> bool:
        """Sleep ``delay`` s before a restart; False as soon as a stop is requested.

        ``time.sleep`` resumes after the signal handler runs, so a SIGTERM during a
        multi-second backoff would wait it out and then start a worker only to stop it.
        """
        deadline = time.monotonic() + delay
        while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.05))
        return not self._stopping

    def _shutdown(self) -> None:
        for worker in self._workers.values():
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: the worker drains gracefully
        deadline = time.monotonic() + self.config.shutdown_grace + 5.0
        for worker in self._workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                _log.warning("worker_killed", worker=worker.index, pid=worker.process.pid)
                worker.process.kill()
                worker.process.join(1.0)
        for sock in self._sockets:
            sock.close()
        _log.info("issuer_stopped")


def run_supervisor(config: IssuerConfig) -> int:
    return Supervisor(config).run()


__all__ = ["Supervisor", "reserve", "run_supervisor"]
