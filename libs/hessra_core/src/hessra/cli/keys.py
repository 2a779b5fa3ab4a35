"""``hessra keys``: create and show signing keys."""

from __future__ import annotations

from pathlib import Path

import click

from hessra.cli._common import UsageProblem, emit, handles_errors, json_option, load_keypair
from hessra_core.keys import Algorithm, KeyPair


@click.group(name="keys")
def keys() -> None:
    """Create and show signing keys (Ed25519 or P-256)."""


@keys.command()
@click.option(
    "--algorithm",
    type=click.Choice([a.value for a in Algorithm]),
    default=Algorithm.ED25519.value,
    show_default=True,
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (PKCS#8 PEM, mode 0600).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
@handles_errors
def generate(algorithm: str, out: Path, force: bool, as_json: bool) -> None:
    """Generate a key pair, write the private key, print the public key."""
    try:
        if out.exists() and not force:
            raise UsageProblem(f"{out} exists; pass --force to overwrite it")
        if not out.parent.is_dir():
            raise UsageProblem(f"{out.parent} is not a directory")
        pair = KeyPair.generate(Algorithm(algorithm))
        pair.save(out)
    except OSError as exc:
        # The error's own filename would be save()'s temporary file: name the target.
        raise UsageProblem(f"{out}: cannot write the key: {exc.strerror or exc}") from None
    public = pair.public_key
    emit(
        as_json,
        {
            "ok": True,
            "algorithm": public.algorithm.value,
            "public_key": public.to_string(),
            "public_key_pem": public.to_pem(),
            "key_id": public.key_id,
            "path": str(out),
        },
        public.to_string(),
    )


@keys.command()
@click.option(
    "--key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A private key PEM file.",
)
@click.option("--pem", is_flag=True, help="Print the public key as PEM.")
@json_option
@handles_errors
def public(key_file: Path, pem: bool, as_json: bool) -> None:
    """Print the public key of a private key file."""
    public_key = load_keypair(key_file).public_key
    emit(
        as_json,
        {
            "ok": True,
            "algorithm": public_key.algorithm.value,
            "public_key": public_key.to_string(),
            "public_key_pem": public_key.to_pem(),
            "key_id": public_key.key_id,
        },
        public_key.to_pem().rstrip("\n") if pem else public_key.to_string(),
    )
