"""Signer.SignToken over real mTLS: the sign-off, and each refusal with its own code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra.v1 import signer_pb2
from hessra_core import tokens
from hessra_core.errors import MissingSignoffError
from hessra_core.keys import KeyPair
from hessra_core.tokens import SignerRef

from .conftest import CALLER, SIGNER, Harness, World

Code = grpc.StatusCode


def mint(
    world: World,
    *,
    issuer: KeyPair | None = None,
    resource: str = "sensitive",
    operation: str = "export",
    signers: tuple[str, ...] = (SIGNER, "partner_company"),
    now: datetime | None = None,
    ttl: int = 300,
    domain: str | None = None,
) -> str:
    keys = {SIGNER: world.signer, "partner_company": world.partner}
    refs = [SignerRef(name, keys[name].public_key, f"{name}.test:443") for name in signers]
    return tokens.mint_token(
        issuer or world.issuer,
        subject=CALLER,
        resource=resource,
        operation=operation,
        signers=refs,
        now=now,
        ttl=ttl,
        domain=domain,
    ).token


def request(token: str, resource: str = "sensitive", operation: str = "export") -> Any:
    return signer_pb2.SignTokenRequest(token=token, resource=resource, operation=operation)


async def test_signs_and_reports_what_is_still_pending(signer: Harness, world: World) -> None:
    token = mint(world)
    reply = await signer.stub("gateway").SignToken(request(token), timeout=10)

    assert reply.signer_name == SIGNER
    assert list(reply.pending_signoffs) == ["partner_company"]
    assert reply.policy_revision.startswith("dir:")
    assert tokens.pending_signoffs(reply.token, world.issuer.public_key) == ["partner_company"]
    with pytest.raises(MissingSignoffError, match="partner_company"):
        tokens.verify_token(
            reply.token, world.issuer.public_key, subject=CALLER, resource="sensitive",
            operation="export",
        )  # fmt: skip
    done = tokens.add_signoff(
        reply.token,
        world.partner,
        signer_name="partner_company",
        root_keys=world.issuer.public_key,
    )
    verified = tokens.verify_token(
        done, world.issuer.public_key, subject=CALLER, resource="sensitive", operation="export"
    )
    assert verified.subject == CALLER


async def test_signs_a_domain_restricted_token(signer: Harness, world: World) -> None:
    token = mint(world, domain="eu", signers=(SIGNER,))
    reply = await signer.stub("gateway").SignToken(request(token), timeout=10)
    assert list(reply.pending_signoffs) == []
    tokens.verify_token(
        reply.token,
        world.issuer.public_key,
        subject=CALLER,
        resource="sensitive",
        operation="export",
        domain="eu",
    )


def _expired(world: World) -> str:
    return mint(world, now=datetime.now(UTC) - timedelta(minutes=10), ttl=60)


def _signed_once(world: World) -> str:
    return tokens.add_signoff(
        mint(world), world.signer, signer_name=SIGNER, root_keys=world.issuer.public_key
    )


REFUSALS: list[tuple[str, Callable[[World], Any], str, Code, str]] = [
    # (id, request builder, caller, code, message fragment)
    ("empty_resource", lambda w: request(mint(w), resource=""), "gateway",
     Code.INVALID_ARGUMENT, "resource must not be empty"),
    ("not_a_token", lambda w: request("not-a-biscuit"), "gateway",
     Code.INVALID_ARGUMENT, "not a base64url-encoded biscuit"),
    ("foreign_issuer", lambda w: request(mint(w, issuer=w.foreign_issuer)), "gateway",
     Code.UNAUTHENTICATED, "is not a trusted key"),
    ("expired", lambda w: request(_expired(w)), "gateway",
     Code.UNAUTHENTICATED, "Token has expired"),
    ("other_resource", lambda w: request(mint(w), resource="reports"), "gateway",
     Code.UNAUTHENTICATED, "does not grant access to resource 'reports'"),
    ("other_operation", lambda w: request(mint(w), operation="delete"), "gateway",
     Code.UNAUTHENTICATED, "does not grant operation 'delete'"),
    ("signer_not_required", lambda w: request(mint(w, signers=("partner_company",))), "gateway",
     Code.FAILED_PRECONDITION, "does not require a sign-off from legal_dept"),
    ("plain_token", lambda w: request(mint(w, signers=())), "gateway",
     Code.FAILED_PRECONDITION, "does not require a sign-off from legal_dept"),
    ("already_signed", lambda w: request(_signed_once(w)), "gateway",
     Code.FAILED_PRECONDITION, "already carries the sign-off of legal_dept"),
    ("policy_denies", lambda w: request(mint(w)), "reporter",
     Code.PERMISSION_DENIED, "legal_dept: `uri:urn:test:reporter` may not `export`"),
    ("unknown_client", lambda w: request(mint(w)), "nobody",
     Code.PERMISSION_DENIED, "no client in the policy matches"),
    ("untrusted_caller", lambda w: request(mint(w)), "outsider",
     Code.UNAUTHENTICATED, "not issued by a trusted CA"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "caller", "code", "fragment"),
    [r[1:] for r in REFUSALS],
    ids=[r[0] for r in REFUSALS],
)
async def test_refusals(
    signer: Harness,
    world: World,
    build: Callable[[World], Any],
    caller: str,
    code: Code,
    fragment: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await signer.stub(caller).SignToken(build(world), timeout=10)
    assert caught.value.code() == code, caught.value.details()
    assert fragment in (caught.value.details() or "")


async def test_untrusted_issuer_key_signoff_is_a_signature_refusal_not_a_signoff(
    make_signer: Callable[..., Any], world: World
) -> None:
    """A signer configured to trust the foreign issuer signs its tokens and only those."""
    from hessra_core.keys import KeySet

    harness: Harness = await make_signer(issuer_keys=KeySet.of(world.foreign_issuer.public_key))
    reply = await harness.stub("gateway").SignToken(
        request(mint(world, issuer=world.foreign_issuer)), timeout=10
    )
    assert reply.signer_name == SIGNER
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub("gateway").SignToken(request(mint(world)), timeout=10)
    assert caught.value.code() == Code.UNAUTHENTICATED


async def test_no_snapshot_means_not_serving_and_failed_precondition(
    make_signer: Callable[..., Any], world: World, tmp_path: Path
) -> None:
    broken = tmp_path / "broken-policy"
    broken.mkdir()
    (broken / "clients.toml").write_text("version = [")
    (broken / "resources.toml").write_text('version = "0.2.0"\n')
    harness: Harness = await make_signer(policy_dir=broken)
    # The other CA is trusted at the transport (extra CA), so the call reaches the servicer.
    stub = harness.stub("outsider")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SignToken(request(mint(world)), timeout=10)
    assert caught.value.code() == Code.FAILED_PRECONDITION
    assert "no policy snapshot loaded yet" in (caught.value.details() or "")
    assert harness.app.running is not None
    assert harness.app.running.serving is False


async def test_health_serving_and_public_key(signer: Harness, world: World) -> None:
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{signer.app.port}",
        grpc.ssl_channel_credentials(
            world.ca.cert_pem, world.certs["gateway"].key_pem, world.certs["gateway"].cert_pem
        ),
        options=[("grpc.ssl_target_name_override", "localhost")],
    )
    try:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="hessra.v1.Signer"), timeout=10
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await channel.close()
    key = await signer.stub("gateway").GetPublicKey(signer_pb2.GetPublicKeyRequest(), timeout=10)
    assert key.signer_name == SIGNER
    assert key.key.public_key == world.signer.public_key.to_string()
    assert key.key.key_id == world.signer.public_key.key_id


async def test_reflection_lists_the_signer(signer: Harness, world: World) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    gateway = world.certs["gateway"]
    channel = grpc.aio.secure_channel(
        f"127.0.0.1:{signer.app.port}",
        grpc.ssl_channel_credentials(world.ca.cert_pem, gateway.key_pem, gateway.cert_pem),
        options=[("grpc.ssl_target_name_override", "localhost")],
    )
    try:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names: list[str] = []
        async for reply in stub.ServerReflectionInfo(iter([request]), timeout=10):
            names += [s.name for s in reply.list_services_response.service]
    finally:
        await channel.close()
    assert "hessra.v1.Signer" in names
    assert "grpc.health.v1.Health" in names
