"""HessraMiddleware in a real Starlette app, driven over ASGI by httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from hessra import KeyPair
from hessra.middleware.asgi import HeaderNames, HessraMiddleware, auth_context

from .conftest import SUBJECT, ChainWorld


async def whoami(request: Request) -> JSONResponse:
    ctx = auth_context(request)
    assert request.state.hessra is ctx
    return JSONResponse(
        {
            "subject": ctx.subject,
            "resource": ctx.resource,
            "operation": ctx.operation,
            "component": ctx.component,
            "forwardable": bool(ctx.token),
        }
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def socket(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send_json({"subject": auth_context(ws).subject})
    await ws.close()


ROUTES = [
    Route("/whoami", whoami),
    Route("/orders/{id}", whoami, methods=["GET", "DELETE"]),
    Route("/orders", whoami, methods=["POST"]),
    Route("/pay", whoami, methods=["POST"]),
    Route("/healthz", health),
    WebSocketRoute("/ws", socket),
]


def make_app(**options: Any) -> Starlette:
    app = Starlette(routes=ROUTES)
    app.add_middleware(HessraMiddleware, **options)
    return app


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(**options: Any) -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=make_app(**options)), base_url="http://test"
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


def headers(token: str | None, subject: str = SUBJECT, **extra: str) -> dict[str, str]:
    out = {"x-subject": subject, **{k.replace("_", "-"): v for k, v in extra.items()}}
    if token is not None:
        out["authorization"] = f"Bearer {token}"
    return out


async def test_valid_token_reaches_the_app(
    client_for: Callable[..., httpx.AsyncClient], root: KeyPair, mint: Callable[..., str]
) -> None:
    client = client_for(public_keys=root.public_key)
    r = await client.get(
        "/whoami", headers=headers(mint(), x_resource="orders", x_operation="read")
    )
    assert r.status_code == 200
    assert r.json() == {
        "subject": SUBJECT,
        "resource": "orders",
        "operation": "read",
        "component": None,
        "forwardable": True,
    }


@pytest.mark.parametrize(
    ("request_headers", "status", "reason"),
    [
        (
            {"x-subject": SUBJECT, "x-resource": "orders", "x-operation": "read"},
            401,
            "missing_token",
        ),
        ({"authorization": "Basic abc", "x-subject": SUBJECT}, 401, "missing_token"),
        (
            {
                "authorization": "Bearer !!!",
                "x-subject": SUBJECT,
                "x-resource": "orders",
                "x-operation": "read",
            },
            401,
            "malformed_token",
        ),
        (
            {"authorization": "Bearer TOKEN", "x-resource": "orders", "x-operation": "read"},
            401,
            "missing_field",
        ),
        (
            {"authorization": "Bearer TOKEN", "x-subject": SUBJECT, "x-operation": "read"},
            401,
            "missing_field",
        ),
        (
            {
                "authorization": "Bearer TOKEN",
                "x-subject": SUBJECT,
                "x-resource": "orders",
                "x-operation": "delete",
            },
            403,
            "operation_mismatch",
        ),
        (
            {
                "authorization": "Bearer TOKEN",
                "x-subject": "uri:urn:user:evil",
                "x-resource": "orders",
                "x-operation": "read",
            },
            403,
            "subject_mismatch",
        ),
    ],
    ids=[
        "no-header",
        "wrong-scheme",
        "garbage-token",
        "no-subject",
        "no-resource",
        "wrong-operation",
        "wrong-subject",
    ],
)
async def test_refusals_are_json_with_a_reason(
    client_for: Callable[..., httpx.AsyncClient],
    root: KeyPair,
    mint: Callable[..., str],
    request_headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    client = client_for(public_keys=root.public_key)
    sent = {k: v.replace("TOKEN", mint()) for k, v in request_headers.items()}
    r = await client.get("/whoami", headers=sent)
    assert r.status_code == status
    body = r.json()
    assert body["error"] == reason
    assert body["message"]
    assert mint() not in r.text
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"


async def test_wrong_operation_message_is_specific(
    client_for: Callable[..., httpx.AsyncClient], root: KeyPair, mint: Callable[..., str]
) -> None:
    client = client_for(public_keys=root.public_key)
    r = await client.get(
        "/whoami", headers=headers(mint(), x_resource="orders", x_operation="delete")
    )
    assert r.status_code == 403
    assert "delete" in r.json()["message"]


async def test_duplicate_subject_headers_are_refused(
    client_for: Callable[..., httpx.AsyncClient], root: KeyPair, mint: Callable[..., str]
) -> None:
    client = client_for(public_keys=root.public_key)
    raw = [
        ("authorization", f"Bearer {mint()}"),
        ("x-subject", SUBJECT),
        ("x-subject", "uri:urn:user:other"),
        ("x-resource", "orders"),
        ("x-operation", "read"),
    ]
    r = await client.get("/whoami", headers=raw)
    assert (r.status_code, r.json()["error"]) == (401, "malformed_request")


ROUTE_MAP = {
    "GET /orders/{id}": ("orders", "read"),
    "DELETE /orders/{id}": ("orders", "delete"),
    "POST /orders": ("orders", "create"),
}


@pytest.mark.parametrize(
    ("method", "path", "granted", "status"),
    [
        ("GET", "/orders/7", ("orders", "read"), 200),
        ("DELETE", "/orders/7", ("orders", "read"), 403),
        ("DELETE", "/orders/7", ("orders", "delete"), 200),
        ("POST", "/orders", ("orders", "create"), 200),
        ("GET", "/whoami", ("orders", "read"), 403),
    ],
    ids=["read-ok", "read-token-cannot-delete", "delete-ok", "create-ok", "unmapped-route"],
)
async def test_route_derived_action_ignores_client_headers(
    client_for: Callable[..., httpx.AsyncClient],
    root: KeyPair,
    mint: Callable[..., str],
    method: str,
    path: str,
    granted: tuple[str, str],
    status: int,
) -> None:
    client = client_for(public_keys=root.public_key, routes=ROUTE_MAP)
    token = mint(resource=granted[0], operation=granted[1])
    # The client claims exactly what its token grants; the route decides anyway.
    sent = headers(token, x_resource=granted[0], x_operation=granted[1])
    r = await client.request(method, path, headers=sent)
    assert r.status_code == status, r.text
    if status == 200:
        assert (r.json()["resource"], r.json()["operation"]) == granted
    elif path == "/whoami":
        assert r.json()["error"] == "unmapped_route"


async def test_resolver_callable_and_custom_headers(
    client_for: Callable[..., httpx.AsyncClient], root: KeyPair, mint: Callable[..., str]
) -> None:
    client = client_for(
        public_keys=root.public_key.to_string(),
        resolve=lambda scope: ("orders", "read") if scope["path"] == "/whoami" else None,
        headers=HeaderNames(token="x-hessra-token", subject="x-caller"),
    )
    token = mint()
    r = await client.get(
        "/whoami", headers={"x-hessra-token": f"Bearer {token}", "x-caller": SUBJECT}
    )
    assert r.status_code == 200
    r = await client.get(
        "/whoami", headers={"authorization": f"Bearer {token}", "x-caller": SUBJECT}
    )
    assert r.status_code == 401


async def test_exempt_paths_skip_verification(
    client_for: Callable[..., httpx.AsyncClient], root: KeyPair
) -> None:
    client = client_for(public_keys=root.public_key, exempt_paths={"/healthz"})
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/whoami")).status_code == 401


async def test_chain_verification_as_a_component(
    client_for: Callable[..., httpx.AsyncClient], world: ChainWorld
) -> None:
    client = client_for(
        public_keys=world.root.public_key,
        chain=world.chain,
        component="payment_processor",
        routes={"POST /pay": ("payment_processor", "charge")},
    )
    only_gateway = world.attest(world.mint(), "api_gateway")
    r = await client.post("/pay", headers=headers(only_gateway))
    assert r.status_code == 403
    assert r.json() == {
        "error": "missing_attestation",
        "message": "Missing attestation from: fraud_detection",
    }
    both = world.attest(only_gateway, "fraud_detection")
    r = await client.post("/pay", headers=headers(both))
    assert r.status_code == 200
    assert r.json()["component"] == "payment_processor"


async def test_unexpected_failure_fails_closed(
    client_for: Callable[..., httpx.AsyncClient], root: KeyPair, mint: Callable[..., str]
) -> None:
    def broken(scope: Any) -> tuple[str, str]:
        raise RuntimeError("resolver bug with secret detail")

    client = client_for(public_keys=root.public_key, resolve=broken)
    r = await client.get("/whoami", headers=headers(mint()))
    assert r.status_code == 403
    assert r.json()["error"] == "verification_failed"
    assert "secret detail" not in r.text


async def drive(app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[Any]:
    """Run one raw ASGI connection: feed ``incoming`` messages, collect what is sent."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in incoming:
        queue.put_nowait(message)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return await queue.get()

    async def send(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return sent


def ws_scope(request_headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "websocket",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "root_path": "",
        "scheme": "ws",
        "server": ("127.0.0.1", 80),
        "headers": [(k.encode(), v.encode()) for k, v in request_headers.items()],
        "subprotocols": [],
        "asgi": {"version": "3.0"},
    }


async def test_lifespan_passes_through(root: KeyPair) -> None:
    app = make_app(public_keys=root.public_key)
    sent = await drive(
        app,
        {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_websocket_handshakes_are_verified(root: KeyPair, mint: Callable[..., str]) -> None:
    app = make_app(public_keys=root.public_key, routes={"/ws": ("chat", "join")})
    connect = [{"type": "websocket.connect"}]
    refused = await drive(app, ws_scope({}), connect)
    assert refused == [{"type": "websocket.close", "code": 1008, "reason": "missing_token"}]

    token = mint(resource="chat", operation="join")
    accepted = await drive(app, ws_scope(headers(token)), connect)
    assert [m["type"] for m in accepted] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert SUBJECT in accepted[1]["text"]

    wrong = await drive(app, ws_scope(headers(mint())), connect)
    assert wrong == [{"type": "websocket.close", "code": 1008, "reason": "resource_mismatch"}]


async def test_websocket_pass_policy(root: KeyPair) -> None:
    app = make_app(public_keys=root.public_key, websocket="pass")
    # Passed through unverified: the handler finds no verified context.
    with pytest.raises(LookupError, match="not verified by HessraMiddleware"):
        await drive(app, ws_scope({}), [{"type": "websocket.connect"}])


async def test_unknown_scope_types_are_refused(root: KeyPair) -> None:
    app = make_app(public_keys=root.public_key)
    assert await drive(app, {"type": "telepathy", "path": "/"}, []) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one of public_keys= or verifier="),
        (
            {"public_keys": "ed25519/00", "routes": {}, "resolve": lambda s: None},
            "routes= or resolve=",
        ),
        ({"public_keys": "x", "websocket": "maybe"}, "websocket must be"),
    ],
    ids=["no-keys", "routes-and-resolve", "bad-websocket-policy"],
)
def test_misconfiguration_is_refused_at_startup(options: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        HessraMiddleware(lambda s, r, se: None, **options)  # type: ignore[arg-type,return-value]
