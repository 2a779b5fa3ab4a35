"""An identity token passed explicitly is used as given: an empty one is refused, never
replaced by the client's own identity token (which would act as the wrong identity)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hessra import AsyncHessra, Hessra, MissingTokenError

from .conftest import Stack

CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("request_token", lambda c: c.request_token_with_identity("orders", "read", identity_token="")),
    ("refresh", lambda c: c.refresh_identity_token("")),
    ("delegate", lambda c: c.delegate_identity_token("worker-1", token="")),
]


@pytest.mark.parametrize("call", [c[1] for c in CALLS], ids=[c[0] for c in CALLS])
def test_an_empty_identity_token_is_not_replaced_by_the_clients_own(
    stack: Stack, call: Callable[[Hessra], Any]
) -> None:
    with Hessra(
        stack.server, identity_server=stack.identity_server, **stack.client_kwargs()
    ) as client:
        client.setup()
        own = client.request_identity_token().token
        with pytest.raises(MissingTokenError):
            call(client)
        assert client.identity_token == own


async def test_async_empty_identity_token_is_refused(stack: Stack) -> None:
    async with AsyncHessra(
        stack.server, identity_server=stack.identity_server, **stack.client_kwargs()
    ) as client:
        await client.setup()
        await client.request_identity_token()
        with pytest.raises(MissingTokenError):
            await client.request_token_with_identity("orders", "read", identity_token="")
        with pytest.raises(MissingTokenError):
            await client.refresh_identity_token("")
