"""An identity token offered where an authorization token is wanted is refused as such.

It grants no right, so the verifier says it grants nothing to the subject (or for
the resource), not that it "does not cover actor None": there is no actor in an
authorization request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    delegate_identity_token,
    mint_identity_token,
    verify_capability,
    verify_token,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _plain(root: KeyPair) -> str:
    return mint_identity_token(root, subject="alice", ttl=600, now=NOW).token


def _delegated(root: KeyPair) -> str:
    return delegate_identity_token(
        _plain(root), child="agent", ttl=60, root_keys=root.public_key, now=NOW
    )


@pytest.mark.parametrize("make", [_plain, _delegated], ids=["identity", "delegated-identity"])
def test_identity_token_is_not_an_authorization(
    root: KeyPair, make: Callable[[KeyPair], str]
) -> None:
    token = make(root)
    with pytest.raises(errors.SubjectMismatchError) as info:
        verify_token(
            token, root.public_key, subject="alice", resource="orders", operation="read", now=NOW
        )
    assert str(info.value) == "token does not grant anything to subject 'alice'"


@pytest.mark.parametrize("make", [_plain, _delegated], ids=["identity", "delegated-identity"])
def test_identity_token_is_not_a_capability(root: KeyPair, make: Callable[[KeyPair], str]) -> None:
    token = make(root)
    with pytest.raises(errors.ResourceMismatchError) as info:
        verify_capability(token, root.public_key, resource="orders", operation="read", now=NOW)
    assert "actor" not in str(info.value)
