"""Tokens whose reported expiry is missing, already past, invalid, or later than the
token's own: the client hands them over without crashing, and the cache never keeps
one past the moment it stops working.

The issuer is the scripted mTLS server (``scripted.py``); tokens are real, minted with
``hessra_core.tokens`` so the token's own expiry can disagree with ``expires_at``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from hessra import Hessra, TokenCache
from hessra.v1 import issuer_pb2
from hessra_core import tokens
from hessra_core.keys import KeyPair

from .scripted import ScriptedServer, reply

ISSUER_KEY = KeyPair.generate()
NOW = time.time()


def stamp(when: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(when)
    return out


def token_valid_for(seconds: int) -> str:
    minted = tokens.mint_token(
        ISSUER_KEY, subject="uri:urn:test:gateway", resource="orders", operation="read", ttl=seconds
    )
    return minted.token


NOW_DT = datetime.fromtimestamp(NOW, UTC)
# (id, expires_at as sent or None, what the client reports)
REPORTED = [
    ("missing", None, None),
    ("already_past", stamp(NOW_DT - timedelta(minutes=5)), NOW_DT - timedelta(minutes=5)),
    ("not_a_valid_timestamp", Timestamp(seconds=10**12), None),
]


@pytest.mark.parametrize(
    ("sent", "reported"), [r[1:] for r in REPORTED], ids=[r[0] for r in REPORTED]
)
def test_a_token_without_a_usable_expiry_is_returned_but_never_reused(
    scripted: ScriptedServer, sent: Timestamp | None, reported: datetime | None
) -> None:
    answer = issuer_pb2.RequestTokenResponse(token="opaque-token", expires_at=sent)
    scripted.script("RequestToken", reply(answer))
    with Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        response = client.request_token_full("orders", "read")
        assert response.expires_at == reported
        cache = TokenCache(client, clock=lambda: NOW)
        assert cache.get("orders", "read") == "opaque-token"
        assert cache.get("orders", "read") == "opaque-token"
    assert scripted.calls["RequestToken"] == 3  # the cache asked both times
    assert cache.hits == 0


def test_the_cache_believes_the_tokens_own_expiry_when_it_is_earlier(
    scripted: ScriptedServer,
) -> None:
    token = token_valid_for(10)  # the token itself stops working in 10 s ...
    minted_at = time.time()
    claimed = stamp(datetime.now(UTC) + timedelta(days=1))  # ... the issuer claims a day
    scripted.script(
        "RequestToken", reply(issuer_pb2.RequestTokenResponse(token=token, expires_at=claimed))
    )
    now = [minted_at]
    with Hessra(scripted.target, **scripted.client_kwargs(timeout=5.0)) as client:
        cache = TokenCache(client, clock=lambda: now[0])
        assert cache.get("orders", "read") == token
        now[0] = minted_at + 2  # within 80% of the token's own life: reused
        assert cache.get("orders", "read") == token
        assert scripted.calls["RequestToken"] == 1
        now[0] = minted_at + 11  # the token has expired: renewed, whatever expires_at said
        cache.get("orders", "read")
    assert scripted.calls["RequestToken"] == 2
