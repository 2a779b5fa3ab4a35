"""``hessra-policy-sync``: follow a policy repository and publish validated snapshots.

    hessra-policy-sync --config /etc/hessra/policy-sync.toml
    hessra-policy-sync --source-url file:///srv/policy.git --state-dir ./state \\
        --cert server.crt --key server.key --client-ca ca.crt

Flags override ``HESSRA_POLICY_SYNC_*`` environment variables, which override the
file (see ``hessra_policy_sync.config``). SIGTERM/SIGINT: health goes NOT_SERVING,
then the servers stop with ``server.shutdown_grace`` seconds for in-flight calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

import structlog

from hessra_core.errors import ConfigError
from hessra_core.rpc import configure_logging
from hessra_core.service.entrypoint import (
    EXIT_OK,
    report_error,
    service_parser,
    shutdown_signals,
)
from hessra_policy_sync.config import PolicySyncConfig, load_config

log = structlog.get_logger("hessra.policy_sync")

PROG = "hessra-policy-sync"

# flag -> "section.key"
_FLAGS: dict[str, str] = {
    "grpc_listen": "server.grpc_listen",
    "http_listen": "server.http_listen",
    "health_listen": "server.health_listen",
    "cert": "server.cert_file",
    "key": "server.key_file",
    "client_ca": "server.client_ca_file",
    "state_dir": "server.state_dir",
    "source_kind": "source.kind",
    "source_url": "source.url",
    "branch": "source.branch",
    "subpath": "source.subpath",
    "source_dir": "source.path",
    "poll_interval": "source.poll_interval",
    "github_secret_file": "webhook.github_secret_file",
    "gitlab_secret_file": "webhook.gitlab_secret_file",
    "generic_secret_file": "webhook.generic_secret_file",
}


def _parser() -> argparse.ArgumentParser:
    p = service_parser(
        PROG,
        "Follow a policy git repository (or directory) and publish snapshots.",
        check=False,
    )
    p.add_argument("--grpc-listen", help="host:port for PolicySync (mTLS)")
    p.add_argument("--http-listen", help="host:port for webhooks, /metrics, /healthz, /readyz")
    p.add_argument(
        "--health-listen", help="host:port for plaintext gRPC health only (kubelet probes)"
    )
    p.add_argument("--cert", help="server certificate (PEM)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--client-ca", help="CA bundle that subscriber certificates chain to")
    p.add_argument("--state-dir", help="where the last good snapshot and git mirror live")
    p.add_argument("--source-kind", choices=["git", "dir"])
    p.add_argument("--source-url", help="git repository URL (no credentials inside)")
    p.add_argument("--branch", help="branch to follow")
    p.add_argument("--subpath", help="directory of the policy files inside the repository")
    p.add_argument("--source-dir", help="local policy directory (with --source-kind dir)")
    p.add_argument("--poll-interval", type=float, help="seconds between polls")
    p.add_argument("--github-secret-file")
    p.add_argument("--gitlab-secret-file")
    p.add_argument("--generic-secret-file")
    p.add_argument(
        "--insecure-webhooks",
        action="store_true",
        default=None,
        help="accept unsigned webhooks from providers without a secret (development only)",
    )
    p.add_argument(
        "--plaintext-grpc",
        action="store_true",
        default=None,
        help="serve gRPC without TLS (development only; subscribers are not authenticated)",
    )
    p.add_argument("--log-level", default="info")
    return p


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {dotted: getattr(args, flag) for flag, dotted in _FLAGS.items()}
    overrides["webhook.insecure"] = args.insecure_webhooks
    overrides["server.plaintext_grpc"] = args.plaintext_grpc
    return overrides


async def run(config: PolicySyncConfig) -> None:
    from hessra_policy_sync.app import PolicySyncApp

    app = PolicySyncApp(config)
    with shutdown_signals() as stop:
        try:
            # Inside the try: a start that fails half-way (the HTTP address is taken
            # after the gRPC server started) still stops what it started.
            await app.start()
            await stop.wait()
            log.info("shutdown_requested", grace_s=config.server.shutdown_grace)
        finally:
            await app.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        configure_logging(args.log_level, service="policy-sync")
    except ValueError as exc:
        return report_error(PROG, exc)
    try:
        config = load_config(args.config, overrides=_overrides(args))
    except ConfigError as exc:
        return report_error(PROG, exc)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(config))
    except ConfigError as exc:
        # Found only while starting (an address that cannot be bound): exit 2 like
        # the issuer and the signer, not a traceback and 1.
        return report_error(PROG, exc)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
