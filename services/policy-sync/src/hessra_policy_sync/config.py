"""policy-sync configuration: a TOML file, ``HESSRA_POLICY_SYNC_*`` overrides, and flags.

Precedence, lowest first: built-in defaults, the TOML file, environment variables,
command-line flags. Every problem is collected and reported at once in one
``ConfigError``. Nothing else in the service reads the environment.

File layout (every key optional unless noted)::

    [server]
    grpc_listen = "127.0.0.1:50053"    # HESSRA_POLICY_SYNC_SERVER_GRPC_LISTEN
    http_listen = "127.0.0.1:8083"     # webhooks, /metrics, /healthz, /readyz
    health_listen = ""                 # optional plaintext port serving ONLY gRPC health
                                       # (Check), for the kubelet's native grpc probes
    cert_file = "tls/server.crt"       # required unless plaintext_grpc
    key_file = "tls/server.key"
    client_ca_file = "tls/ca.crt"      # deploy-time CA that subscribers' certificates chain to
    plaintext_grpc = false             # development only; logged loudly
    state_dir = "/var/lib/hessra/policy-sync"   # required
    resync_allowed = ["uri:spiffe://ops/admin"] # SAN values allowed to call Resync
    shutdown_grace = 5.0
    keepalive_time = 60.0              # seconds between pings to each idle subscriber
    keepalive_timeout = 20.0           # close a subscriber's connection if a ping is unanswered
    min_client_ping_interval = 10.0    # the most often a subscriber may ping (seconds)

    [source]
    kind = "git"                        # or "dir"
    url = "https://github.com/acme/policy.git"  # git: required, no credentials inside
    branch = "main"
    subpath = ""                        # policy files live in this directory of the repo
    poll_interval = 30.0                # seconds; polling stays on behind webhooks
    poll_jitter = 0.1                   # fraction of poll_interval, 0..1
    fetch_timeout = 60.0                # seconds per git operation
    ssh_key_file = "..."                # -> GIT_SSH_COMMAND with -i
    known_hosts_file = "..."
    token_file = "..."                  # HTTPS token, sent as an http.extraHeader
    token_username = "x-access-token"
    path = "./policy"                   # dir: required
    debounce = 0.3                      # dir: seconds of quiet before a reconcile

    [webhook]
    insecure = false                    # accept unsigned webhooks (development only)
    github_secret_file = "..."
    gitlab_secret_file = "..."
    generic_secret_file = "..."
    max_body_bytes = 1048576
    dedup_size = 1024
    pushed_commit_attempts = 6          # fetch retries until the pushed sha is visible

Keepalive: a ``WatchSnapshots`` stream is idle between policy changes. policy-sync
pings each subscriber's connection after ``keepalive_time`` idle seconds and drops it
when a ping goes unanswered for ``keepalive_timeout``, so a subscriber that vanished
without a TCP reset (node lost, NAT entry expired) stops counting as a subscriber and
holding a stream. Subscribers ping too (every 20 s by default, see
``hessra_core.rpc.subscriber``); gRPC servers treat pings more frequent than once in
5 minutes on a stream without data as abuse and close the connection with GOAWAY
``too_many_pings``, so ``min_client_ping_interval`` must not exceed the subscribers'
keepalive interval. policy-sync sets no maximum connection age: recycling connections
would cut every watch stream and make all subscribers reconnect at once.

Relative paths in the file are resolved against the file's directory; relative
paths from the environment or flags against the working directory.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from hessra_core.errors import ConfigError
from hessra_core.service.layered_config import health_port_clashes, is_host_port, unknown_env_vars

ENV_PREFIX = "HESSRA_POLICY_SYNC_"
DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class GitSourceConfig:
    url: str
    branch: str = "main"
    subpath: str = ""
    poll_interval: float = 30.0
    poll_jitter: float = 0.1
    fetch_timeout: float = 60.0
    ssh_key_file: Path | None = None
    known_hosts_file: Path | None = None
    token_file: Path | None = None
    token_username: str = "x-access-token"  # noqa: S105 (a user name, not a secret)
    kind: ClassVar[Literal["git"]] = "git"

    @property
    def display(self) -> str:
        return scrub_url(self.url)


@dataclass(frozen=True)
class DirSourceConfig:
    path: Path
    poll_interval: float = 30.0
    poll_jitter: float = 0.1
    debounce: float = 0.3
    kind: ClassVar[Literal["dir"]] = "dir"

    @property
    def display(self) -> str:
        return f"dir:{self.path}"


@dataclass(frozen=True)
class WebhookSecrets:
    """Shared secrets per provider. Never shown in repr or logs."""

    github: bytes | None = field(default=None, repr=False)
    gitlab: bytes | None = field(default=None, repr=False)
    generic: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class WebhookConfig:
    secrets: WebhookSecrets = field(default_factory=WebhookSecrets)
    insecure: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY
    dedup_size: int = 1024
    pushed_commit_attempts: int = 6
    # (setting, path) of each secret file read, so start-up can check who else may read it.
    secret_files: tuple[tuple[str, Path], ...] = ()


@dataclass(frozen=True)
class ServerConfig:
    state_dir: Path
    grpc_listen: str = "127.0.0.1:50053"
    http_listen: str = "127.0.0.1:8083"
    health_listen: str | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    plaintext_grpc: bool = False
    resync_allowed: tuple[str, ...] = ()
    shutdown_grace: float = 5.0
    keepalive_time: float = 60.0
    keepalive_timeout: float = 20.0
    min_client_ping_interval: float = 10.0


@dataclass(frozen=True)
class PolicySyncConfig:
    server: ServerConfig
    source: GitSourceConfig | DirSourceConfig
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


def scrub_url(url: str) -> str:
    """``url`` without any userinfo, so credentials never reach logs or status."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return parts._replace(netloc=host).geturl()
    return url


