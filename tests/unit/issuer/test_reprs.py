"""Minted and co-signed tokens are bearer secrets: they never show in a repr."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hessra_issuer.issuing import IssuedToken
from hessra_signer.signing import SignedToken

SECRET = "EnQKCgoEc2VjcmV0GgIIAQ=="

VALUES = [
    ("issued", IssuedToken(SECRET, datetime.now(UTC), "alice", "main@sha1:ab", 7)),
    ("signed", SignedToken(SECRET, "alice", ("legal",), "main@sha1:ab")),
]


@pytest.mark.parametrize("value", [v[1] for v in VALUES], ids=[v[0] for v in VALUES])
def test_token_is_not_in_repr(value: object) -> None:
    assert "alice" in repr(value)
    assert SECRET not in repr(value)
    assert SECRET not in str(value)
