"""Multi-party tokens: refused everywhere until every required signer has signed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import biscuit_auth
import pytest

from hessra_core import errors
from hessra_core.keys import Algorithm, KeyPair
from hessra_core.tokens import SignerRef, add_signoff, mint_token, pending_signoffs, verify_token

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK = {"subject": "alice", "resource": "contracts", "operation": "approve"}


@pytest.fixture(scope="module")
def signers() -> dict[str, KeyPair]:
    return {
        "legal_dept": KeyPair.generate(),
        "finance": KeyPair.generate(Algorithm.SECP256R1),
        "partner.example": KeyPair.generate(),
    }


def mint(root: KeyPair, signers: dict[str, KeyPair]) -> str:
    refs = [SignerRef(n, kp.public_key, endpoint=f"{n}:443") for n, kp in signers.items()]
    return mint_token(root, **ASK, signers=refs, now=NOW).token


def sign(token: str, root: KeyPair, name: str, kp: KeyPair) -> str:
    return add_signoff(token, kp, signer_name=name, root_keys=root.public_key, now=NOW)


def test_refused_until_all_have_signed(root: KeyPair, signers: dict[str, KeyPair]) -> None:
    token = mint(root, signers)
    names = list(signers)
    for done in range(len(names)):
        assert pending_signoffs(token, root.public_key) == names[done:]
        with pytest.raises(errors.MissingSignoffError) as info:
            verify_token(token, root.public_key, **ASK, now=NOW)
        assert str(info.value).startswith("Required signature from ")
        assert info.value.signer in names[done:]
        token = sign(token, root, names[done], signers[names[done]])
    assert pending_signoffs(token, root.public_key) == []
    verify_token(token, root.public_key, **ASK, now=NOW)


def test_message_names_the_missing_signer(root: KeyPair, signers: dict[str, KeyPair]) -> None:
    one = {"legal_dept": signers["legal_dept"]}
    with pytest.raises(errors.MissingSignoffError) as info:
        verify_token(mint(root, one), root.public_key, **ASK, now=NOW)
    assert str(info.value) == "Required signature from legal_dept not found"


def test_signing_order_does_not_matter(root: KeyPair, signers: dict[str, KeyPair]) -> None:
    token = mint(root, signers)
    for name in reversed(list(signers)):
        token = sign(token, root, name, signers[name])
    verify_token(token, root.public_key, **ASK, now=NOW)


def test_signing_twice_changes_nothing(root: KeyPair, signers: dict[str, KeyPair]) -> None:
    token = sign(mint(root, signers), root, "legal_dept", signers["legal_dept"])
    assert sign(token, root, "legal_dept", signers["legal_dept"]) == token


def test_signer_not_required_is_refused(root: KeyPair, signers: dict[str, KeyPair]) -> None:
    token = mint(root, signers)
    with pytest.raises(errors.SignerNotRequiredError, match="marketing"):
        sign(token, root, "marketing", KeyPair.generate())


def test_required_name_with_the_wrong_key_is_refused(
    root: KeyPair, signers: dict[str, KeyPair]
) -> None:
    token = mint(root, signers)
    with pytest.raises(errors.SignerNotRequiredError, match="different key"):
        sign(token, root, "legal_dept", KeyPair.generate())


def test_signoff_forged_with_another_key_does_not_count(
    root: KeyPair, signers: dict[str, KeyPair]
) -> None:
    # Bypass add_signoff's own refusal by building the block directly.
    one = {"legal_dept": signers["legal_dept"]}
    parsed = biscuit_auth.Biscuit.from_base64(mint(root, one), root.public_key.to_biscuit())
    forger = KeyPair.generate()
    block = parsed.third_party_request().create_block(
        forger.to_biscuit().private_key,
        biscuit_auth.BlockBuilder("namespace({n});", {"n": "legal_dept"}),
    )
    forged = parsed.append_third_party(forger.public_key.to_biscuit(), block).to_base64()
    assert pending_signoffs(forged, root.public_key) == ["legal_dept"]
    with pytest.raises(errors.MissingSignoffError):
        verify_token(forged, root.public_key, **ASK, now=NOW)


def test_signer_verifies_the_whole_token_first(
    root: KeyPair, other_root: KeyPair, signers: dict[str, KeyPair]
) -> None:
    token = mint(other_root, signers)
    with pytest.raises(errors.SignatureError):
        sign(token, root, "legal_dept", signers["legal_dept"])


def test_signer_refuses_expired_tokens(root: KeyPair, signers: dict[str, KeyPair]) -> None:
    token = mint(root, signers)
    with pytest.raises(errors.TokenExpiredError):
        add_signoff(
            token,
            signers["legal_dept"],
            signer_name="legal_dept",
            root_keys=root.public_key,
            now=NOW + timedelta(hours=1),
        )


def test_token_without_signers_has_nothing_pending(root: KeyPair) -> None:
    token = mint_token(root, **ASK, now=NOW).token
    assert pending_signoffs(token, root.public_key) == []
    with pytest.raises(errors.SignerNotRequiredError):
        add_signoff(token, KeyPair.generate(), signer_name="x", root_keys=root.public_key, now=NOW)


def test_duplicate_signer_names_are_refused_at_mint(root: KeyPair) -> None:
    refs = [SignerRef("legal", KeyPair.generate().public_key) for _ in range(2)]
    with pytest.raises(ValueError, match="duplicate signer"):
        mint_token(root, **ASK, signers=refs)