# --- schema -----------------------------------------------------------------------------------

Parser = Callable[[Any, Path], Any]


def _str(value: Any, _base: Path) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _path(value: Any, base: Path) -> Path:
    text = _str(value, base)
    if not text:
        raise ValueError("expected a path, got an empty string")
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _float(value: Any, _base: Path) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    raise ValueError(f"expected a number, got {type(value).__name__}")


def _int(value: Any, _base: Path) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
    raise ValueError(f"expected an integer, got {type(value).__name__}")


def _bool(value: Any, _base: Path) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
    }:
        return value.lower() in {"1", "true", "yes", "on"}
    raise ValueError(f"expected true or false, got {value!r}")


def _str_list(value: Any, _base: Path) -> tuple[str, ...]:
    if isinstance(value, str):  # from the environment: comma-separated
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError("expected a list of strings")


SCHEMA: dict[str, dict[str, Parser]] = {
    "server": {
        "grpc_listen": _str,
        "http_listen": _str,
        "health_listen": _str,
        "cert_file": _path,
        "key_file": _path,
        "client_ca_file": _path,
        "plaintext_grpc": _bool,
        "state_dir": _path,
        "resync_allowed": _str_list,
        "shutdown_grace": _float,
        "keepalive_time": _float,
        "keepalive_timeout": _float,
        "min_client_ping_interval": _float,
    },
    "source": {
        "kind": _str,
        "url": _str,
        "branch": _str,
        "subpath": _str,
        "poll_interval": _float,
        "poll_jitter": _float,
        "fetch_timeout": _float,
        "ssh_key_file": _path,
        "known_hosts_file": _path,
        "token_file": _path,
        "token_username": _str,
        "path": _path,
        "debounce": _float,
    },
    "webhook": {
        "insecure": _bool,
        "github_secret_file": _path,
        "gitlab_secret_file": _path,
        "generic_secret_file": _path,
        "max_body_bytes": _int,
        "dedup_size": _int,
        "pushed_commit_attempts": _int,
    },
}


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}"


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> PolicySyncConfig:
    """Read, merge and validate the configuration; raise ``ConfigError`` listing every problem.

    ``overrides`` maps ``"section.key"`` to values already typed (command-line flags).
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    values: dict[str, dict[str, Any]] = {section: {} for section in SCHEMA}

    if path is not None:
        _merge_file(Path(path), values, problems)
    cwd = Path.cwd()
    for section, keys in SCHEMA.items():
        for key, parse in keys.items():
            name = env_name(section, key)
            if name in env:
                _set(values, section, key, parse, env[name], cwd, name, problems)
    known_env = (env_name(s, k) for s, keys in SCHEMA.items() for k in keys)
    for name in unknown_env_vars(env, ENV_PREFIX, known_env):
        problems.append(f"{name}: unknown setting")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if value is None:
            continue
        flag_parser = SCHEMA.get(section, {}).get(key)
        if flag_parser is None:
            problems.append(f"--{dotted}: unknown setting")
            continue
        _set(values, section, key, flag_parser, value, cwd, f"flag {dotted}", problems)

    config = _build(values, problems)
    if problems or config is None:
        raise ConfigError(problems, source="policy-sync config")
    return config


def _merge_file(path: Path, values: dict[str, dict[str, Any]], problems: list[str]) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"{path}: cannot read ({exc.strerror})")
        return
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: {exc}")
        return
    base = path.resolve().parent
    for section, table in data.items():
        if section not in SCHEMA:
            problems.append(f"{path}: unknown section [{section}]")
            continue
        if not isinstance(table, dict):
            problems.append(f"{path}: [{section}] must be a table")
            continue
        for key, raw in table.items():
            parse = SCHEMA[section].get(key)
            if parse is None:
                problems.append(f"{path}: [{section}] unknown key `{key}`")
                continue
            _set(values, section, key, parse, raw, base, f"{path}: [{section}] {key}", problems)


def _set(
    values: dict[str, dict[str, Any]],
    section: str,
    key: str,
    parse: Parser,
    raw: Any,
    base: Path,
    where: str,
    problems: list[str],
) -> None:
    try:
        values[section][key] = parse(raw, base)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")


def _readable(path: Path | None, what: str, problems: list[str]) -> None:
    if path is not None and not os.access(path, os.R_OK):
        problems.append(f"{what}: {path} is missing or unreadable")


def _read_secret(path: Path | None, what: str, problems: list[str]) -> bytes | None:
    if path is None:
        return None
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        problems.append(f"{what}: cannot read {path} ({exc.strerror})")
        return None
    if not secret:
        problems.append(f"{what}: {path} is empty")
        return None
    return secret


def _build(values: dict[str, dict[str, Any]], problems: list[str]) -> PolicySyncConfig | None:
    server = _build_server(values["server"], problems)
    source = _build_source(values["source"], problems)
    webhook = _build_webhook(values["webhook"], problems)
    if server is None or source is None:
        return None
    return PolicySyncConfig(server=server, source=source, webhook=webhook)


def _build_server(v: dict[str, Any], problems: list[str]) -> ServerConfig | None:
    for key in ("grpc_listen", "http_listen"):
        if key in v and not is_host_port(v[key]):
            problems.append(f"server.{key}: expected host:port, got {v[key]!r}")
    _check_health_listen(v, problems)
    if v.get("shutdown_grace", 0.0) < 0:
        problems.append("server.shutdown_grace: must not be negative")
    for key in ("keepalive_time", "keepalive_timeout"):
        if key in v and not 0 < v[key] < 1e6:
            problems.append(f"server.{key}: must be a number of seconds > 0, got {v[key]}")
    if "min_client_ping_interval" in v and not 0 <= v["min_client_ping_interval"] < 1e6:
        problems.append(
            "server.min_client_ping_interval: must be a number of seconds >= 0, "
            f"got {v['min_client_ping_interval']}"
        )
    if not v.get("plaintext_grpc", False):
        for key in ("cert_file", "key_file", "client_ca_file"):
            if v.get(key) is None:
                problems.append(f"server.{key}: required for mTLS (or set plaintext_grpc)")
            else:
                _readable(v[key], f"server.{key}", problems)
    if "state_dir" not in v:
        problems.append("server.state_dir: required (the last good snapshot is kept there)")
        return None
    return ServerConfig(**v)


def _check_health_listen(v: dict[str, Any], problems: list[str]) -> None:
    """Empty means off; else host:port, and a fixed port must not be another listener's."""
    health = v.pop("health_listen", "") or None
    if health is None:
        return
    v["health_listen"] = health
    if not is_host_port(health):
        problems.append(f"server.health_listen: expected host:port, got {health!r}")
        return
    defaults = {"grpc_listen": ServerConfig.grpc_listen, "http_listen": ServerConfig.http_listen}
    others = {f"server.{key}": v.get(key, default) for key, default in defaults.items()}
    problems.extend(health_port_clashes(health, others))


