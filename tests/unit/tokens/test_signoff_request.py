"""check_signoff_request: what a signer establishes before it co-signs, in order."""

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
    SignoffRequest,
    add_signoff,
    check_signoff_request,
    mint_token,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK = {"subject": "alice", "resource": "contracts", "operation": "approve"}
LEGAL = KeyPair.generate()
FINANCE = KeyPair.generate()
SIGNERS = {"legal_dept": LEGAL, "finance": FINANCE}


def mint(root: KeyPair, signers: tuple[str, ...] = ("legal_dept", "finance"), **kw: Any) -> str:
    refs = [SignerRef(n, SIGNERS[n].public_key, endpoint=f"{n}:443") for n in signers]
    kw.setdefault("now", NOW)
    return mint_token(root, **{**ASK, **kw}, signers=refs).token


def check(
    token: str,
    keys: Any,
    *,
    name: str = "legal_dept",
    key: KeyPair = LEGAL,
    resource: str = "contracts",
    operation: str = "approve",
    now: datetime = NOW,
) -> SignoffRequest:
    return check_signoff_request(
        token,
        keys,
        signer_name=name,
        signer_public_key=key.public_key,
        resource=resource,
        operation=operation,
        now=now,
    )


def test_success_reports_subject_signers_and_what_stays_pending(root: KeyPair) -> None:
    token = mint(root, ttl=120)
    request = check(token, root.public_key)
    assert request.subject == "alice"
    assert (request.resource, request.operation) == ("contracts", "approve")
    assert request.domain is None
    assert request.signer_name == "legal_dept"
    assert request.required == ("legal_dept", "finance")
    assert request.signed == frozenset()
    assert request.pending == ("finance",)
    assert request.root_key_id == root.public_key.key_id
    assert request.expires_at == NOW + timedelta(seconds=120)


def test_the_last_signer_sees_the_earlier_sign_offs(root: KeyPair) -> None:
    token = add_signoff(
        mint(root), LEGAL, signer_name="legal_dept", root_keys=root.public_key, now=NOW
    )
    request = check(token, root.public_key, name="finance", key=FINANCE)
    assert request.signed == frozenset({"legal_dept"})
    assert request.pending == ()


def test_a_domain_restricted_token_is_checked_under_its_own_domain(root: KeyPair) -> None:
    request = check(mint(root, domain="eu"), root.public_key)
    assert request.domain == "eu"
    assert request.subject == "alice"


def test_the_keyset_picks_the_issuer_key_by_id(root: KeyPair, other_root: KeyPair) -> None:
    keys = KeySet.of(other_root.public_key, root.public_key)
    assert check(mint(root), keys).root_key_id == root.public_key.key_id


def _signed_by_legal(root: KeyPair) -> str:
    return add_signoff(
        mint(root), LEGAL, signer_name="legal_dept", root_keys=root.public_key, now=NOW
    )


Case = tuple[Callable[[KeyPair, KeyPair], str], dict[str, Any], type[Exception], str]
REFUSALS: dict[str, Case] = {
    # id: (token builder (root, other_root), check overrides, error, message fragment)
    "not_a_token": (lambda r, o: "not-a-biscuit", {}, errors.MalformedTokenError, "base64url"),
    "foreign_issuer": (lambda r, o: mint(o), {}, errors.SignatureError, "does not verify"),
    "unknown_key_id": (lambda r, o: mint(r, key_id=7), {"keys": "keyset"},
                       errors.UnknownKeyIdError, "7"),
    "expired": (lambda r, o: mint(r, ttl=60), {"now": NOW + timedelta(seconds=61)},
                errors.TokenExpiredError, "Token has expired"),
    "other_resource": (lambda r, o: mint(r), {"resource": "reports"},
                       errors.ResourceMismatchError, "resource 'reports'"),
    "other_operation": (lambda r, o: mint(r), {"operation": "delete"},
                        errors.OperationMismatchError, "operation 'delete'"),
    "plain_token": (lambda r, o: mint(r, signers=()), {}, errors.SignerNotRequiredError,
                    "does not require a sign-off from legal_dept (required: none)"),
    "other_signers_only": (lambda r, o: mint(r, signers=("finance",)), {},
                           errors.SignerNotRequiredError, "(required: finance)"),
    "wrong_signer_key": (lambda r, o: mint(r), {"key": FINANCE}, errors.SignerNotRequiredError,
                         "legal_dept to sign with a different key"),
    "already_signed": (lambda r, o: _signed_by_legal(r), {}, errors.SignerNotRequiredError,
                       "already carries the sign-off of legal_dept"),
    # Several refusals at once: the earlier step wins.
    "expired_and_not_required": (lambda r, o: mint(r, ttl=60, signers=("finance",)),
                                 {"now": NOW + timedelta(minutes=5)}, errors.TokenExpiredError,
                                 "expired"),
    "wrong_resource_and_already_signed": (lambda r, o: _signed_by_legal(r),
                                          {"resource": "reports"},
                                          errors.ResourceMismatchError, "reports"),
    "foreign_and_expired": (lambda r, o: mint(o, ttl=60), {"now": NOW + timedelta(minutes=5)},
                            errors.SignatureError, "signature"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("build", "overrides", "error", "fragment"), REFUSALS.values(), ids=REFUSALS.keys()
)
def test_refusals(
    root: KeyPair,
    other_root: KeyPair,
    build: Callable[[KeyPair, KeyPair], str],
    overrides: dict[str, Any],
    error: type[Exception],
    fragment: str,
) -> None:
    overrides = dict(overrides)
    keys: Any = root.public_key
    if overrides.pop("keys", None) == "keyset":
        keys = KeySet.of(root.public_key, other_root.public_key)
    with pytest.raises(error) as caught:
        check(build(root, other_root), keys, **overrides)
    assert fragment in str(caught.value)


def test_a_token_restricted_to_two_domains_is_refused(root: KeyPair) -> None:
    """No verifier supplies two domains, so such a token could never be used."""
    builder = biscuit_auth.BiscuitBuilder(
        'right({s}, {r}, {o}); check if domain("eu"); check if domain("us");'
        " check if namespace({n}) trusting {k};",
        {"s": "alice", "r": "contracts", "o": "approve", "n": "legal_dept"},
        {"k": LEGAL.public_key.to_biscuit()},
    )
    token = builder.build(root.to_biscuit().private_key).to_base64()
    with pytest.raises(errors.DomainMismatchError, match="several domains"):
        check(token, root.public_key)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("name", 'legal"dept', ValueError),
        ("name", "", ValueError),
        ("key", "ed25519/00", TypeError),
        ("resource", None, TypeError),
    ],
    ids=["quote_in_name", "empty_name", "key_as_text", "resource_not_a_string"],
)
def test_bad_arguments_are_refused(root: KeyPair, field: str, value: Any, error: type) -> None:
    token = mint(root)
    kwargs: dict[str, Any] = {
        "signer_name": "legal_dept",
        "signer_public_key": LEGAL.public_key,
        "resource": "contracts",
        "operation": "approve",
    }
    kwargs[{"name": "signer_name", "key": "signer_public_key"}.get(field, field)] = value
    with pytest.raises(error):
        check_signoff_request(token, root.public_key, **kwargs, now=NOW)
