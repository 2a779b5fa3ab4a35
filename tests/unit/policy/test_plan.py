"""``hessra policy plan``: the permission diff between two trees or two git revisions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hessra.cli import main
from hessra_core import pki
from hessra_core.keys import KeyPair

from .conftest import Material
from .helpers import write_tree

HESSRA = Path(sys.executable).parent / "hessra"
REVS = ["--from", "HEAD~1", "--to", "main"]
K1, K2, K3, K4 = (KeyPair.generate().public_key.to_string() for _ in range(4))

OLD_CLIENTS = """version = "0.2.0"
[cacerts]
cert_chain = '''@CA@'''

[[clients]]
identifier = { type = "san_uri", value = "uri:urn:svc:gateway" }
resources = [
  { name = "users", operations = ["read", "write"] },
  { name = "pay", operations = ["charge"] },
]

[[clients]]
identifier = { type = "serial", value = "42" }
resources = [{ name = "users", operations = ["read"] }]
"""
NEW_CLIENTS = """version = "0.2.0"
[cacerts]
cert_chain = '''@CA@@CA2@'''

[[clients]]
identifier = { type = "san_dns", value = "worker-*.internal.com" }
resources = [{ name = "pay", operations = ["read"] }]

[[clients]]
identifier = { type = "san_uri", value = "uri:urn:svc:gateway" }
resources = [
  { name = "users", operations = ["read", "delete"] },
  { name = "pay", operations = ["charge"] },
]
identity_token_enabled = true
"""
OLD_RESOURCES = f"""version = "0.2.0"
[resources.users]
[resources.pay]
type = "service_chain"
nodes = [
  {{ component = "gw", public_key = "{K1}" }},
  {{ component = "fraud", public_key = "{K2}" }},
]
"""
NEW_RESOURCES = f"""version = "0.2.0"
[resources.users]
token_lifetime = 60
[resources.pay]
mechanisms = ["service_chain", "multi_party"]
[resources.pay.service_chain]
nodes = [
  {{ component = "fraud", public_key = "{K2}" }},
  {{ component = "gw", public_key = "{K3}" }},
]
[resources.pay.multi_party]
required_signers = [{{ name = "legal", url = "https://legal.example.com", public_key = "{K4}" }}]
"""
EXPECTED = [
    "CA certificates:",
    "  cert_chain",
    "    + CA: CN=Second CA",
    "Clients:",
    "  san_dns `worker-*.internal.com`",
    "    + client: new client",
    "    + grant: pay: read",
    "  san_uri `uri:urn:svc:gateway`",
    "    + grant: users: delete",
    "    - grant: users: write",
    "    ~ identity tokens: disabled -> enabled (3600 s)",
    "  serial `42`",
    "    - client: client removed",
    "    - grant: users: read",
    "Resources:",
    "  pay",
    "    ~ mechanisms: service_chain -> multi_party, service_chain",
    f"    ~ chain node key: gw: {K1} -> {K3}",
    "    ~ chain order: gw -> fraud  became  fraud -> gw",
    "    + signer: legal (https://legal.example.com, " + K4 + ")",
    "  users",
    "    ~ token lifetime: 300 s -> 60 s",
]


@pytest.fixture
def trees(material: Material, tmp_path: Path) -> tuple[Path, Path]:
    old = write_tree(tmp_path / "old", material.render(OLD_CLIENTS), OLD_RESOURCES)
    new = write_tree(tmp_path / "new", material.render(NEW_CLIENTS), NEW_RESOURCES)
    return old, new


def _body(output: str) -> list[str]:
    return [line for line in output.splitlines() if not line.startswith(("from ", "to "))]


def _matches(lines: list[str], expected: list[str]) -> None:
    assert len(lines) == len(expected), "\n".join(lines)
    for got, want in zip(lines, expected, strict=True):
        assert got.startswith(want), f"{got!r} does not start with {want!r}"


def test_plan_between_directories(trees: tuple[Path, Path]):
    old, new = trees
    result = CliRunner().invoke(main, ["policy", "plan", "--from", str(old), "--to", str(new)])
    assert result.exit_code == 0, result.output
    _matches(_body(result.stdout), EXPECTED)


def test_plan_json(trees: tuple[Path, Path]):
    old, new = trees
    args = ["policy", "plan", "--from", str(old), "--to", str(new), "--format", "json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["from"]["revision"] == f"dir:{old.resolve()}"
    assert body["count"] == len([line for line in EXPECTED if line.startswith("    ")])
    removed = [c for c in body["changes"] if c["change"] == "removed" and c["what"] == "grant"]
    assert {c["detail"] for c in removed} == {"users: write", "users: read"}


def test_identical_trees_say_no_changes(trees: tuple[Path, Path], tmp_path: Path):
    old, _ = trees
    result = CliRunner().invoke(main, ["policy", "plan", "--from", str(old), "--to", str(old)])
    assert result.exit_code == 0
    assert _body(result.stdout) == ["no changes"]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def test_plan_between_git_revisions(material: Material, tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "T")
    write_tree(repo / "policy", material.render(OLD_CLIENTS), OLD_RESOURCES)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "old")
    write_tree(repo / "policy", material.render(NEW_CLIENTS), NEW_RESOURCES)
    _git(repo, "commit", "-q", "-am", "new")
    head = _git(repo, "rev-parse", "HEAD")
    proc = subprocess.run(
        [str(HESSRA), "policy", "plan", "--repo", str(repo), "--dir", "policy", *REVS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"to   main@sha1:{head} (sha256:" in proc.stdout
    _matches(_body(proc.stdout), EXPECTED)
    assert _git(repo, "status", "--porcelain") == ""  # read-only


def test_plan_with_an_invalid_tree_exits_1(trees: tuple[Path, Path], tmp_path: Path):
    old, _ = trees
    bad = write_tree(tmp_path / "bad", 'version = "0.3.0"\n', None)
    result = CliRunner().invoke(main, ["policy", "plan", "--from", str(old), "--to", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}/clients.toml:1:11: error: unsupported policy version `0.3.0`" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--from", "/nonexistent/a", "--to", "/nonexistent/b"],
        ["--repo", ".", "--from", "no-such-rev-xyz", "--to", "HEAD"],
        ["--from", "x"],
    ],
    ids=["missing-dirs", "unknown-revision", "missing-to"],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, timeout=30)
    result = CliRunner().invoke(main, ["policy", "plan", *args])
    assert result.exit_code == 2, result.output


def test_ca_removal_is_shown(material: Material, tmp_path: Path):
    other = pki.create_ca("Gone CA").cert_pem.decode()
    with_two = OLD_CLIENTS.replace("@CA@'''", "@CA@" + other + "'''")
    old = write_tree(tmp_path / "o", material.render(with_two), OLD_RESOURCES)
    new = write_tree(tmp_path / "n", material.render(OLD_CLIENTS), OLD_RESOURCES)
    result = CliRunner().invoke(main, ["policy", "plan", "--from", str(old), "--to", str(new)])
    assert "    - CA: CN=Gone CA" in result.stdout
