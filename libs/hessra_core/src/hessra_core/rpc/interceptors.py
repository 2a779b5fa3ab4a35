"""One canonical log line, metrics and error mapping for every RPC.

:class:`ObservabilityInterceptor` wraps each handler of a ``grpc.aio`` server. For
every call it

- opens a :class:`RequestRecord` that the servicer fills in with :func:`annotate`
  (``caller``, ``resource``, ``operation``, ``decision``, ``revision``, or any other
  non-secret field);
- turns a ``HessraError`` raised by the servicer into the status code and message
  chosen by :mod:`hessra_core.rpc.status` (plus trailing metadata
  ``x-hessra-reason``), and anything else into ``INTERNAL`` with the traceback
  logged but not sent;
- writes ONE structured line, ``event="rpc"``, with method, code, caller,
  resource, operation, decision, revision and latency;
- counts the call in ``hessra_grpc_requests_total{method,code}`` and times it in
  ``hessra_grpc_request_duration_seconds{method}``.

Usage in a servicer::

    from hessra_core.rpc import annotate

    async def SignToken(self, request, context):
        annotate(resource=request.resource, operation=request.operation)
        ...                          # raise errors.PermissionDeniedError(...) to deny
        annotate(decision="allow", revision=snapshot.revision)
        return pb.SignTokenResponse(...)

Fields whose name suggests secret material (token, key, secret, password,
authorization) are dropped from the line even if a servicer passes them: the log
must never carry a credential. String values longer than ``MAX_FIELD_CHARS`` are cut.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
import structlog
from prometheus_client import Counter, Histogram

from hessra_core import errors
from hessra_core.rpc.peer import peer_pem, pem_label
from hessra_core.rpc.status import (
    REASON_METADATA_KEY,
    reason_for,
    status_for,
    status_message,
)

REQUESTS = Counter(
    "hessra_grpc_requests",
    "gRPC calls handled, by full method name and status code.",
    ["method", "code"],
)
LATENCY = Histogram(
    "hessra_grpc_request_duration_seconds",
    "Time from receiving a gRPC call to its status, by full method name.",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

_SECRET_WORDS = ("token", "key", "secret", "password", "authorization", "credential")
# Names that contain a secret word but describe no secret.
_ALLOWED_NAMES = frozenset({"key_id", "token_id", "token_kind", "token_ttl"})
CANONICAL_FIELDS = ("caller", "resource", "operation", "decision", "revision")
# Annotated values often come straight from the request (resource, operation), before the
# caller is authenticated: a longer string is cut so nobody can write megabyte log lines.
MAX_FIELD_CHARS = 512


def _bounded(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        cut = MAX_FIELD_CHARS - 40
        return f"{value[:cut]}... ({len(value) - cut} more characters)"
    return value


@functools.lru_cache(maxsize=512)
def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered not in _ALLOWED_NAMES and any(w in lowered for w in _SECRET_WORDS)


@dataclass
class RequestRecord:
    """What one RPC did, collected while it runs and logged once when it ends."""

    method: str
    fields: dict[str, Any] = field(default_factory=dict)
    code_override: str | None = None
    finished: bool = False
    # The caller's leaf certificate (PEM), read once per call: grpc builds a fresh
    # auth_context() dict on every access, so servicers take it from here instead.
    peer_pem: bytes | None = None

    def annotate(self, **values: Any) -> None:
        for name, value in values.items():
            if not _is_secret_name(name):
                self.fields[name] = _bounded(value)


_current: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "hessra_rpc_record", default=None
)


def annotate(**values: Any) -> None:
    """Add fields to the current RPC's log line (a no-op outside an intercepted RPC)."""
    record = _current.get()
    if record is not None:
        record.annotate(**values)


def current_record() -> RequestRecord | None:
    return _current.get()


