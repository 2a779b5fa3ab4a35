"""Running the authorizer: the verifier's facts, its one allow policy, and the limits.

Everything constant (policies, rules) is parsed once at import. Request facts
are parsed once per distinct value and cached: parsing Datalog costs more than
evaluating it for a token this small.

``namespace`` is reserved. A ``namespace(name)`` fact from the authorizer
satisfies a token's ``check if namespace(name) trusting {signer_key}`` (biscuit
always trusts the authorizer's own facts), so it would stand in for a signer's
sign-off. :func:`fact` refuses to build one; the only way to add such facts is
``authorize(assume_signed=...)``, which only
:func:`hessra_core.tokens.multiparty.check_signoff_request` uses, and whose
authorizer never decides whether a token verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from hessra_core.errors import RunLimitError, TokenError
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens._errors import Context, evaluation_failure, query_failure
from hessra_core.tokens._load import LoadedToken
from hessra_core.tokens.limits import DEFAULT_LIMITS, RunLimits
from hessra_core.tokens.model import ServiceNode

# The only way an authorization token verifies: it grants exactly the triple
# the verifier asked about. Hessra's verifier says `allow if true` and relies on
# the token's own check, which older tokens do not carry.
RIGHT_POLICY = biscuit.Policy(
    "allow if subject($s), resource($r), operation($o), right($s, $r, $o)"
)

# Capability mode: the subject is whoever the token grants this action to.
CAPABILITY_SUBJECT = biscuit.Rule("subject($s) <- right($s, $r, $o), resource($r), operation($o)")

# An identity token verifies for an actor its subject covers, even if the
# token itself forgot the actor check.
IDENTITY_POLICY = biscuit.Policy(
    'allow if subject($s), actor($a), $a == $s || $a.starts_with($s + ":")'
)


RESERVED_PREDICATES = frozenset({"namespace"})
"""Predicates a verifier must never supply: they would stand in for sign-offs."""


@lru_cache(maxsize=8192)
def fact(name: str, value: str | int) -> Any:
    # `name` is always one of our literal predicate names, never user input.
    if name in RESERVED_PREDICATES:
        raise ValueError(f"the authorizer may not supply {name}() facts")
    return biscuit.Fact(f"{name}({{v}})", {"v": value})


@lru_cache(maxsize=1024)
def _assumed_signoff(signer: str) -> Any:
    return biscuit.Fact("namespace({signer})", {"signer": signer})


@lru_cache(maxsize=1024)
def node_checks(resource: str, nodes: tuple[ServiceNode, ...]) -> tuple[Any, ...]:
    """One check per node, each trusting only that node's key.

    Separate checks matter: one check trusting every node key would let one
    node's block assert another node's ``node(...)`` fact directly.
    """
    return tuple(
        biscuit.Check(
            "check if node({resource}, {component}) trusting authority, {node_key}",
            {"resource": resource, "component": node.component},
            {"node_key": node.public_key.to_biscuit()},
        )
        for node in nodes
    )


def world(token: Any, limits: RunLimits = DEFAULT_LIMITS) -> Any:
    """An authorizer holding just ``token`` (a verified biscuit), for queries."""
    builder = biscuit.AuthorizerBuilder()
    limits.apply(builder)
    try:
        return builder.build(token)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise query_failure(exc) from exc


def query(authorizer: Any, rule: Any) -> list[Any]:
    """Run ``rule`` and return the facts, with failures mapped like verification's."""
    try:
        return list(authorizer.query(rule))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise query_failure(exc) from exc


def require_str(*pairs: tuple[str, object]) -> None:
    for name, value in pairs:
        if type(value) is not str:
            raise TypeError(f"{name} must be a string, not {type(value).__name__}")


def authorize(
    loaded: LoadedToken,
    facts: Iterable[Any],
    policy: Any,
    ctx: Callable[[], Context],
    *,
    rules: Iterable[Any] = (),
    checks: Iterable[Any] = (),
    limits: RunLimits = DEFAULT_LIMITS,
    assume_signed: Iterable[str] = (),
) -> Any:
    """Evaluate the token; return the authorizer on success, raise a TokenError otherwise.

    ``assume_signed`` names signers whose sign-off checks are to pass as if they
    had signed (see the module docstring); no verification path may pass it.

    ``ctx`` is called only on failure, to say what was asked. A run-limit hit
    is retried once: the time limit is wall-clock, so a process descheduled
    on a busy machine can hit it with a good token, while a token that is
    truly too expensive hits it again.
    """
    facts, rules, checks = tuple(facts), tuple(rules), tuple(checks)
    facts += tuple(_assumed_signoff(name) for name in assume_signed)
    for attempt in (1, 2):
        builder = biscuit.AuthorizerBuilder()
        for f in facts:
            builder.add_fact(f)
        for r in rules:
            builder.add_rule(r)
        for c in checks:
            builder.add_check(c)
        builder.add_policy(policy)
        limits.apply(builder)
        authorizer = None
        try:
            authorizer = builder.build(loaded.biscuit)
            authorizer.authorize()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # fail closed on anything biscuit raises, panics included
            error: TokenError = evaluation_failure(exc, ctx(), authorizer)
            if isinstance(error, RunLimitError) and attempt == 1:
                continue
            raise error from exc
        return authorizer
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "CAPABILITY_SUBJECT",
    "IDENTITY_POLICY",
    "RESERVED_PREDICATES",
    "RIGHT_POLICY",
    "authorize",
    "fact",
    "node_checks",
    "query",
    "require_str",
    "world",
]
