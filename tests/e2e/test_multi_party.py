"""Multi-party sign-offs across two organisations' signers, and a foreign issuer's token."""

from __future__ import annotations

import pytest

from hessra import (
    MissingSignoffError,
    PermissionDeniedError,
    SignoffCollectionError,
    TokenError,
    UnknownKeyIdError,
)
from hessra_core import tokens
from hessra_core.keys import KeyPair
from hessra_core.tokens import SignerRef

from .conftest import GATEWAY, Deployment, until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_token_verifies_only_after_both_signoffs(deployment: Deployment) -> None:
    with deployment.client() as client:
        client.setup()
        response = client.request_token_full("sensitive_data", "export")
        assert [p.name for p in response.pending_signoffs] == ["legal_dept", "partner_company"]
        assert not response.complete
        with pytest.raises(MissingSignoffError, match="Required signature from legal_dept"):
            client.verify_token_local(response.token, GATEWAY, "sensitive_data", "export")
        with pytest.raises(MissingSignoffError):
            client.verify_token_remote(response.token, GATEWAY, "sensitive_data", "export")

        half = client.sign_token(
            response.token,
            "sensitive_data",
            "export",
            endpoint=response.pending_signoffs[0].endpoint,
            signer="legal_dept",
        )
        with pytest.raises(MissingSignoffError, match="partner_company"):
            client.verify_token_local(half, GATEWAY, "sensitive_data", "export")

        token = client.collect_multi_party_signoffs(response, "sensitive_data", "export")
        client.verify_token_local(token, GATEWAY, "sensitive_data", "export")
        client.verify_token_remote(token, GATEWAY, "sensitive_data", "export")
        assert tokens.pending_signoffs(token, deployment.issuer_key.public_key) == []


def test_partner_policy_denial_names_the_partner(deployment: Deployment) -> None:
    deployment.partner.commit_and_push(
        "Stop approving exports", deployment.partner_policy(allow_gateway=False)
    )
    try:
        until(lambda: not deployment.signoffs_work(), 60, "the partner's denial to apply")
        with deployment.client() as client:
            response = client.request_token_full("sensitive_data", "export")
            with pytest.raises(SignoffCollectionError) as caught:
                client.collect_multi_party_signoffs(response, "sensitive_data", "export")
        assert caught.value.signer == "partner_company"
        assert isinstance(caught.value.cause, PermissionDeniedError)
        assert "Required signature from partner_company not found" in caught.value.message
        assert "may not `export` on `sensitive_data`" in caught.value.message
    finally:
        deployment.partner.commit_and_push(
            "Approve exports again", deployment.partner_policy(allow_gateway=True)
        )
        until(deployment.signoffs_work, 60, "the partner's approval to apply again")


def test_foreign_issuer_token_is_refused_by_the_signer(deployment: Deployment) -> None:
    foreign = KeyPair.generate()
    refs = [
        SignerRef(name, deployment.signer_keys[name].public_key)
        for name in ("legal_dept", "partner_company")
    ]
    minted = tokens.mint_token(
        foreign, subject=GATEWAY, resource="sensitive_data", operation="export", signers=refs
    )
    legal = f"127.0.0.1:{deployment.ports['legal_dept']}"
    with deployment.client() as client:
        with pytest.raises(TokenError) as caught:
            client.sign_token(minted.token, "sensitive_data", "export", endpoint=legal)
        assert isinstance(caught.value, UnknownKeyIdError)
        assert "is not a trusted key" in caught.value.message
        # Without a key id, the token is checked against the trusted key and fails there.
        anonymous = tokens.mint_token(
            foreign, subject=GATEWAY, resource="sensitive_data", operation="export",
            signers=refs, key_id=None,
        )  # fmt: skip
        with pytest.raises(TokenError):
            client.sign_token(anonymous.token, "sensitive_data", "export", endpoint=legal)
