"""What both middlewares share: the refusal classification and the decision log line.

The split between "not authenticated" and "refused" is made here once:

- unauthenticated (HTTP 401, gRPC UNAUTHENTICATED): no token, a token that is
  not a token at all, or a missing/duplicated subject, resource or operation;
- refused (HTTP 403, gRPC PERMISSION_DENIED): every other refusal, including a
  bad signature, an unknown key id, expiry, a right mismatch, chain or sign-off
  failures, and any unexpected failure inside verification (fail closed).

The refusal's ``reason`` is the error class's stable reason; the message is the
error's own text, which names what failed and never contains the token.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from hessra_core.errors import AuthenticationError, HessraError, MalformedTokenError

log = structlog.get_logger("hessra.middleware")


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str
    unauthenticated: bool


def classify(exc: BaseException) -> Refusal:
    """Turn any exception raised while verifying into a refusal (never into an allow)."""
    if isinstance(exc, AuthenticationError | MalformedTokenError):
        return Refusal(exc.reason, exc.message, unauthenticated=True)
    if isinstance(exc, HessraError):
        return Refusal(exc.reason, exc.message, unauthenticated=False)
    # A bug or a foreign exception: deny, and keep its text (which could quote
    # input) out of the response. The log line records the exception type.
    return Refusal("verification_failed", "Token verification failed", unauthenticated=False)


def log_decision(
    refusal: Refusal | None,
    *,
    transport: str,
    target: str,
    subject: str | None,
    resource: str | None,
    operation: str | None,
    component: str | None,
    error_type: str | None = None,
) -> None:
    """The one structured line per request: who asked for what, and the decision."""
    fields = {
        "transport": transport,
        "target": target,
        "subject": subject,
        "resource": resource,
        "operation": operation,
        "component": component,
    }
    if refusal is None:
        log.info("authorization", decision="allow", **fields)
    else:
        log.info(
            "authorization",
            decision="deny",
            reason=refusal.reason,
            detail=refusal.message,
            error_type=error_type,
            **fields,
        )
