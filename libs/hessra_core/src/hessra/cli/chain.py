"""``hessra chain``: attest service-chain tokens and verify them as a chain component."""

from __future__ import annotations

from pathlib import Path

import click

from hessra._verify import LocalVerifier
from hessra.cli._common import (
    emit,
    handles_errors,
    json_option,
    load_chain,
    load_keypair,
    load_keys,
    public_key_options,
    read_token,
    token_option,
)
from hessra_core.tokens import attest_service_chain_token

_CHAIN_CONFIG_HELP = (
    "The chain: chain.toml ([[nodes]] with component and public_key, in order), "
    "chain JSON, or a resources.toml (the chain of --resource)."
)


@click.group(name="chain")
def chain() -> None:
    """Attest and verify service-chain tokens.

    Exit codes: 0 ok; 1 refused or invalid token (reason on stderr); 2 usage
    (bad options, keys or chain files).
    """


@chain.command()
@token_option
@click.option(
    "--key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="This service's private key (PEM): the key its chain node lists.",
)
@click.option("--resource", required=True, help="The resource the token is for.")
@public_key_options
@json_option
@handles_errors
def attest(
    token_arg: str | None,
    key_file: Path,
    resource: str,
    public_keys: tuple[str, ...],
    public_key_files: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Append this service's attestation to a token; print the new token.

    The root public key (--public-key, or $HESSRA_PUBLIC_KEY) is needed to open
    the token: a node only attests tokens from an issuer it trusts.
    """
    value = read_token(token_arg)
    pair = load_keypair(key_file)
    keys = load_keys(public_keys, public_key_files)
    assert keys is not None
    attested = attest_service_chain_token(value, pair, resource=resource, root_keys=keys)
    emit(
        as_json,
        {"ok": True, "token": attested, "attested_by": pair.public_key.to_string()},
        attested,
    )


@chain.command(name="verify")
@token_option
@public_key_options
@click.option("--subject", required=True)
@click.option("--resource", required=True)
@click.option("--operation", required=True)
@click.option(
    "--chain-config",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=_CHAIN_CONFIG_HELP,
)
@click.option(
    "--component",
    default=None,
    help="Verify as this component (every node before it must have attested). "
    "Default: as the final service (every node must have attested).",
)
@json_option
@handles_errors
def verify_chain(
    token_arg: str | None,
    public_keys: tuple[str, ...],
    public_key_files: tuple[Path, ...],
    subject: str,
    resource: str,
    operation: str,
    chain_config: Path,
    component: str | None,
    as_json: bool,
) -> None:
    """Verify a token and its chain of attestations. Exit 0 valid, 1 refused."""
    value = read_token(token_arg)
    keys = load_keys(public_keys, public_key_files)
    assert keys is not None
    service_chain = load_chain(chain_config, resource)
    verifier = LocalVerifier.create(keys, chain=service_chain, component=component)
    verifier.verify(value, subject, resource, operation, where="command line")
    required = (
        service_chain.before(component).components
        if component is not None and component in service_chain
        else service_chain.components
    )
    emit(
        as_json,
        {
            "ok": True,
            "valid": True,
            "subject": subject,
            "resource": resource,
            "operation": operation,
            "component": component,
            "attested": list(required),
        },
        f"valid: {subject} may {operation} {resource}; attested by "
        f"{', '.join(required) or 'nobody yet (first node)'}",
    )
