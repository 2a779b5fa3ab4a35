"""``hessra auth``: request tokens from an issuer over mTLS (and collect sign-offs).

    hessra auth request --server auth.example.com:50051 --cert client.crt \\
        --key client.key --ca ca.crt --resource users --operation read

Connection options fall back to ``HESSRA_SERVER``, ``HESSRA_CERT``, ``HESSRA_KEY``
and ``HESSRA_CA``. The token goes to stdout (or, with ``--json``, one object with
the token, expiry, subject, policy revision and pending sign-offs). Exit codes:
0 ok; 1 refused or unreachable (the reason on stderr); 2 usage (bad options, files).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hessra._client import Hessra
from hessra.cli._common import UsageProblem, emit, handles_errors, json_option

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(dir_okay=False, path_type=Path)


def connection_options(f: F) -> F:
    """--server, --cert, --key, --ca, --server-name with their environment fallbacks."""
    options = [
        click.option("--server-name", help="TLS name to expect when it differs from the host."),
        click.option("--ca", type=_FILE, envvar="HESSRA_CA", help="CA of the server. [$HESSRA_CA]"),
        click.option(
            "--key", type=_FILE, envvar="HESSRA_KEY", help="Client private key. [$HESSRA_KEY]"
        ),
        click.option(
            "--cert", type=_FILE, envvar="HESSRA_CERT", help="Client certificate. [$HESSRA_CERT]"
        ),
        click.option(
            "--server", envvar="HESSRA_SERVER", help="Issuer host:port or URL. [$HESSRA_SERVER]"
        ),
    ]
    for option in options:
        f = option(f)
    return f


def make_client(
    server: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    server_name: str | None,
    **extra: Any,
) -> Hessra:
    if not server:
        raise UsageProblem("no issuer address: pass --server or set HESSRA_SERVER")
    return Hessra(server, cert=cert, key=key, ca=ca, server_name=server_name, **extra)


def _signer_cas(values: tuple[str, ...]) -> dict[str, Path]:
    mapping: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise UsageProblem(f"--signer-ca {value!r}: expected NAME=FILE")
        mapping[name] = Path(path)
    return mapping


@click.group(name="auth")
def auth() -> None:
    """Request authorization tokens from an issuer.

    Exit codes: 0 ok; 1 refused or unreachable (reason on stderr); 2 usage.
    """


@auth.command(name="request")
@connection_options
@click.option("--resource", required=True, help="Resource name, e.g. users.")
@click.option("--operation", required=True, help="Operation, e.g. read.")
@click.option("--domain", help="Restrict the token to this domain.")
@click.option("--ttl", type=click.IntRange(1, 600), help="Lifetime in seconds (1..600).")
@click.option(
    "--collect-signoffs",
    is_flag=True,
    help="For a multi-party resource, ask every pending signer for its sign-off.",
)
@click.option(
    "--signer-ca",
    "signer_cas",
    multiple=True,
    metavar="NAME=FILE",
    help="CA of a signer's server (repeatable); default: --ca.",
)
@json_option
@handles_errors
def request(
    server: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    server_name: str | None,
    resource: str,
    operation: str,
    domain: str | None,
    ttl: int | None,
    collect_signoffs: bool,
    signer_cas: tuple[str, ...],
    as_json: bool,
) -> None:
    """Request a token for RESOURCE/OPERATION; print it."""
    with make_client(
        server, cert, key, ca, server_name, signer_ca=_signer_cas(signer_cas) or None
    ) as client:
        response = client.request_token_full(resource, operation, domain=domain, ttl=ttl)
        token = response.token
        pending = [p.name for p in response.pending_signoffs]
        collected: list[str] = []
        if pending and collect_signoffs:
            token = client.collect_multi_party_signoffs(response, resource, operation)
            collected, pending = pending, []
    data = {
        "ok": True,
        "token": token,
        "subject": response.subject,
        "resource": resource,
        "operation": operation,
        "expires_at": response.expires_at.isoformat() if response.expires_at else None,
        "policy_revision": response.revision,
        "pending_signoffs": [
            {"name": p.name, "endpoint": p.endpoint, "public_key": p.public_key}
            for p in response.pending_signoffs
            if p.name in pending
        ],
        "collected_signoffs": collected,
    }
    emit(as_json, data, token)
    if pending and not as_json:
        click.echo(
            f"note: the token needs sign-offs from {', '.join(pending)} before it verifies; "
            "rerun with --collect-signoffs",
            err=True,
        )
    sys.stdout.flush()


@auth.command(name="public-keys")
@connection_options
@json_option
@handles_errors
def public_keys(
    server: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    server_name: str | None,
    as_json: bool,
) -> None:
    """Print the issuer's published public keys (what verifiers should trust)."""
    with make_client(server, cert, key, ca, server_name) as client:
        keys = client.setup()
    texts = [k.to_string() for k in keys.values()]
    listed = [{"key_id": kid, "public_key": k.to_string()} for kid, k in keys.items()]
    emit(as_json, {"ok": True, "keys": listed}, "\n".join(texts))


__all__ = ["auth", "connection_options", "make_client"]
