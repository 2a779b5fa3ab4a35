"""``hessra policy``: validate a policy tree, and show what a change would grant or revoke.

Exit codes: 0 valid (warnings allowed) or plan shown; 1 invalid policy; 2 usage error
(missing directory, unknown option, git revision that does not exist).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from hessra_core.policy.diagnostics import Diagnostic
from hessra_core.policy.validate import validate_policy_dir

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


__all__ = ["diagnostics_json", "policy", "render_diagnostics"]
