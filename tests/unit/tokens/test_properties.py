"""Property tests: exact grants for any names, and no crash on any input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hessra_core import errors
from hessra_core.keys import KeyPair, KeySet
from hessra_core.tokens import (
    ServiceNode,
    VerifiedToken,
    mint_token,
    verify_capability,
    verify_token,
)
from hessra_core.tokens.chain import check_attestation_order

# Names that would break a verifier that formats strings into Datalog.
NASTY = [
    '"',
    '")',
    '"); right("eve", "orders", "read',
    "a;b",
    "(x)",
    "line\nbreak",
    "tab\there",
    "é",
    "名前",
    "🙂",
    "\\",
    "$sub",
    "{subject}",
    " ",
    "\x00",
    "a\u200bb",
]
names = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
)
# One session key pair for every example; generating keys is not what is tested.
ROOT = KeyPair.generate()
OTHER = KeyPair.generate()
PROPS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPS
@given(s=names, r=names, o=names, s2=names, r2=names, o2=names)
def test_a_token_grants_exactly_its_triple(
    s: str, r: str, o: str, s2: str, r2: str, o2: str
) -> None:
    token = mint_token(ROOT, subject=s, resource=r, operation=o).token
    verified = verify_token(token, ROOT.public_key, subject=s, resource=r, operation=o)
    assert (verified.subject, verified.resource, verified.operation) == (s, r, o)
    assert verify_capability(token, ROOT.public_key, resource=r, operation=o).subject == s
    for asked in ((s2, r, o), (s, r2, o), (s, r, o2), (s2, r2, o2)):
        if asked == (s, r, o):
            continue
        try:
            verify_token(
                token, ROOT.public_key, subject=asked[0], resource=asked[1], operation=asked[2]
            )
        except errors.RightMismatchError:
            continue
        raise AssertionError(f"token for {(s, r, o)!r} was accepted for {asked!r}")


def _token() -> str:
    return mint_token(ROOT, subject="alice", resource="orders", operation="read").token


TOKEN = _token()
RAW = base64.urlsafe_b64decode(TOKEN)


def _verify(token: str, keys: object = None) -> VerifiedToken:
    return verify_token(
        token,
        KeySet.of(ROOT.public_key) if keys is None else keys,  # type: ignore[arg-type]
        subject="alice",
        resource="orders",
        operation="read",
    )


@PROPS
@given(position=st.integers(0, len(RAW) - 1), flip=st.integers(1, 255))
def test_tampered_bytes_never_pass_for_something_else(position: int, flip: int) -> None:
    data = bytearray(RAW)
    data[position] ^= flip
    tampered = base64.urlsafe_b64encode(bytes(data)).decode()
    try:
        verified = _verify(tampered)
    except errors.TokenError:
        return
    # The root key id is an unsigned hint and framing bytes may be tolerated:
    # a change there may pass, but only with the very same signed blocks.
    original = _verify(TOKEN)
    assert verified.revocation_ids == original.revocation_ids
    assert verified == original or verified.root_key_id is None


@PROPS
@given(length=st.integers(0, len(RAW) - 1), as_text=st.booleans())
def test_truncated_tokens_are_refused(length: int, as_text: bool) -> None:
    if as_text:
        # Cut the text itself (dropping only `=` padding would leave the same bytes).
        truncated = TOKEN.rstrip("=")[: length * 4 // 3]
    else:
        truncated = base64.urlsafe_b64encode(RAW[:length]).decode()
    with pytest.raises((errors.MalformedTokenError, errors.SignatureError)):
        _verify(truncated)


@PROPS
@given(data=st.binary(max_size=600))
def test_random_base64_is_refused(data: bytes) -> None:
    try:
        _verify(base64.urlsafe_b64encode(data).decode())
    except errors.TokenError:
        return
    raise AssertionError("random bytes verified")


@PROPS
@given(text=st.text(max_size=200))
def test_random_text_is_refused(text: str) -> None:
    assume(text.strip() != TOKEN)
    try:
        _verify(text)
    except errors.TokenError:
        return
    raise AssertionError("random text verified")


@PROPS
@given(s=names)
def test_wrong_root_key_is_always_a_signature_error(s: str) -> None:
    token = mint_token(ROOT, subject=s, resource="r", operation="o").token
    try:
        verify_token(token, OTHER.public_key, subject=s, resource="r", operation="o")
    except errors.SignatureError:
        return
    raise AssertionError("token verified under the wrong root key")


CHAIN_NAMES = ["a", "b", "c", "d"]
CHAIN_NODES = [ServiceNode(n, KeyPair.generate().public_key) for n in CHAIN_NAMES]
KEY_OF = {n.component: n.public_key.to_string() for n in CHAIN_NODES}


@settings(max_examples=300, deadline=None)
@given(
    seq=st.lists(st.sampled_from([*CHAIN_NAMES, "outsider"]), max_size=6),
    required=st.integers(0, len(CHAIN_NAMES)),
)
def test_order_check_accepts_exactly_complete_prefixes(seq: list[str], required: int) -> None:
    """Accepted iff no outsider, no repeat, the attestations are a prefix of the chain
    in chain order, and they cover the first ``required`` nodes."""
    keys = [KEY_OF.get(name, "ed25519/" + "00" * 32) for name in seq]
    expected_ok = (
        "outsider" not in seq
        and len(set(seq)) == len(seq)
        and seq == CHAIN_NAMES[: len(seq)]
        and len(seq) >= required
    )
    if not expected_ok:
        # An outsider is always named as such, whatever else is wrong.
        error = errors.UnknownAttesterError if "outsider" in seq else errors.ServiceChainError
        with pytest.raises(error):
            check_attestation_order(keys, CHAIN_NODES, required)
        return
    assert check_attestation_order(keys, CHAIN_NODES, required) == seq
