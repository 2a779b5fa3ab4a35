"""Reading facts back out of a token's printed Datalog, for inspection only.

biscuit prints string literals without escaping them, so reading a token's
source is only unambiguous for strings without quotes, backslashes or line
breaks. Decisions never depend on what is read here: verification runs in
Datalog. What is read here feeds ``inspect_token``, ``pending_signoffs``
(whose names we mint under ``check_name`` rules) and informative fields such
as ``expires_at``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hessra_core.errors import DomainMismatchError
from hessra_core.tokens.model import from_unix

_KEY = r"((?:ed25519|secp256r1)/[0-9a-f]+)"
_NAME = r'"([^"\\\n]*)"'

TIME_CHECK = re.compile(r"^check if time\(\$time\), \$time < (-?\d+);$", re.MULTILINE)
SIGNER_CHECK = re.compile(rf"^check if namespace\({_NAME}\) trusting {_KEY};$", re.MULTILINE)
NODE_RULE = re.compile(
    rf"^node\(\$(\w+), {_NAME}\) <- service\(\$\1\) trusting {_KEY};$", re.MULTILINE
)
DOMAIN_CHECK = re.compile(r'^check if domain\("(.*)"\);$', re.MULTILINE)
RIGHT_FACT = re.compile(r'^right\("(.*)", "(.*)", "(.*)"\);$', re.MULTILINE)
SUBJECT_FACT = re.compile(r'^subject\("(.*)"\);$', re.MULTILINE)
SERVICE_FACT = re.compile(r"^service\(", re.MULTILINE)
NAMESPACE_FACT = re.compile(r"^namespace\(", re.MULTILINE)
DELEGATED_FACT = re.compile(r"^delegated\(", re.MULTILINE)
# Delegation checks as Hessra's tools write them (current and earlier forms).
ACTOR_CHECK = re.compile(
    r'^check if actor\(\$a\), \$a == "(.*)" \|\| \$a\.starts_with\("(.*)" \+ ":"\);$', re.MULTILINE
)
ACTOR_PREFIX_CHECK = re.compile(
    r'^check if actor\(\$a\), \$a\.starts_with\("(.*)"\);$', re.MULTILINE
)


@dataclass(frozen=True)
class Requirement:
    """A chain node or a signer named in the authority block."""

    name: str
    public_key: str


def block_sources(token: Any) -> list[str]:
    return [token.block_source(i) for i in range(token.block_count())]


def expiry_of(source: str) -> int | None:
    times = [int(m) for m in TIME_CHECK.findall(source)]
    return min(times) if times else None


def earliest_expiry(token: Any) -> datetime | None:
    times = [t for t in (expiry_of(s) for s in block_sources(token)) if t is not None]
    return from_unix(min(times)) if times else None


def required_signers(authority_source: str) -> list[Requirement]:
    return [Requirement(n, k) for n, k in SIGNER_CHECK.findall(authority_source)]


def chain_nodes(authority_source: str) -> list[Requirement]:
    return [Requirement(n, k) for _, n, k in NODE_RULE.findall(authority_source)]


def only_domain(authority_source: str) -> str | None:
    """The one domain the authority block restricts the token to, if any
    (``DomainMismatchError`` when it names several)."""
    domains = sorted(set(DOMAIN_CHECK.findall(authority_source)))
    if len(domains) > 1:
        # A verifier supplies one domain, so no verifier could ever accept this token.
        raise DomainMismatchError(f"token is restricted to several domains: {domains!r}")
    return domains[0] if domains else None


def is_attestation(source: str) -> bool:
    return SERVICE_FACT.search(source) is not None


__all__ = [
    "Requirement",
    "block_sources",
    "chain_nodes",
    "earliest_expiry",
    "expiry_of",
    "is_attestation",
    "only_domain",
    "required_signers",
]
