"""Layered service configuration: built-in defaults, a TOML file, ``HESSRA_*`` variables, flags.

Each service keeps its own frozen config dataclass, its own keys and its own checks;
what they share is the mechanics, as small functions that all append to one
``problems`` list so a start-up reports every mistake at once:

- :class:`Schema` names the ``(section, key)`` pairs a file may hold, the field each
  one sets and its kind; the environment variable for a key is
  ``<env_prefix><SECTION>_<KEY>`` in upper case.
- :func:`merge_layers` reads the file, the environment and the flags (in that order,
  later layers win) and returns the merged fields; :func:`convert` turns one raw value
  into its kind. Relative paths from the file resolve against the file's directory;
  from the environment or flags, against the working directory.
- :func:`check_address`, :func:`check_host`, :func:`check_connection_age`,
  :func:`check_readable`, :func:`check_ca_file`, :func:`check_health_port`,
  :func:`check_runtime` and :func:`check_policy_source` are the validations the
  services have in common, with the messages operators already know.

Kinds: ``str``; ``str?`` (empty means unset); ``int``; ``float``; ``path`` (empty
means unset); ``paths`` and ``strs`` (lists; from the environment, comma-separated:
PEM keys hold no commas, so that is unambiguous).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509

from hessra_core.errors import ConfigError

C = TypeVar("C")

KINDS = ("str", "str?", "int", "float", "path", "paths", "strs")
# server.max_connection_age: a day at most; clients reconnect after it, so more is pointless.
MAX_CONNECTION_AGE = 86400.0
LOG_LEVELS = ("debug", "info", "warning", "error")

# What a value of each kind must look like, as the problem report words it.
_EXPECTED: dict[str, str] = {
    "str": "a string",
    "str?": "a string",
    "int": "an integer",
    "float": "a number",
    "path": "a path string",
    "paths": "a list of path strings",
    "strs": "a list of strings",
}


# The [policy] section the issuer and the signer share (see check_policy_source).
POLICY_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("policy", "dir"): ("policy_dir", "path"),
    ("policy", "poll_interval"): ("policy_poll_interval", "float"),
    ("policy", "sync_target"): ("sync_target", "str?"),
    ("policy", "sync_ca_file"): ("sync_ca_file", "path"),
    ("policy", "sync_cert_file"): ("sync_cert_file", "path"),
    ("policy", "sync_key_file"): ("sync_key_file", "path"),
    ("policy", "snapshot_file"): ("snapshot_file", "path"),
}
LIST_KINDS = ("paths", "strs")


@dataclass(frozen=True)
class Schema:
    """The settings one service accepts.

    ``keys`` maps ``(section, key)`` in the file to ``(field name, kind)``.
    ``expected`` rewords the "expected ..." part of a type problem for some kinds.
    """

    env_prefix: str
    keys: Mapping[tuple[str, str], tuple[str, str]]
    expected: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted({kind for _, kind in self.keys.values()} - set(KINDS))
        if unknown:
            raise ValueError(f"unknown setting kinds {unknown}: expected one of {KINDS}")

    @property
    def field_kinds(self) -> dict[str, str]:
        return {name: kind for name, kind in self.keys.values()}

    def flags(self, rename: Mapping[str, str] | None = None) -> dict[str, str]:
        """Command-line flag dest -> field, one per single-valued field, in schema order.

        A flag is named like its field unless ``rename`` (field -> flag) says otherwise;
        list fields are left out (a service gives those repeatable flags of its own).
        """
        names = rename or {}
        return {
            names.get(name, name): name
            for name, kind in self.keys.values()
            if kind not in LIST_KINDS
        }

    def env_var(self, section: str, key: str) -> str:
        return f"{self.env_prefix}{section}_{key}".upper()


def convert(
    kind: str,
    raw: Any,
    where: str,
    base: Path,
    problems: list[str],
    expected: Mapping[str, str] | None = None,
) -> Any:
    """Turn a file/env/flag value into the field's type, or record why it cannot be.

    Returns None (and appends to ``problems``) when ``raw`` does not fit ``kind``.
    """
    words = (expected or {}).get(kind) or _EXPECTED.get(kind, kind)
    try:
        # A TypeError's text completes "expected ...": ours name the kind, and one raised
        # by int()/float() (a table where a number belongs) is reported as it comes.
        if kind in ("str", "str?"):
            if not isinstance(raw, str):
                raise TypeError(words)
            return raw or (None if kind == "str?" else raw)
        if kind == "int":
            if isinstance(raw, bool):
                raise TypeError(words)
            if isinstance(raw, float) and not raw.is_integer():
                # int() would drop the fraction (2.7 workers -> 2) or raise OverflowError.
                problems.append(f"{where}: {raw!r} is not a whole number")
                return None
            return int(raw)
        if kind == "float":
            if isinstance(raw, bool):
                raise TypeError(words)
            number = float(raw)
            if not math.isfinite(number):
                # NaN passes every range check (comparisons with it are false) and an
                # infinite grace or interval is a wait that never ends.
                problems.append(f"{where}: {raw!r} is not a finite number")
                return None
            return number
        if kind == "path":
            if not isinstance(raw, str | os.PathLike):
                raise TypeError(words)
            return (base / Path(raw)) if str(raw) else None
        if kind in LIST_KINDS:
            items = raw.split(",") if isinstance(raw, str) else raw
            if not isinstance(items, list | tuple) or not all(
                isinstance(i, str | os.PathLike) for i in items
            ):
                raise TypeError(words)
            cleaned = [str(i).strip() for i in items if str(i).strip()]
            if kind == "strs":
                return tuple(cleaned)
            return tuple(base / Path(i) for i in cleaned)
    except TypeError as exc:
        problems.append(f"{where}: expected {exc}")
        return None
    except ValueError:
        problems.append(f"{where}: {raw!r} is not a valid {kind}")
        return None
    raise ValueError(f"unknown setting kind {kind!r}")


def read_file(schema: Schema, path: Path, problems: list[str]) -> dict[str, Any]:
    """The fields ``path`` sets. An empty ``str?`` or ``path`` value is kept as None, so a
    file can switch off what a default would set."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"{path}: cannot read config file: {exc.strerror}")
        return {}
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: invalid TOML: {exc}")
        return {}
    values: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            problems.append(f"{path}: `{section}` must be a table ([{section}])")
            continue
        for key, raw in table.items():
            spec = schema.keys.get((section, key))
            if spec is None:
                problems.append(f"{path}: unknown key `{section}.{key}`")
                continue
            name, kind = spec
            where = f"{path}: {section}.{key}"
            value = convert(kind, raw, where, path.parent, problems, schema.expected)
            if value is not None or kind in ("str?", "path"):
                values[name] = value
    return values