def _check_poll(v: dict[str, Any], problems: list[str]) -> None:
    if v.get("poll_interval", 1.0) <= 0:
        problems.append("source.poll_interval: must be greater than 0 seconds")
    if not 0.0 <= v.get("poll_jitter", 0.0) <= 1.0:
        problems.append("source.poll_jitter: must be a fraction between 0 and 1")


def _build_source(
    v: dict[str, Any], problems: list[str]
) -> GitSourceConfig | DirSourceConfig | None:
    kind = v.pop("kind", "git")
    _check_poll(v, problems)
    git_only = {"url", "branch", "subpath", "fetch_timeout", "ssh_key_file", "known_hosts_file"}
    git_only |= {"token_file", "token_username"}
    if kind == "dir":
        for key in sorted(git_only & v.keys()):
            problems.append(f'source.{key}: only applies to kind = "git"')
        if "path" not in v:
            problems.append('source.path: required for kind = "dir"')
            return None
        if not v["path"].is_dir():
            problems.append(f"source.path: {v['path']} is not a directory")
        if v.get("debounce", 0.0) < 0:
            problems.append("source.debounce: must not be negative")
        return DirSourceConfig(**{k: v[k] for k in v.keys() - git_only})
    if kind != "git":
        problems.append(f'source.kind: expected "git" or "dir", got {kind!r}')
        return None
    for key in sorted({"path", "debounce"} & v.keys()):
        problems.append(f'source.{key}: only applies to kind = "dir"')
    url = v.get("url")
    if not url:
        problems.append('source.url: required for kind = "git"')
        return None
    parts = urlsplit(url)
    if parts.password is not None or (parts.scheme in {"http", "https"} and parts.username):
        # Never keep a credential where it would be logged; point at the file-based options.
        problems.append(
            f"source.url: must not contain credentials ({scrub_url(url)}); "
            "use token_file or ssh_key_file"
        )
    if not v.get("branch", "main") or v.get("branch", "main").startswith(("refs/", "-")):
        problems.append("source.branch: expected a branch name like `main`")
    # Leading/trailing slashes are tolerated: the path is always relative to the repo root.
    # Normalised (`./p`, `p/./q`, `p//q`), because git reads `<sha>:./p` relative to a work
    # tree, and the bare mirror has none: the policy directory would silently be empty.
    subpath = PurePosixPath(v.get("subpath", "").strip("/")).as_posix()
    subpath = "" if subpath == "." else subpath
    if ".." in Path(subpath).parts:
        problems.append("source.subpath: must be a relative path inside the repository")
    if v.get("fetch_timeout", 1.0) <= 0:
        problems.append("source.fetch_timeout: must be greater than 0 seconds")
    if v.get("ssh_key_file") and v.get("token_file"):
        problems.append("source: set either ssh_key_file or token_file, not both")
    for key in ("ssh_key_file", "known_hosts_file", "token_file"):
        _readable(v.get(key), f"source.{key}", problems)
    v["subpath"] = subpath
    return GitSourceConfig(**{k: v[k] for k in v.keys() - {"path", "debounce"}})


def _build_webhook(v: dict[str, Any], problems: list[str]) -> WebhookConfig:
    files = {
        provider: v.pop(f"{provider}_secret_file", None)
        for provider in ("github", "gitlab", "generic")
    }
    secrets = WebhookSecrets(
        **{
            provider: _read_secret(path, f"webhook.{provider}_secret_file", problems)
            for provider, path in files.items()
        }
    )
    v["secret_files"] = tuple(
        (f"webhook.{provider}_secret_file", path)
        for provider, path in files.items()
        if path is not None
    )
    if v.get("max_body_bytes", 1) <= 0:
        problems.append("webhook.max_body_bytes: must be greater than 0")
    if v.get("dedup_size", 1) <= 0:
        problems.append("webhook.dedup_size: must be greater than 0")
    if v.get("pushed_commit_attempts", 1) <= 0:
        problems.append("webhook.pushed_commit_attempts: must be at least 1")
    return WebhookConfig(secrets=secrets, **v)


__all__ = [
    "DirSourceConfig",
    "GitSourceConfig",
    "PolicySyncConfig",
    "ServerConfig",
    "WebhookConfig",
    "WebhookSecrets",
    "env_name",
    "load_config",
    "scrub_url",
]
