"""The ``hessra`` command line."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hessra-core", prog_name="hessra")
def main() -> None:
    """Hessra: short-lived Biscuit authorization tokens with GitOps policy."""


__all__ = ["main"]