def read_env(schema: Schema, env: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    """The fields the ``<env_prefix>*`` variables set; any other such variable is a problem."""
    values: dict[str, Any] = {}
    known = {schema.env_var(s, k): spec for (s, k), spec in schema.keys.items()}
    cwd = Path.cwd()
    for var, raw in env.items():
        if not var.startswith(schema.env_prefix):
            continue
        spec = known.get(var)
        if spec is None:
            problems.append(f"environment: unknown variable {var}")
            continue
        name, kind = spec
        where = f"environment: {var}"
        values[name] = convert(kind, raw, where, cwd, problems, schema.expected)
    return values


def read_flags(schema: Schema, overrides: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """The fields command-line flags set, keyed by field name; None means "not given"."""
    kinds = schema.field_kinds
    values: dict[str, Any] = {}
    cwd = Path.cwd()
    for name, raw in overrides.items():
        if name not in kinds:
            problems.append(f"flags: unknown option {name}")
        elif raw is not None:
            values[name] = convert(
                kinds[name], raw, f"flags: {name}", cwd, problems, schema.expected
            )
    return values


def merge_layers(
    schema: Schema,
    path: Path | None,
    env: Mapping[str, str],
    overrides: Mapping[str, Any] | None,
    problems: list[str],
) -> dict[str, Any]:
    """File, then environment, then flags, later layers winning; fields left unset (or
    unconvertible) are dropped, except an explicitly empty ``str?`` (kept as None)."""
    merged: dict[str, Any] = {}
    if path is not None:
        merged.update(read_file(schema, Path(path), problems))
    merged.update(read_env(schema, env, problems))
    merged.update(read_flags(schema, overrides or {}, problems))
    kinds = schema.field_kinds
    return {k: v for k, v in merged.items() if v is not None or kinds[k] == "str?"}


def build_config(
    cls: type[C], merged: Mapping[str, Any], problems: list[str], *, source: str, **extra: Any
) -> C:
    """``cls`` (a config dataclass) from the merged fields it has, plus ``extra``; or, if
    anything went wrong on the way, one ``ConfigError`` listing every problem."""
    if problems:
        raise ConfigError(problems, source=source)
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in merged.items() if k in known and k not in extra}
    return cls(**values, **extra)


def unknown_env_vars(env: Iterable[str], prefix: str, known: Iterable[str]) -> list[str]:
    """Variables named ``prefix*`` that are not in ``known``, in ``env``'s order."""
    allowed = set(known)
    return [name for name in env if name.startswith(prefix) and name not in allowed]


# --- checks ----------------------------------------------------------------------------------


def is_host_port(address: str) -> bool:
    """``host:port`` with a port in 0..65535 (``[::1]:0`` included)."""
    host, sep, port = address.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 <= int(port) <= 65535)


def check_address(name: str, address: str, problems: list[str]) -> None:
    if not is_host_port(address):
        problems.append(f"{name}: {address!r} is not host:port (port 0..65535)")


