"""Minting and strict verification of authorization tokens."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import biscuit_auth
import pytest

from hessra_core import errors
from hessra_core.keys import Algorithm, KeyPair, KeySet, PublicKey
from hessra_core.tokens import (
    MAX_TTL,
    RunLimits,
    claimed_actor,
    configure_token_cache,
    inspect_token,
    mint_token,
    pending_signoffs,
    verify_capability,
    verify_identity_token,
    verify_token,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK = {"subject": "alice", "resource": "orders", "operation": "read"}


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=[a.value for a in Algorithm])
def test_minted_token_verifies_for_exactly_its_triple(algorithm: Algorithm) -> None:
    root = KeyPair.generate(algorithm)
    minted = mint_token(root, **ASK, now=NOW)
    assert minted.expires_at == NOW + timedelta(seconds=300)
    verified = verify_token(minted.token, root.public_key, **ASK, now=NOW)
    assert (verified.subject, verified.resource, verified.operation) == ("alice", "orders", "read")
    assert verified.root_key_id == root.public_key.key_id
    assert verified.expires_at == minted.expires_at
    assert len(verified.revocation_ids) == 1


MISMATCHES = [
    ("subject", {"subject": "bob"}, errors.SubjectMismatchError, "bob"),
    ("resource", {"resource": "invoices"}, errors.ResourceMismatchError, "invoices"),
    ("operation", {"operation": "write"}, errors.OperationMismatchError, "write"),
    ("subject-prefix", {"subject": "alic"}, errors.SubjectMismatchError, "alic"),
    ("all", {"subject": "x", "resource": "y", "operation": "z"}, errors.SubjectMismatchError, "x"),
]


@pytest.mark.parametrize(
    ("change", "error", "named"),
    [(c, e, n) for _, c, e, n in MISMATCHES],
    ids=[i for i, *_ in MISMATCHES],
)
def test_mismatch_names_what_failed(
    root: KeyPair, change: dict[str, str], error: type[Exception], named: str
) -> None:
    minted = mint_token(root, **ASK, now=NOW)
    with pytest.raises(error, match=named):
        verify_token(minted.token, root.public_key, **{**ASK, **change}, now=NOW)


def test_expired_token_says_when(root: KeyPair) -> None:
    minted = mint_token(root, **ASK, ttl=60, now=NOW)
    verify_token(minted.token, root.public_key, **ASK, now=NOW + timedelta(seconds=59))
    with pytest.raises(errors.TokenExpiredError) as info:
        verify_token(minted.token, root.public_key, **ASK, now=NOW + timedelta(seconds=60))
    assert info.value.expired_at == NOW + timedelta(seconds=60)
    assert "2030-01-01T12:01:00" in str(info.value)


@pytest.mark.parametrize("ttl", [0, -1, MAX_TTL + 1, 3600], ids=["zero", "negative", "601", "hour"])
def test_lifetime_is_bounded(root: KeyPair, ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        mint_token(root, **ASK, ttl=ttl)


def test_max_lifetime_is_allowed(root: KeyPair) -> None:
    minted = mint_token(root, **ASK, ttl=MAX_TTL, now=NOW)
    assert minted.expires_at - NOW == timedelta(minutes=10)


@pytest.mark.parametrize("field", ["subject", "resource", "operation"])
def test_empty_names_are_refused_at_mint(root: KeyPair, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        mint_token(root, **{**ASK, field: ""})


DOMAIN_CASES = [
    ("matching-domain", "shop.example", "shop.example", None),
    ("other-domain", "shop.example", "evil.example", errors.DomainMismatchError),
    ("no-domain-given", "shop.example", None, errors.DomainMismatchError),
    ("unrestricted-token", None, "shop.example", None),
]


@pytest.mark.parametrize(
    ("token_domain", "asked", "error"),
    [c[1:] for c in DOMAIN_CASES],
    ids=[c[0] for c in DOMAIN_CASES],
)
def test_domain_restriction(
    root: KeyPair, token_domain: str | None, asked: str | None, error: type[Exception] | None
) -> None:
    minted = mint_token(root, **ASK, domain=token_domain, now=NOW)
    if error is None:
        verify_token(minted.token, root.public_key, **ASK, domain=asked, now=NOW)
    else:
        with pytest.raises(error, match=r"shop\.example"):
            verify_token(minted.token, root.public_key, **ASK, domain=asked, now=NOW)


def test_wrong_root_key_is_a_signature_error(root: KeyPair, other_root: KeyPair) -> None:
    minted = mint_token(root, **ASK, now=NOW)
    with pytest.raises(errors.SignatureError):
        verify_token(minted.token, other_root.public_key, **ASK, now=NOW)


def test_keyset_picks_by_root_key_id(root: KeyPair, other_root: KeyPair) -> None:
    keys = KeySet.of(root.public_key, other_root.public_key)
    for signer in (root, other_root):
        minted = mint_token(signer, **ASK, now=NOW)
        assert verify_token(minted.token, keys, **ASK, now=NOW).root_key_id == (
            signer.public_key.key_id
        )


def test_unknown_key_id_is_refused(root: KeyPair, other_root: KeyPair) -> None:
    minted = mint_token(root, **ASK, now=NOW)
    with pytest.raises(errors.UnknownKeyIdError, match=str(root.public_key.key_id)):
        verify_token(minted.token, KeySet.of(other_root.public_key), **ASK, now=NOW)


def test_rotated_key_id_that_points_at_the_wrong_key_is_a_signature_error(
    root: KeyPair, other_root: KeyPair
) -> None:
    # Signed by `root` but claiming to be `other_root`'s token.
    minted = mint_token(root, **ASK, key_id=other_root.public_key.key_id, now=NOW)
    keys = KeySet.of(root.public_key, other_root.public_key)
    with pytest.raises(errors.SignatureError):
        verify_token(minted.token, keys, **ASK, now=NOW)


def test_capability_mode_reports_the_subject(root: KeyPair) -> None:
    minted = mint_token(root, **ASK, now=NOW)
    verified = verify_capability(
        minted.token, root.public_key, resource="orders", operation="read", now=NOW
    )
    assert verified.subject == "alice"
    with pytest.raises(errors.OperationMismatchError):
        verify_capability(
            minted.token, root.public_key, resource="orders", operation="write", now=NOW
        )
    with pytest.raises(errors.ResourceMismatchError):
        verify_capability(
            minted.token, root.public_key, resource="invoices", operation="read", now=NOW
        )


def test_run_limit_hit_is_its_own_error(root: KeyPair) -> None:
    # Limits bound rule evaluation; capability mode derives the subject by a rule.
    minted = mint_token(root, **ASK, now=NOW)
    tight = RunLimits(max_facts=1)
    with pytest.raises(errors.RunLimitError):
        verify_capability(
            minted.token, root.public_key, resource="orders", operation="read", limits=tight
        )


def test_run_limits_validate_themselves() -> None:
    with pytest.raises(ValueError, match="max_time_ms must be positive"):
        RunLimits(max_time_ms=0)


MALFORMED = [
    ("empty", ""),
    ("spaces", "   "),
    ("not-base64", "!!!!not a token!!!!"),
    ("base64-junk", base64.urlsafe_b64encode(b"hello world").decode()),
    ("huge", "A" * (64 * 1024 + 1)),
]


@pytest.mark.parametrize("token", [t for _, t in MALFORMED], ids=[i for i, _ in MALFORMED])
def test_malformed_tokens(root: KeyPair, token: str) -> None:
    with pytest.raises(errors.MalformedTokenError):
        verify_token(token, root.public_key, **ASK, now=NOW)


def test_non_string_token_is_malformed(root: KeyPair) -> None:
    with pytest.raises(errors.MalformedTokenError, match="string"):
        verify_token(b"bytes", root.public_key, **ASK)  # type: ignore[arg-type]


def test_verdict_is_the_same_with_and_without_the_cache(root: KeyPair, other_root: KeyPair) -> None:
    minted = mint_token(root, **ASK, now=NOW)
    try:
        for size in (0, 16):
            configure_token_cache(size)
            for _ in range(2):
                verify_token(minted.token, root.public_key, **ASK, now=NOW)
                with pytest.raises(errors.SubjectMismatchError):
                    verify_token(
                        minted.token, root.public_key, **{**ASK, "subject": "eve"}, now=NOW
                    )
                # A cached success under one key never vouches for the token under another.
                with pytest.raises(errors.SignatureError):
                    verify_token(minted.token, other_root.public_key, **ASK, now=NOW)
    finally:
        configure_token_cache(4096)


def test_cache_size_must_be_sane() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        configure_token_cache(-1)


def test_minted_token_repr_hides_the_token(root: KeyPair) -> None:
    minted = mint_token(root, **ASK, now=NOW)
    assert minted.token not in repr(minted)
    assert "alice" in repr(minted)


def test_policy_revision_is_recorded_without_changing_the_decision(root: KeyPair) -> None:
    minted = mint_token(root, **ASK, revision="main@sha1:abc", now=NOW)
    verify_token(minted.token, root.public_key, **ASK, now=NOW)
    with pytest.raises(errors.OperationMismatchError):
        verify_token(minted.token, root.public_key, **{**ASK, "operation": "x"}, now=NOW)


def test_naive_datetime_is_refused(root: KeyPair) -> None:
    with pytest.raises(ValueError, match="timezone"):
        mint_token(root, **ASK, now=datetime(2030, 1, 1))


@pytest.mark.parametrize("key_id", [-1, 2**32, True], ids=["negative", "too-big", "bool"])
def test_key_id_must_be_u32(root: KeyPair, key_id: int) -> None:
    with pytest.raises(ValueError, match="key_id"):
        mint_token(root, **ASK, key_id=key_id)


def test_keys_must_be_keys(root: KeyPair) -> None:
    minted = mint_token(root, **ASK, now=NOW)
    with pytest.raises(TypeError, match="PublicKey or a KeySet"):
        verify_token(minted.token, root.public_key.to_string(), **ASK, now=NOW)  # type: ignore[arg-type]


def test_concurrent_verification_with_a_churning_cache(root: KeyPair) -> None:
    tokens = [mint_token(root, **ASK, now=NOW).token for _ in range(20)]

    def work(offset: int) -> int:
        ok = 0
        for i in range(100):
            token = tokens[(i + offset) % len(tokens)]
            verify_token(token, root.public_key, **ASK, now=NOW)
            ok += 1
        return ok

    configure_token_cache(4)  # far smaller than the working set: constant eviction
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert sum(pool.map(work, range(4))) == 400
    finally:
        configure_token_cache(4096)


def _runaway_token(root: KeyPair, signer: PublicKey) -> str:
    """Validly signed, but one rule derives 10^4 facts."""
    digits = " ".join(f"d({i});" for i in range(10))
    builder = biscuit_auth.BiscuitBuilder(
        "right({s}, {r}, {o}); subject({s});"
        + digits
        + "p($a, $b, $c, $d) <- d($a), d($b), d($c), d($d);"
        + "check if namespace({n}) trusting {k};",
        {"s": "alice", "r": "orders", "o": "read", "n": "legal"},
        {"k": signer.to_biscuit()},
    )
    return str(builder.build(root.to_biscuit().private_key).to_base64())


RUNAWAY_CALLS = [
    ("inspect", lambda t, k: inspect_token(t, k)),
    ("pending", lambda t, k: pending_signoffs(t, k)),
    ("claimed-actor", lambda t, k: claimed_actor(t, k)),
    ("identity", lambda t, k: verify_identity_token(t, k, actor="alice")),
    ("capability", lambda t, k: verify_capability(t, k, resource="orders", operation="read")),
    ("verify", lambda t, k: verify_token(t, k, **ASK)),
]


@pytest.mark.parametrize("call", [c for _, c in RUNAWAY_CALLS], ids=[i for i, _ in RUNAWAY_CALLS])
def test_runaway_token_is_a_typed_error_everywhere(root: KeyPair, call: Any) -> None:
    token = _runaway_token(root, KeyPair.generate().public_key)
    with pytest.raises(errors.RunLimitError):
        call(token, root.public_key)
