from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from hessra_core import errors
from hessra_core.rpc.status import (
    INTERNAL_MESSAGE,
    MAX_STATUS_MESSAGE,
    reason_for,
    status_for,
    status_message,
)

CASES = [
    (errors.AuthenticationError("no client certificate"), grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDeniedError("denied"), grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotReadyError("no snapshot"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.SignerNotRequiredError("not needed"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.InvalidRequestError("resource is empty"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.PreconditionError("no chain"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.MalformedTokenError("bad base64"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.RunLimitError("time limit"), grpc.StatusCode.UNAVAILABLE),
    (errors.TokenExpiredError(datetime(2026, 1, 1, tzinfo=UTC)), grpc.StatusCode.UNAUTHENTICATED),
    (errors.MissingSignoffError("legal_dept"), grpc.StatusCode.UNAUTHENTICATED),
    (errors.KeyFormatError("bad key"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.PolicyError([], "bad policy"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ConfigError(["x"]), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.SourceError("git fetch timed out"), grpc.StatusCode.UNAVAILABLE),
    (errors.HessraError("something new"), grpc.StatusCode.INTERNAL),
    (RuntimeError("secret detail"), grpc.StatusCode.INTERNAL),
]


@pytest.mark.parametrize(("exc", "code"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_status_for_maps_each_error(exc: BaseException, code: grpc.StatusCode) -> None:
    assert status_for(exc) is code


def test_message_is_the_error_message_and_foreign_errors_stay_private() -> None:
    assert status_message(errors.MissingSignoffError("legal_dept")) == (
        "Required signature from legal_dept not found"
    )
    assert status_message(RuntimeError("db password=hunter2")) == INTERNAL_MESSAGE
    assert reason_for(errors.MissingSignoffError("x")) == "missing_signoff"
    assert reason_for(ValueError()) == "internal"


def test_every_error_class_has_a_deliberate_code() -> None:
    """A new error class must be placed in the map, not fall through to INTERNAL by accident."""
    unmapped = [
        name
        for name in errors.__all__
        if name != "HessraError"
        and status_for(getattr(errors, name).__new__(getattr(errors, name)))
        is grpc.StatusCode.INTERNAL
    ]
    assert unmapped == []


@pytest.mark.parametrize(
    "message",
    ["x" * 100_000, "line\n" * 10_000, "é" * 50_000],
    ids=["long-line", "many-lines", "non-ascii"],
)
def test_an_overlong_message_is_shortened_to_fit_a_status_header(message: str) -> None:
    sent = status_message(errors.PolicyError([], message))
    assert len(sent) <= MAX_STATUS_MESSAGE
    assert sent.startswith(message[:100])
    assert "characters truncated" in sent


def test_a_message_within_the_limit_travels_whole() -> None:
    message = "a\n" * (MAX_STATUS_MESSAGE // 2)
    assert status_message(errors.PolicyError([], message)) == message
