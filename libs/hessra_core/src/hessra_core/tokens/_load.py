"""Turning a token string into a signature-checked biscuit, with a small cache.

Checking the signatures is most of what verification costs (about two thirds
on a one-block token). The result depends only on the token bytes and the
root key, so a verified token is kept in a bounded LRU cache keyed by both;
every time-dependent and request-dependent check still runs on each call.
Services see the same token several times (retries, fan-out, a service chain
verifying at each hop), which is where the cache pays.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from hessra_core.errors import MalformedTokenError, UnknownKeyIdError
from hessra_core.keys import KeyPair, KeySet, PublicKey
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens._errors import append_failure, parse_failure, parse_unverified

MAX_TOKEN_CHARS = 64 * 1024
"""Hessra tokens are well under 4 KiB; anything this big is refused unparsed."""

Keys = PublicKey | KeySet


@dataclass(eq=False)
class LoadedToken:
    """A token whose signatures verified under ``public_key``."""

    biscuit: Any = field(repr=False)
    public_key: PublicKey
    root_key_id: int | None
    # Facts derived from the token's structure (e.g. its attestation sequence),
    # computed once per cached token by whoever needs them.
    memo: dict[object, Any] = field(default_factory=dict, repr=False)


# Anyone holding one valid token can append blocks to it offline and so make any number of
# distinct valid tokens, each up to MAX_TOKEN_CHARS: bounded in entries alone, the cache
# could be made to hold 4096 x 64 KiB of parsed tokens. So it is bounded in characters
# too, and tokens far larger than issued ones (a few hundred characters to a few KiB,
# chains and sign-offs included) are verified every time instead of kept.
MAX_CACHED_TOKEN_CHARS = 16 * 1024
MAX_CACHED_CHARS = 16 * 1024 * 1024


class _LRU:
    def __init__(self, max_entries: int, max_chars: int = MAX_CACHED_CHARS) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.chars = 0  # the length of every cached token text, summed
        self._data: OrderedDict[tuple[str, Keys], LoadedToken] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def _evict(self) -> None:
        while self._data and (
            len(self._data) > max(self.max_entries, 0) or self.chars > self.max_chars
        ):
            (text, _keys), _value = self._data.popitem(last=False)
            self.chars -= len(text)

    def get(self, key: tuple[str, Keys]) -> LoadedToken | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: tuple[str, Keys], value: LoadedToken) -> None:
        if self.max_entries <= 0 or len(key[0]) > MAX_CACHED_TOKEN_CHARS:
            return
        with self._lock:
            if key not in self._data:
                self.chars += len(key[0])
            self._data[key] = value
            self._evict()

    def resize(self, max_entries: int) -> None:
        with self._lock:
            self.max_entries = max_entries
            self._evict()


_CACHE = _LRU(4096)


def configure_token_cache(max_entries: int) -> None:
    """Set how many verified tokens to keep (0 turns the cache off). The default is 4096;
    whatever the count, the kept tokens total at most ``MAX_CACHED_CHARS`` characters and
    none is larger than ``MAX_CACHED_TOKEN_CHARS``."""
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 0:
        raise ValueError("max_entries must be a non-negative integer")
    _CACHE.resize(max_entries)


def _check_shape(token: object) -> str:
    if not isinstance(token, str):
        raise MalformedTokenError(f"token must be a string, not {type(token).__name__}")
    token = token.strip()
    if not token:
        raise MalformedTokenError("token is empty")
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedTokenError(f"token is larger than {MAX_TOKEN_CHARS} characters")
    return token


def load_token(token: object, keys: Keys) -> LoadedToken:
    """Parse ``token`` and verify every block signature under the matching root key.

    With a single ``PublicKey`` the token's root key id is not consulted: the
    caller named the one key to trust. With a ``KeySet`` the id picks the key
    (see ``KeySet.for_token``).
    """
    if not isinstance(keys, PublicKey | KeySet):
        raise TypeError(f"keys must be a PublicKey or a KeySet, not {type(keys).__name__}")
    text = _check_shape(token)
    cache_key = (text, keys)
    cached = _CACHE.get(cache_key)
    if cached is not None:
        return cached

    seen: list[int | None] = []
    chosen: list[PublicKey] = []
    refusal: list[UnknownKeyIdError] = []

    def provider(root_key_id: int | None) -> Any:
        seen.append(root_key_id)
        try:
            key = keys if isinstance(keys, PublicKey) else keys.for_token(root_key_id)
        except UnknownKeyIdError as exc:
            refusal.append(exc)
            raise
        chosen.append(key)
        return key.to_biscuit()

    try:
        parsed = biscuit.Biscuit.from_base64(text, provider)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # biscuit raises several types, and pyo3 panics are BaseException
        if refusal:
            raise refusal[0] from None
        raise parse_failure(text) from exc
    loaded = LoadedToken(parsed, chosen[-1], seen[-1] if seen else None)
    _CACHE.put(cache_key, loaded)
    return loaded


def append_third_party(
    loaded: LoadedToken, keypair: KeyPair, source: str, params: dict[str, Any]
) -> str:
    """``loaded`` plus a third-party block of ``source`` signed by ``keypair``, as base64.

    Service-chain attestations and multi-party sign-offs are both such blocks; the
    block's external key is what verifiers read to know who signed it.
    """
    try:
        request = loaded.biscuit.third_party_request()
        block = request.create_block(
            keypair.to_biscuit().private_key, biscuit.BlockBuilder(source, params)
        )
        appended = loaded.biscuit.append_third_party(keypair.public_key.to_biscuit(), block)
        return str(appended.to_base64())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise append_failure(exc) from exc


def load_unverified(token: object) -> Any:
    """Parse without checking signatures, for inspection only."""
    return parse_unverified(_check_shape(token))


__all__ = [
    "MAX_CACHED_CHARS",
    "MAX_CACHED_TOKEN_CHARS",
    "MAX_TOKEN_CHARS",
    "Keys",
    "LoadedToken",
    "append_third_party",
    "configure_token_cache",
    "load_token",
    "load_unverified",
]
