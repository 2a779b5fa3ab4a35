"""``TokenCache``: reuse a token until most of its life has passed, then renew it.

The seed's pattern, made safe: a cached token is handed out only while it is within
``renew_at`` (default 80%) of its lifetime, measured from when it was received to
the ``expires_at`` the issuer reported (or the token's own expiry, if earlier), so
a caller never gets a token about to expire in flight. A token whose expiry is
missing or already past is handed to its caller but never reused. One renewal per
(resource, operation, domain) runs at a time; the other callers wait for it instead
of stampeding the issuer, and share its outcome: if it fails (a hung issuer, say),
they raise its error at once rather than each waiting out the timeout in turn.
Multi-party tokens are completed (every sign-off collected) before they are cached.

A token is minted for the certificate the client presented. When the client's
certificate files change (a rotation may bring another identity), every cached
token is stale: the next call asks the issuer as the new certificate, so a cache
never hands one identity's token to a client now holding another.

    cache = TokenCache(client)                 # a Hessra
    token = cache.get("orders", "read")
    cache = TokenCache(async_client)           # an AsyncHessra
    token = await cache.aget("orders", "read")

Tokens are bearer secrets: the cache never logs them and its repr shows only counts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hessra._client_common import TokenResponse
from hessra_core import tokens
from hessra_core.errors import HessraError

Key = tuple[str, str, str | None]


@dataclass(frozen=True)
class _Entry:
    token: str = field(repr=False)
    received_at: float
    renew_after: float
    credentials: object  # what the client authenticated with when it got the token


DEFAULT_MAX_ENTRIES = 1024


def _expiry(response: TokenResponse, token: str) -> float | None:
    """When the token stops working: the earlier of the issuer's ``expires_at`` and the
    expiry written in the token itself. A reported expiry later than the token's own
    (a faulty issuer or proxy) must not keep an expired token in the cache; a token
    that cannot be read falls back to ``expires_at``."""
    times = [] if response.expires_at is None else [response.expires_at.timestamp()]
    try:
        own = tokens.inspect_token(token).expires_at
    except HessraError:
        own = None
    if own is not None:
        times.append(own.timestamp())
    return min(times) if times else None


class TokenCache:
    """Caches tokens per (resource, operation, domain); see the module docstring.

    At most ``max_entries`` tokens are kept: when a new one would exceed it, entries
    past their renewal time go first, then the oldest. A service that asks for many
    distinct resources (one per tenant, say) does not grow without bound.
    """

    def __init__(
        self,
        client: Any,
        *,
        renew_at: float = 0.8,
        clock: Callable[[], float] = time.time,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if not 0 < renew_at <= 1:
            raise ValueError(f"renew_at must be in (0, 1], got {renew_at}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._max_entries = max_entries
        self._client = client
        self._renew_at = renew_at
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._locks: dict[Key, threading.Lock] = {}
        self._alocks: dict[Key, asyncio.Lock] = {}
        self._guard = threading.Lock()
        # The last failed renewal per key, numbered: callers that queued behind it get
        # its error instead of asking again (see _raise_failure_since).
        self._failures: dict[Key, tuple[int, HessraError]] = {}
        self._failure_count = 0
        self.hits = 0
        self.renewals = 0

    def __repr__(self) -> str:
        return f"TokenCache(entries={len(self._entries)}, hits={self.hits})"

    def __len__(self) -> int:
        return len(self._entries)

    def _credentials(self) -> object:
        """The client's TLS sources and the stamps of their files, as of now.

        The same stamps the client's channel pool compares (``hessra._channel``), so
        a rotation that makes the client present a new certificate also retires the
        tokens the old one obtained.
        """
        tls = getattr(getattr(self._client, "config", None), "tls", None)
        return None if tls is None else (tls, tls.stamps())

    def _fresh(self, key: Key, credentials: object) -> str | None:
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.credentials == credentials
            and self._clock() < entry.renew_after
        ):
            self.hits += 1
            return entry.token
        return None

    def _store(
        self, key: Key, response: TokenResponse, token: str, received: float, credentials: object
    ) -> str:
        expiry = _expiry(response, token)
        lifetime = 0.0 if expiry is None else max(0.0, expiry - received)  # unknown: never reuse
        renew_after = received + self._renew_at * lifetime
        with self._guard:
            self._entries[key] = _Entry(token, received, renew_after, credentials)
            if len(self._entries) > self._max_entries:
                self._evict(keep=key)
        self.renewals += 1
        return token

    def get(self, resource: str, operation: str, *, domain: str | None = None) -> str:
        """A token for (resource, operation), from the cache or fresh (blocking client)."""
        key = (resource, operation, domain)
        token = self._fresh(key, self._credentials())
        if token is not None:
            return token
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        seen = self._failure_id(key)
        with lock:
            # Read before asking: if the files change during the request, the token is
            # recorded under the old credentials and the next call renews it.
            credentials = self._credentials()
            token = self._fresh(key, credentials)
            if token is not None:
                return token
            self._raise_failure_since(key, seen)
            received = self._clock()
            try:
                response = self._client.request_token_full(resource, operation, domain=domain)
                token = response.token
                if response.pending_signoffs:
                    token = self._client.collect_multi_party_signoffs(response, resource, operation)
            except HessraError as exc:
                self._record_failure(key, exc)
                raise
            self._failures.pop(key, None)
            return self._store(key, response, token, received, credentials)

    def _failure_id(self, key: Key) -> int | None:
        failure = self._failures.get(key)
        return None if failure is None else failure[0]

    def _raise_failure_since(self, key: Key, seen: int | None) -> None:
        """Raise the error of a renewal that failed while this caller waited for it.

        Waiters share the outcome of the renewal they queued behind: with a hung
        issuer, N waiters would otherwise each wait out the client's timeout in turn,
        the last one N times over.
        """
        failure = self._failures.get(key)
        if failure is not None and failure[0] != seen:
            raise failure[1]

    def _record_failure(self, key: Key, exc: HessraError) -> None:
        with self._guard:
            self._failure_count += 1
            self._failures[key] = (self._failure_count, exc)
            if len(self._failures) > self._max_entries:
                oldest = min(self._failures, key=lambda k: self._failures[k][0])
                del self._failures[oldest]

    def _evict(self, *, keep: Key) -> None:
        """Drop stale entries, then the oldest, until within ``max_entries`` (under _guard)."""
        now = self._clock()
        stale = [k for k, e in self._entries.items() if k != keep and e.renew_after <= now]
        stale_keys = set(stale)
        by_age = sorted(
            (k for k in self._entries if k != keep and k not in stale_keys),
            key=lambda k: self._entries[k].received_at,
        )
        for victim in stale + by_age:
            if len(self._entries) <= self._max_entries:
                break
            self._entries.pop(victim, None)
        # Their renewal locks go too, unless held. (A caller about to acquire a lock
        # dropped here makes a new one: at worst two renewals of one key overlap.)
        all_locks: tuple[dict[Key, Any], ...] = (self._locks, self._alocks)
        for locks in all_locks:
            for k in list(locks):  # list() copies atomically; aget may add keys meanwhile
                lock = locks.get(k)
                if k not in self._entries and lock is not None and not lock.locked():
                    locks.pop(k, None)

    async def aget(self, resource: str, operation: str, *, domain: str | None = None) -> str:
        """The same with an ``AsyncHessra``."""
        key = (resource, operation, domain)
        token = self._fresh(key, self._credentials())
        if token is not None:
            return token
        lock = self._alocks.setdefault(key, asyncio.Lock())
        seen = self._failure_id(key)
        async with lock:
            credentials = self._credentials()
            token = self._fresh(key, credentials)
            if token is not None:
                return token
            self._raise_failure_since(key, seen)
            received = self._clock()
            client = self._client
            try:
                response = await client.request_token_full(resource, operation, domain=domain)
                token = response.token
                if response.pending_signoffs:
                    token = await client.collect_multi_party_signoffs(response, resource, operation)
            except HessraError as exc:
                self._record_failure(key, exc)
                raise
            self._failures.pop(key, None)
            return self._store(key, response, token, received, credentials)

    def invalidate(self, resource: str | None = None, operation: str | None = None) -> None:
        """Forget cached tokens (all, or those for a resource / resource+operation)."""
        for key in list(self._entries):
            if (resource is None or key[0] == resource) and (
                operation is None or key[1] == operation
            ):
                self._entries.pop(key, None)


__all__ = ["DEFAULT_MAX_ENTRIES", "TokenCache"]
