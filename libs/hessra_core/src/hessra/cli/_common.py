"""Options, input and output shared by the ``hessra`` subcommands.

Exit codes, the same for every command:

- 0: done (a token verified, a key written, ...);
- 1: refused or invalid: the token does not verify, is expired, or is not a
  token at all; the reason is on stderr (or in the JSON on stdout);
- 2: usage: a missing or bad option, an unreadable or malformed key, key file
  or chain file, a file that cannot be written. Malformed *input you control*
  is a usage error; a malformed *token* is an invalid token, because that is
  what a verifier must report.

With ``--json`` every outcome of a command that ran, success or failure, is one
JSON object on stdout (click's own usage errors, exit 2, stay plain text on stderr).
Tokens and private keys never appear in error messages.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from hessra._chain import ServiceChain
from hessra._errors import hints_for
from hessra_core.errors import ConfigError, HessraError, KeyFormatError, TokenError
from hessra_core.keys import KeyPair, KeySet, PublicKey

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

TOKEN_ENV = "HESSRA_TOKEN"  # noqa: S105 (an env var name)
PUBLIC_KEY_ENV = "HESSRA_PUBLIC_KEY"

F = TypeVar("F", bound=Callable[..., Any])


class UsageProblem(Exception):
    """Bad input the operator controls (options, key files, chain files): exit 2."""


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")(
        f
    )


def token_option(f: F) -> F:
    return click.option(
        "--token",
        "token_arg",
        metavar="TOKEN|-",
        help=f"The token, or '-' to read it from stdin. Default: ${TOKEN_ENV}.",
    )(f)


def public_key_options(f: F) -> F:
    f = click.option(
        "--public-key-file",
        "public_key_files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="A file holding a public key (PEM or ed25519/<hex>). Repeatable.",
    )(f)
    return click.option(
        "--public-key",
        "public_keys",
        multiple=True,
        metavar="KEY",
        help=(
            "A trusted root key: ed25519/<hex>, secp256r1/<hex> or PEM. Repeatable "
            f"(key rotation). Default: ${PUBLIC_KEY_ENV}."
        ),
    )(f)


def read_token(value: str | None) -> str:
    if value is None:
        value = os.environ.get(TOKEN_ENV)
        if not value:
            raise UsageProblem(
                f"no token: pass --token TOKEN, --token - (stdin) or set {TOKEN_ENV}"
            )
    if value == "-":
        value = sys.stdin.read()
    token = value.strip()
    if not token:
        raise UsageProblem("the token is empty")
    return token


def load_keys(
    keys: tuple[str, ...], files: tuple[Path, ...], *, required: bool = True
) -> KeySet | None:
    """The trusted root keys from options, files or the environment."""
    parsed: list[PublicKey] = []
    for index, text in enumerate(keys, start=1):
        try:
            parsed.append(PublicKey.parse(text))
        except KeyFormatError as exc:
            raise UsageProblem(f"--public-key #{index}: {exc.message}") from None
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageProblem(f"{path}: cannot read: {exc.strerror}") from None
        try:
            parsed.append(PublicKey.parse(data))
        except KeyFormatError as exc:
            raise UsageProblem(f"{path}: {exc.message}") from None
    if not parsed and os.environ.get(PUBLIC_KEY_ENV):
        try:
            parsed.append(PublicKey.parse(os.environ[PUBLIC_KEY_ENV]))
        except KeyFormatError as exc:
            raise UsageProblem(f"${PUBLIC_KEY_ENV}: {exc.message}") from None
    if not parsed:
        if required:
            raise UsageProblem(
                f"no public key: pass --public-key KEY, --public-key-file F or set {PUBLIC_KEY_ENV}"
            )
        return None
    return KeySet.of(*parsed)


def load_keypair(path: Path) -> KeyPair:
    try:
        return KeyPair.load(path)
    except KeyFormatError as exc:
        raise UsageProblem(exc.message) from None


def load_chain(path: Path, resource: str | None) -> ServiceChain:
    try:
        return ServiceChain.load(path, resource=resource)
    except ConfigError as exc:
        raise UsageProblem(exc.message) from None


def emit(as_json: bool, data: dict[str, Any], text: str | None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    elif text is not None:
        click.echo(text)


def fail(
    as_json: bool, code: int, reason: str, message: str, hints: tuple[str, ...] = ()
) -> NoReturn:
    if as_json:
        payload: dict[str, Any] = {"ok": False, "error": reason, "message": message}
        if hints:
            payload["hints"] = list(hints)
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        click.echo(f"Error: {message}", err=True)
        for hint in hints:
            click.echo(f"  hint: {hint}", err=True)
    raise SystemExit(code)


def handles_errors(f: F) -> F:
    """Turn the error tree into exit codes and messages (needs an ``as_json`` parameter)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return f(*args, **kwargs)
        except UsageProblem as exc:
            fail(as_json, EXIT_USAGE, "usage", str(exc))
        except (KeyFormatError, ConfigError) as exc:
            fail(as_json, EXIT_USAGE, exc.reason, exc.message)
        except TokenError as exc:
            fail(as_json, EXIT_REFUSED, exc.reason, exc.message, hints_for(exc))
        except HessraError as exc:
            fail(as_json, EXIT_REFUSED, exc.reason, exc.message, hints_for(exc))
        except ValueError as exc:
            # The engine raises ValueError for out-of-range arguments (e.g. ttl).
            fail(as_json, EXIT_USAGE, "usage", str(exc))
        except OSError as exc:
            # A file the operator named could not be read or written: say which, and
            # why, instead of a traceback.
            where = f"{exc.filename}: " if exc.filename else ""
            fail(as_json, EXIT_USAGE, "usage", f"{where}{exc.strerror or exc}")

    return wrapper  # type: ignore[return-value]
