"""Issuer configuration: a TOML file, ``HESSRA_ISSUER_*`` overrides, and flags.

Precedence, lowest first: built-in defaults, the TOML file, environment variables,
command-line flags. :func:`load_config` reports every problem at once in one
``ConfigError``; nothing else in the service reads the environment.

File layout (every key optional unless noted; the environment variable for a key is
``HESSRA_ISSUER_<SECTION>_<KEY>`` in upper case)::

    [server]
    listen = "127.0.0.1:50051"       # mTLS: a client certificate is required
    identity_listen = ""             # optional second port: server-auth TLS only, for
                                     # callers holding just an identity token (Bearer)
    health_listen = ""               # optional plaintext port serving ONLY gRPC health
                                     # (Check), for the kubelet's native grpc probes
    cert_file = "tls/issuer.crt"     # required; reloaded from disk when it changes
    key_file = "tls/issuer.key"      # required
    extra_client_ca_file = ""        # a CA trusted besides the policy's [cacerts]
                                     # (ops tooling)
    processes = 1                    # worker processes sharing the port (SO_REUSEPORT)
    worker_ready_timeout = 60.0      # seconds a worker may take to start before it is
                                     # killed and replaced (large policies start slower)
    port_file = ""                   # JSON {"port", "identity_port", "pids", ...} once ready
    metrics_port = -1                # Prometheus; -1 off, 0 ephemeral, N -> N + worker index
    metrics_host = "127.0.0.1"       # where /metrics listens ("0.0.0.0" in a pod)
    max_connection_age = 0.0         # seconds before a client connection is drained so the
                                     # client reconnects (spreads load over new pods); 0 off
    shutdown_grace = 5.0
    log_level = "info"

    [keys]
    signing_key_files = ["keys/issuer-2026.pem"]   # required: PKCS#8 private keys
    active_key_id = 0                # which signing key signs (0: the first file)
    verify_key_files = []            # public keys (ed25519/<hex> or PEM) still published
                                     # for verification during a rotation

    [policy]
    dir = ""                         # standalone: compile this directory, re-read on change
    poll_interval = 2.0              # seconds between change checks of `dir`
    sync_target = ""                 # or: subscribe to policy-sync at host:port (mTLS)
    sync_ca_file = ""                # CA of policy-sync's server certificate
    sync_cert_file = ""              # our client certificate for policy-sync
    sync_key_file = ""
    snapshot_file = ""               # persisted last snapshot (required with sync_target)

Exactly one of ``policy.dir`` and ``policy.sync_target`` is required. Relative paths
in the file are resolved against the file's directory; from the environment or
flags, against the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hessra_core.errors import ConfigError
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

ENV_PREFIX = "HESSRA_ISSUER_"
MAX_PROCESSES = 64


@dataclass(frozen=True)
class IssuerConfig:
    """Everything the issuer needs to start. Build it with :func:`load_config`."""

    cert_file: Path
    key_file: Path
    signing_key_files: tuple[Path, ...]
    listen: str = "127.0.0.1:50051"
    identity_listen: str | None = None
    health_listen: str | None = None
    extra_client_ca_file: Path | None = None
    processes: int = 1
    worker_ready_timeout: float = 60.0
    port_file: Path | None = None
    metrics_port: int = -1
    metrics_host: str = "127.0.0.1"
    max_connection_age: float = 0.0
    shutdown_grace: float = 5.0
    log_level: str = "info"
    active_key_id: int = 0
    verify_key_files: tuple[Path, ...] = ()
    policy_dir: Path | None = None
    policy_poll_interval: float = 2.0
    sync_target: str | None = None
    sync_ca_file: Path | None = None
    sync_cert_file: Path | None = None
    sync_key_file: Path | None = None
    snapshot_file: Path | None = None

    def with_listen(
        self, listen: str, identity_listen: str | None, health_listen: str | None = None
    ) -> IssuerConfig:
        return replace(
            self, listen=listen, identity_listen=identity_listen, health_listen=health_listen
        )


# (section, key) in the file -> field name and kind. The order is --help's order.
_SCHEMA: dict[tuple[str, str], tuple[str, str]] = {
    ("server", "listen"): ("listen", "str"),
    ("server", "identity_listen"): ("identity_listen", "str?"),
    ("server", "health_listen"): ("health_listen", "str?"),
    ("server", "cert_file"): ("cert_file", "path"),
    ("server", "key_file"): ("key_file", "path"),
    ("server", "extra_client_ca_file"): ("extra_client_ca_file", "path"),
    ("server", "processes"): ("processes", "int"),
    ("server", "worker_ready_timeout"): ("worker_ready_timeout", "float"),
    ("server", "port_file"): ("port_file", "path"),
    ("server", "metrics_port"): ("metrics_port", "int"),
    ("server", "metrics_host"): ("metrics_host", "str"),
    ("server", "max_connection_age"): ("max_connection_age", "float"),
    ("server", "shutdown_grace"): ("shutdown_grace", "float"),
    ("server", "log_level"): ("log_level", "str"),
    ("keys", "signing_key_files"): ("signing_key_files", "paths"),
    ("keys", "active_key_id"): ("active_key_id", "int"),
    ("keys", "verify_key_files"): ("verify_key_files", "paths"),
    **POLICY_KEYS,
}
SCHEMA = Schema(ENV_PREFIX, _SCHEMA)


def _check_health_listen(cfg: dict[str, Any], problems: list[str]) -> None:
    """A valid address whose fixed port is none of the mTLS ports (it is plaintext)."""
    others = {
        "server.listen": cfg.get("listen") or IssuerConfig.listen,
        "server.identity_listen": cfg.get("identity_listen") or "",
    }
    check_health_port(cfg["health_listen"], others, problems)


def _check_material(cfg: dict[str, Any], problems: list[str]) -> None:
    """Parse the keys and the TLS pair now, so their problems join the same report."""
    from hessra_core.keyring import Keyring
    from hessra_core.rpc.credentials import DynamicServerCredentials

    signing = cfg.get("signing_key_files") or ()
    verifying = cfg.get("verify_key_files") or ()
    if signing and all(os.access(p, os.R_OK) for p in (*signing, *verifying)):
        try:
            Keyring.load(signing, verifying, active_key_id=cfg.get("active_key_id", 0))
        except ConfigError as exc:
            problems.extend(f"keys: {p}" for p in exc.problems)
    cert, key = cfg.get("cert_file"), cfg.get("key_file")
    if cert and key and os.access(cert, os.R_OK) and os.access(key, os.R_OK):
        try:
            DynamicServerCredentials(cert, key, require_client_auth=False)
        except ConfigError as exc:
            problems.extend(f"server: {p}" for p in exc.problems)


def _validate(cfg: dict[str, Any], problems: list[str]) -> None:
    for required in ("cert_file", "key_file"):
        if cfg.get(required) is None:
            problems.append(f"server.{required} is required")
    if not cfg.get("signing_key_files"):
        problems.append("keys.signing_key_files is required (at least one private key file)")
    check_address("server.listen", cfg.get("listen", IssuerConfig.listen), problems)
    if cfg.get("identity_listen"):
        check_address("server.identity_listen", cfg["identity_listen"], problems)
    if cfg.get("health_listen"):
        _check_health_listen(cfg, problems)
    processes = cfg.get("processes", 1)
    if not 1 <= processes <= MAX_PROCESSES:
        problems.append(f"server.processes: {processes} is not in 1..{MAX_PROCESSES}")
    ready_timeout = cfg.get("worker_ready_timeout", 60.0)
    if not 1.0 <= ready_timeout <= 3600.0:
        problems.append(f"server.worker_ready_timeout: {ready_timeout} is not in 1..3600 seconds")
    metrics_port = cfg.get("metrics_port", -1)
    if not -1 <= metrics_port <= 65535 - MAX_PROCESSES:
        problems.append(f"server.metrics_port: {metrics_port} is not -1, 0 or a port")
    check_host("server.metrics_host", cfg.get("metrics_host", "127.0.0.1"), problems)
    check_connection_age("server.max_connection_age", cfg.get("max_connection_age", 0.0), problems)
    check_runtime(cfg, problems)
    for name in ("cert_file", "key_file", "extra_client_ca_file"):
        check_readable(f"server.{name}", cfg.get(name), problems)
    check_ca_file("server.extra_client_ca_file", cfg.get("extra_client_ca_file"), problems)
    for path in (*cfg.get("signing_key_files", ()), *cfg.get("verify_key_files", ())):
        check_readable("keys", path, problems)
    _check_material(cfg, problems)
    check_policy_source(cfg, problems)


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> IssuerConfig:
    """Merge defaults, ``path``, ``env`` (default ``os.environ``) and ``overrides`` (flags,
    keyed by field name, already typed or as strings) and validate the result."""
    problems: list[str] = []
    env = os.environ if env is None else env
    merged = merge_layers(SCHEMA, path, env, overrides, problems)
    _validate(merged, problems)
    return build_config(IssuerConfig, merged, problems, source="issuer config")


__all__ = ["ENV_PREFIX", "IssuerConfig", "load_config"]
