"""Server bootstrap shared by the issuer, the signer and policy-sync.

:func:`start_server` builds a ``grpc.aio`` server with the observability
interceptor, the gRPC health service (every named service starts NOT_SERVING
unless told otherwise), reflection, and one or more listeners, then starts it.
:meth:`RunningServer.stop` is the graceful shutdown: health flips to NOT_SERVING
first so load balancers drain, then ``server.stop(grace)`` lets in-flight calls
finish. :func:`serve_until_signalled` wires SIGTERM/SIGINT to that.

Example (a signer)::

    from hessra_core.rpc import (
        DynamicServerCredentials, Listener, ObservabilityInterceptor, start_server,
        serve_until_signalled,
    )
    from hessra.v1 import signer_pb2, signer_pb2_grpc

    creds = DynamicServerCredentials(cfg.cert_file, cfg.key_file,
                                     client_ca=lambda: holder.ca_pem)
    running = await start_server(
        listeners=[Listener(cfg.listen, creds.server_credentials())],
        services=[(signer_pb2_grpc.add_SignerServicer_to_server, SignerServicer(holder))],
        service_names=[signer_pb2.DESCRIPTOR.services_by_name["Signer"].full_name],
        interceptors=[ObservabilityInterceptor()],
    )
    holder.on_snapshot(lambda s: asyncio.create_task(running.set_serving(True)))
    await serve_until_signalled(running, grace=5.0)

``Listener(address, None)`` is a plaintext port: only when explicitly asked for,
and it is logged loudly. Every server sets ``grpc.so_reuseport=1`` so worker
processes can share one port.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from hessra_core.errors import ConfigError

_log = structlog.get_logger("hessra.rpc.server")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# The overall health entry ("") plus each named service share one status.
OVERALL = ""


@dataclass(frozen=True)
class Listener:
    """An address to bind (``host:port``; port 0 picks one) and its credentials.

    ``credentials=None`` means plaintext.
    """

    address: str
    credentials: grpc.ServerCredentials | None = field(default=None, repr=False)
    name: str = "main"


@dataclass
class RunningServer:
    """A started server: its bound ports by listener name, its health, and shutdown."""

    server: grpc.aio.Server
    ports: dict[str, int]
    health: Any
    service_names: tuple[str, ...]
    serving: bool = False

    @property
    def port(self) -> int:
        """The port of the first listener."""
        return next(iter(self.ports.values()))

    async def set_serving(self, serving: bool) -> None:
        """Report SERVING / NOT_SERVING for every service (readiness)."""
        status = SERVING if serving else NOT_SERVING
        for name in (OVERALL, *self.service_names):
            await self.health.set(name, status)
        if serving != self.serving:
            _log.info("health_changed", serving=serving)
        self.serving = serving

    async def stop(self, grace: float = 5.0) -> None:
        """NOT_SERVING first, then stop accepting and give in-flight calls ``grace`` s."""
        await self.health.enter_graceful_shutdown()
        self.serving = False
        await self.server.stop(grace)

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()


ServiceRegistration = tuple[Callable[[Any, grpc.aio.Server], None], Any]


async def start_server(
    *,
    listeners: Sequence[Listener],
    services: Iterable[ServiceRegistration],
    service_names: Sequence[str],
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
    serving: bool = False,
    options: Sequence[tuple[str, Any]] = (),
    reflection_enabled: bool = True,
) -> RunningServer:
    """Build, bind and start a server. Raises ``ConfigError`` if an address cannot be bound."""
    if not listeners:
        raise ConfigError(["at least one listener is required"], source="server")
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[("grpc.so_reuseport", 1), *options],
    )
    for add, servicer in services:
        add(servicer, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = tuple(service_names)
    if reflection_enabled:
        reflection.enable_server_reflection(
            (
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
    ports: dict[str, int] = {}
    problems = []
    for listener in listeners:
        try:
            if listener.credentials is None:
                _log.warning(
                    "plaintext_listener",
                    address=listener.address,
                    name=listener.name,
                    note="no TLS: callers are not authenticated",
                )
                port = server.add_insecure_port(listener.address)
            else:
                port = server.add_secure_port(listener.address, listener.credentials)
        except RuntimeError as exc:
            problems.append(f"{listener.name} listener {listener.address}: cannot bind ({exc})")
            continue
        if port == 0:
            problems.append(f"{listener.name} listener {listener.address}: cannot bind")
        ports[listener.name] = port
    if problems:
        raise ConfigError(problems, source="server")
    running = RunningServer(server, ports, health, names)
    await running.set_serving(serving)
    await server.start()
    _log.info("server_started", ports=ports, services=list(names))
    return running


async def serve_until_signalled(running: RunningServer, *, grace: float = 5.0) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        waiter = asyncio.ensure_future(running.wait_for_termination())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            _log.info("shutdown_requested", grace_s=grace)
            await running.stop(grace)
        for task in (waiter, stopper):
            task.cancel()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


__all__ = [
    "NOT_SERVING",
    "SERVING",
    "Listener",
    "RunningServer",
    "ServiceRegistration",
    "serve_until_signalled",
    "start_server",
]
