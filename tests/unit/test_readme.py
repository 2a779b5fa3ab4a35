"""The README stays true to the code: its make targets, CLI commands and Python examples.

Only code (fenced blocks and inline spans) is read, so prose may say "make sure" freely.
Python examples are compiled, not run: they refer to servers and files a reader has.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hessra.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")

_FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.M | re.S)
_INLINE = re.compile(r"(`+)(.+?)\1")
_MAKE = re.compile(r"(?:^|[\s;&|(])make\s+([a-z][a-z0-9_-]*)", re.M)
# `hessra <group> <command>` as a whole word each; `from hessra import x` is Python, not read.
_HESSRA = re.compile(r"(?<![\w./-])hessra\s+([a-z][a-z-]*)\s+([a-z][a-z-]*)(?![\w.])")
_TARGET = re.compile(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:(?!=)", re.M)


def _line_of(offset: int) -> int:
    return README.count("\n", 0, offset) + 1


def _fenced() -> list[tuple[str, str, int]]:
    """(language, body, line) of every fenced block."""
    return [(m[1], m[2], _line_of(m.start(2))) for m in _FENCE.finditer(README)]


def _code_texts() -> list[str]:
    """Every piece of code outside Python blocks: shell blocks and inline spans."""
    texts = [body for lang, body, _ in _fenced() if lang != "python"]
    prose = _FENCE.sub("", README)
    texts.extend(m[2] for m in _INLINE.finditer(prose))
    return texts


def _make_targets_named() -> list[str]:
    return sorted({t for text in _code_texts() for t in _MAKE.findall(text)})


def _cli_commands_named() -> list[tuple[str, str]]:
    return sorted({pair for text in _code_texts() for pair in _HESSRA.findall(text)})


def _makefile_targets() -> set[str]:
    targets: set[str] = set()
    for match in _TARGET.finditer(MAKEFILE):
        targets.update(match[1].split())
    return targets


def _python_blocks() -> list[tuple[str, int]]:
    return [(body, line) for lang, body, line in _fenced() if lang == "python"]


def test_readme_names_what_a_newcomer_runs() -> None:
    # Guards the extraction itself: if these vanish, the checks below check nothing.
    assert {"demo", "test", "up"} <= set(_make_targets_named())
    assert ("policy", "validate") in _cli_commands_named()
    assert len(_python_blocks()) >= 5


def test_two_commands_keep_their_wording() -> None:
    section = README.split("## Two commands", 1)[1]
    assert "make test   # creates .venv, installs pinned dependencies, runs lint" in section
    assert "make demo   # runs the whole system on loopback and walks through" in section


@pytest.mark.parametrize("target", _make_targets_named(), ids=str)
def test_make_target_exists(target: str) -> None:
    assert target in _makefile_targets(), f"README names `make {target}`; the Makefile has none"


@pytest.mark.parametrize(
    ("group", "command"), _cli_commands_named(), ids=[f"{g}-{c}" for g, c in _cli_commands_named()]
)
def test_cli_command_exists(group: str, command: str) -> None:
    result = CliRunner().invoke(cli, [group, command, "--help"])
    assert result.exit_code == 0, f"`hessra {group} {command} --help`: {result.output}"


@pytest.mark.parametrize(
    ("source", "line"), _python_blocks(), ids=[f"line{line}" for _, line in _python_blocks()]
)
def test_python_block_compiles(source: str, line: int) -> None:
    compile(source, f"README.md:{line}", "exec")


def test_extraction_catches_mistakes() -> None:
    """The patterns find a wrong target or command where the README would write one."""
    sample = "run `sudo make no-such-target` then\n`hessra nosuch thing --json`"
    assert _MAKE.findall(sample) == ["no-such-target"]
    assert _HESSRA.findall(sample) == [("nosuch", "thing")]
    assert "no-such-target" not in _makefile_targets()
    assert CliRunner().invoke(cli, ["nosuch", "thing", "--help"]).exit_code != 0
    assert not _HESSRA.findall("from hessra import verify_token_local")
    with pytest.raises(SyntaxError):
        compile("def broken(:\n", "README.md:1", "exec")
