"""A real gRPC server speaking the issuer and signer protocols, whose answers a test scripts.

For what the SDK does when a server misbehaves in ways our own services never do on
purpose: hangs, answers every status code, returns a token already expired, or a
signer reply without the sign-off it was asked for. It is a real ``grpc.aio`` server on
127.0.0.1:0 with real mTLS (certificates from ``hessra_core.pki``), running on a
background event loop so blocking and asyncio clients can both call it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from hessra.v1 import issuer_pb2_grpc, signer_pb2_grpc
from hessra_core import pki
from hessra_core.testing import LoopThread, write_tls

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
LOOPBACK = pki.SubjectNames(dns=["localhost"], ips=["127.0.0.1"])
ISSUER_METHODS = (
    "RequestToken",
    "RequestIdentityToken",
    "RefreshIdentityToken",
    "VerifyToken",
    "VerifyServiceChainToken",
    "GetPublicKeys",
)
SIGNER_METHODS = ("SignToken", "GetPublicKey")


def _servicer(base: type, methods: tuple[str, ...], handlers: dict[str, Handler]) -> Any:
    """A servicer whose every method runs the handler currently scripted for it."""

    def method(name: str) -> Callable[..., Awaitable[Any]]:
        async def call(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            handler = handlers.get(name)
            if handler is None:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not scripted")
            assert handler is not None
            return await handler(request, context)

        return call

    return type(f"Scripted{base.__name__}", (base,), {m: method(m) for m in methods})()


class ScriptedServer:
    """Issuer and signer services on one port; ``handlers[method]`` decides each answer."""

    def __init__(self, root: Path) -> None:
        self.root = root
        ca = pki.create_ca("scripted CA")
        self.ca_file = root / "ca.pem"
        self.ca_file.write_bytes(ca.cert_pem)
        self.server_tls = write_tls(root, "server", pki.issue_cert(ca, "s", LOOPBACK, server=True))
        names = pki.SubjectNames(uris=["urn:test:gateway"])
        self.client_tls = write_tls(root, "client", pki.issue_cert(ca, "gw", names))
        self.handlers: dict[str, Handler] = {}
        self.calls: dict[str, int] = {}
        self._arrived: dict[str, threading.Event] = {}
        self.loop = LoopThread()
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client_kwargs(self, **extra: Any) -> dict[str, Any]:
        return {
            "cert": self.client_tls.cert,
            "key": self.client_tls.key,
            "ca": self.ca_file,
        } | extra

    def script(self, method: str, handler: Handler) -> None:
        """Answer ``method`` with ``handler`` (counting calls in ``self.calls``)."""

        arrived = self._arrived.setdefault(method, threading.Event())

        async def counted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            self.calls[method] = self.calls.get(method, 0) + 1
            arrived.set()
            return await handler(request, context)

        self.handlers[method] = counted

    def wait_called(self, method: str, timeout: float = 10.0) -> None:
        """Block until ``method`` has been called since it was scripted."""
        if not self._arrived.setdefault(method, threading.Event()).wait(timeout):
            raise AssertionError(f"{method} was not called within {timeout} s")

    async def called(self, method: str) -> None:
        """``wait_called`` for asyncio tests (waits on a thread, not the loop)."""
        await asyncio.to_thread(self.wait_called, method)

    def reset(self) -> None:
        self.handlers.clear()
        self.calls.clear()
        self._arrived.clear()

    async def _start(self) -> None:
        server = grpc.aio.server()
        handlers = self.handlers
        issuer_pb2_grpc.add_IssuerServicer_to_server(
            _servicer(issuer_pb2_grpc.IssuerServicer, ISSUER_METHODS, handlers), server
        )
        signer_pb2_grpc.add_SignerServicer_to_server(
            _servicer(signer_pb2_grpc.SignerServicer, SIGNER_METHODS, handlers), server
        )
        creds = grpc.ssl_server_credentials(
            [(self.server_tls.key.read_bytes(), self.server_tls.cert.read_bytes())],
            root_certificates=self.ca_file.read_bytes(),
            require_client_auth=True,
        )
        self.port = server.add_secure_port("127.0.0.1:0", creds)
        await server.start()
        self._server = server

    def start(self) -> ScriptedServer:
        self.loop.run(self._start())
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.loop.run(self._server.stop(0))
        self.loop.close()


def hang(seconds: float) -> Handler:
    """A handler that answers nothing for ``seconds`` (then UNAVAILABLE)."""

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await asyncio.sleep(seconds)
        await context.abort(grpc.StatusCode.UNAVAILABLE, "woke up too late")

    return handler


def reply(value: Any, delay: float = 0.0) -> Handler:
    """A handler that answers ``value`` (after ``delay`` seconds)."""

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if delay:
            await asyncio.sleep(delay)
        return value

    return handler


def refuse(code: grpc.StatusCode, message: str, reason: str | None = None) -> Handler:
    """A handler that refuses with ``code``, ``message`` and (optionally) a reason trailer."""

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if reason is not None:
            context.set_trailing_metadata((("x-hessra-reason", reason),))
        await context.abort(code, message)

    return handler
