"""The biscuit failure text parser that names failed checks."""

from __future__ import annotations

from hessra_core.tokens._errors import FailedCheck, failed_checks

MESSAGE = (
    "authorization failed: an allow policy matched (policy index: 0), and the following checks"
    " failed: Check n°1 in block n°0: check if time($time), $time < 1795935845, "
    'Check n°0 in authorizer: check if node("orders", "gateway") trusting authority, ed25519/ab, '
    'Check n°2 in block n°3: check if namespace("a, b") trusting ed25519/cd'
)


def test_failed_checks_are_split_with_their_location() -> None:
    assert failed_checks(MESSAGE) == [
        FailedCheck(0, 1, "check if time($time), $time < 1795935845"),
        FailedCheck(None, 0, 'check if node("orders", "gateway") trusting authority, ed25519/ab'),
        FailedCheck(3, 2, 'check if namespace("a, b") trusting ed25519/cd'),
    ]


def test_no_checks_listed() -> None:
    assert failed_checks("authorization failed: no matching policy was found") == []
