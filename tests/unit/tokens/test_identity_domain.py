"""Delegating a domain-restricted identity token.

The domain binds verifiers, not the holder: delegation keeps the restriction
(the delegated token still verifies only in its domain) and must not fail just
because the holder names no domain.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    delegate_identity_token,
    mint_identity_token,
    verify_acting_identity,
    verify_identity_token,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
DOMAIN = "app.example"


def test_domain_restricted_identity_can_be_delegated_and_stays_restricted(root: KeyPair) -> None:
    token = mint_identity_token(root, subject="alice", ttl=600, domain=DOMAIN, now=NOW).token
    agent = delegate_identity_token(
        token, child="agent", ttl=60, root_keys=root.public_key, now=NOW
    )
    deeper = delegate_identity_token(
        agent, child="task", ttl=30, root_keys=root.public_key, now=NOW
    )

    acting = verify_acting_identity(deeper, root.public_key, domain=DOMAIN, now=NOW)
    assert (acting.subject, acting.actor) == ("alice", "alice:agent:task")
    for domain in (None, "evil.example"):
        with pytest.raises(errors.DomainMismatchError):
            verify_identity_token(
                agent, root.public_key, actor="alice:agent", domain=domain, now=NOW
            )


def test_delegation_still_refuses_what_the_token_would_refuse(root: KeyPair) -> None:
    exact = mint_identity_token(
        root, subject="alice", ttl=600, domain=DOMAIN, delegatable=False, now=NOW
    ).token
    with pytest.raises(errors.IdentityMismatchError):
        delegate_identity_token(exact, child="agent", ttl=60, root_keys=root.public_key, now=NOW)
