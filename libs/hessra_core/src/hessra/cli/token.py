"""``hessra token``: inspect, verify and (for development) mint tokens offline."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from hessra._verify import LocalVerifier
from hessra.cli._common import (
    UsageProblem,
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
from hessra_core.errors import KeyFormatError
from hessra_core.keys import PublicKey
from hessra_core.tokens import SignerRef, inspect_token, mint_token


@click.group(name="token")
def token() -> None:
    """Inspect, verify and mint tokens, offline.

    Exit codes: 0 ok; 1 refused or invalid token (reason on stderr); 2 usage
    (bad options, keys or files).
    """


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    expires = datetime.fromisoformat(iso)
    delta = int((expires - datetime.now(UTC)).total_seconds())
    rel = f"in {delta}s" if delta >= 0 else f"EXPIRED {-delta}s ago"
    return f"{iso} ({rel})"


def _render(info: dict[str, Any]) -> str:
    """The inspect table: one labelled row per fact, blocks last with their Datalog."""
    rows: list[tuple[str, str]] = []
    verified = "yes" if info["verified"] else "NO (signatures not checked)"
    rows.append(("verified", verified))
    rows.append(("kind", info["kind"]))
    rows.append(("subject", info["subject"] or "-"))
    if info.get("acts_as") and info["acts_as"] != info["subject"]:
        rows.append(("acts_as", info["acts_as"]))
    for index, right in enumerate(info["rights"] or [["-"]]):
        rows.append(("rights" if index == 0 else "", "  ".join(right)))
    rows.append(("expires_at", _when(info["expires_at"])))
    rows.append(("domain", info["domain"] or "-"))
    rows.append(("policy_revision", info["policy_revision"] or "-"))
    rows.append(("root_key_id", "-" if info["root_key_id"] is None else str(info["root_key_id"])))
    names = max((len(node["component"]) for node in info["service_chain"]), default=0)
    for index, node in enumerate(info["service_chain"]):
        at = node["attested_at"]
        state = f"attested #{at + 1}" if at is not None else "not attested"
        label = "service_chain" if index == 0 else ""
        rows.append((label, f"{node['component'].ljust(names)}  {state}"))
    if info["attestation_problem"]:
        rows.append(("chain_problem", info["attestation_problem"]))
    if info["required_signoffs"]:
        rows.append(("signoffs", ", ".join(info["required_signoffs"])))
        rows.append(("missing", ", ".join(info["missing_signoffs"]) or "none"))
    for index, note in enumerate(info["notes"]):
        rows.append(("notes" if index == 0 else "", note))
    width = max(len(label) for label, _ in rows)
    lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
    lines.append("blocks")
    for block in info["blocks"]:
        signer = f" by {block['external_key']}" if block["external_key"] else ""
        lines.append(f"  [{block['index']}] {block['kind']}{signer}")
        lines += [f"      {line}" for line in block["source"].splitlines() if line.strip()]
    return "\n".join(lines)


@token.command()
@token_option
@public_key_options
@click.option(
    "--chain-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Show chain progress against this chain (chain.toml, JSON, or resources.toml).",
)
@click.option("--resource", default=None, help="With a resources.toml: whose chain to use.")
@json_option
@handles_errors
def inspect(
    token_arg: str | None,
    public_keys: tuple[str, ...],
    public_key_files: tuple[Path, ...],
    chain_config: Path | None,
    resource: str | None,
    as_json: bool,
) -> None:
    """Decode a token and show its rights, expiry, chain progress, sign-offs and blocks.

    With a public key the signatures are checked too; without one the contents
    are shown unverified (and say so). Inspecting decides nothing: use verify.
    """
    value = read_token(token_arg)
    keys = load_keys(public_keys, public_key_files, required=False)
    chain = load_chain(chain_config, resource).nodes if chain_config else None
    data = inspect_token(value, keys, chain=chain).to_dict()
    emit(as_json, {"ok": True, **data}, _render(data))


@token.command()
@token_option
@public_key_options
@click.option("--subject", required=True)
@click.option("--resource", required=True)
@click.option("--operation", required=True)
@click.option("--domain", default=None, help="The domain the verifier serves, if any.")
@json_option
@handles_errors
def verify(
    token_arg: str | None,
    public_keys: tuple[str, ...],
    public_key_files: tuple[Path, ...],
    subject: str,
    resource: str,
    operation: str,
    domain: str | None,
    as_json: bool,
) -> None:
    """Verify a token grants exactly SUBJECT RESOURCE OPERATION. Exit 0 valid, 1 refused."""
    value = read_token(token_arg)
    keys = load_keys(public_keys, public_key_files)
    assert keys is not None
    verifier = LocalVerifier.create(keys, domain=domain)
    verifier.verify(value, subject, resource, operation, where="command line")
    # A chain token verifies here without its attestations: the chain is the
    # verifier's configuration, as in Hessra. Say so, rather than imply more.
    chain = [n.component for n in inspect_token(value, keys).service_chain]
    if chain and not as_json:
        click.echo(
            f"note: this token names a service chain ({', '.join(chain)}); "
            "its attestations were not checked: use `hessra chain verify`",
            err=True,
        )
    emit(
        as_json,
        {
            "ok": True,
            "valid": True,
            "subject": subject,
            "resource": resource,
            "operation": operation,
            "service_chain": chain,
        },
        f"valid: {subject} may {operation} {resource}",
    )


def _signer(text: str) -> SignerRef:
    name, sep, key = text.partition("=")
    if not sep or not name.strip() or not key.strip():
        raise UsageProblem(f"--signer {text[:40]!r}: expected NAME=KEY")
    try:
        return SignerRef(name=name.strip(), public_key=PublicKey.parse(key.strip()))
    except KeyFormatError as exc:
        raise UsageProblem(f"--signer {name.strip()}: {exc.message}") from None


@token.command()
@click.option(
    "--key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The issuing private key (PEM).",
)
@click.option("--subject", required=True)
@click.option("--resource", required=True)
@click.option("--operation", required=True)
@click.option("--ttl", type=click.IntRange(1, 600), default=300, show_default=True, help="Seconds.")
@click.option("--domain", default=None)
@click.option(
    "--chain-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="chain.toml, chain JSON, or resources.toml (its RESOURCE's chain): mint a chain token.",
)
@click.option(
    "--signer",
    "signers",
    multiple=True,
    metavar="NAME=KEY",
    help="A required multi-party sign-off. Repeatable.",
)
@json_option
@handles_errors
def mint(
    key_file: Path,
    subject: str,
    resource: str,
    operation: str,
    ttl: int,
    domain: str | None,
    chain_config: Path | None,
    signers: tuple[str, ...],
    as_json: bool,
) -> None:
    """Mint a token locally, for developing and testing verifiers. Prints the token.

    Production tokens come from the issuer, which decides by policy; this
    command decides nothing and signs whatever it is asked to.
    """
    pair = load_keypair(key_file)
    chain = load_chain(chain_config, resource) if chain_config else None
    signer_refs = tuple(_signer(s) for s in signers)
    minted = mint_token(
        pair,
        subject=subject,
        resource=resource,
        operation=operation,
        ttl=ttl,
        domain=domain,
        service_chain=chain.nodes if chain else (),
        signers=signer_refs,
    )
    emit(
        as_json,
        {
            "ok": True,
            "token": minted.token,
            "expires_at": minted.expires_at.isoformat(),
            "subject": minted.subject,
            "resource": minted.resource,
            "operation": minted.operation,
            "public_key": pair.public_key.to_string(),
        },
        minted.token,
    )
