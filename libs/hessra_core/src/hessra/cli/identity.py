"""``hessra identity``: request, refresh and delegate identity tokens.

    hessra identity request --server ... --cert c.crt --key c.key --ca ca.crt
    hessra identity refresh --token - --server ... (--cert/--key or the identity port)
    hessra identity delegate --token T --child worker-1 --ttl 300 --public-key KEY

An identity token stands in for a client certificate (``authorization: Bearer``);
delegation narrows it to ``<identity>:<child>`` offline. ``--token`` falls back to
``HESSRA_IDENTITY_TOKEN``. Exit codes: 0 ok; 1 refused or unreachable; 2 usage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hessra._client_common import IdentityTokenResponse
from hessra.cli._common import (
    UsageProblem,
    emit,
    handles_errors,
    json_option,
    load_keys,
    public_key_options,
)
from hessra.cli.auth import connection_options, make_client
from hessra_core.tokens import delegate_identity_token

IDENTITY_TOKEN_ENV = "HESSRA_IDENTITY_TOKEN"  # noqa: S105 (an env var name)


def _read_identity_token(value: str | None) -> str:
    if value is None:
        value = os.environ.get(IDENTITY_TOKEN_ENV)
        if not value:
            raise UsageProblem(
                f"no identity token: pass --token TOKEN, --token - (stdin) or set "
                f"{IDENTITY_TOKEN_ENV}"
            )
    if value == "-":
        value = sys.stdin.read()
    token = value.strip()
    if not token:
        raise UsageProblem("the identity token is empty")
    return token


def _emit_identity(as_json: bool, result: IdentityTokenResponse) -> None:
    data = {
        "ok": True,
        "token": result.token,
        "subject": result.subject,
        "expires_at": result.expires_at.isoformat() if result.expires_at else None,
        "policy_revision": result.revision,
    }
    emit(as_json, data, result.token)


@click.group(name="identity")
def identity() -> None:
    """Identity tokens: request, refresh, delegate.

    Exit codes: 0 ok; 1 refused or unreachable (reason on stderr); 2 usage.
    """


@identity.command(name="request")
@connection_options
@click.option("--identifier", help="Which of the certificate's identities to use.")
@click.option("--ttl", type=click.IntRange(min=1), help="Lifetime in seconds.")
@json_option
@handles_errors
def request(
    server: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    server_name: str | None,
    identifier: str | None,
    ttl: int | None,
    as_json: bool,
) -> None:
    """Request an identity token for this client certificate."""
    with make_client(server, cert, key, ca, server_name) as client:
        result = client.request_identity_token(identifier, ttl=ttl)
    _emit_identity(as_json, result)


@identity.command(name="refresh")
@connection_options
@click.option("--token", "token_arg", metavar="TOKEN|-", help=f"Default: ${IDENTITY_TOKEN_ENV}.")
@click.option("--identifier", help="The identity the token must assert.")
@json_option
@handles_errors
def refresh(
    server: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    server_name: str | None,
    token_arg: str | None,
    identifier: str | None,
    as_json: bool,
) -> None:
    """Exchange a valid identity token for a fresh one."""
    token = _read_identity_token(token_arg)
    with make_client(server, cert, key, ca, server_name) as client:
        result = client.refresh_identity_token(token, identifier=identifier)
    _emit_identity(as_json, result)


@identity.command(name="delegate")
@click.option("--token", "token_arg", metavar="TOKEN|-", help=f"Default: ${IDENTITY_TOKEN_ENV}.")
@click.option("--child", required=True, help="The delegate's name: <identity>:<child>.")
@click.option("--ttl", type=click.IntRange(min=1), default=300, show_default=True)
@public_key_options
@json_option
@handles_errors
def delegate(
    token_arg: str | None,
    child: str,
    ttl: int,
    public_keys: tuple[str, ...],
    public_key_files: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Narrow an identity token to <identity>:CHILD, offline (needs the issuer's key)."""
    token = _read_identity_token(token_arg)
    keys = load_keys(public_keys, public_key_files)
    assert keys is not None
    delegated = delegate_identity_token(token, child=child, ttl=ttl, root_keys=keys)
    emit(as_json, {"ok": True, "token": delegated, "child": child, "ttl": ttl}, delegated)


__all__ = ["identity"]
