"""What the issuer mints: lifetimes, each mechanism, remote verification, published keys,
and interop with hessra-py (the vendor's verifier)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.aio
import pytest

from hessra.v1 import common_pb2, issuer_pb2
from hessra_core import errors, pki, tokens
from hessra_core.keys import PublicKey

CHAIN = ("api_gateway", "fraud_detection", "payment_processor")
SUBJECT = "uri:urn:test:gateway"


def _req(resource: str, operation: str, **kw: Any) -> issuer_pb2.RequestTokenRequest:
    return issuer_pb2.RequestTokenRequest(resource=resource, operation=operation, **kw)


def _lifetime(reply: Any) -> float:
    return (reply.expires_at.ToDatetime(tzinfo=UTC) - datetime.now(UTC)).total_seconds()


LIFETIMES = [
    ("default", "orders", None, 300),
    ("resource_cap", "short", None, 30),
    ("asked_shorter", "orders", 10, 10),
    ("asked_longer_than_resource", "short", 200, 30),
    ("asked_max", "orders", 600, 300),
]


@pytest.mark.parametrize(
    ("resource", "ttl", "expected"), [c[1:] for c in LIFETIMES], ids=[c[0] for c in LIFETIMES]
)
async def test_lifetime_is_the_smaller_of_request_and_policy(
    issuer: Any, resource: str, ttl: int | None, expected: int
) -> None:
    kw = {"ttl_seconds": ttl} if ttl is not None else {}
    reply = await issuer.stub("uri").RequestToken(_req(resource, "read", **kw), timeout=5)
    assert expected - 3 <= _lifetime(reply) <= expected + 1
    info = tokens.inspect_token(reply.token, issuer.files.keypair.public_key)
    assert info.expires_at == reply.expires_at.ToDatetime(tzinfo=UTC)


async def test_plain_token_verifies_and_names_the_revision(issuer: Any) -> None:
    reply = await issuer.stub("uri").RequestToken(_req("orders", "create"), timeout=5)
    assert list(reply.pending_signoffs) == []
    key = issuer.files.keypair.public_key
    tokens.verify_token(reply.token, key, subject=SUBJECT, resource="orders", operation="create")
    with pytest.raises(errors.OperationMismatchError):
        tokens.verify_token(reply.token, key, subject=SUBJECT, resource="orders", operation="read")
    assert tokens.inspect_token(reply.token, key).policy_revision == reply.policy_revision


def _attest(
    token: str, issuer: Any, keys: Any, names: tuple[str, ...], resource: str = "payments"
) -> str:
    root = issuer.files.keypair.public_key
    for name in names:
        token = tokens.attest_service_chain_token(
            token, keys.nodes[name], resource=resource, root_keys=root
        )
    return token


async def test_service_chain_token_needs_attestations_in_order(
    issuer: Any, chain_keys: Any
) -> None:
    reply = await issuer.stub("uri").RequestToken(_req("payments", "charge"), timeout=5)
    root = issuer.files.keypair.public_key
    nodes = [tokens.ServiceNode(n, chain_keys.nodes[n].public_key) for n in CHAIN]
    kw = {"subject": SUBJECT, "resource": "payments", "operation": "charge", "chain": nodes}
    # The first node verifies with nothing attested before it.
    tokens.verify_service_chain_token(reply.token, root, component="api_gateway", **kw)
    with pytest.raises(errors.MissingAttestationError):
        tokens.verify_service_chain_token(reply.token, root, component="fraud_detection", **kw)
    full = _attest(reply.token, issuer, chain_keys, CHAIN)
    tokens.verify_service_chain_token(full, root, **kw)
    swapped = _attest(reply.token, issuer, chain_keys, ("fraud_detection", "api_gateway"))
    with pytest.raises(errors.ServiceChainError):
        tokens.verify_service_chain_token(swapped, root, component="payment_processor", **kw)

    remote = issuer.stub("serial")  # any authenticated caller may verify
    ok = await remote.VerifyServiceChainToken(
        issuer_pb2.VerifyServiceChainTokenRequest(
            token=full, subject=SUBJECT, resource="payments", operation="charge"
        ),
        timeout=5,
    )
    assert (ok.valid, ok.reason) == (True, "")
    bad = await remote.VerifyServiceChainToken(
        issuer_pb2.VerifyServiceChainTokenRequest(
            token=reply.token,
            subject=SUBJECT,
            resource="payments",
            operation="charge",
            component="fraud_detection",
        ),
        timeout=5,
    )
    assert not bad.valid
    assert bad.message == "Missing attestation from: api_gateway"
    for request, code in (
        (
            issuer_pb2.VerifyServiceChainTokenRequest(
                token=full, subject=SUBJECT, resource="orders", operation="read"
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (
            issuer_pb2.VerifyServiceChainTokenRequest(
                token=full,
                subject=SUBJECT,
                resource="payments",
                operation="charge",
                component="cdn",
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await remote.VerifyServiceChainToken(request, timeout=5)
        assert info.value.code() is code


@pytest.mark.parametrize("resource", ["sensitive", "combo"], ids=["multi_party", "both"])
async def test_multi_party_token_lists_pending_signoffs_and_needs_them_all(
    issuer: Any, chain_keys: Any, resource: str
) -> None:
    operation = "export" if resource == "sensitive" else "run"
    reply = await issuer.stub("uri").RequestToken(_req(resource, operation), timeout=5)
    pending = [(p.name, p.endpoint, p.public_key) for p in reply.pending_signoffs]
    assert pending == [
        (
            name,
            f"https://{name.replace('_', '-')}.example.test:8443",
            kp.public_key.to_string(),
        )
        for name, kp in chain_keys.signers.items()
    ]
    root = issuer.files.keypair.public_key
    token = reply.token
    if resource == "combo":
        token = _attest(token, issuer, chain_keys, CHAIN, resource)
    nodes = [tokens.ServiceNode(n, chain_keys.nodes[n].public_key) for n in CHAIN]

    def verify(t: str) -> None:
        if resource == "combo":
            tokens.verify_service_chain_token(
                t, root, subject=SUBJECT, resource=resource, operation=operation, chain=nodes
            )
        else:
            tokens.verify_token(t, root, subject=SUBJECT, resource=resource, operation=operation)

    with pytest.raises(errors.MissingSignoffError, match="legal_dept"):
        verify(token)
    if resource == "sensitive":
        with pytest.raises(Exception, match=r"(?i)fail|denied|invalid|error|check"):
            _hessra_py_client(root).verify_token_local(token, SUBJECT, resource, operation)
    token = tokens.add_signoff(
        token, chain_keys.signers["legal_dept"], signer_name="legal_dept", root_keys=root
    )
    assert tokens.pending_signoffs(token, root) == ["partner_org"]
    with pytest.raises(errors.MissingSignoffError, match="partner_org"):
        verify(token)
    token = tokens.add_signoff(
        token, chain_keys.signers["partner_org"], signer_name="partner_org", root_keys=root
    )
    verify(token)
    if resource == "sensitive":
        _hessra_py_client(root).verify_token_local(token, SUBJECT, resource, operation)


async def test_verify_token_rpc_answers_valid_or_why_not(issuer: Any) -> None:
    stub = issuer.stub("dns")
    reply = await issuer.stub("uri").RequestToken(_req("orders", "read"), timeout=5)

    async def verify(**kw: Any) -> Any:
        fields = {
            "token": reply.token,
            "subject": SUBJECT,
            "resource": "orders",
            "operation": "read",
        } | kw
        return await stub.VerifyToken(issuer_pb2.VerifyTokenRequest(**fields), timeout=5)

    assert (await verify()).valid
    wrong = await verify(subject="uri:urn:test:someone-else")
    assert (wrong.valid, wrong.reason) == (False, "subject_mismatch")
    garbage = await verify(token="not-a-token")
    assert (garbage.valid, garbage.reason) == (False, "malformed_token")
    assert "not-a-token" not in garbage.message
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await verify(subject="")
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_get_public_keys_lists_active_and_rotating_keys(issuer: Any) -> None:
    reply = await issuer.stub("email").GetPublicKeys(issuer_pb2.GetPublicKeysRequest(), timeout=5)
    active, old = issuer.files.keypair.public_key, issuer.files.old_keypair.public_key
    assert [(k.key_id, k.public_key, k.active) for k in reply.keys] == [
        (active.key_id, active.to_string(), True),
        (old.key_id, old.to_string(), False),
    ]
    for key in reply.keys:
        assert key.algorithm == common_pb2.ED25519
        assert key.public_key.startswith("ed25519/")
        assert PublicKey.parse(key.pem) == PublicKey.parse(key.public_key)


def _hessra_py_client(public_key: PublicKey) -> Any:
    hessra_py = pytest.importorskip("hessra_py")
    config = (
        hessra_py.HessraConfig.builder()
        .base_url("127.0.0.1")
        .port(1)
        .protocol("http1")
        .server_ca(pki.create_ca().cert_pem.decode())
        .public_key(public_key.to_pem())
        .build()
    )
    return hessra_py.HessraClient(config)


VENDOR_CASES = [
    ("uri", "orders", "read", SUBJECT),
    ("serial", "api", "read", "123456789"),
    ("dns", "queue", "process", "worker-7.internal.test"),
]


@pytest.mark.parametrize(
    ("who", "resource", "operation", "subject"), VENDOR_CASES, ids=[c[0] for c in VENDOR_CASES]
)
async def test_minted_tokens_verify_in_hessra_py(
    issuer: Any, who: str, resource: str, operation: str, subject: str
) -> None:
    reply = await issuer.stub(who).RequestToken(_req(resource, operation), timeout=5)
    client = _hessra_py_client(issuer.files.keypair.public_key)
    client.verify_token_local(reply.token, subject, resource, operation)
    with pytest.raises(Exception, match=r"(?i)fail|denied|invalid|error"):
        client.verify_token_local(reply.token, subject, resource, "delete")


async def test_service_chain_token_verifies_in_hessra_py(issuer: Any, chain_keys: Any) -> None:
    reply = await issuer.stub("uri").RequestToken(_req("payments", "charge"), timeout=5)
    full = _attest(reply.token, issuer, chain_keys, CHAIN)
    client = _hessra_py_client(issuer.files.keypair.public_key)
    chain = json.dumps(
        [{"component": n, "public_key": chain_keys.nodes[n].public_key.to_string()} for n in CHAIN]
    )
    client.verify_service_chain_token_local(full, SUBJECT, "payments", "charge", chain, None)
