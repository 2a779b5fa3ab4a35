"""The one place where biscuit_auth failures become hessra_core errors.

biscuit-python reports failures as strings: a parse failure says only
"error deserializing or verifying the token", and an authorization failure
lists the failed checks as printed Datalog. We tell a corrupt token from a bad
signature by parsing again without verifying, and name the failed check by its
shape. A failure we cannot name is still a failure: it becomes
``TokenDeniedError``, never a pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hessra_core.errors import (
    DomainMismatchError,
    IdentityMismatchError,
    MalformedTokenError,
    MissingAttestationError,
    MissingSignoffError,
    OperationMismatchError,
    ResourceMismatchError,
    RightMismatchError,
    RunLimitError,
    SignatureError,
    SubjectMismatchError,
    TokenDeniedError,
    TokenError,
    TokenExpiredError,
)
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens.model import from_unix

_CHECK_HEAD = re.compile(r"Check n°(\d+) in (?:block n°(\d+)|authorizer): ")
_TIME = re.compile(r"check if time\(\$time\), \$time < (-?\d+)$")
_SIGNER = re.compile(r'check if namespace\("([^"\\\n]*)"\) trusting \S+$')
_DOMAIN = re.compile(r'check if domain\("(.*)"\)$', re.DOTALL)
_RIGHT_CHECK = "check if subject($sub), resource($res), operation($op), right($sub, $res, $op)"
_NO_POLICY = "no matching policy"
_LIMITS = "execution limits"

RIGHTS_QUERY = biscuit.Rule("granted($s, $r, $o) <- right($s, $r, $o)")


@dataclass(frozen=True)
class FailedCheck:
    block: int | None  # None: a check the verifier added
    index: int
    source: str


@dataclass(frozen=True)
class Context:
    """What the verifier asked, so a failure can say which part did not hold."""

    kind: str  # "authorization" | "capability" | "identity"
    subject: str | None = None
    resource: str | None = None
    operation: str | None = None
    domain: str | None = None
    actor: str | None = None
    # The components whose attestation checks the verifier added, by check index.
    node_checks: Sequence[str] = ()


def failed_checks(message: str) -> list[FailedCheck]:
    heads = list(_CHECK_HEAD.finditer(message))
    found = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(message)
        source = message[head.end() : end].removesuffix(", ")
        block = int(head[2]) if head[2] is not None else None
        found.append(FailedCheck(block, int(head[1]), source))
    return found


def parse_unverified(text: str) -> Any:
    """Parse a token without checking its signatures (for inspection and diagnosis)."""
    try:
        return biscuit.UnverifiedBiscuit.from_base64(text)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # pyo3 panics derive from BaseException
        raise MalformedTokenError("token is not a base64url-encoded biscuit") from None


def parse_failure(text: str) -> MalformedTokenError | SignatureError:
    """biscuit reports a bad signature and a corrupt token alike; tell them apart."""
    try:
        parse_unverified(text)
    except MalformedTokenError as exc:
        return exc
    return SignatureError("token signature does not verify under the trusted root key")


def append_failure(exc: BaseException) -> TokenError:
    """Appending a block to a token that verified should not fail; if it does, say so."""
    return MalformedTokenError(f"cannot append a block to this token ({type(exc).__name__})")


def query_failure(exc: BaseException) -> TokenError:
    """A query over a verified token failed (only a hostile token makes that happen)."""
    message = str(exc.args[0]) if exc.args else ""
    if _LIMITS in message:
        return RunLimitError("token evaluation hit the Datalog run limits")
    return TokenDeniedError(f"token could not be evaluated ({type(exc).__name__})")


def evaluation_failure(exc: BaseException, ctx: Context, authorizer: Any) -> TokenError:
    if not isinstance(exc, biscuit.AuthorizationError):
        return TokenDeniedError(f"token could not be evaluated ({type(exc).__name__})")
    message = str(exc.args[0]) if exc.args else ""
    if _LIMITS in message:
        return RunLimitError("token evaluation hit the Datalog run limits")
    checks = failed_checks(message)

    expiries = [int(m[1]) for c in checks if (m := _TIME.match(c.source))]
    if expiries:
        return TokenExpiredError(from_unix(min(expiries)))
    for c in checks:
        if c.block is None and c.index < len(ctx.node_checks):
            return MissingAttestationError(ctx.node_checks[c.index])
    for c in checks:
        if c.block == 0 and (m := _SIGNER.match(c.source)):
            return MissingSignoffError(m[1])
    for c in checks:
        if m := _DOMAIN.match(c.source):
            asked = "no domain" if ctx.domain is None else f"domain {ctx.domain!r}"
            return DomainMismatchError(
                f"token is restricted to domain {m[1]!r}; it was verified for {asked}"
            )
    # Only an identity verification has an actor to blame. An identity token
    # offered as an authorization fails its actor checks too, but what is wrong
    # there is that it grants no right.
    if ctx.kind == "identity" and (
        _NO_POLICY in message or any(c.source.startswith("check if actor(") for c in checks)
    ):
        return IdentityMismatchError(f"identity token does not cover actor {ctx.actor!r}")
    if _NO_POLICY in message or any(c.source == _RIGHT_CHECK for c in checks):
        return _rights_mismatch(ctx, authorizer)
    first = checks[0].source if checks else message
    return TokenDeniedError(f"token refused by check: {first}")


def _rights_mismatch(ctx: Context, authorizer: Any) -> RightMismatchError:
    try:
        granted = [tuple(f.terms) for f in authorizer.query(RIGHTS_QUERY)]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        granted = []
    if ctx.subject is not None and not any(g[0] == ctx.subject for g in granted):
        return SubjectMismatchError(f"token does not grant anything to subject {ctx.subject!r}")
    mine = [g for g in granted if ctx.subject is None or g[0] == ctx.subject]
    if not any(g[1] == ctx.resource for g in mine):
        return ResourceMismatchError(f"token does not grant access to resource {ctx.resource!r}")
    return OperationMismatchError(
        f"token does not grant operation {ctx.operation!r} on resource {ctx.resource!r}"
    )


__all__ = [
    "Context",
    "FailedCheck",
    "append_failure",
    "evaluation_failure",
    "failed_checks",
    "parse_failure",
    "parse_unverified",
    "query_failure",
]
