"""The ``hessra`` command line."""

from __future__ import annotations

import os

# gRPC's C core writes every failed TLS handshake to stderr at INFO level unless told
# otherwise. The CLI reports such a failure itself, with its cause and a hint, so keep
# only gRPC's errors; a user who wants gRPC's own logs sets GRPC_VERBOSITY. This must run
# before grpc is first imported (the subcommand modules below import it).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hessra-core", prog_name="hessra")
def main() -> None:
    """Hessra: short-lived Biscuit authorization tokens with GitOps policy."""


from hessra.cli.policy import policy as _policy  # noqa: E402 (registered after main exists)

main.add_command(_policy)

from hessra.cli.auth import auth as _auth  # noqa: E402
from hessra.cli.chain import chain as _chain  # noqa: E402
from hessra.cli.identity import identity as _identity  # noqa: E402
from hessra.cli.keys import keys as _keys  # noqa: E402
from hessra.cli.token import token as _token  # noqa: E402

main.add_command(_auth)
main.add_command(_identity)
main.add_command(_chain)
main.add_command(_keys)
main.add_command(_token)

__all__ = ["main"]
