"""Value types the token API takes and returns."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from hessra_core.keys import PublicKey

DEFAULT_TTL = 300
"""Seconds an authorization token lives unless the policy says otherwise."""

MAX_TTL = 600
"""No authorization token may live longer than this many seconds."""

MAX_IDENTITY_TTL = 86_400
"""Identity tokens are refreshed, not re-requested, so they may live up to a day."""

_FORBIDDEN_IN_NAMES = frozenset('"\\') | frozenset(chr(c) for c in range(32)) | {"\x7f"}


def check_name(kind: str, name: str) -> str:
    """Chain components and signer names must read back unambiguously from block source.

    biscuit prints string literals without escaping, so a quote, backslash or
    control character in a name would make ``inspect_token`` and
    ``pending_signoffs`` misread the token. Subjects, resources and operations
    have no such limit: they are only ever read through Datalog queries.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} must be a non-empty string")
    bad = sorted({c for c in name if c in _FORBIDDEN_IN_NAMES})
    if bad:
        raise ValueError(f"{kind} {name!r} contains forbidden characters {bad!r}")
    return name


@dataclass(frozen=True)
class ServiceNode:
    """One hop of a service chain: a component name and the key it attests with."""

    component: str
    public_key: PublicKey

    def __post_init__(self) -> None:
        check_name("service chain component", self.component)
        if not isinstance(self.public_key, PublicKey):
            raise TypeError("ServiceNode.public_key must be a hessra_core.keys.PublicKey")


@dataclass(frozen=True)
class SignerRef:
    """A party whose sign-off a multi-party token needs before it verifies anywhere."""

    name: str
    public_key: PublicKey
    endpoint: str = ""

    def __post_init__(self) -> None:
        check_name("signer name", self.name)
        if not isinstance(self.public_key, PublicKey):
            raise TypeError("SignerRef.public_key must be a hessra_core.keys.PublicKey")


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def to_unix(now: datetime | None) -> int:
    """Hessra writes times as integer Unix seconds, and so do we."""
    if now is None:
        return int(time.time())
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def check_ttl(ttl: int, *, maximum: int) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise ValueError(f"ttl must be an integer number of seconds, got {type(ttl).__name__}")
    if not 1 <= ttl <= maximum:
        raise ValueError(f"ttl must be between 1 and {maximum} seconds, got {ttl}")
    return ttl


def check_key_id(key_id: int | None) -> None:
    if key_id is None:
        return
    if isinstance(key_id, bool) or not isinstance(key_id, int) or not 0 <= key_id < 2**32:
        raise ValueError(f"key_id must be an unsigned 32-bit integer, got {key_id!r}")


@dataclass(frozen=True)
class MintedToken:
    """A freshly minted token. The token string is a bearer secret: it stays out of repr."""

    token: str = field(repr=False)
    expires_at: datetime
    subject: str
    resource: str = ""
    operation: str = ""


@dataclass(frozen=True)
class VerifiedToken:
    """What a successful verification established.

    ``expires_at`` and ``revocation_ids`` are read from the token only when
    asked for, so the verify hot path does not pay for them.
    """

    subject: str
    resource: str
    operation: str
    root_key_id: int | None
    _biscuit: Any = field(repr=False, compare=False)

    @cached_property
    def expires_at(self) -> datetime | None:
        from hessra_core.tokens._source import earliest_expiry

        return earliest_expiry(self._biscuit)

    @cached_property
    def revocation_ids(self) -> tuple[str, ...]:
        return tuple(self._biscuit.revocation_ids)


@dataclass(frozen=True)
class VerifiedIdentity:
    """An identity token that covers ``actor``; ``subject`` is the identity it was issued to."""

    subject: str
    actor: str
    root_key_id: int | None
    _biscuit: Any = field(repr=False, compare=False)

    @cached_property
    def expires_at(self) -> datetime | None:
        from hessra_core.tokens._source import earliest_expiry

        return earliest_expiry(self._biscuit)


__all__ = [
    "DEFAULT_TTL",
    "MAX_IDENTITY_TTL",
    "MAX_TTL",
    "MintedToken",
    "ServiceNode",
    "SignerRef",
    "VerifiedIdentity",
    "VerifiedToken",
]
