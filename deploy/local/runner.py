"""Run a generated stack's Procfile with honcho and wait until every service is serving.

honcho supervises the services: it starts each in its own session, multiplexes their
output, and when one exits (or on SIGINT/SIGTERM) it stops the rest (SIGTERM, then
SIGKILL after 5 s). This module only starts honcho, waits on gRPC health, and stops
honcho. On Linux honcho also gets SIGTERM if the process that started it dies, so a
killed demo leaves nothing running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stack import PORT_BASE_ENV, Ports, Stack, StackError

# (label, endpoint, gRPC health service, CA of its server cert, client cert it accepts)
_HEALTH = (
    ("ours policy-sync", "ours_sync_grpc", "hessra.v1.PolicySync", "ca", "issuer-sync"),
    (
        "partner policy-sync",
        "partner_sync_grpc",
        "hessra.v1.PolicySync",
        "partner-ca",
        "partner-sync",
    ),
    ("issuer", "issuer", "hessra.v1.Issuer", "ca", "api_gateway"),
    ("legal_dept signer", "legal_dept", "hessra.v1.Signer", "ca", "api_gateway"),
    ("partner_company signer", "partner_company", "hessra.v1.Signer", "partner-ca", "api_gateway"),
)


def check_ports_free(ports: Ports) -> None:
    """Fail early, naming the port, rather than letting one service die on bind."""
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise StackError(
                    f"127.0.0.1:{port} ({name}) is already in use; stop what holds it or "
                    f"move the stack with {PORT_BASE_ENV}=<another base>"
                ) from None


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG (1): honcho gets SIGTERM when we die, however we die.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)


class StackProcesses:
    """``honcho start`` over the stack's Procfile; a context manager that always stops it."""

    def __init__(self, stack: Stack, log_path: Path) -> None:
        self.stack = stack
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        check_ports_free(self.stack.ports)
        honcho = Path(sys.executable).with_name("honcho")
        if not honcho.exists():
            raise StackError(f"{honcho} is not installed: run `make setup`")
        # The services get our environment minus HESSRA_* (their configuration comes
        # from the Procfile alone) and never the user's terminal as stdin.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")}
        env["PYTHONUNBUFFERED"] = "1"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(honcho), "start", "--no-colour", "-f", str(self.stack.procfile),
             "-d", str(self.stack.root)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _check_alive(self) -> None:
        if not self.alive():
            code = None if self.proc is None else self.proc.returncode
            raise StackError(
                f"the stack stopped (honcho exit code {code}); last lines of "
                f"{self.log_path}:\n{self.log_tail()}"
            )

    def wait_ready(self, timeout: float = 90.0) -> float:
        """Block until every service reports SERVING; return the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        for label, endpoint, service, ca, client in _HEALTH:
            files = self.stack.tls(client)
            creds = grpc.ssl_channel_credentials(
                (self.stack.tls_dir / f"{ca}.crt").read_bytes(),
                files.key.read_bytes(),
                files.cert.read_bytes(),
            )
            with grpc.secure_channel(self.stack.address(endpoint), creds) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                while True:
                    self._check_alive()
                    with contextlib.suppress(grpc.RpcError):
                        reply = stub.Check(
                            health_pb2.HealthCheckRequest(service=service), timeout=1
                        )
                        if reply.status == health_pb2.HealthCheckResponse.SERVING:
                            break
                    if time.monotonic() > deadline:
                        raise StackError(
                            f"{label} on {self.stack.address(endpoint)} was not SERVING "
                            f"within {timeout:.0f}s; last lines of {self.log_path}:\n"
                            f"{self.log_tail()}"
                        )
                    time.sleep(0.1)
        return time.monotonic() - start

    def wait(self) -> int:
        """Wait for honcho to exit (it does when a service dies or on a signal)."""
        assert self.proc is not None
        return self.proc.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to honcho (which stops every service), SIGKILL if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> StackProcesses:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


__all__ = ["StackProcesses", "check_ports_free"]
