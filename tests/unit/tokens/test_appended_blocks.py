"""Blocks appended after minting can only narrow what a token grants.

Anyone holding a token can append a block (first-party, or third-party signed by
any key), and a signer's or node's block is appended by a party that is not the
issuer. None of them may grant a right, stand in for the clock, or survive in the
verified-token cache past the token's expiry or a change of trusted keys.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import biscuit_auth
import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair, KeySet
from hessra_core.tokens import (
    SignerRef,
    add_signoff,
    configure_token_cache,
    mint_token,
    verify_capability,
    verify_token,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK: dict[str, Any] = {"subject": "alice", "resource": "orders", "operation": "read"}
GRANTS = 'right("mallory", "orders", "read"); right("alice", "orders", "delete");'


def _first_party(root: KeyPair, token: str, source: str) -> str:
    parsed = biscuit_auth.Biscuit.from_base64(token, root.public_key.to_biscuit())
    return str(parsed.append(biscuit_auth.BlockBuilder(source)).to_base64())


def _third_party(root: KeyPair, token: str, source: str, signer: KeyPair) -> str:
    parsed = biscuit_auth.Biscuit.from_base64(token, root.public_key.to_biscuit())
    block = parsed.third_party_request().create_block(
        signer.to_biscuit().private_key, biscuit_auth.BlockBuilder(source)
    )
    return str(parsed.append_third_party(signer.public_key.to_biscuit(), block).to_base64())


def _plain(root: KeyPair) -> str:
    return mint_token(root, **ASK, now=NOW).token


Widen = Callable[[KeyPair], str]

WIDENERS: list[tuple[str, Widen]] = [
    ("first-party-facts", lambda root: _first_party(root, _plain(root), GRANTS)),
    (
        "first-party-rule",
        lambda root: _first_party(
            root,
            _plain(root),
            "right($s, $r, $o) <- subject($s), resource($r), operation($o);",
        ),
    ),
    (
        "first-party-rule-trusting-authority",
        lambda root: _first_party(
            root,
            _plain(root),
            "right($s, $r, $o) <- subject($s), resource($r), operation($o) trusting authority;",
        ),
    ),
    ("third-party-unknown-key", lambda root: _third_party(root, _plain(root), GRANTS, root)),
]


@pytest.mark.parametrize("widen", [w[1] for w in WIDENERS], ids=[w[0] for w in WIDENERS])
def test_an_appended_block_grants_nothing(root: KeyPair, widen: Widen) -> None:
    token = widen(root)
    verify_token(token, root.public_key, **ASK, now=NOW)  # still good for what it was minted for
    with pytest.raises(errors.SubjectMismatchError):
        verify_token(token, root.public_key, **{**ASK, "subject": "mallory"}, now=NOW)
    with pytest.raises(errors.OperationMismatchError):
        verify_token(token, root.public_key, **{**ASK, "operation": "delete"}, now=NOW)
    with pytest.raises(errors.OperationMismatchError):
        verify_capability(token, root.public_key, resource="orders", operation="delete", now=NOW)


def test_a_signers_block_grants_nothing_beyond_its_sign_off(root: KeyPair) -> None:
    legal = KeyPair.generate()
    minted = mint_token(
        root,
        **ASK,
        signers=[SignerRef("legal", legal.public_key)],
        now=NOW,
    ).token
    signed = _third_party(root, minted, 'namespace("legal"); ' + GRANTS, legal)
    verify_token(signed, root.public_key, **ASK, now=NOW)
    with pytest.raises(errors.SubjectMismatchError):
        verify_token(signed, root.public_key, **{**ASK, "subject": "mallory"}, now=NOW)
    # The honest sign-off path gives the same verdicts.
    honest = add_signoff(minted, legal, signer_name="legal", root_keys=root.public_key, now=NOW)
    verify_token(honest, root.public_key, **ASK, now=NOW)


def test_an_appended_clock_does_not_stop_expiry(root: KeyPair) -> None:
    token = _first_party(root, _plain(root), "time(0);")
    later = NOW + timedelta(hours=1)
    with pytest.raises(errors.TokenExpiredError):
        verify_token(token, root.public_key, **ASK, now=later)


def test_a_cached_success_survives_neither_expiry_nor_a_key_change(
    root: KeyPair, other_root: KeyPair
) -> None:
    configure_token_cache(16)
    try:
        token = _plain(root)
        rotating = KeySet.of(root.public_key, other_root.public_key)
        verify_token(token, rotating, **ASK, now=NOW)  # now cached under this key set
        with pytest.raises(errors.TokenExpiredError):
            verify_token(token, rotating, **ASK, now=NOW + timedelta(seconds=301))
        with pytest.raises(errors.UnknownKeyIdError):
            verify_token(token, KeySet.of(other_root.public_key), **ASK, now=NOW)
        with pytest.raises(errors.SignatureError):
            verify_token(token, other_root.public_key, **ASK, now=NOW)
    finally:
        configure_token_cache(4096)
