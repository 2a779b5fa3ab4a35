"""Reading the identity token from call metadata: one Bearer credential, or a refusal."""

from __future__ import annotations

from typing import Any

import pytest

from hessra_core.errors import AuthenticationError
from hessra_issuer.authn import bearer_token

READ = [
    ("absent", [("x-subject", "alice")], None),
    ("none", None, None),
    ("bearer", [("authorization", "Bearer abc")], "abc"),
    ("scheme-case", [("authorization", "bearer  abc ")], "abc"),
    ("bytes", [("authorization", b"Bearer abc")], "abc"),
    ("mapping", {"authorization": "Bearer abc"}, "abc"),
]


@pytest.mark.parametrize(("metadata", "token"), [c[1:] for c in READ], ids=[c[0] for c in READ])
def test_bearer_token_is_read(metadata: Any, token: str | None) -> None:
    assert bearer_token(metadata) == token


REFUSED = [
    ("basic-scheme", [("authorization", "Basic abc")], "must be `Bearer"),
    ("empty-token", [("authorization", "Bearer   ")], "empty"),
    (
        "repeated",
        [("authorization", "Bearer first"), ("authorization", "Bearer second")],
        "more than once",
    ),
    (
        "repeated-any-case",
        [("authorization", "Bearer first"), ("Authorization", "Bearer second")],
        "more than once",
    ),
]


@pytest.mark.parametrize(
    ("metadata", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_bearer_token_is_refused(metadata: Any, message: str) -> None:
    with pytest.raises(AuthenticationError, match=message):
        bearer_token(metadata)
