"""Hessra and AsyncHessra against a real issuer and real signers over mTLS."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hessra import (
    AsyncHessra,
    Hessra,
    MissingSignoffError,
    PermissionDeniedError,
    ServiceUnavailableError,
    SignoffCollectionError,
    SubjectMismatchError,
    TokenCache,
)
from hessra_core import pki
from hessra_core.testing import write_tls

from .conftest import GATEWAY, REPORTER, Stack, partner_policy


@pytest.fixture
def client(stack: Stack) -> Hessra:
    with Hessra(stack.server, **stack.client_kwargs()) as c:
        c.setup()
        yield c


def test_request_and_verify_locally_and_remotely(client: Hessra, stack: Stack) -> None:
    assert stack.issuer_key.public_key.key_id in client.public_keys
    token = client.request_token("orders", "read")
    ctx = client.verify_token_local(token, GATEWAY, "orders", "read")
    assert ctx.subject == GATEWAY
    client.verify_token_remote(token, GATEWAY, "orders", "read")
    with pytest.raises(SubjectMismatchError):
        client.verify_token_local(token, REPORTER, "orders", "read")
    with pytest.raises(SubjectMismatchError):
        client.verify_token_remote(token, REPORTER, "orders", "read")


def test_policy_refusal_is_a_typed_error(stack: Stack) -> None:
    with (
        Hessra(stack.server, **stack.client_kwargs("reporter")) as reporter,
        pytest.raises(PermissionDeniedError, match="may not `read` on `orders`"),
    ):
        reporter.request_token("orders", "read")


def test_full_response_and_multi_party_collection(client: Hessra) -> None:
    response = client.request_token_full("sensitive", "export")
    assert [p.name for p in response.pending_signoffs] == ["legal_dept", "partner_company"]
    assert response.subject == GATEWAY
    assert response.expires_at is not None
    assert response.revision.startswith("dir:")
    with pytest.raises(MissingSignoffError, match="Required signature from legal_dept"):
        client.verify_token_local(response.token, GATEWAY, "sensitive", "export")
    token = client.collect_multi_party_signoffs(response, "sensitive", "export")
    client.verify_token_local(token, GATEWAY, "sensitive", "export")
    client.verify_token_remote(token, GATEWAY, "sensitive", "export")


def test_manual_sign_token_per_signer(client: Hessra, stack: Stack) -> None:
    response = client.request_token_full("sensitive", "export")
    token = response.token
    for pending in response.pending_signoffs:
        token = client.sign_token(
            token, "sensitive", "export", endpoint=pending.endpoint, signer=pending.name
        )
    client.verify_token_local(token, GATEWAY, "sensitive", "export")


def test_partner_denial_names_the_signer(client: Hessra, stack: Stack) -> None:
    stack.write_policy("partner", partner_policy(stack.ca_pem, allow=False))
    try:
        response = client.request_token_full("sensitive", "export")
        with pytest.raises(SignoffCollectionError) as caught:
            client.collect_multi_party_signoffs(response, "sensitive", "export")
    finally:
        stack.write_policy("partner", partner_policy(stack.ca_pem, allow=True))
    assert caught.value.signer == "partner_company"
    assert isinstance(caught.value.cause, PermissionDeniedError)
    assert "Required signature from partner_company not found" in str(caught.value)
    assert "partner_company: `uri:urn:test:gateway` may not `export`" in str(caught.value)


def test_signer_ca_is_needed_for_a_partner_signed_server(stack: Stack) -> None:
    kwargs = stack.client_kwargs()
    del kwargs["signer_ca"]
    with Hessra(stack.server, **kwargs) as client:
        response = client.request_token_full("sensitive", "export")
        with pytest.raises(SignoffCollectionError) as caught:
            client.collect_multi_party_signoffs(response, "sensitive", "export")
    assert caught.value.signer == "partner_company"
    assert isinstance(caught.value.cause, ServiceUnavailableError)


def test_batch_requests_keep_order(client: Hessra) -> None:
    pairs = [("orders", "read"), ("orders", "create"), ("inventory", "update")]
    found = client.request_tokens(pairs)
    for token, (resource, operation) in zip(found, pairs, strict=True):
        client.verify_token_local(token, GATEWAY, resource, operation)
    with pytest.raises(PermissionDeniedError):
        client.request_tokens([("orders", "read"), ("reports", "read")])


def test_token_cache_renews_at_80_percent(client: Hessra) -> None:
    now = [0.0]
    cache = TokenCache(client, clock=lambda: now[0])
    import time

    now[0] = time.time()
    first = cache.get("orders", "read")  # orders tokens live 60 s
    assert cache.get("orders", "read") == first
    now[0] += 47  # 78% of 60 s
    assert cache.get("orders", "read") == first
    now[0] += 3  # 83%
    renewed = cache.get("orders", "read")
    assert renewed != first
    assert (cache.hits, cache.renewals) == (2, 2)
    complete = cache.get("sensitive", "export")
    client.verify_token_local(complete, GATEWAY, "sensitive", "export")
    assert "token" not in repr(cache).lower().replace("tokencache", "")


def test_channel_is_rebuilt_when_cert_files_change(stack: Stack, tmp_path: Path) -> None:
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    shutil.copy(stack.clients["gateway"].cert, cert)
    shutil.copy(stack.clients["gateway"].key, key)
    with Hessra(stack.server, cert=cert, key=key, ca=stack.ca_file) as client:
        assert client.request_token_full("orders", "read").subject == GATEWAY
        # Rotate in place to a certificate for another identity: the next call must use it.
        reporter = stack.clients["reporter"]
        shutil.copy(reporter.cert, cert)
        shutil.copy(reporter.key, key)
        assert client.request_token_full("reports", "read").subject == REPORTER
        assert client._pool.rebuilds == 1


def test_identity_tokens_request_refresh_delegate(stack: Stack) -> None:
    with Hessra(
        stack.server, identity_server=stack.identity_server, **stack.client_kwargs()
    ) as client:
        client.setup()
        issued = client.request_identity_token()
        assert issued.subject == GATEWAY
        token = client.request_token_with_identity("orders", "read")
        client.verify_token_local(token, GATEWAY, "orders", "read")
        refreshed = client.refresh_identity_token()
        assert refreshed.subject == GATEWAY
        assert client.identity_token == refreshed.token
        delegated = client.delegate_identity_token("worker-1", ttl=120)
    # A holder of only the delegated token (no client certificate) acts as gateway:worker-1.
    with Hessra(
        stack.identity_server, ca=stack.ca_file, public_key=stack.issuer_key.public_key
    ) as worker:
        token = worker.request_token_with_identity("orders", "read", identity_token=delegated)
        worker.verify_token_local(token, f"{GATEWAY}:worker-1", "orders", "read")
        with pytest.raises(SubjectMismatchError):
            worker.verify_token_local(token, GATEWAY, "orders", "read")


def test_from_env(stack: Stack) -> None:
    files = stack.clients["gateway"]
    env = {
        "HESSRA_SERVER": f"https://{stack.server}",
        "HESSRA_CERT": str(files.cert),
        "HESSRA_KEY": str(files.key),
        "HESSRA_CA": str(stack.ca_file),
        "HESSRA_PUBLIC_KEY": stack.issuer_key.public_key.to_string(),
    }
    with Hessra.from_env(env) as client:
        token = client.request_token("orders", "read")
        client.verify_token_local(token, GATEWAY, "orders", "read")


async def test_async_client(stack: Stack) -> None:
    async with AsyncHessra(stack.server, **stack.client_kwargs()) as client:
        await client.setup()
        token = await client.request_token("orders", "read")
        client.verify_token_local(token, GATEWAY, "orders", "read")
        await client.verify_token_remote(token, GATEWAY, "orders", "read")
        response = await client.request_token_full("sensitive", "export")
        complete = await client.collect_multi_party_signoffs(response, "sensitive", "export")
        client.verify_token_local(complete, GATEWAY, "sensitive", "export")
        batch = await client.request_tokens([("orders", "read"), ("inventory", "update")])
        assert len(batch) == 2
        cache = TokenCache(client)
        assert await cache.aget("orders", "read") == await cache.aget("orders", "read")
        with pytest.raises(PermissionDeniedError):
            await client.request_token("reports", "read")


async def test_async_unreachable_signer_is_named(stack: Stack, tmp_path: Path) -> None:
    write_tls(tmp_path, "x", pki.issue_cert(pki.create_ca(), "x", pki.SubjectNames()))
    async with AsyncHessra(stack.server, **stack.client_kwargs()) as client:
        response = await client.request_token_full("sensitive", "export")
        from dataclasses import replace

        broken = replace(response.pending_signoffs[0], endpoint="127.0.0.1:1")
        with pytest.raises(SignoffCollectionError) as caught:
            await client.collect_multi_party_signoffs(
                response, "sensitive", "export", pending=[broken]
            )
    assert caught.value.signer == "legal_dept"
    assert "127.0.0.1:1" in str(caught.value)
