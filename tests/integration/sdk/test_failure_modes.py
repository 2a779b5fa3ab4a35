"""How the clients behave when the issuer hangs or refuses: bounded waits, typed errors.

Each case runs against a real mTLS gRPC server (``scripted.py``) whose answers the
test scripts, with short client timeouts so a hang is bounded.
"""

from __future__ import annotations

import time

import grpc
import pytest

from hessra import AsyncHessra, Hessra, ServiceUnavailableError
from hessra_core import errors

from .scripted import ScriptedServer, hang, refuse

SHORT = 0.5  # client timeout, seconds
HANG = 5.0  # how long a hung handler sleeps: far longer than SHORT


def test_a_hung_issuer_is_bounded_by_the_timeout(scripted: ScriptedServer) -> None:
    scripted.script("RequestToken", hang(HANG))
    with Hessra(scripted.target, **scripted.client_kwargs(timeout=SHORT)) as client:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError) as caught:
            client.request_token("orders", "read")
        waited = time.monotonic() - started
    assert waited < HANG  # bounded by the client's deadline, not the server's sleep
    assert caught.value.message.startswith(
        f"issuer {scripted.target} did not answer within the client's timeout (DEADLINE_EXCEEDED)"
    )


async def test_a_hung_issuer_is_bounded_for_the_async_client(scripted: ScriptedServer) -> None:
    scripted.script("GetPublicKeys", hang(HANG))
    async with AsyncHessra(scripted.target, **scripted.client_kwargs(timeout=SHORT)) as client:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError) as caught:
            await client.setup()
        waited = time.monotonic() - started
    assert waited < HANG
    assert "DEADLINE_EXCEEDED" in caught.value.message


# (status code, reason trailer or None, the class the SDK must raise)
STATUSES = [
    (grpc.StatusCode.PERMISSION_DENIED, None, errors.PermissionDeniedError),
    (grpc.StatusCode.UNAUTHENTICATED, None, errors.AuthenticationError),
    (grpc.StatusCode.INVALID_ARGUMENT, None, errors.InvalidRequestError),
    (grpc.StatusCode.FAILED_PRECONDITION, None, errors.PreconditionError),
    (grpc.StatusCode.UNAVAILABLE, None, ServiceUnavailableError),
    (grpc.StatusCode.PERMISSION_DENIED, "denied", errors.TokenDeniedError),
    (grpc.StatusCode.FAILED_PRECONDITION, "no_snapshot", errors.NotReadyError),
    (grpc.StatusCode.UNAVAILABLE, "run_limit", errors.RunLimitError),
    (grpc.StatusCode.INTERNAL, None, errors.HessraError),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, None, errors.HessraError),
]  # fmt: skip
STATUS_IDS = [f"{code.name}-{reason or 'no_reason'}" for code, reason, _ in STATUSES]


@pytest.mark.parametrize(("code", "reason", "expected"), STATUSES, ids=STATUS_IDS)
def test_every_status_is_a_typed_error_with_the_servers_message(
    scripted: ScriptedServer,
    code: grpc.StatusCode,
    reason: str | None,
    expected: type[errors.HessraError],
) -> None:
    message = f"the server says no ({code.name})"
    scripted.script("RequestToken", refuse(code, message, reason))
    with (
        Hessra(scripted.target, **scripted.client_kwargs(timeout=2.0)) as client,
        pytest.raises(errors.HessraError) as caught,
    ):
        client.request_token("orders", "read")
    assert type(caught.value) is expected
    assert message in caught.value.message
    if reason is not None:
        assert caught.value.reason == reason
