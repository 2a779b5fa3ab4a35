"""No token text in any error: a server or proxy that echoes the token it was sent
does not get it into the exception (and so into the caller's logs).

Each case scripts the real mTLS server (``scripted.py``) to put the very token the
client sent into its refusal message, and checks the raised error for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra import Hessra, HessraError
from hessra.v1 import issuer_pb2

from .scripted import Handler, ScriptedServer

SECRET = "EoEBCgdzdWJqZWN0-secret-token-text"


def echo(field: str, code: grpc.StatusCode) -> Handler:
    """Refuse with ``code``, quoting the request's ``field`` (or bearer header)."""

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if field == "bearer":
            sent = dict(context.invocation_metadata() or ())["authorization"]
        else:
            sent = getattr(request, field)
        await context.abort(code, f"cannot accept {sent!s}")

    return handler


async def verify_says_invalid(request: Any, context: grpc.aio.ServicerContext) -> Any:
    return issuer_pb2.VerifyTokenResponse(
        valid=False, reason="expired", message=f"token {request.token} expired"
    )


# (id, method, server behaviour, the client call)
CASES: list[tuple[str, str, Handler, Callable[[Hessra, str], Any]]] = [
    (
        "verify_status",
        "VerifyToken",
        echo("token", grpc.StatusCode.INVALID_ARGUMENT),
        lambda c, t: c.verify_token_remote(SECRET, "s", "orders", "read"),
    ),
    (
        "verify_answer",
        "VerifyToken",
        verify_says_invalid,
        lambda c, t: c.verify_token_remote(SECRET, "s", "orders", "read"),
    ),
    (
        "sign_unavailable",
        "SignToken",
        echo("token", grpc.StatusCode.UNAVAILABLE),
        lambda c, t: c.sign_token(SECRET, "orders", "read", endpoint=t),
    ),
    (
        "refresh_denied",
        "RefreshIdentityToken",
        echo("current_token", grpc.StatusCode.PERMISSION_DENIED),
        lambda c, t: c.refresh_identity_token(SECRET),
    ),
    (
        "bearer_unauthenticated",
        "RequestToken",
        echo("bearer", grpc.StatusCode.UNAUTHENTICATED),
        lambda c, t: c.request_token_with_identity("orders", "read", identity_token=SECRET),
    ),
]


@pytest.mark.parametrize(
    ("method", "handler", "call"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_an_echoed_token_is_redacted_from_the_error(
    scripted: ScriptedServer, method: str, handler: Handler, call: Callable[[Hessra, str], Any]
) -> None:
    scripted.script(method, handler)
    with (
        Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client,
        pytest.raises(HessraError) as caught,
    ):
        call(client, scripted.target)
    assert scripted.calls[method] == 1
    text = f"{caught.value.message} {caught.value!r} {caught.value.args}"
    assert SECRET not in text
    assert "<token redacted>" in caught.value.message
