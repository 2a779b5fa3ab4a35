"""Push payload parsing and delivery de-duplication, fuzzed: bad input is a 400, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hessra_policy_sync.webhook import DeliveryLog, _parse_push, _Reject, sign

SHA = "3" * 40


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            json.dumps({"ref": "refs/heads/main", "after": SHA}),
            "application/json",
            ("refs/heads/main", SHA),
        ),
        (
            "payload=" + json.dumps({"ref": "refs/heads/x", "after": SHA}).replace(" ", "+"),
            "application/x-www-form-urlencoded",
            ("refs/heads/x", SHA),
        ),
        (
            json.dumps({"ref": "refs/heads/main", "after": "a" * 64}),
            "",
            ("refs/heads/main", "a" * 64),
        ),
    ],
    ids=["json", "github-form", "sha256-repo"],
)
def test_valid_payloads(body: str, content_type: str, expected: tuple[str, str]) -> None:
    assert _parse_push(body.encode(), content_type) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b'{"ref": "refs/heads/main"}',
        b'{"ref": "refs/heads/main", "after": "xyz"}',
        b'{"ref": "heads/main", "after": "' + b"a" * 40 + b'"}',
        b'{"ref": 5, "after": "' + b"a" * 40 + b'"}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
    ids=["empty", "null", "list", "no-after", "bad-sha", "bad-ref", "ref-int", "binary", "deep"],
)
def test_invalid_payloads_are_400(body: bytes) -> None:
    with pytest.raises(_Reject) as info:
        _parse_push(body, "application/json")
    assert info.value.status == 400


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["ref", "after", "x"]) | st.text(max_size=5), children, max_size=4
        )
    ),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None)
@given(st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()))
def test_fuzzed_bodies_parse_or_are_refused(body: bytes) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        try:
            ref, after = _parse_push(body, content_type)
        except _Reject as exc:
            assert exc.status == 400  # noqa: PT017 (hypothesis: either outcome is valid)
        else:
            assert ref.startswith("refs/")
            assert len(after) in (40, 64)


def test_delivery_log_is_bounded_lru() -> None:
    log = DeliveryLog(2)
    assert [log.seen_before(k) for k in ("a", "b", "a")] == [False, False, True]
    log.seen_before("c")  # evicts b, the least recently seen
    assert log.seen_before("a") is True
    assert log.seen_before("b") is False


def test_sign_is_github_compatible() -> None:
    # The example from GitHub's webhook documentation.
    assert (
        sign(b"It's a Secret to Everybody", b"Hello, World!")
        == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
