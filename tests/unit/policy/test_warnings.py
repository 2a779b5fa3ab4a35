"""Warnings: the policy still applies, but something deserves a look."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hessra.cli import main
from hessra_core.policy import Severity, compile_policy_dir, validate_policy_dir

from .conftest import Material
from .helpers import write_tree

GRANT = '[[clients]]\nidentifier = { type = "san_uri", value = "urn:a" }\n'


def _warnings(tree: Path) -> list[str]:
    diagnostics = validate_policy_dir(tree)
    assert not [d for d in diagnostics if d.severity is Severity.ERROR]
    return [str(d) for d in diagnostics]


@pytest.mark.parametrize(
    ("clients", "resources", "expected"),
    [
        (
            'version = "0.2.0"\n[cacerts]\ncert_chain = """@SOON_CA@"""\n' + GRANT,
            'version = "0.2.0"\n',
            "clients.toml:3:14: warning: CA certificate 1 (CN=Soon CA) expires on",
        ),
        (
            'version = "0.2.0"\n' + GRANT,
            None,
            "resources.toml:0:0: warning: resources.toml not found: no resources are declared",
        ),
        (
            GRANT,
            'version = "0.2.0"\n',
            'clients.toml:1:1: warning: no `version`; reading the file as version "0.2.0"',
        ),
        (
            'version = "0.2.0"\n' + GRANT + "identity_token_duration = 60\n",
            'version = "0.2.0"\n',
            "clients.toml:4:1: warning: `identity_token_duration` has no effect without",
        ),
        (
            'version = "0.2.0"\n' + GRANT.replace("san_uri", "san_dns").replace("urn:a", "*.a.b"),
            'version = "0.2.0"\n',
            "clients.toml:3:42: warning: wildcard identifier `*.a.b`",
        ),
    ],
    ids=["ca-near-expiry", "no-resources-file", "no-version", "duration-unused", "wildcard"],
)
def test_warning(clients, resources, expected, material: Material, tmp_path: Path):
    tree = write_tree(tmp_path / "p", material.render(clients), resources)
    warnings = _warnings(tree)
    assert any(w.startswith(expected) for w in warnings), warnings
    assert compile_policy_dir(tree).warnings  # a snapshot keeps its warnings


def test_ca_near_expiry_says_how_many_days(material: Material, tmp_path: Path):
    clients = 'version = "0.2.0"\n[cacerts]\ncert_chain = """@SOON_CA@"""\n' + GRANT
    tree = write_tree(tmp_path / "p", material.render(clients), 'version = "0.2.0"\n')
    assert any("in 10 days" in w for w in _warnings(tree))


def test_validate_json_output(material: Material, tmp_path: Path):
    clients = (
        'version = "0.2.0"\n' + GRANT + 'resources = [{ name = "ordrs", operations = ["r"] }]\n'
    )
    tree = write_tree(tmp_path / "p", clients, 'version = "0.2.0"\n[resources.orders]\n')
    result = CliRunner().invoke(
        main, ["policy", "validate", "--path", str(tree), "--format", "json"]
    )
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert body["errors"] == 1
    assert [d for d in body["diagnostics"] if d["severity"] == "error"] == [
        {
            "path": str(tree / "clients.toml"),
            "line": 4,
            "column": 23,
            "severity": "error",
            "message": "unknown resource `ordrs`",
            "hint": "did you mean `orders`?",
        }
    ]
