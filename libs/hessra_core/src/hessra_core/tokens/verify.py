"""Verifying authorization tokens: exact subject, resource and operation, or capability mode."""

from __future__ import annotations

from datetime import datetime

from hessra_core.tokens._authorize import (
    CAPABILITY_SUBJECT,
    RIGHT_POLICY,
    authorize,
    fact,
    query,
    require_str,
)
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens._errors import Context
from hessra_core.tokens._load import Keys, load_token
from hessra_core.tokens.limits import DEFAULT_LIMITS, RunLimits
from hessra_core.tokens.model import VerifiedToken, to_unix

_SUBJECTS = biscuit.Rule("found($s) <- subject($s)")


def verify_token(
    token: str,
    keys: Keys,
    *,
    subject: str,
    resource: str,
    operation: str,
    domain: str | None = None,
    now: datetime | None = None,
    limits: RunLimits = DEFAULT_LIMITS,
) -> VerifiedToken:
    """Verify that ``token`` grants exactly ``subject`` ``operation`` on ``resource``.

    The verifier supplies the facts and allows only a matching ``right`` fact,
    so a token of any era (including Hessra's older format without an
    in-token rights check) grants nothing else. Service-chain rules in the
    token are not enforced here; use ``verify_service_chain_token`` where the
    chain matters. Raises a ``TokenError`` subclass saying what failed.
    """
    require_str(("subject", subject), ("resource", resource), ("operation", operation))
    loaded = load_token(token, keys)
    facts = [
        fact("time", to_unix(now)),
        fact("subject", subject),
        fact("resource", resource),
        fact("operation", operation),
    ]
    if domain is not None:
        require_str(("domain", domain))
        facts.append(fact("domain", domain))

    def ctx() -> Context:  # built only if verification fails
        return Context("authorization", subject, resource, operation, domain)

    authorize(loaded, facts, RIGHT_POLICY, ctx, limits=limits)
    return VerifiedToken(subject, resource, operation, loaded.root_key_id, loaded.biscuit)


def verify_capability(
    token: str,
    keys: Keys,
    *,
    resource: str,
    operation: str,
    domain: str | None = None,
    now: datetime | None = None,
    limits: RunLimits = DEFAULT_LIMITS,
) -> VerifiedToken:
    """Verify that ``token`` grants ``operation`` on ``resource`` to someone; report whom.

    For services that care what may be done, not who does it. The subject is
    taken from the token's ``right`` facts for exactly this resource and operation.
    """
    require_str(("resource", resource), ("operation", operation))
    loaded = load_token(token, keys)
    facts = [fact("time", to_unix(now)), fact("resource", resource), fact("operation", operation)]
    if domain is not None:
        require_str(("domain", domain))
        facts.append(fact("domain", domain))

    def ctx() -> Context:  # built only if verification fails
        return Context("capability", None, resource, operation, domain)

    authorizer = authorize(
        loaded, facts, RIGHT_POLICY, ctx, rules=[CAPABILITY_SUBJECT], limits=limits
    )
    subjects = sorted(str(f.terms[0]) for f in query(authorizer, _SUBJECTS))
    return VerifiedToken(subjects[0], resource, operation, loaded.root_key_id, loaded.biscuit)


__all__ = ["verify_capability", "verify_token"]
