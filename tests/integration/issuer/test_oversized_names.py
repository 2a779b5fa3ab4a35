"""Names too long for any policy get a clear status, never a broken stream.

gRPC carries the status message in a header; an error that echoes a 20 kB resource
name exceeds the header limit, and the caller used to see RESOURCE_EXHAUSTED ("received
metadata size exceeds hard limit") instead of the issuer's answer.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2

LONG = "r" * 20_000


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"resource": LONG, "operation": "read"}, "resource"),
        ({"resource": "api", "operation": LONG}, "operation"),
        ({"resource": "api", "operation": "read", "domain": LONG}, "domain"),
    ],
    ids=["resource", "operation", "domain"],
)
async def test_request_token_refuses_an_oversized_field_by_name(
    issuer: Any, fields: dict[str, str], named: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub("serial").RequestToken(
            issuer_pb2.RequestTokenRequest(**fields), timeout=5
        )
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert named in details
    assert len(details) < 200


async def test_a_long_name_in_any_error_still_reaches_the_caller(issuer: Any) -> None:
    """Whatever an error echoes, the status arrives (shortened), with its own code."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await issuer.stub("serial").VerifyServiceChainToken(
            issuer_pb2.VerifyServiceChainTokenRequest(
                token="t", subject="s", resource=LONG, operation="read"
            ),
            timeout=5,
        )
    assert info.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    details = info.value.details() or ""
    assert "has no service chain" in details or "truncated" in details
    assert len(details) <= 2100
