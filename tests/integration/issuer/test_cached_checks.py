"""What the issuer remembers between requests never outlives what it was derived from.

Per worker, a verified client certificate is remembered per (certificate, snapshot) and
an allowed decision per (snapshot, caller, resource, operation). These tests hold one
connection open and change what each was derived from: the next request must follow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import issuer_pb2, issuer_pb2_grpc
from hessra_core import pki

ORDERS = issuer_pb2.RequestTokenRequest(resource="orders", operation="read")


def _lifetime(reply: Any) -> float:
    return reply.expires_at.seconds - time.time()


def _shorter_lifetime(policy: Any, _keys: Any) -> None:
    policy.resources["orders"] = {"token_lifetime": 30}


def _now_multi_party(policy: Any, keys: Any) -> None:
    policy.resources["orders"] = {
        "type": "multi_party",
        "required_signers": [
            {
                "name": "partner_org",
                "url": "https://partner.example.test:8443",
                "public_key": keys.signers["partner_org"].public_key.to_string(),
            }
        ],
    }


def _check_lifetime(reply: Any) -> None:
    assert 27 <= _lifetime(reply) <= 31
    assert list(reply.pending_signoffs) == []


def _check_signoff(reply: Any) -> None:
    assert [p.name for p in reply.pending_signoffs] == ["partner_org"]
    assert reply.pending_signoffs[0].endpoint == "https://partner.example.test:8443"


CHANGES: list[tuple[str, Callable[[Any, Any], None], Callable[[Any], None]]] = [
    ("token-lifetime-shortened", _shorter_lifetime, _check_lifetime),
    ("signer-now-required", _now_multi_party, _check_signoff),
]


@pytest.mark.parametrize(("edit", "check"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
async def test_a_new_snapshot_reshapes_the_next_token_on_an_open_connection(
    issuer: Any, policy: Any, chain_keys: Any, edit: Any, check: Any
) -> None:
    stub = issuer.stub("uri")
    for _ in range(3):  # the same grant, asked for again and again
        before = await stub.RequestToken(ORDERS, timeout=5)
        assert _lifetime(before) > 250
        assert list(before.pending_signoffs) == []
    edit(policy, chain_keys)
    await issuer.change_policy(policy)
    after = await stub.RequestToken(ORDERS, timeout=5)
    assert after.policy_revision == issuer.app.holder.state.revision
    check(after)


async def test_a_certificate_that_expires_mid_connection_is_refused_on_its_next_request(
    issuer: Any, ids: Any
) -> None:
    """The handshake happened while it was valid; the remembered check re-reads the dates."""
    now = datetime.now(UTC)
    cert = pki.issue_cert(
        ids.ca,
        "short-lived gateway",
        pki.SubjectNames(uris=["urn:test:gateway"]),
        not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(seconds=2),
    )
    creds = grpc.ssl_channel_credentials(ids.ca.cert_pem, cert.key_pem, cert.cert_pem)
    options = [("grpc.ssl_target_name_override", "localhost")]
    async with grpc.aio.secure_channel(f"127.0.0.1:{issuer.app.port}", creds, options) as ch:
        stub = issuer_pb2_grpc.IssuerStub(ch)
        for _ in range(2):
            await stub.RequestToken(ORDERS, timeout=5)
        await asyncio.sleep(max(0.0, cert.cert.not_valid_after_utc.timestamp() - time.time()) + 1)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.RequestToken(ORDERS, timeout=5)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (info.value.details() or "")
