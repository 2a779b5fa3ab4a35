"""Identity tokens against the real issuer process: request, refresh, delegate, use."""

from __future__ import annotations

import pytest

from hessra import Hessra, SubjectMismatchError

from .conftest import GATEWAY, Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_identity_request_refresh_and_delegation(deployment: Deployment) -> None:
    with deployment.client(identity_server=deployment.identity_server) as gateway:
        gateway.setup()
        issued = gateway.request_identity_token()
        assert issued.subject == GATEWAY
        token = gateway.request_token_with_identity("payment_processor", "charge")
        gateway.verify_token_local(token, GATEWAY, "payment_processor", "charge")
        refreshed = gateway.refresh_identity_token()
        assert refreshed.subject == GATEWAY
        assert refreshed.token != issued.token
        delegated = gateway.delegate_identity_token("batch-job", ttl=120)

    # The delegate holds no client certificate: only the delegated identity token.
    with Hessra(
        deployment.identity_server,
        ca=deployment.ca_file,
        public_key=deployment.issuer_key.public_key,
    ) as job:
        token = job.request_token_with_identity(
            "payment_processor", "charge", identity_token=delegated
        )
        job.verify_token_local(token, f"{GATEWAY}:batch-job", "payment_processor", "charge")
        with pytest.raises(SubjectMismatchError):
            job.verify_token_local(token, GATEWAY, "payment_processor", "charge")
