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

Health-only listener
--------------------
``start_server(..., health_listen="0.0.0.0:8081")`` also starts a SECOND
``grpc.aio`` server on that address, in plaintext, for the kubelet's native
``grpc:`` probes (which cannot present a client certificate, so they can never
complete a handshake with our mTLS ports). It serves exactly one method,
``grpc.health.v1.Health/Check``, answered by the same health servicer as the main
server: readiness flips on both at once (NOT_SERVING until a snapshot is loaded,
NOT_SERVING first on shutdown). There is no reflection, no ``Watch`` (an
unauthenticated caller could hold streams open) and no other service, and no
interceptor (a probe every few seconds is not worth a log line). It exposes no
secrets: all a caller learns is SERVING or NOT_SERVING for a service name. Besides
the overall ("") and per-service entries, the health servicer (on both ports) has
:data:`LIVENESS`, SERVING while the event loop answers and NOT_SERVING only from
shutdown on, so a liveness probe does not restart a pod that is merely waiting for
its first snapshot. :meth:`RunningServer.stop` stops it after
the main server, so probes keep seeing NOT_SERVING while in-flight calls drain.
Bind it where only the kubelet reaches it (the manifests' NetworkPolicies do not
open it to other pods).

Resource limits
---------------
One client must not be able to take the service down for everyone, so every server
gets bounds by default (:func:`default_server_options`; a caller's ``options`` win):

* ``grpc.max_receive_message_length`` :data:`DEFAULT_MAX_RECEIVE_BYTES` instead of
  gRPC's 4 MiB. Every request we accept is small (the largest carries one token of at
  most 64 Ki characters), and values from requests end up in caches, so a smaller cap
  bounds both parsing work and bytes per cached entry. Only the receive side is capped:
  policy-sync's Watch snapshots and minted tokens are sent, and sending stays unlimited.
