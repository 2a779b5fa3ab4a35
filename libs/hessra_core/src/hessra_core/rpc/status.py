"""The one place that turns ``hessra_core.errors`` into gRPC status codes.

Servicers raise errors from the tree and never pick status codes themselves; the
observability interceptor (``hessra_core.rpc.interceptors``) catches them and aborts
the RPC with :func:`status_for` and :func:`status_message`. Code outside a servicer
(a streaming helper, a client library mapping back) can use the same functions.

The message sent to the caller is the error's own message: by the contract of the
error tree it names what failed and never carries secrets. Anything that is not a
``HessraError`` is a bug: the caller gets ``INTERNAL`` with a fixed text and the
details go only to the server log.
"""

from __future__ import annotations

import grpc

from hessra_core import errors

# Most specific first: the first matching class wins.
_CODES: tuple[tuple[type[errors.HessraError], grpc.StatusCode], ...] = (
    (errors.AuthenticationError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDeniedError, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotReadyError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.SignerNotRequiredError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    # A malformed token is a malformed argument; any other refused token is a
    # credential that does not authenticate the caller for this request.
    (errors.MalformedTokenError, grpc.StatusCode.INVALID_ARGUMENT),
    # The Datalog run limits are a capacity problem: the same request may pass on retry.
    (errors.RunLimitError, grpc.StatusCode.UNAVAILABLE),
    (errors.TokenError, grpc.StatusCode.UNAUTHENTICATED),
    (errors.KeyFormatError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.PolicyError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    # The policy source (git remote, directory) could not be reached: retry later.
    (errors.SourceError, grpc.StatusCode.UNAVAILABLE),
    (errors.SnapshotFileError, grpc.StatusCode.FAILED_PRECONDITION),
)

INTERNAL_MESSAGE = "internal error"

# The status message travels percent-encoded in the grpc-message header, and a header
# past the peer's metadata limit (8 KiB soft, 16 KiB hard by default) replaces the whole
# status with RESOURCE_EXHAUSTED "received metadata size exceeds ...": the caller would
# lose the code and the reason. Messages are cut to fit well within it.
MAX_STATUS_MESSAGE = 2048  # characters
_MAX_ENCODED = 6000  # bytes once percent-encoded
_TRUNCATED = "\n... [{} characters truncated]"

# Trailing metadata key carrying the stable ``reason`` of a HessraError.
REASON_METADATA_KEY = "x-hessra-reason"


def status_for(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status code for an exception (``INTERNAL`` for anything unexpected)."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, errors.HessraError):
        return grpc.StatusCode.INTERNAL
    return grpc.StatusCode.INTERNAL


def status_message(exc: BaseException) -> str:
    """The short, secret-free message sent to the caller."""
    if isinstance(exc, errors.HessraError):
        # Multi-line messages (policy diagnostics) travel whole, file:line and all,
        # unless they could not fit in a status header.
        return _fit(exc.message)
    return INTERNAL_MESSAGE


def _encoded_size(char: str) -> int:
    # grpc-message keeps printable ASCII except '%' and percent-encodes each UTF-8 byte
    # of anything else.
    if " " <= char <= "~" and char != "%":
        return 1
    return 3 * len(char.encode("utf-8", "surrogatepass"))


def _fit(message: str) -> str:
    if len(message) * 12 <= _MAX_ENCODED:
        return message  # fits even if every character took 12 encoded bytes
    if len(message) <= MAX_STATUS_MESSAGE and sum(map(_encoded_size, message)) <= _MAX_ENCODED:
        return message
    reserve = len(_TRUNCATED.format(len(message)))
    budget, keep = _MAX_ENCODED - 3 * reserve, 0
    for char in message[: MAX_STATUS_MESSAGE - reserve]:
        budget -= _encoded_size(char)
        if budget < 0:
            break
        keep += 1
    return message[:keep] + _TRUNCATED.format(len(message) - keep)


def reason_for(exc: BaseException) -> str:
    """The stable snake_case reason used in logs, metrics and trailing metadata."""
    if isinstance(exc, errors.HessraError):
        return exc.reason
    return "internal"


__all__ = [
    "INTERNAL_MESSAGE",
    "MAX_STATUS_MESSAGE",
    "REASON_METADATA_KEY",
    "reason_for",
    "status_for",
    "status_message",
]
