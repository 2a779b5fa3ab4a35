"""The ``hessra`` command line."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hessra-core", prog_name="hessra")
def main() -> None:
    """Hessra: short-lived Biscuit authorization tokens with GitOps policy."""


from hessra.cli.policy import policy as _policy  # noqa: E402 (registered after main exists)

main.add_command(_policy)

__all__ = ["main"]
