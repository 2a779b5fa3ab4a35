"""Only the signer's pre-check may assume sign-offs; no verification path can.

An authorizer fact ``namespace(name)`` satisfies a token's sign-off check as if
``name`` had signed. ``check_signoff_request`` supplies such facts on purpose (its
verdict means "this is the token to sign", never "this token verifies"); these
tests pin that nothing else can.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hessra_core
from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    ServiceNode,
    SignerRef,
    attest_service_chain_token,
    mint_token,
    verify_capability,
    verify_service_chain_token,
    verify_token,
)
from hessra_core.tokens._authorize import fact

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASK = {"subject": "alice", "resource": "contracts", "operation": "approve"}
LEGAL = KeyPair.generate()
NODE = KeyPair.generate()
CHAIN = [ServiceNode("gateway", NODE.public_key)]
REPO = Path(hessra_core.__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def pending(root: KeyPair) -> str:
    """A multi-party chain token, attested, still waiting for legal_dept."""
    token = mint_token(
        root,
        **ASK,
        domain="eu",
        service_chain=CHAIN,
        signers=[SignerRef("legal_dept", LEGAL.public_key)],
        now=NOW,
    ).token
    return attest_service_chain_token(token, NODE, resource="contracts", root_keys=root.public_key)


def test_fact_refuses_the_reserved_predicate() -> None:
    with pytest.raises(ValueError, match="namespace"):
        fact("namespace", "legal_dept")


INJECTIONS = [
    'legal_dept"); namespace("legal_dept',
    "legal_dept",
    'eu"); namespace("legal_dept"); domain("eu',
]


@pytest.mark.parametrize("value", INJECTIONS, ids=["quote_break", "signer_name", "domain_break"])
def test_every_verifier_still_wants_the_sign_off(root: KeyPair, pending: str, value: str) -> None:
    keys = root.public_key
    calls = {
        "verify_token": lambda domain: verify_token(pending, keys, **ASK, domain=domain, now=NOW),
        "verify_capability": lambda domain: verify_capability(
            pending, keys, resource="contracts", operation="approve", domain=domain, now=NOW
        ),
        "verify_service_chain_token": lambda domain: verify_service_chain_token(
            pending, keys, **ASK, chain=CHAIN, domain=domain, now=NOW
        ),
    }
    for call in calls.values():
        with pytest.raises(errors.MissingSignoffError, match="legal_dept"):
            call("eu")
        # A domain value shaped like Datalog stays one string: still refused.
        with pytest.raises(errors.TokenError):
            call(value)


@settings(max_examples=40, deadline=None)
@given(subject=st.text(max_size=40), domain=st.text(max_size=40))
def test_no_request_values_make_a_pending_token_verify(
    root: KeyPair, pending: str, subject: str, domain: str
) -> None:
    with pytest.raises(errors.TokenError):
        verify_token(
            pending,
            root.public_key,
            subject=subject,
            resource="contracts",
            operation="approve",
            domain=domain,
            now=NOW,
        )


def _callers_of_assume_signed(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and any(k.arg == "assume_signed" for k in node.keywords):
                found.append(f"{path.relative_to(REPO)}:{func.name}")
    return found


def test_only_the_signoff_check_assumes_sign_offs() -> None:
    sources = [*(REPO / "libs").rglob("*.py"), *(REPO / "services").rglob("*.py")]
    callers = sorted({c for p in sources for c in _callers_of_assume_signed(p)})
    assert callers == [
        "libs/hessra_core/src/hessra_core/tokens/multiparty.py:check_signoff_request"
    ]


def test_the_signer_uses_only_the_public_token_api() -> None:
    private = []
    for path in (REPO / "services" / "signer" / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            private += [
                f"{path.name}: {n}"
                for n in names
                if n.startswith(("hessra_core.tokens._", "biscuit_auth"))
            ]
    assert private == []
