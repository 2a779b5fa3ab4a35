"""Names too long for any policy get INVALID_ARGUMENT naming the field, before any check.

No policy declares a resource or operation longer than 128 characters, so a longer one
can never be co-signed. The signer used to run the whole token check with it (into the
Datalog facts) and answer UNAUTHENTICATED "does not grant access to resource 'rrrr...'",
echoing kilobytes into the status; now it refuses the request by name, as the issuer does.
"""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from hessra.v1 import signer_pb2
from hessra_core import tokens

from .conftest import CALLER, SIGNER, Harness, World

LONG = "r" * 20_000


def _token(world: World) -> str:
    signers = [tokens.SignerRef(SIGNER, world.signer.public_key)]
    minted = tokens.mint_token(
        world.issuer, subject=CALLER, resource="sensitive", operation="export", signers=signers
    )
    return minted.token


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"resource": LONG, "operation": "export"}, "resource is 20000 characters long"),
        ({"resource": "sensitive", "operation": LONG}, "operation is 20000 characters long"),
        ({"resource": "r" * 129, "operation": "export"}, "resource is 129 characters long"),
    ],
    ids=["resource", "operation", "one-over"],
)
async def test_sign_token_refuses_an_oversized_field_by_name(
    signer: Harness, world: World, fields: dict[str, str], named: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await signer.stub("gateway").SignToken(
            signer_pb2.SignTokenRequest(token=_token(world), **fields), timeout=10
        )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    details = info.value.details() or ""
    assert named in details
    assert "at most 128" in details
    assert len(details) < 200


async def test_a_name_of_exactly_128_characters_is_checked_as_usual(
    signer: Harness, world: World
) -> None:
    """The limit refuses only what no policy can hold: 128 characters reach the token check."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await signer.stub("gateway").SignToken(
            signer_pb2.SignTokenRequest(
                token=_token(world), resource="r" * 128, operation="export"
            ),
            timeout=10,
        )
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "does not grant access to resource" in (info.value.details() or "")