* ``grpc.max_concurrent_streams`` :data:`DEFAULT_MAX_STREAMS_PER_CONNECTION` per HTTP/2
  connection (gRPC's default is unlimited), so one connection cannot open thousands of
  calls.
* No server-wide ``maximum_concurrent_rpcs`` by default (the parameter exists). gRPC's
  bound is one shared pool, and a call holds its slot from its headers on, before its
  request message arrives: one client that opens calls and never sends their messages
  (100 per connection, a handful of connections) would fill any such pool and get
  every other caller RESOURCE_EXHAUSTED. Without it, the same client only costs a
  little memory per call. A fair bound needs a per-caller limit, which gRPC lacks.
* Metadata stays at gRPC's default bound (8 KiB soft, 16 KiB hard): larger headers are
  refused before any handler runs.

The health-only listener is unauthenticated, so it gets a tighter request cap still
(:data:`HEALTH_MAX_RECEIVE_BYTES`), and for the reason above no bound on calls in
flight: a full pool there would fail the kubelet's probes and restart the pod.

A TLS caller without a client certificate (the issuer's identity listener) may make
unary calls only: streaming calls (``Health/Watch``, reflection) are refused with
UNAUTHENTICATED before they start, so holding a stream open takes a certificate from a
trusted CA (and a server given ``maximum_concurrent_rpcs`` cannot have its pool filled
with anonymous Watch streams). Plaintext listeners, being explicitly unauthenticated,
are left as they are.
"""

from __future__ import annotations

import asyncio
import inspect
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
# A health entry that is SERVING from start to shutdown, whatever the readiness:
# what a liveness probe asks for (``grpc: {port: ..., service: liveness}``).
LIVENESS = "liveness"
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

# See "Resource limits" in the module docstring.
DEFAULT_MAX_RECEIVE_BYTES = 512 * 1024  # 8x the largest token a request may carry
DEFAULT_MAX_STREAMS_PER_CONNECTION = 100
HEALTH_MAX_RECEIVE_BYTES = 4 * 1024  # a HealthCheckRequest is a service name


def default_server_options() -> list[tuple[str, Any]]:
    """The bounds every server built by :func:`start_server` gets unless overridden."""
    return [
        ("grpc.so_reuseport", 1),
        ("grpc.max_receive_message_length", DEFAULT_MAX_RECEIVE_BYTES),
        ("grpc.max_concurrent_streams", DEFAULT_MAX_STREAMS_PER_CONNECTION),
    ]


def _merge_options(
    defaults: Sequence[tuple[str, Any]], overrides: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """``defaults`` with ``overrides`` replacing equal keys (gRPC keeps duplicates)."""
    merged = dict(defaults)
    merged.update(overrides)
    return merged


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
    health_server: grpc.aio.Server | None = None
    stopping: bool = False
    # The channel arguments and concurrency bound the main server was built with.
    options: dict[str, Any] = field(default_factory=dict)
    maximum_concurrent_rpcs: int | None = None

    @property
    def health_port(self) -> int | None:
        """The health-only listener's port, if one was asked for."""
        return self.ports.get("health")

    @property
    def port(self) -> int:
        """The port of the first listener."""
        return next(iter(self.ports.values()))

    async def set_serving(self, serving: bool) -> None:
        """Report SERVING / NOT_SERVING for every service (readiness).

        A no-op once :meth:`stop` began: a snapshot arriving while calls drain must not
        report the server ready again (gRPC's health servicer ignores it then too).
        """
        if self.stopping:
            return
        status = SERVING if serving else NOT_SERVING
        for name in (OVERALL, *self.service_names):
            await self.health.set(name, status)
        if serving != self.serving:
            _log.info("health_changed", serving=serving)
        self.serving = serving

    async def stop(self, grace: float = 5.0) -> None:
        """NOT_SERVING first, then stop accepting and give in-flight calls ``grace`` s.

        The health-only listener stops last: probes see NOT_SERVING while calls drain.
        """
        self.stopping = True
        await self.health.enter_graceful_shutdown()
        self.serving = False
        try:
            await self.server.stop(grace)
        finally:
            if self.health_server is not None:
                await self.health_server.stop(0)

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()


ServiceRegistration = tuple[Callable[[Any, grpc.aio.Server], None], Any]


def _anonymous_tls(context: grpc.aio.ServicerContext[Any, Any]) -> bool:
    """A TLS connection whose caller presented no client certificate."""
    auth = context.auth_context()
    return list(auth.get("transport_security_type") or ()) == [b"ssl"] and not auth.get(
        "x509_pem_cert"
    )


class _AnonymousStreamGuard(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Refuses streaming calls from TLS callers without a client certificate."""

    def __init__(self) -> None:
        self._wrapped: dict[int, tuple[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or not (handler.request_streaming or handler.response_streaming):
            return handler
        cached = self._wrapped.get(id(handler))
        if cached is None or cached[0] is not handler:
            cached = (handler, _guard_handler(handler))
            self._wrapped[id(handler)] = cached
        return cached[1]


def _guard_handler(handler: Any) -> Any:
    kwargs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(_guard(handler.stream_stream), **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(_guard(handler.stream_unary), **kwargs)
    return grpc.unary_stream_rpc_method_handler(_guard(handler.unary_stream), **kwargs)


async def _refuse_anonymous(context: grpc.aio.ServicerContext[Any, Any]) -> None:
    if _anonymous_tls(context):
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "streaming calls need a client certificate",
        )


def _guard(behavior: Any) -> Any:
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await _refuse_anonymous(context)
            async for response in behavior(request, context):
                yield response

        return stream
    if inspect.iscoroutinefunction(behavior):

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await _refuse_anonymous(context)
            return await behavior(request, context)

        return call
    return behavior  # a synchronous behaviour cannot be awaited here; left as it is


def _health_only_server(health: Any) -> grpc.aio.Server:
    """A server with ``grpc.health.v1.Health/Check`` backed by ``health`` and nothing else."""
    server = grpc.aio.server(
        options=list(
            _merge_options(
                default_server_options(),
                [("grpc.max_receive_message_length", HEALTH_MAX_RECEIVE_BYTES)],
            ).items()
        ),
    )
    check = grpc.unary_unary_rpc_method_handler(
        health.Check,
        request_deserializer=health_pb2.HealthCheckRequest.FromString,
        response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(HEALTH_SERVICE, {"Check": check}),)
    )
    return server


def connection_age_options(max_age: float, grace: float) -> list[tuple[str, int]]:
    """gRPC server options that close each client connection after ``max_age`` seconds.

    Clients keep one HTTP/2 connection for as long as it works, so pods a Deployment or
    HPA adds behind a Service get no traffic from clients already connected. With a
    maximum age every connection is drained (GOAWAY, then ``grace`` seconds for calls
    in flight) and the client reconnects, landing wherever the Service sends it.
    ``max_age`` 0 keeps connections for ever (gRPC's default).
    """
    if max_age <= 0:
        return []
    return [
        ("grpc.max_connection_age_ms", int(max_age * 1000)),
        ("grpc.max_connection_age_grace_ms", int(max(grace, 1.0) * 1000)),
    ]


async def start_server(
    *,
    listeners: Sequence[Listener],
    services: Iterable[ServiceRegistration],
    service_names: Sequence[str],
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
    serving: bool = False,
    options: Sequence[tuple[str, Any]] = (),
    reflection_enabled: bool = True,
    health_listen: str | None = None,
    maximum_concurrent_rpcs: int | None = None,
) -> RunningServer:
    """Build, bind and start a server. Raises ``ConfigError`` if an address cannot be bound.

    ``health_listen`` (``host:port``) adds the plaintext health-only listener described
    in the module docstring; its port is ``RunningServer.health_port``. ``options`` are
    added to (and override) :func:`default_server_options`; ``maximum_concurrent_rpcs``
    bounds calls in flight server-wide (see the module docstring for why it is off by
    default).
    """
    if not listeners:
        raise ConfigError(["at least one listener is required"], source="server")
    if maximum_concurrent_rpcs is not None and maximum_concurrent_rpcs < 1:
        raise ConfigError(["maximum_concurrent_rpcs must be at least 1"], source="server")
    merged = _merge_options(default_server_options(), options)
    server = grpc.aio.server(
        interceptors=[_AnonymousStreamGuard(), *interceptors],
        options=list(merged.items()),
        maximum_concurrent_rpcs=maximum_concurrent_rpcs,
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
                HEALTH_SERVICE,
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
    health_server = None
    if health_listen:
        health_server = _health_only_server(health)
        try:
            port = health_server.add_insecure_port(health_listen)
        except RuntimeError as exc:
            problems.append(f"health listener {health_listen}: cannot bind ({exc})")
            port = -1
        if port == 0:
            problems.append(f"health listener {health_listen}: cannot bind")
        ports["health"] = port
    if problems:
        raise ConfigError(problems, source="server")
    running = RunningServer(
        server,
        ports,
        health,
        names,
        health_server=health_server,
        options=merged,
        maximum_concurrent_rpcs=maximum_concurrent_rpcs,
    )
    await health.set(LIVENESS, SERVING)
    await running.set_serving(serving)
    await server.start()
    if health_server is not None:
        await health_server.start()
        _log.info(
            "health_listener",
            address=health_listen,
            port=ports["health"],
            note="plaintext; grpc.health.v1.Health/Check only",
        )
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
    "DEFAULT_MAX_RECEIVE_BYTES",
    "DEFAULT_MAX_STREAMS_PER_CONNECTION",
    "HEALTH_MAX_RECEIVE_BYTES",
    "HEALTH_SERVICE",
    "LIVENESS",
    "NOT_SERVING",
    "SERVING",
    "Listener",
    "RunningServer",
    "ServiceRegistration",
    "connection_age_options",
    "default_server_options",
    "serve_until_signalled",
    "start_server",
]
