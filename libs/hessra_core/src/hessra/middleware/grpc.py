"""A grpc.aio server interceptor that verifies a Hessra token on every call.

::

    server = grpc.aio.server(interceptors=[
        HessraServerInterceptor(
            public_keys="ed25519/...",
            methods={"/shop.Orders/Get": ("orders", "read")},
            exempt_methods={"/grpc.health.v1.Health/Check"},
        )
    ])

Metadata read from each call: ``authorization: Bearer <token>``, ``x-subject``
and, unless ``methods``/``resolve`` derive them from the method name (the safer
choice: the server says what a method does), ``x-resource`` and ``x-operation``.
A ``resolve`` function gets one value per metadata key; a call repeating any key is
refused rather than resolved from one of its values.

A refused call is aborted before the servicer runs, with UNAUTHENTICATED (no
token, not a token, missing field) or PERMISSION_DENIED (anything else,
including an unmapped method when a mapping is configured) and a message
naming what failed. A verified call runs with :func:`current_auth` returning its
:class:`~hessra.AuthContext` (kept in a context variable set for that call only).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio

from hessra._errors import MalformedRequestError, UnmappedRouteError
from hessra._verify import AuthContext, ChainLike, KeysLike, LocalVerifier
from hessra.middleware._common import Refusal, classify, log_decision
from hessra.middleware.asgi import DEFAULT_HEADERS, HeaderNames, bearer_token

if TYPE_CHECKING:  # grpc-stubs make the handler generic; grpc itself does not
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
MethodResolver = Callable[[str, Mapping[str, str]], "tuple[str, str] | None"]

_current: contextvars.ContextVar[AuthContext | None] = contextvars.ContextVar(
    "hessra_auth", default=None
)


def current_auth() -> AuthContext:
    """The AuthContext of the call being served; LookupError outside a verified call."""
    context = _current.get()
    if context is None:
        raise LookupError("no verified Hessra call is in progress")
    return context


def _metadata(details: grpc.HandlerCallDetails) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in details.invocation_metadata or ():
        if key.endswith("-bin"):
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        values.setdefault(key.lower(), []).append(text.strip())
    return values


def _single(values: Mapping[str, Sequence[str]], name: str) -> str | None:
    found = values.get(name.lower())
    if not found:
        return None
    if len(found) > 1:
        raise MalformedRequestError(f"Metadata {name} appears more than once")
    return found[0] or None


class HessraServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Verify a Hessra token before the servicer method runs."""

    def __init__(
        self,
        *,
        public_keys: KeysLike | None = None,
        verifier: LocalVerifier | None = None,
        chain: ChainLike | None = None,
        component: str | None = None,
        headers: HeaderNames = DEFAULT_HEADERS,
        methods: Mapping[str, tuple[str, str]] | None = None,
        resolve: MethodResolver | None = None,
        exempt_methods: Collection[str] = (),
    ) -> None:
        if (verifier is None) == (public_keys is None):
            raise TypeError("give exactly one of public_keys= or verifier=")
        if methods is not None and resolve is not None:
            raise TypeError("give methods= or resolve=, not both")
        if verifier is None:
            assert public_keys is not None
            verifier = LocalVerifier.create(public_keys, chain=chain, component=component)
        elif chain is not None or component is not None:
            raise TypeError("chain= and component= belong to the verifier when one is given")
        self.verifier = verifier
        self.headers = headers
        self._methods = dict(methods) if methods is not None else None
        self._resolve = resolve
        self._exempt = frozenset(exempt_methods)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in self._exempt:
            return handler
        context, refusal = self._authorize(handler_call_details)
        if context is None:
            return _denying(handler, refusal or Refusal("denied", "Call refused", False))
        return _wrapping(handler, context)

    def _action(
        self, method: str, metadata: Mapping[str, list[str]]
    ) -> tuple[str | None, str | None]:
        if self._methods is not None:
            action = self._methods.get(method)
        elif self._resolve is not None:
            # The resolver sees one value per key. Picking one of a repeated key's values
            # would let the resolver and the servicer read different ones: refuse instead.
            for name, values in metadata.items():
                if len(values) > 1:
                    raise MalformedRequestError(f"Metadata {name} appears more than once")
            flat = {k: v[0] for k, v in metadata.items() if v}
            action = self._resolve(method, flat)
        else:
            return _single(metadata, self.headers.resource), _single(
                metadata, self.headers.operation
            )
        if action is None:
            raise UnmappedRouteError(f"No resource/operation is configured for {method}")
        return action

    def _authorize(
        self, details: grpc.HandlerCallDetails
    ) -> tuple[AuthContext | None, Refusal | None]:
        subject = resource = operation = None
        try:
            metadata = _metadata(details)
            token = bearer_token(
                _single(metadata, self.headers.token), where="authorization metadata"
            )
            subject = _single(metadata, self.headers.subject)
            resource, operation = self._action(details.method, metadata)
            context = self.verifier.verify(
                token, subject, resource, operation, where="call metadata"
            )
        except Exception as exc:
            refusal = classify(exc)
            log_decision(
                refusal,
                transport="grpc",
                target=details.method,
                subject=subject,
                resource=resource,
                operation=operation,
                component=self.verifier.component,
                error_type=type(exc).__name__,
            )
            return None, refusal
        log_decision(
            None,
            transport="grpc",
            target=details.method,
            subject=subject,
            resource=resource,
            operation=operation,
            component=self.verifier.component,
        )
        return context, None


def _factory(handler: Handler) -> tuple[Any, Any]:
    """The constructor for this handler's kind, and its behaviour."""
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler, handler.unary_unary
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler, handler.unary_stream
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler, handler.stream_unary
    return grpc.stream_stream_rpc_method_handler, handler.stream_stream


def _rebuild(handler: Handler, behaviour: Any) -> Handler:
    make, _ = _factory(handler)
    rebuilt: Handler = make(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
    return rebuilt


def _denying(handler: Handler, refusal: Refusal) -> Handler:
    code = (
        grpc.StatusCode.UNAUTHENTICATED
        if refusal.unauthenticated
        else grpc.StatusCode.PERMISSION_DENIED
    )
    message = f"{refusal.reason}: {refusal.message}"

    async def deny(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(code, message)

    return _rebuild(handler, deny)


def _wrapping(handler: Handler, auth: AuthContext) -> Handler:
    """The same handler, run with ``current_auth()`` set to ``auth``.

    grpc.aio picks the streaming style from the behaviour's function kind, so the
    wrapper keeps that kind: async generators stay async generators, coroutines
    stay coroutines (e.g. ones that call ``context.write``).
    """
    _, behaviour = _factory(handler)

    if inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            # Each call runs in its own task (a copy of the context), so the value
            # set here cannot outlive the call; no reset needed (and a generator
            # finalised elsewhere could not reset it anyway).
            _current.set(auth)
            async for item in behaviour(request, context):
                yield item

        return _rebuild(handler, stream)

    if inspect.isgeneratorfunction(behaviour):

        async def sync_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            _current.set(auth)
            for item in behaviour(request, context):
                yield item

        return _rebuild(handler, sync_stream)

    async def call(request: Any, context: Any) -> Any:
        token = _current.set(auth)
        try:
            result = behaviour(request, context)
            if inspect.isawaitable(result):
                result = await result
            return result
        finally:
            _current.reset(token)

    return _rebuild(handler, call)


__all__ = ["HessraServerInterceptor", "current_auth"]