def check_host(name: str, host: str, problems: list[str]) -> None:
    """An address to bind: an IPv4 or IPv6 literal, or a host name (no port)."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(host) or len(host) > 253:
        problems.append(f"{name}: {host!r} is not an IP address or host name (no port)")


_HOST_NAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def check_connection_age(name: str, seconds: float, problems: list[str]) -> None:
    if not 0 <= seconds <= MAX_CONNECTION_AGE:
        problems.append(f"{name}: {seconds} is not 0 (off) or up to {MAX_CONNECTION_AGE} seconds")


def check_readable(name: str, path: Path | None, problems: list[str]) -> None:
    if path is not None and not os.access(path, os.R_OK):
        problems.append(f"{name}: {path} does not exist or is not readable")


def check_ca_file(name: str, path: Path | None, problems: list[str]) -> None:
    """A CA bundle (``server.extra_client_ca_file``): PEM certificates, each one a CA.

    gRPC refuses unreadable trust roots only when it binds the port, and says "cannot
    bind" about the address; this names the setting and the file instead. A file that is
    missing or unreadable is left to :func:`check_readable`.
    """
    if path is None or not os.access(path, os.R_OK):
        return
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        problems.append(f"{name}: {path}: cannot read: {exc.strerror}")
        return
    except ValueError:
        problems.append(f"{name}: {path}: holds no PEM certificate")
        return
    for cert in certs:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except (x509.ExtensionNotFound, ValueError):
            is_ca = False
        if not is_ca:
            label = cert.subject.rfc4514_string() or f"serial={cert.serial_number}"
            problems.append(f"{name}: {path}: {label} is not a CA certificate")


def health_port_clashes(health: str, others: Mapping[str, str]) -> list[str]:
    """Problems if ``health``'s fixed port is also one of ``others``' ports.

    ``others`` maps a setting name (``server.listen``) to its address. The health-only
    port is plaintext, so sharing a port with an mTLS listener is always a mistake;
    port 0 (ephemeral) never clashes.
    """
    port = health.rpartition(":")[2]
    if port in ("", "0"):
        return []
    return [
        f"server.health_listen: port {port} is also {name}'s port"
        for name, address in others.items()
        if address.rpartition(":")[2] == port
    ]


def check_health_port(health: str, others: Mapping[str, str], problems: list[str]) -> None:
    """``server.health_listen`` is host:port and shares no fixed port with ``others``."""
    check_address("server.health_listen", health, problems)
    problems.extend(health_port_clashes(health, others))


def check_runtime(cfg: Mapping[str, Any], problems: list[str]) -> None:
    """``server.shutdown_grace``, ``server.log_level`` and ``policy.poll_interval``."""
    if cfg.get("shutdown_grace", 5.0) < 0:
        problems.append("server.shutdown_grace must be >= 0")
    if cfg.get("log_level", "info") not in LOG_LEVELS:
        problems.append(f"server.log_level must be one of {', '.join(LOG_LEVELS)}")
    if cfg.get("policy_poll_interval", 2.0) <= 0:
        problems.append("policy.poll_interval must be > 0")


SYNC_FILES = ("sync_ca_file", "sync_cert_file", "sync_key_file")


def check_policy_source(cfg: Mapping[str, Any], problems: list[str]) -> None:
    """Exactly one of ``policy.dir`` (an existing directory) and ``policy.sync_target``
    (host:port, with its TLS files and a snapshot file to persist to)."""
    has_dir = cfg.get("policy_dir") is not None
    has_sync = bool(cfg.get("sync_target"))
    if has_dir == has_sync:
        problems.append("exactly one of policy.dir and policy.sync_target is required")
    if has_dir and not Path(cfg["policy_dir"]).is_dir():
        problems.append(f"policy.dir: {cfg['policy_dir']} is not a directory")
    if has_sync:
        check_address("policy.sync_target", cfg["sync_target"], problems)
        for key in (*SYNC_FILES, "snapshot_file"):
            if cfg.get(key) is None:
                problems.append(f"policy.{key} is required with policy.sync_target")
        for key in SYNC_FILES:
            check_readable(f"policy.{key}", cfg.get(key), problems)


__all__ = [
    "KINDS",
    "LIST_KINDS",
    "LOG_LEVELS",
    "MAX_CONNECTION_AGE",
    "POLICY_KEYS",
    "SYNC_FILES",
    "Schema",
    "build_config",
    "check_address",
    "check_ca_file",
    "check_connection_age",
    "check_health_port",
    "check_host",
    "check_policy_source",
    "check_readable",
    "check_runtime",
    "convert",
    "health_port_clashes",
    "is_host_port",
    "merge_layers",
    "read_env",
    "read_file",
    "read_flags",
    "unknown_env_vars",
]
