"""One invalid policy tree per mistake a user can make, each with its exact error lines.

``corpus/<case>/expected.txt`` holds every error the case must produce, in order, as
``path:line:column: error: message (hint)``; warnings are not listed. Certificates and keys
are generated per session (``@CA@``, ``@KEY1@``, ... in the templates).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hessra.cli import main
from hessra_core.policy import validate_policy_dir

from .conftest import CORPUS, Material

CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
HESSRA = Path(sys.executable).parent / "hessra"
# A few cases run through the installed console script as a real process.
SUBPROCESS_CASES = [
    "misspelt_resource",
    "toml_missing_comma",
    "ca_expired",
    "missing_clients_file",
    "duplicate_node_key",
]


def _expected(case: str) -> list[str]:
    return (CORPUS / case / "expected.txt").read_text().splitlines()


def test_corpus_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_validator_reports_exact_errors(case: str, material: Material, tmp_path: Path):
    tree = material.write_tree(CORPUS / case, tmp_path / case)
    errors = [str(d) for d in validate_policy_dir(tree) if d.is_error]
    assert errors == _expected(case)


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_cli_exits_1_with_the_errors(
    case: str, material: Material, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    tree = material.write_tree(CORPUS / case, tmp_path / case)
    monkeypatch.chdir(tree)
    result = CliRunner().invoke(main, ["policy", "validate", "--path", "."])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    for line in _expected(case):
        assert line in lines
    assert "policy is invalid" in result.stderr


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=SUBPROCESS_CASES)
def test_console_script(case: str, material: Material, tmp_path: Path):
    tree = material.write_tree(CORPUS / case, tmp_path / case)
    proc = subprocess.run(
        [str(HESSRA), "policy", "validate", "--path", ".", "--format", "json"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    body = json.loads(proc.stdout)
    assert body["valid"] is False
    shown = [
        f"{d['path']}:{d['line']}:{d['column']}: {d['severity']}: {d['message']}"
        + (f" ({d['hint']})" if d["hint"] else "")
        for d in body["diagnostics"]
        if d["severity"] == "error"
    ]
    assert shown == _expected(case)


def test_console_script_valid_tree_exits_0(material: Material, tmp_path: Path):
    tree = tmp_path / "ok"
    tree.mkdir()
    (tree / "clients.toml").write_text(
        'version = "0.2.0"\n[cacerts]\ncert_chain = """@CA@"""\n'.replace(
            "@CA@", material.values["CA"]
        )
        + '[[clients]]\nidentifier = { type = "san_dns", value = "*.fleet.example.com" }\n'
        'resources = [{ name = "queue", operations = ["read"] }]\n'
    )
    (tree / "resources.toml").write_text('version = "0.2.0"\n[resources.queue]\n')
    proc = subprocess.run(
        [str(HESSRA), "policy", "validate", "--path", str(tree)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning: wildcard identifier `*.fleet.example.com`" in proc.stdout
    assert "policy is valid (1 warning(s))" in proc.stdout


def test_console_script_usage_error_exits_2(tmp_path: Path):
    proc = subprocess.run(
        [str(HESSRA), "policy", "validate", "--path", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
