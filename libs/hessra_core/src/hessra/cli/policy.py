"""``hessra policy``: validate a policy tree, and show what a change would grant or revoke.

Exit codes: 0 valid (warnings allowed) or plan shown; 1 invalid policy; 2 usage error
(missing directory, unknown option, git revision that does not exist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from hessra_core.errors import PolicyError
from hessra_core.policy.diagnostics import Diagnostic
from hessra_core.policy.plan import plan_changes
from hessra_core.policy.snapshot import Snapshot, compile_policy_dir
from hessra_core.policy.validate import CLIENTS_FILE, RESOURCES_FILE, validate_policy_dir

EXIT_INVALID = 1
EXIT_USAGE = 2
_FORMAT = click.Choice(["text", "json"])


def _shown_path(root: str, d: Diagnostic) -> str:
    """The diagnostic's file as the user would open it (``--path`` joined with the file)."""
    return os.path.normpath(os.path.join(root, d.path)) if d.path else root


def render_diagnostics(root: str, diagnostics: list[Diagnostic]) -> list[str]:
    return [
        str(d).replace(d.path, _shown_path(root, d), 1) if d.path else str(d) for d in diagnostics
    ]


def diagnostics_json(root: str, diagnostics: list[Diagnostic]) -> list[dict[str, object]]:
    return [{**d.to_dict(), "path": _shown_path(root, d)} for d in diagnostics]


def _summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        return f"policy is invalid: {errors} error(s), {warnings} warning(s)"
    return f"policy is valid ({warnings} warning(s))"


@click.group("policy")
def policy() -> None:
    """Validate policy trees (clients.toml, resources.toml) and review changes."""


@policy.command("validate")
@click.option(
    "--path",
    "path",
    required=True,
    type=click.Path(exists=True, file_okay=False, dir_okay=True),
    help="Directory holding clients.toml and resources.toml.",
)
@click.option("--format", "fmt", type=_FORMAT, default="text", show_default=True)
def validate_command(path: str, fmt: str) -> None:
    """Check a policy tree and print every problem as path:line:column."""
    diagnostics = validate_policy_dir(Path(path))
    invalid = any(d.is_error for d in diagnostics)
    if fmt == "json":
        body = {
            "valid": not invalid,
            "errors": sum(d.is_error for d in diagnostics),
            "warnings": sum(not d.is_error for d in diagnostics),
            "diagnostics": diagnostics_json(path, diagnostics),
        }
        click.echo(json.dumps(body, indent=2))
    else:
        for line in render_diagnostics(path, diagnostics):
            click.echo(line)
        click.echo(_summary(diagnostics), err=invalid)
    sys.exit(EXIT_INVALID if invalid else 0)


GIT_TIMEOUT = 30


def _git(repo: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", repo, *args], capture_output=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise click.UsageError(f"cannot run git in {repo}: {exc}") from exc


def _export_revision(repo: str, rev: str, subdir: str, dest: Path) -> str:
    """Write the policy files of ``rev`` into ``dest`` (read-only on the repo); the revision."""
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        raise click.UsageError(f"`{rev}` is not a commit in {repo}")
    sha = found.stdout.decode().strip()
    dest.mkdir(parents=True)
    for name in (CLIENTS_FILE, RESOURCES_FILE):
        path = f"{subdir.strip('/')}/{name}" if subdir.strip("/") else name
        shown = _git(repo, "show", f"{sha}:{path}")
        if shown.returncode == 0:
            (dest / name).write_bytes(shown.stdout)
    return f"{rev}@sha1:{sha}"


def _compile_side(label: str, tree: Path, revision: str) -> Snapshot | tuple[str, list[Diagnostic]]:
    try:
        return compile_policy_dir(tree, revision=revision)
    except PolicyError as exc:
        return label, [d for d in exc.diagnostics if isinstance(d, Diagnostic)]


@policy.command("plan")
@click.option("--from", "from_", required=True, help="Old policy: a directory, or a git revision.")
@click.option("--to", "to", required=True, help="New policy: a directory, or a git revision.")
@click.option("--repo", type=click.Path(exists=True, file_okay=False), help="Compare revisions.")
@click.option("--dir", "subdir", default="", help="Policy directory inside --repo.")
@click.option("--format", "fmt", type=_FORMAT, default="text", show_default=True)
def plan_command(from_: str, to: str, repo: str | None, subdir: str, fmt: str) -> None:
    """Show the permissions a policy change adds, removes or alters."""
    with tempfile.TemporaryDirectory(prefix="hessra-plan-") as tmp:
        sides: list[tuple[str, Path, str]] = []
        for name, ref in (("from", from_), ("to", to)):
            if repo is not None:
                tree = Path(tmp) / name
                revision = _export_revision(repo, ref, subdir, tree)
                sides.append((f"{ref}:{subdir}" if subdir else f"{ref}:", tree, revision))
            else:
                if not Path(ref).is_dir():
                    raise click.UsageError(f"--{name} {ref}: no such directory")
                sides.append((ref, Path(ref), f"dir:{Path(ref).resolve()}"))
        compiled = [_compile_side(*side) for side in sides]
    old, new = compiled
    if not isinstance(old, Snapshot) or not isinstance(new, Snapshot):
        failed = [side for side in compiled if isinstance(side, tuple)]
        if fmt == "json":
            shown = [d for label, diags in failed for d in diagnostics_json(label, diags)]
            click.echo(json.dumps({"valid": False, "diagnostics": shown}, indent=2))
        else:
            for label, diags in failed:
                for line in render_diagnostics(label, diags):
                    click.echo(line)
            click.echo("cannot plan: a policy tree is invalid", err=True)
        sys.exit(EXIT_INVALID)
    result = plan_changes(old.policy, new.policy)
    if fmt == "json":
        body = {
            "from": {"revision": old.revision, "digest": old.digest},
            "to": {"revision": new.revision, "digest": new.digest},
            **result.to_dict(),
        }
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(f"from {old.revision} ({old.digest})")
        click.echo(f"to   {new.revision} ({new.digest})")
        click.echo(result.to_text())


__all__ = ["diagnostics_json", "policy", "render_diagnostics"]
