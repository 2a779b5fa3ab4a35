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
        # Multi-line messages (policy diagnostics) travel whole: they carry file:line.
        return exc.message
    return INTERNAL_MESSAGE


def reason_for(exc: BaseException) -> str:
    """The stable snake_case reason used in logs, metrics and trailing metadata."""
    if isinstance(exc, errors.HessraError):
        return exc.reason
    return "internal"


__all__ = ["INTERNAL_MESSAGE", "REASON_METADATA_KEY", "reason_for", "status_for", "status_message"]
