"""Signer configuration: a TOML file, ``HESSRA_SIGNER_*`` overrides, and flags.

Precedence, lowest first: built-in defaults, the TOML file, environment variables,
command-line flags. :func:`load_config` reports every problem at once in one
``ConfigError``; nothing else in the service reads the environment.

File layout (the environment variable for a key is ``HESSRA_SIGNER_<SECTION>_<KEY>``
in upper case; list values from the environment are comma-separated)::

    [server]
    listen = "127.0.0.1:50052"       # mTLS: a client certificate is required
    health_listen = ""               # optional plaintext port serving ONLY gRPC health
                                     # (Check), for the kubelet's native grpc probes
    cert_file = "tls/signer.crt"     # required; reloaded from disk when it changes
    key_file = "tls/signer.key"      # required
    extra_client_ca_file = ""        # a CA trusted besides the policy's [cacerts] (ops)
    port_file = ""                   # JSON {"port", "pid", "metrics_port", "health_port"}
    metrics_port = -1                # Prometheus; -1 off, 0 ephemeral
    metrics_host = "127.0.0.1"       # where /metrics listens ("0.0.0.0" in a pod)
    max_connection_age = 0.0         # seconds before a client connection is drained so the
                                     # client reconnects (spreads load over new pods); 0 off
    shutdown_grace = 5.0
    log_level = "info"

    [signer]
    name = "legal_dept"              # required: the name in the issuer's `required_signers`
    key_file = "keys/legal.pem"      # required: PKCS#8 private key its sign-offs are signed with
    issuer_public_keys = []          # trusted issuer keys, `ed25519/<hex>` or PEM text
    issuer_public_key_files = []     # ... or files holding them (at least one key in all)

    [policy]                         # this organisation's own policy
    dir = ""                         # standalone: compile this directory, re-read on change
    poll_interval = 2.0
    sync_target = ""                 # or: subscribe to this organisation's policy-sync (mTLS)
    sync_ca_file = ""
    sync_cert_file = ""
    sync_key_file = ""
    snapshot_file = ""               # persisted last snapshot (required with sync_target)

Exactly one of ``policy.dir`` and ``policy.sync_target`` is required. Relative paths in
the file resolve against the file's directory; from the environment or flags, against
the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hessra_core.errors import KeyFormatError
from hessra_core.keys import KeySet, PublicKey
from hessra_core.service.layered_config import (
    POLICY_KEYS,
    Schema,
    build_config,
    check_address,
    check_ca_file,
    check_connection_age,
    check_health_port,
    check_host,
    check_policy_source,
    check_readable,
    check_runtime,
    merge_layers,
)
from hessra_core.tokens.model import check_name

ENV_PREFIX = "HESSRA_SIGNER_"


@dataclass(frozen=True)
class SignerConfig:
    """Everything the signer needs to start. Build it with :func:`load_config`."""

    name: str
    cert_file: Path
    key_file: Path
    signing_key_file: Path
    issuer_keys: KeySet
    listen: str = "127.0.0.1:50052"
    health_listen: str | None = None
    extra_client_ca_file: Path | None = None
    port_file: Path | None = None
    metrics_port: int = -1
    metrics_host: str = "127.0.0.1"
    max_connection_age: float = 0.0
    shutdown_grace: float = 5.0
    log_level: str = "info"
    policy_dir: Path | None = None
    policy_poll_interval: float = 2.0
    sync_target: str | None = None
    sync_ca_file: Path | None = None
    sync_cert_file: Path | None = None
    sync_key_file: Path | None = None
    snapshot_file: Path | None = None


# (section, key) in the file -> field name and kind. The order is --help's order.
_SCHEMA: dict[tuple[str, str], tuple[str, str]] = {
    ("signer", "name"): ("name", "str"),
    ("signer", "key_file"): ("signing_key_file", "path"),
    ("server", "listen"): ("listen", "str"),
    ("server", "health_listen"): ("health_listen", "str?"),
    ("server", "cert_file"): ("cert_file", "path"),
    ("server", "key_file"): ("key_file", "path"),
    ("server", "extra_client_ca_file"): ("extra_client_ca_file", "path"),
    ("server", "port_file"): ("port_file", "path"),
    ("server", "metrics_port"): ("metrics_port", "int"),
    ("server", "metrics_host"): ("metrics_host", "str"),
    ("server", "max_connection_age"): ("max_connection_age", "float"),
    ("server", "shutdown_grace"): ("shutdown_grace", "float"),
    ("server", "log_level"): ("log_level", "str"),
    ("signer", "issuer_public_keys"): ("issuer_public_keys", "strs"),
    ("signer", "issuer_public_key_files"): ("issuer_public_key_files", "paths"),
    **POLICY_KEYS,
}
# The signer has always called every list "a list of strings".
SCHEMA = Schema(ENV_PREFIX, _SCHEMA, expected={"paths": "a list of strings"})


def _issuer_keys(cfg: dict[str, Any], problems: list[str]) -> KeySet | None:
    parsed: list[PublicKey] = []
    for index, text in enumerate(cfg.get("issuer_public_keys", ()), start=1):
        try:
            parsed.append(PublicKey.parse(text))
        except KeyFormatError as exc:
            problems.append(f"signer.issuer_public_keys[{index}]: {exc.message}")
    for path in cfg.get("issuer_public_key_files", ()):
        try:
            parsed.append(PublicKey.parse(Path(path).read_bytes()))
        except OSError as exc:
            problems.append(f"signer.issuer_public_key_files: {path}: cannot read: {exc.strerror}")
        except KeyFormatError as exc:
            problems.append(f"signer.issuer_public_key_files: {path}: {exc.message}")
    if not parsed:
        if not cfg.get("issuer_public_keys") and not cfg.get("issuer_public_key_files"):
            problems.append(
                "signer.issuer_public_keys or signer.issuer_public_key_files is required "
                "(the issuer keys whose tokens this signer co-signs)"
            )
        return None
    return KeySet.of(*parsed)


def _validate(cfg: dict[str, Any], problems: list[str]) -> None:
    for required, where in (
        ("cert_file", "server.cert_file"),
        ("key_file", "server.key_file"),
        ("signing_key_file", "signer.key_file"),
    ):
        if cfg.get(required) is None:
            problems.append(f"{where} is required")
    name = cfg.get("name")
    if not name:
        problems.append("signer.name is required (as the issuer's required_signers name it)")
    else:
        try:
            check_name("signer.name", name)
        except ValueError as exc:
            problems.append(str(exc))
    listen = cfg.get("listen", SignerConfig.listen)
    check_address("server.listen", listen, problems)
    health = cfg.get("health_listen")
    if health:
        check_health_port(health, {"server.listen": listen}, problems)
    if not -1 <= cfg.get("metrics_port", -1) <= 65535:
        problems.append(f"server.metrics_port: {cfg['metrics_port']} is not -1, 0 or a port")
    check_host("server.metrics_host", cfg.get("metrics_host", "127.0.0.1"), problems)
    check_connection_age("server.max_connection_age", cfg.get("max_connection_age", 0.0), problems)
    check_runtime(cfg, problems)
    for key, where in (
        ("cert_file", "server.cert_file"),
        ("key_file", "server.key_file"),
        ("extra_client_ca_file", "server.extra_client_ca_file"),
        ("signing_key_file", "signer.key_file"),
    ):
        check_readable(where, cfg.get(key), problems)
    check_ca_file("server.extra_client_ca_file", cfg.get("extra_client_ca_file"), problems)
    check_policy_source(cfg, problems)


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SignerConfig:
    """Merge defaults, ``path``, ``env`` (default ``os.environ``) and ``overrides`` (flags,
    keyed by field name) and validate the result, reporting every problem at once."""
    problems: list[str] = []
    env = os.environ if env is None else env
    merged = merge_layers(SCHEMA, path, env, overrides, problems)
    _validate(merged, problems)
    keys = _issuer_keys(merged, problems)  # None only when there are problems
    return build_config(SignerConfig, merged, problems, source="signer config", issuer_keys=keys)


__all__ = ["ENV_PREFIX", "SignerConfig", "load_config"]
