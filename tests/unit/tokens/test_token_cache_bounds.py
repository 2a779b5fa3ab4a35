"""The verified-token cache is bounded in characters as well as entries.

Anyone holding one valid token can append blocks to it offline, making as many distinct
valid tokens as they like, each up to MAX_TOKEN_CHARS; a verifier must not keep them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import biscuit_auth
import pytest

from hessra_core.keys import KeyPair
from hessra_core.tokens import _load, mint_token, verify_token

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK = {"subject": "alice", "resource": "orders", "operation": "read"}


@pytest.fixture
def root() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture
def empty_cache() -> Iterator[_load._LRU]:
    _load._CACHE.resize(0)
    _load._CACHE.resize(4096)
    yield _load._CACHE
    _load._CACHE.max_chars = _load.MAX_CACHED_CHARS
    _load._CACHE.resize(0)
    _load._CACHE.resize(4096)


def _padded(root: KeyPair, token: str, chars: int) -> str:
    """``token`` with a first-party block carrying ``chars`` characters of harmless fact."""
    parsed = biscuit_auth.Biscuit.from_base64(token, root.public_key.to_biscuit())
    block = biscuit_auth.BlockBuilder("note({n});", {"n": "x" * chars})
    return str(parsed.append(block).to_base64())


def test_an_oversized_token_verifies_but_is_not_kept(
    root: KeyPair, empty_cache: _load._LRU
) -> None:
    big = _padded(root, mint_token(root, **ASK, now=NOW).token, _load.MAX_CACHED_TOKEN_CHARS)
    assert len(big) > _load.MAX_CACHED_TOKEN_CHARS
    verify_token(big, root.public_key, **ASK, now=NOW)
    assert len(empty_cache) == 0
    small = mint_token(root, **ASK, now=NOW).token
    verify_token(small, root.public_key, **ASK, now=NOW)
    assert len(empty_cache) == 1
    assert empty_cache.chars == len(small)


def test_the_cache_stays_within_its_character_budget(
    root: KeyPair, empty_cache: _load._LRU
) -> None:
    base = mint_token(root, **ASK, now=NOW).token
    tokens = [_padded(root, base, 2000 + i) for i in range(12)]
    empty_cache.max_chars = 5 * len(tokens[0])
    for token in tokens:
        verify_token(token, root.public_key, **ASK, now=NOW)
        assert empty_cache.chars <= empty_cache.max_chars
    assert 1 <= len(empty_cache) <= 5
    # The newest stay: the last token verified is a cache hit.
    assert (tokens[-1], root.public_key) in empty_cache._data
    assert empty_cache.chars == sum(len(text) for text, _keys in empty_cache._data)
