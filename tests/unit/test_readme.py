"""The README stays true to the code: its make targets, CLI commands and Python examples.

Only code (fenced blocks and inline spans) is read, so prose may say "make sure" freely.
Python examples are compiled, not run: they refer to servers and files a reader has.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
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


# --- the CLI reference table ------------------------------------------------------------

_CLI_SECTION = README.split("## CLI reference", 1)[1].split("\n## ", 1)[0]
_ROW = re.compile(r"^\| `hessra ([a-z-]+) ([a-z-]+)` \| (.*?) \| .* \|$", re.M)
_FLAG = re.compile(r"--[a-z][a-z-]*(?:\[-[a-z]+\])?")
_CONNECTION_FLAGS = ("--server", "--cert", "--key", "--ca", "--server-name")


def _command(group: str, name: str) -> click.Command:
    parent = cli.commands[group]
    assert isinstance(parent, click.Group)
    return parent.commands[name]


def _options(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}


def _table_rows() -> list[tuple[str, str, list[str]]]:
    """(group, command, flags) of each row; `--x[-y]` stands for `--x` and `--x-y`."""
    rows = []
    for group, name, cell in _ROW.findall(_CLI_SECTION):
        flags: list[str] = []
        for flag in _FLAG.findall(cell):
            base, _, suffix = flag.partition("[")
            flags += [base, base + suffix.rstrip("]")] if suffix else [base]
        if "connection flags" in cell:
            flags += _CONNECTION_FLAGS
        rows.append((group, name, flags))
    return rows


def test_the_cli_table_lists_every_command() -> None:
    listed = {(g, c) for g, c, _ in _table_rows()}
    existing = {
        (name, sub)
        for name, group in cli.commands.items()
        if isinstance(group, click.Group)
        for sub in group.commands
    }
    assert listed == existing


@pytest.mark.parametrize(
    ("group", "command", "flags"), _table_rows(), ids=[f"{g}-{c}" for g, c, _ in _table_rows()]
)
def test_cli_table_flags_exist(group: str, command: str, flags: list[str]) -> None:
    assert flags, f"no flags read from the row of `hessra {group} {command}`"
    missing = set(flags) - _options(_command(group, command))
    assert not missing, f"README lists {sorted(missing)} for `hessra {group} {command}`"


def test_the_json_flag_claim_names_its_exceptions() -> None:
    """The README says which commands take `--json`; every other one must."""
    match = re.search(r"Every command but (.+?) takes `--json`", _CLI_SECTION, re.S)
    assert match, "the CLI reference no longer says which commands take --json"
    exceptions = set(re.findall(r"`hessra ([a-z-]+) ([a-z-]+)`", match[1]))
    assert exceptions, match[0]
    for group, name, _ in _table_rows():
        takes_json = "--json" in _options(_command(group, name))
        assert takes_json != ((group, name) in exceptions), f"hessra {group} {name}"


# --- the configuration reference tables ---------------------------------------------------

_CONFIG_SECTION = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
_KEY = re.compile(r"`([a-z_]+(?:\.[a-z_*]+)?)`")


def _service_settings(service: str) -> tuple[set[str], set[str]]:
    """(the ``section.key`` settings, the command-line flags) a service accepts."""
    if service == "policy-sync":
        from hessra_policy_sync import __main__ as sync_main
        from hessra_policy_sync.config import SCHEMA as SYNC_SCHEMA

        keys = {f"{s}.{k}" for s, table in SYNC_SCHEMA.items() for k in table}
        parser = sync_main._parser()
    elif service == "issuer":
        from hessra_issuer import __main__ as issuer_main
        from hessra_issuer.config import SCHEMA as ISSUER_SCHEMA

        keys = {f"{s}.{k}" for s, k in ISSUER_SCHEMA.keys}
        parser = issuer_main.parser()
    else:
        from hessra_signer import __main__ as signer_main
        from hessra_signer.config import SCHEMA as SIGNER_SCHEMA

        keys = {f"{s}.{k}" for s, k in SIGNER_SCHEMA.keys}
        parser = signer_main.parser()
    flags = {opt for action in parser._actions for opt in action.option_strings}
    return keys, flags


def _config_rows(heading: str) -> list[tuple[list[str], list[str]]]:
    """(settings, flags) of each row of the table under ``### <heading>``; a key written
    without a section (`key_file` after `server.cert_file`) takes the previous one's."""
    table = _CONFIG_SECTION.split(f"### {heading}", 1)[1].split("\n### ", 1)[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        keys, section = [], ""
        for key in _KEY.findall(cells[0]):
            if "." in key:
                section = key.split(".", 1)[0]
            else:
                key = f"{section}.{key}"
            keys.append(key)
        flags = re.findall(r"`(--[a-z][a-z-]*)", cells[1])
        rows.append((keys, flags))
    return rows


_CONFIG_TABLES = [("Issuer", "issuer"), ("policy-sync", "policy-sync"), ("Signer", "signer")]


@pytest.mark.parametrize(("heading", "service"), _CONFIG_TABLES, ids=[s for _, s in _CONFIG_TABLES])
def test_config_tables_name_real_settings_and_flags(heading: str, service: str) -> None:
    keys, flags = _service_settings(service)
    rows = _config_rows(heading)
    assert len(rows) >= 5, f"read only {len(rows)} rows under ### {heading}"
    for row_keys, row_flags in rows:
        for key in row_keys:
            if key.endswith(".*"):  # `policy.*`: the whole section
                assert any(k.startswith(key[:-1]) for k in keys), key
            else:
                assert key in keys, f"README names {key}; hessra-{service} has no such setting"
        for flag in row_flags:
            assert flag in flags, f"README names {flag}; hessra-{service} has no such flag"
    documented = {k for row_keys, _ in rows for k in row_keys}
    wildcards = tuple(k[:-1] for k in documented if k.endswith(".*"))
    undocumented = {k for k in keys - documented if not k.startswith(wildcards)}
    assert not undocumented, f"hessra-{service} settings missing from the README table"
