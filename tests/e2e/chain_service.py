"""A small service in a service chain, run as its own OS process by the e2e tests.

    python chain_service.py --component fraud_detection --chain '[...]' --port-file p.json \\
        --issuer 127.0.0.1:50051 --cert c.crt --key c.key --ca ca.crt --personal-key k.pem

A Starlette app served by uvicorn, built the way an application would be:

- ``hessra.middleware.asgi.HessraMiddleware`` verifies ``POST /handle`` as this
  component of the chain (every node before it must have attested, in order),
  taking the token from ``Authorization: Bearer <token>``, the subject from
  ``x-subject``, and the action from the route (``payment_processor``/``charge``);
- the handler attests the verified token with the service's own key through the
  SDK (``AsyncHessra.attest_service_chain_token``) and forwards it to the first URL
  in ``x-next-hops`` (comma-separated), passing the rest on. The last hop answers
  ``{"ok": true, "subject": ..., "at": component}`` and each hop on the way back
  adds itself to ``path``.

The first node (``--request-token``) asks the issuer for a token (SDK,
``request_token_full``) when the request carries none. A refusal is ``401``/``403``
with ``{"error": reason, "message": ..., "at": component}``: the middleware writes
the first two, :class:`NameRefusingNode` adds ``at``. A downstream refusal is passed
back unchanged. The port file is written once uvicorn accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hessra import AsyncHessra, HessraError, ServiceChain
from hessra.middleware.asgi import HessraMiddleware, auth_context

RESOURCE = "payment_processor"
OPERATION = "charge"

Scope = dict[str, Any]
Message = dict[str, Any]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--component", required=True)
    p.add_argument("--chain", required=True, help="the whole chain as JSON")
    p.add_argument("--port-file", type=Path, required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--personal-key", required=True)
    p.add_argument("--request-token", action="store_true")
    return p.parse_args(argv)


def refusal(exc: HessraError, component: str) -> JSONResponse:
    body = {"error": exc.reason, "message": exc.message, "at": component}
    return JSONResponse(body, status_code=403)


class NameRefusingNode:
    """Adds ``"at": component`` to a refusal body that does not say where it happened.

    HessraMiddleware answers ``{"error", "message"}``; across a chain the caller
    also needs to know which hop refused. Bodies that already name a hop (this
    service's own refusals, and downstream ones passed back) go through untouched.
    """

    def __init__(self, app: Any, *, component: str) -> None:
        self.app = app
        self.component = component

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def tagging_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            with contextlib.suppress(ValueError):
                data = json.loads(body)
                if isinstance(data, dict) and "at" not in data:
                    data["at"] = self.component
                    body = json.dumps(data).encode()
            headers = [(k, v) for k, v in held["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, tagging_send)


class RequestTokenWhenAbsent:
    """The head of the chain: a request without a token gets one from the issuer.

    The token is requested for this service's own identity (its client
    certificate), so its subject travels on as ``x-subject``.
    """

    def __init__(self, app: Any, *, client: AsyncHessra, component: str) -> None:
        self.app = app
        self.client = client
        self.component = component

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        headers = scope.get("headers") or []
        if scope["type"] != "http" or any(k.lower() == b"authorization" for k, _ in headers):
            await self.app(scope, receive, send)
            return
        try:
            response = await self.client.request_token_full(RESOURCE, OPERATION)
        except HessraError as exc:
            await refusal(exc, self.component)(scope, receive, send)
            return
        headers = [(k, v) for k, v in headers if k.lower() != b"x-subject"]
        headers += [
            (b"authorization", f"Bearer {response.token}".encode()),
            (b"x-subject", response.subject.encode()),
        ]
        await self.app({**scope, "headers": headers}, receive, send)


def build_app(args: argparse.Namespace, client: AsyncHessra) -> Starlette:
    component: str = args.component
    forwarder: dict[str, httpx.AsyncClient] = {}

    async def handle(request: Request) -> Response:
        verified = auth_context(request)
        try:
            token = client.attest_service_chain_token(verified.token, RESOURCE)
        except HessraError as exc:
            return refusal(exc, component)
        hops = [h for h in request.headers.get("x-next-hops", "").split(",") if h]
        if not hops:
            return JSONResponse({"ok": True, "subject": verified.subject, "at": component})
        headers = {
            "authorization": f"Bearer {token}",
            "x-subject": verified.subject,
            "x-next-hops": ",".join(hops[1:]),
        }
        downstream = await forwarder["http"].post(hops[0], headers=headers)
        data: Any = downstream.json()
        if downstream.status_code == 200:
            data["path"] = [component, *data.get("path", [data.get("at")])]
        return JSONResponse(data, status_code=downstream.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=20) as http:
            forwarder["http"] = http
            yield

    # Outermost first: name the hop on refusals, obtain a token at the head, verify.
    middleware = [Middleware(NameRefusingNode, component=component)]
    if args.request_token:
        middleware.append(Middleware(RequestTokenWhenAbsent, client=client, component=component))
    middleware.append(
        Middleware(
            HessraMiddleware,
            public_keys=client.public_keys,
            chain=ServiceChain.from_json(args.chain),
            component=component,
            routes={"POST /handle": (RESOURCE, OPERATION)},
        )
    )
    return Starlette(
        routes=[Route("/handle", handle, methods=["POST"])],
        middleware=middleware,
        lifespan=lifespan,
    )


class _Server(uvicorn.Server):
    """uvicorn, announcing its port in a file once it accepts connections."""

    def __init__(self, config: uvicorn.Config, port: int, port_file: Path) -> None:
        super().__init__(config)
        self.announced_port = port
        self.port_file = port_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            tmp = self.port_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"port": self.announced_port}))
            tmp.rename(self.port_file)


async def serve(args: argparse.Namespace) -> None:
    client = AsyncHessra(
        args.issuer,
        cert=args.cert,
        key=args.key,
        ca=args.ca,
        personal_keypair=args.personal_key,
    )
    try:
        await client.setup()  # the issuer's published keys, for the middleware
        app = build_app(args, client)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
        # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes in-flight requests.
        await _Server(config, sock.getsockname()[1], args.port_file).serve(sockets=[sock])
    finally:
        await client.close()


def main() -> int:
    asyncio.run(serve(parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