Behavior = Callable[..., Any]


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Logging, metrics and error mapping for a ``grpc.aio`` server.

    ``trailing_metadata`` is attached to every response (the issuer uses it for
    ``x-hessra-worker-pid``); a servicer that sets its own trailing metadata
    replaces it on success.
    """

    def __init__(
        self,
        *,
        logger: Any = None,
        trailing_metadata: Sequence[tuple[str, str]] = (),
        skip_methods: Sequence[str] = ("/grpc.health.v1.Health/Watch",),
    ) -> None:
        self._log = logger if logger is not None else structlog.get_logger("hessra.rpc")
        self._trailing = tuple(trailing_metadata)
        self._skip = frozenset(skip_methods)
        # Wrapped handlers by the handler they wrap: handlers are per method and long-lived,
        # so each is wrapped once instead of on every call.
        self._wrapped: dict[tuple[str, int], Any] = {}
        self._counters: dict[tuple[str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler: Any = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in self._skip:
            return handler
        key = (method, id(handler))
        wrapped = self._wrapped.get(key)
        if wrapped is None or wrapped[0] is not handler:
            wrapped = (handler, self._wrap_handler(method, handler))
            self._wrapped[key] = wrapped
        return wrapped[1]

    def _wrap_handler(self, method: str, handler: Any) -> Any:
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(method, handler.stream_stream), **kwargs
            )
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary), **kwargs
            )
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream), **kwargs
            )
        return grpc.unary_unary_rpc_method_handler(
            self._wrap_unary(method, handler.unary_unary), **kwargs
        )

    def _wrap_unary(self, method: str, behavior: Behavior) -> Behavior:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            record, token, started = self._begin(method, context)
            try:
                return await behavior(request, context)
            except BaseException as exc:
                await self._fail(record, context, exc, started)
                raise  # unreachable for mapped errors: _fail aborts
            finally:
                _current.reset(token)
                self._finish(record, context, started)

        return wrapper

    def _wrap_stream(self, method: str, behavior: Behavior) -> Behavior:
        async def wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            record, token, started = self._begin(method, context)
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                await self._fail(record, context, exc, started)
                raise
            finally:
                _current.reset(token)
                self._finish(record, context, started)

        return wrapper

    def _begin(
        self, method: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[RequestRecord, contextvars.Token[RequestRecord | None], float]:
        pem = peer_pem(context)
        record = RequestRecord(method, peer_pem=pem)
        record.fields["caller"] = pem_label(pem)
        if self._trailing:
            context.set_trailing_metadata(self._trailing)
        return record, _current.set(record), time.perf_counter()

    async def _fail(
        self,
        record: RequestRecord,
        context: grpc.aio.ServicerContext[Any, Any],
        exc: BaseException,
        started: float,
    ) -> None:
        if isinstance(exc, grpc.aio.AbortError):
            return  # the servicer chose its status itself
        if not isinstance(exc, Exception):
            record.code_override = "CANCELLED"
            return  # cancellation, KeyboardInterrupt: let it through
        if not isinstance(exc, errors.HessraError):
            self._log.error("rpc_internal_error", method=record.method, exc_info=exc)
        code = status_for(exc)
        record.fields.setdefault("decision", reason_for(exc))
        record.fields["reason"] = reason_for(exc)
        record.fields["error"] = status_message(exc)
        # abort() sends the status before it raises: log first so the line is never
        # written after the caller already has its answer.
        record.code_override = code.name
        self._finish(record, context, started)
        trailing = (*self._trailing, (REASON_METADATA_KEY, reason_for(exc)))
        await context.abort(code, status_message(exc), trailing_metadata=trailing)

    def _finish(
        self, record: RequestRecord, context: grpc.aio.ServicerContext[Any, Any], started: float
    ) -> None:
        if record.finished:
            return
        record.finished = True
        elapsed = time.perf_counter() - started
        code = context.code()
        code_name = record.code_override or (
            code.name if isinstance(code, grpc.StatusCode) else "OK"
        )
        counter = self._counters.get((record.method, code_name))
        if counter is None:
            counter = self._counters[(record.method, code_name)] = REQUESTS.labels(
                record.method, code_name
            )
        counter.inc()
        timer = self._timers.get(record.method)
        if timer is None:
            timer = self._timers[record.method] = LATENCY.labels(record.method)
        timer.observe(elapsed)
        line: dict[str, Any] = {name: record.fields.pop(name, None) for name in CANONICAL_FIELDS}
        line.update(record.fields)
        if code_name != "OK" and line.get("decision") is None:
            line["decision"] = code_name.lower()
        self._log.info(
            "rpc", method=record.method, code=code_name, latency_ms=round(elapsed * 1000, 3), **line
        )


__all__ = [
    "CANONICAL_FIELDS",
    "LATENCY",
    "MAX_FIELD_CHARS",
    "REQUESTS",
    "ObservabilityInterceptor",
    "RequestRecord",
    "annotate",
    "current_record",
]
