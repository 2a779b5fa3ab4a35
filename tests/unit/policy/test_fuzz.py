"""Random and mutated policy files never crash the validator: every rejection is a diagnostic."""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hessra_core.policy import Diagnostic, validate_policy_dir
from hessra_core.policy.loader import parse_toml

from .conftest import SEED

SEEDS = [
    (p / name).read_text()
    for p in sorted(SEED.iterdir())
    for name in ("clients.toml", "resources.toml")
    if (p / name).exists()
]
ALPHABET = st.sampled_from([*list("[]{}=,.\"'#\n \\*-_:/0123456789abcxyz"), "'''", '"""', "\r\n"])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        chunk = "".join(draw(st.lists(ALPHABET, min_size=1, max_size=4)))
        if action == "insert":
            text = text[:pos] + chunk + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        elif action == "replace":
            text = text[:pos] + chunk + text[pos + len(chunk) :]
        else:
            end = min(len(text), pos + draw(st.integers(1, 80)))
            text = text[:end] + text[pos:end] + text[end:]
    return text


def _check(clients: str, resources: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "clients.toml").write_text(clients, encoding="utf-8", errors="surrogatepass")
        (root / "resources.toml").write_text(resources, encoding="utf-8", errors="surrogatepass")
        diagnostics = validate_policy_dir(root)
    for d in diagnostics:
        assert isinstance(d, Diagnostic)
        assert d.line >= 0
        assert d.column >= 0
        assert d.path in ("clients.toml", "resources.toml")


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated(), mutated())
def test_mutated_seed_files_never_crash(clients: str, resources: str):
    _check(clients, resources)


@FUZZ
@given(st.text(max_size=300), st.text(max_size=300))
def test_random_text_never_crashes(clients: str, resources: str):
    _check(clients, resources)


@FUZZ
@given(mutated())
def test_positions_are_inside_the_file(text: str):
    parsed = parse_toml("x.toml", text)
    if isinstance(parsed, Diagnostic):
        lines = text.split("\n")
        assert 1 <= parsed.line <= len(lines)
        assert 1 <= parsed.column <= len(lines[parsed.line - 1]) + 1


@FUZZ
@given(mutated())
def test_folding_never_changes_what_valid_toml_means(text: str):
    try:
        expected = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    parsed = parse_toml("x.toml", text)
    assert not isinstance(parsed, Diagnostic), str(parsed)
    assert parsed.data == expected
