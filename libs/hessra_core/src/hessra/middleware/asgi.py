"""ASGI middleware that verifies a Hessra token on every request (Starlette, FastAPI, any ASGI app).

::

    app.add_middleware(
        HessraMiddleware,
        public_keys="ed25519/...",
        routes={"GET /orders/{id}": ("orders", "read"), "POST /orders": ("orders", "create")},
    )

What is read from each request:

- the token from ``Authorization: Bearer <token>``;
- the subject from ``x-subject`` (or ``subject_from(scope)``);
- the resource and operation from ``routes`` / ``resolve(scope)`` when configured
  (the caller's ``x-resource``/``x-operation`` headers are then ignored: the
  server says what an endpoint does), else from those headers.

A refused request gets 401 (no token, not a token, a missing field) or 403
(anything else refused), with a JSON body ``{"error": reason, "message": ...}``;
the application is not called. A verified request reaches the application with
``scope["hessra"]`` and ``scope["state"]["hessra"]`` (Starlette's
``request.state.hessra``) set to an :class:`~hessra.AuthContext`, which also
carries the token for a service that forwards it down a chain.

Scopes: ``lifespan`` passes through untouched. ``websocket`` handshakes are
verified like HTTP requests by default (``websocket="verify"``); a refused
handshake is closed with code 1008 before it is accepted, which servers answer
with HTTP 403. ``websocket="pass"`` lets them through unverified, for apps that
authenticate inside the socket. Any other scope type is refused (fail closed).

``exempt_paths`` (exact paths, e.g. ``/healthz``) skip verification. A request
whose route has no mapping, when a mapping is configured, is refused with 403
``unmapped_route``: an endpoint nobody described is not open by accident.

Verification runs inline on the event loop: it is pure CPU work of well under a
millisecond, and biscuit holds the GIL, so a thread would not run it sooner.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from hessra._chain import ServiceChain
from hessra._errors import (
    MalformedRequestError,
    MissingTokenError,
    PermissionDeniedError,
    UnmappedRouteError,
)
from hessra._verify import AuthContext, ChainLike, KeysLike, LocalVerifier
from hessra.middleware._common import Refusal, classify, log_decision
from hessra.middleware._routes import RouteMap

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Resolver = Callable[[Scope], "tuple[str, str] | None"]
SubjectFrom = Callable[[Scope], "str | None"]

SCOPE_KEY = "hessra"


@dataclass(frozen=True)
class HeaderNames:
    """Where the middleware looks; names are matched case-insensitively."""

    token: str = "authorization"  # noqa: S105 (a header name)
    subject: str = "x-subject"
    resource: str = "x-resource"
    operation: str = "x-operation"


DEFAULT_HEADERS = HeaderNames()


def _header_values(scope: Scope) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1").lower()
        values.setdefault(name, []).append(raw_value.decode("latin-1").strip())
    return values


def _single(values: Mapping[str, list[str]], name: str) -> str | None:
    found = values.get(name.lower())
    if not found:
        return None
    if len(found) > 1:
        # Two different subjects (or tokens) in one request is ambiguous; refuse.
        raise MalformedRequestError(f"Header {name} appears more than once")
    return found[0] or None


def bearer_token(value: str | None, where: str = "authorization header") -> str:
    """The token of ``Bearer <token>``; MissingTokenError when absent or another scheme."""
    if not value:
        raise MissingTokenError(where)
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingTokenError(where)
    return token.strip()


class HessraMiddleware:
    """Verify a Hessra token before the wrapped ASGI application sees the request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        public_keys: KeysLike | None = None,
        verifier: LocalVerifier | None = None,
        chain: ChainLike | None = None,
        component: str | None = None,
        headers: HeaderNames = DEFAULT_HEADERS,
        routes: Mapping[str, tuple[str, str]] | None = None,
        resolve: Resolver | None = None,
        subject_from: SubjectFrom | None = None,
        exempt_paths: Collection[str] = (),
        websocket: Literal["verify", "pass"] = "verify",
    ) -> None:
        if (verifier is None) == (public_keys is None):
            raise TypeError("give exactly one of public_keys= or verifier=")
        if routes is not None and resolve is not None:
            raise TypeError("give routes= or resolve=, not both")
        if websocket not in ("verify", "pass"):
            raise ValueError("websocket must be 'verify' or 'pass'")
        if verifier is None:
            assert public_keys is not None
            verifier = LocalVerifier.create(public_keys, chain=chain, component=component)
        elif chain is not None or component is not None:
            raise TypeError("chain= and component= belong to the verifier when one is given")
        self.app = app
        self.verifier = verifier
        self.headers = headers
        self._routes = RouteMap.from_mapping(routes) if routes is not None else None
        self._resolve = resolve
        self._subject_from = subject_from
        self._exempt = frozenset(exempt_paths)
        self._websocket = websocket

    @property
    def chain(self) -> ServiceChain | None:
        return self.verifier.chain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan" or (kind == "websocket" and self._websocket == "pass"):
            await self.app(scope, receive, send)
            return
        if kind in ("http", "websocket") and scope.get("path") in self._exempt:
            await self.app(scope, receive, send)
            return
        context, refusal = self._authorize(scope)
        if refusal is not None or context is None:
            refusal = refusal or Refusal("denied", "Request refused", unauthenticated=False)
            if kind == "websocket":
                await _close_websocket(receive, send, refusal)
            elif kind == "http":
                await _send_refusal(send, refusal)
            return
        scope = dict(scope)
        state = dict(scope.get("state") or {})
        state[SCOPE_KEY] = context
        scope["state"] = state
        scope[SCOPE_KEY] = context
        await self.app(scope, receive, send)

    def _action(self, scope: Scope, headers: Mapping[str, list[str]]) -> tuple[str | None, ...]:
        if self._routes is not None:
            action = self._routes.resolve(scope.get("method", "GET"), scope.get("path", ""))
        elif self._resolve is not None:
            action = self._resolve(scope)
        else:
            resource = _single(headers, self.headers.resource)
            operation = _single(headers, self.headers.operation)
            return resource, operation
        if action is None:
            raise UnmappedRouteError(
                f"No resource/operation is configured for {scope.get('path', '')!r}"
            )
        return action

    def _authorize(self, scope: Scope) -> tuple[AuthContext | None, Refusal | None]:
        subject = resource = operation = None
        kind = scope.get("type")
        try:
            if kind not in ("http", "websocket"):
                raise PermissionDeniedError(f"ASGI scope type {kind!r} is not handled")
            headers = _header_values(scope)
            token = bearer_token(_single(headers, self.headers.token))
            if self._subject_from is not None:
                subject = self._subject_from(scope)
            else:
                subject = _single(headers, self.headers.subject)
            resource, operation = self._action(scope, headers)
            context = self.verifier.verify(
                token, subject, resource, operation, where=f"{kind} request"
            )
        except Exception as exc:
            refusal = classify(exc)
            log_decision(
                refusal,
                transport=str(kind),
                target=str(scope.get("path", "")),
                subject=subject,
                resource=resource,
                operation=operation,
                component=self.verifier.component,
                error_type=type(exc).__name__,
            )
            return None, refusal
        log_decision(
            None,
            transport=str(kind),
            target=str(scope.get("path", "")),
            subject=subject,
            resource=resource,
            operation=operation,
            component=self.verifier.component,
        )
        return context, None


async def _send_refusal(send: Send, refusal: Refusal) -> None:
    body = json.dumps({"error": refusal.reason, "message": refusal.message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if refusal.unauthenticated:
        headers.append((b"www-authenticate", b"Bearer"))
    await send(
        {
            "type": "http.response.start",
            "status": 401 if refusal.unauthenticated else 403,
            "headers": headers,
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _close_websocket(receive: Receive, send: Send, refusal: Refusal) -> None:
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    # 1008 = policy violation; a close before accept becomes an HTTP 403 handshake reply.
    await send({"type": "websocket.close", "code": 1008, "reason": refusal.reason})


def auth_context(scope_or_request: Any) -> AuthContext:
    """The verified AuthContext of a request (a Starlette Request or a raw ASGI scope)."""
    scope = getattr(scope_or_request, "scope", scope_or_request)
    context = scope.get(SCOPE_KEY) if isinstance(scope, Mapping) else None
    if not isinstance(context, AuthContext):
        raise LookupError("this request was not verified by HessraMiddleware")
    return context


__all__ = ["HeaderNames", "HessraMiddleware", "auth_context", "bearer_token"]
