"""Services use the engine through its public API only.

The issuer, signer and policy-sync are thin adapters over ``hessra_core``: none may
import the token package's private modules or names (``hessra_core.tokens._load``,
``tokens.identity._subject_of``), reach into them by attribute (``tokens._load``), or
import biscuit-python directly. GitPython lives in exactly one module,
``hessra_policy_sync/git_source.py``. The checker is tested on snippets first, so a
clean result means something.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVICES = REPO / "services"
GIT_MODULE = SERVICES / "policy-sync" / "src" / "hessra_policy_sync" / "git_source.py"
TOKENS = "hessra_core.tokens"


def _is_private_tokens(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[:2] != TOKENS.split("."):
        return False
    return any(p.startswith("_") and not p.startswith("__") for p in parts[2:])


def _is_git(dotted: str) -> bool:
    return dotted == "git" or dotted.startswith("git.")


def _forbidden_package(dotted: str, git_allowed: bool) -> bool:
    return dotted.split(".")[0] == "biscuit_auth" or (_is_git(dotted) and not git_allowed)


def forbidden_imports(source: str, *, git_allowed: bool = False) -> list[str]:
    """Every forbidden import or private attribute access in ``source`` (line: name)."""
    found: list[str] = []
    token_aliases: set[str] = set()  # local names bound to hessra_core.tokens(.x)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        names: list[tuple[str, str]] = []  # (dotted name, local alias)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [(f"{node.module}.{a.name}", a.asname or a.name) for a in node.names]
            if _is_private_tokens(node.module) or _forbidden_package(node.module, git_allowed):
                names = [(node.module, "")]  # one finding for the module, not per name
        elif isinstance(node, ast.Import):
            names = [(a.name, a.asname or a.name.split(".")[0]) for a in node.names]
        for dotted, alias in names:
            if _is_private_tokens(dotted) or _forbidden_package(dotted, git_allowed):
                found.append(f"{node.lineno}: {dotted}")
            elif alias and (dotted == TOKENS or dotted.startswith(TOKENS + ".")):
                token_aliases.add(alias)
    for node in ast.walk(tree):
        # `tokens._load.load_token` after `from hessra_core import tokens`
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and isinstance(node.value, ast.Name | ast.Attribute)
            and ast.unparse(node.value).split(".")[0] in token_aliases
        ):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(set(found), key=lambda f: (int(f.split(":")[0]), f))


SNIPPETS = [
    ("private-module", "from hessra_core.tokens._load import load_token",
     ["1: hessra_core.tokens._load"]),
    ("private-name", "from hessra_core.tokens.identity import _subject_of",
     ["1: hessra_core.tokens.identity._subject_of"]),
    ("import-private", "import hessra_core.tokens._biscuit", ["1: hessra_core.tokens._biscuit"]),
    ("private-submodule-from-package", "from hessra_core.tokens import _load",
     ["1: hessra_core.tokens._load"]),
    ("attribute", "from hessra_core import tokens\ntokens._load.load_token('t', k)",
     ["2: tokens._load"]),
    ("attribute-of-alias", "import hessra_core.tokens.identity as ident\nident._subject_of(t)",
     ["2: ident._subject_of"]),
    ("biscuit", "import biscuit_auth", ["1: biscuit_auth"]),
    ("biscuit-from", "from biscuit_auth import Biscuit", ["1: biscuit_auth"]),
    ("git", "import git", ["1: git"]),
    ("git-from", "from git import Repo", ["1: git"]),
    ("public-api", "from hessra_core import tokens\nfrom hessra_core.tokens import verify_token\n"
     "tokens.verify_acting_identity('t', k)\nx.__class__", []),
    ("lookalikes", "import gitdb_other\nfrom hessra_core.tokens_extra import _x\n"
     "import biscuit", []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "expected"), [s[1:] for s in SNIPPETS], ids=[s[0] for s in SNIPPETS]
)
def test_the_checker_finds_what_it_should(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected


def test_the_checker_allows_git_where_told() -> None:
    assert forbidden_imports("import git", git_allowed=True) == []


def _service_modules() -> list[Path]:
    return sorted(SERVICES.glob("*/src/**/*.py"))


def test_there_are_services_to_check() -> None:
    packages = {p.relative_to(SERVICES).parts[2] for p in _service_modules()}
    assert {"hessra_issuer", "hessra_policy_sync", "hessra_signer"} <= packages
    assert GIT_MODULE in _service_modules()


def test_no_service_imports_private_token_internals_biscuit_or_git() -> None:
    found = [
        f"{path.relative_to(REPO)}:{hit}"
        for path in _service_modules()
        for hit in forbidden_imports(path.read_text(), git_allowed=path == GIT_MODULE)
    ]
    assert found == []


def test_gitpython_is_imported_where_it_is_allowed() -> None:
    # If git_source.py stopped importing GitPython, the exception above would be stale.
    assert any(_is_git(h.split(": ")[1]) for h in forbidden_imports(GIT_MODULE.read_text()))
