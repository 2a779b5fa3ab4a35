"""Retries: read-only calls ride out a briefly unavailable server; nothing else repeats.

The scripted server (``scripted.py``) answers UNAVAILABLE a set number of times before
it answers properly, or refuses outright; the call counts say what the client did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra import AsyncHessra, Hessra, ServiceUnavailableError
from hessra.v1 import issuer_pb2
from hessra_core import errors
from hessra_core.keys import KeyPair

from .scripted import Handler, ScriptedServer, refuse

KEY = KeyPair.generate().public_key
KEYS = issuer_pb2.GetPublicKeysResponse(
    keys=[{"key_id": 1, "public_key": KEY.to_string(), "active": True}]
)


def unavailable_then(times: int, answer: Any) -> Handler:
    """UNAVAILABLE for the first ``times`` calls, then ``answer``."""
    seen = [0]

    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        seen[0] += 1
        if seen[0] <= times:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        return answer

    return handler


def test_a_read_only_call_rides_out_a_restart(scripted: ScriptedServer) -> None:
    scripted.script("GetPublicKeys", unavailable_then(2, KEYS))
    with Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        keys = client.setup()
    assert list(keys.values()) == [KEY]
    assert scripted.calls["GetPublicKeys"] == 3


async def test_the_async_client_retries_the_same_way(scripted: ScriptedServer) -> None:
    scripted.script("GetPublicKeys", unavailable_then(1, KEYS))
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        await client.setup()
    assert scripted.calls["GetPublicKeys"] == 2


def test_retries_are_bounded(scripted: ScriptedServer) -> None:
    scripted.script("GetPublicKeys", unavailable_then(100, KEYS))
    with (
        Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client,
        pytest.raises(ServiceUnavailableError),
    ):
        client.setup()
    assert scripted.calls["GetPublicKeys"] == 3


# (method, how the server answers, the error the client raises): each asked exactly once
NOT_RETRIED = [
    ("VerifyToken", refuse(grpc.StatusCode.PERMISSION_DENIED, "no"), errors.PermissionDeniedError),
    ("VerifyToken", refuse(grpc.StatusCode.UNAUTHENTICATED, "who"), errors.AuthenticationError),
    ("VerifyToken", refuse(grpc.StatusCode.INVALID_ARGUMENT, "bad"), errors.InvalidRequestError),
    ("RequestToken", refuse(grpc.StatusCode.UNAVAILABLE, "busy"), ServiceUnavailableError),
    ("SignToken", refuse(grpc.StatusCode.UNAVAILABLE, "busy"), ServiceUnavailableError),
]  # fmt: skip
NOT_RETRIED_IDS = [
    "verify-permission_denied",
    "verify-unauthenticated",
    "verify-invalid_argument",
    "request_token-unavailable",
    "sign_token-unavailable",
]


@pytest.mark.parametrize(("method", "handler", "expected"), NOT_RETRIED, ids=NOT_RETRIED_IDS)
def test_refusals_and_minting_calls_are_never_retried(
    scripted: ScriptedServer, method: str, handler: Handler, expected: type[Exception]
) -> None:
    scripted.script(method, handler)
    with Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        calls: dict[str, Callable[[], object]] = {
            "VerifyToken": lambda: client.verify_token_remote("t", "s", "orders", "read"),
            "RequestToken": lambda: client.request_token("orders", "read"),
            "SignToken": lambda: client.sign_token("t", "o", "r", endpoint=scripted.target),
        }
        with pytest.raises(expected):
            calls[method]()
    assert scripted.calls[method] == 1
