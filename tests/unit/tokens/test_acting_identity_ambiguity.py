"""The acting identity of a token is one identity, the same on every call, or a refusal.

A delegation block that names two identities neither of which narrows the other
(``alice:a`` and ``alice:b``) leaves the acting identity undecided: whichever the
Datalog query happened to return first used to win, so two calls on one token
could disagree. Such a token is refused as ambiguous.
"""

from __future__ import annotations

from datetime import UTC, datetime

import biscuit_auth
import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    claimed_actor,
    delegate_identity_token,
    mint_identity_token,
    verify_acting_identity,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ALICE = "alice"


def _with_block(root: KeyPair, token: str, source: str) -> str:
    """``token`` plus a third-party block of ``source`` signed by a throwaway key."""
    signer = KeyPair.generate()
    parsed = biscuit_auth.Biscuit.from_base64(token, root.public_key.to_biscuit())
    block = parsed.third_party_request().create_block(
        signer.to_biscuit().private_key, biscuit_auth.BlockBuilder(source)
    )
    return str(parsed.append_third_party(signer.public_key.to_biscuit(), block).to_base64())


def _identity(root: KeyPair) -> str:
    return mint_identity_token(root, subject=ALICE, ttl=3600, now=NOW).token


def test_one_block_delegating_to_two_siblings_is_ambiguous(root: KeyPair) -> None:
    token = _with_block(
        root,
        _identity(root),
        'delegated("alice:a"); delegated("alice:b");\n'
        'check if actor($a), $a == "alice:a" || $a == "alice:b";',
    )
    # Repeated calls: the answer must not depend on the order a query returns facts in.
    for _ in range(20):
        with pytest.raises(errors.IdentityMismatchError, match="ambiguous"):
            verify_acting_identity(token, root.public_key, now=NOW)
        with pytest.raises(errors.IdentityMismatchError, match="ambiguous"):
            claimed_actor(token, root.public_key)


def test_a_later_block_claiming_a_sibling_is_ambiguous(root: KeyPair) -> None:
    agent = delegate_identity_token(
        _identity(root), child="a", ttl=60, root_keys=root.public_key, now=NOW
    )
    token = _with_block(root, agent, 'delegated("alice:b");')
    with pytest.raises(errors.IdentityMismatchError, match="ambiguous"):
        verify_acting_identity(token, root.public_key, now=NOW)


def test_nested_claims_in_one_block_act_as_the_narrowest(root: KeyPair) -> None:
    token = _with_block(
        root,
        _identity(root),
        'delegated("alice:a"); delegated("alice:a:b");\n'
        'check if actor($a), $a == "alice:a:b" || $a.starts_with("alice:a:b:");',
    )
    actors = {verify_acting_identity(token, root.public_key, now=NOW).actor for _ in range(20)}
    assert actors == {"alice:a:b"}


def test_a_wider_claim_is_ignored_not_ambiguous(root: KeyPair) -> None:
    agent = delegate_identity_token(
        _identity(root), child="a", ttl=60, root_keys=root.public_key, now=NOW
    )
    token = _with_block(root, agent, 'delegated("alice");')
    assert verify_acting_identity(token, root.public_key, now=NOW).actor == "alice:a"
