"""Properties of DNS wildcard matching: the overlap test is exact, and its example is real."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hessra_core.policy.identifiers import (
    example_overlap,
    label_matches,
    split_wildcard,
    wildcards_overlap,
)

PART = st.text(alphabet="ab-", max_size=3)
REST = st.sampled_from(["x.com", "y.x.com"])


@st.composite
def pattern(draw: st.DrawFn) -> str:
    return f"{draw(PART)}*{draw(PART)}.{draw(REST)}"


def matches(pattern: str, name: str) -> bool:
    rest, prefix, suffix = split_wildcard(pattern)
    first, _, name_rest = name.partition(".")
    return name_rest == rest and label_matches(prefix, suffix, first)


@settings(max_examples=300, deadline=None)
@given(pattern(), pattern(), st.text(alphabet="ab-", min_size=1, max_size=8), REST)
def test_overlap_is_exact(a: str, b: str, label: str, rest: str):
    name = f"{label}.{rest}"
    if matches(a, name) and matches(b, name):
        assert wildcards_overlap(a, b)
    if wildcards_overlap(a, b):
        example = example_overlap(a, b)
        assert matches(a, example)
        assert matches(b, example)
    assert wildcards_overlap(a, b) == wildcards_overlap(b, a)


@given(pattern(), st.text(alphabet="ab-.", max_size=12))
def test_star_never_matches_an_empty_or_dotted_part(p: str, name: str):
    _rest, prefix, suffix = split_wildcard(p)
    if matches(p, name):
        middle = name.partition(".")[0][len(prefix) : len(name.partition(".")[0]) - len(suffix)]
        assert middle
        assert "." not in middle
