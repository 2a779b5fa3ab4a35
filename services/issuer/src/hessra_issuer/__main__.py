"""``hessra-issuer``: run the issuer.

    hessra-issuer --config issuer.toml
    hessra-issuer --policy-dir ./policy --cert-file tls/issuer.crt --key-file tls/issuer.key \\
                  --signing-key keys/issuer.pem --listen 127.0.0.1:50051 --processes 2

Flags override ``HESSRA_ISSUER_*`` variables, which override the file (see
``hessra_issuer.config``). ``--check`` validates the configuration and the keys and
exits. One process serves in-process; ``--processes N`` > 1 runs a supervisor with N
workers on one port.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from hessra_core.errors import ConfigError
from hessra_core.keyring import Keyring
from hessra_core.rpc import configure_logging
from hessra_issuer.config import IssuerConfig, load_config

# flag -> config field
_FLAGS: dict[str, str] = {
    "listen": "listen",
    "identity_listen": "identity_listen",
    "health_listen": "health_listen",
    "cert_file": "cert_file",
    "key_file": "key_file",
    "extra_client_ca_file": "extra_client_ca_file",
    "processes": "processes",
    "port_file": "port_file",
    "metrics_port": "metrics_port",
    "shutdown_grace": "shutdown_grace",
    "log_level": "log_level",
    "active_key_id": "active_key_id",
    "policy_dir": "policy_dir",
    "policy_poll_interval": "policy_poll_interval",
    "sync_target": "sync_target",
    "sync_ca_file": "sync_ca_file",
    "sync_cert_file": "sync_cert_file",
    "sync_key_file": "sync_key_file",
    "snapshot_file": "snapshot_file",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hessra-issuer", description="Mint Hessra tokens for mTLS-authenticated callers."
    )
    p.add_argument("--config", type=Path, help="TOML config file")
    p.add_argument("--check", action="store_true", help="validate config and keys, then exit")
    p.add_argument(
        "--signing-key",
        action="append",
        dest="signing_key_files",
        metavar="FILE",
        help="private key file (repeat; the first is active unless --active-key-id)",
    )
    p.add_argument(
        "--verify-key",
        action="append",
        dest="verify_key_files",
        metavar="FILE",
        help="public key still published for verification (repeat)",
    )
    for flag in _FLAGS:
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, default=None)
    return p


def config_from_args(argv: list[str] | None = None) -> tuple[IssuerConfig, bool]:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {
        field: getattr(args, flag) for flag, field in _FLAGS.items() if getattr(args, flag)
    }
    if args.signing_key_files:
        overrides["signing_key_files"] = args.signing_key_files
    if args.verify_key_files:
        overrides["verify_key_files"] = args.verify_key_files
    return load_config(args.config, overrides=overrides), bool(args.check)


def main(argv: list[str] | None = None) -> int:
    try:
        config, check_only = config_from_args(argv)  # parses the keys and TLS pair too
        keyring = Keyring.load(
            config.signing_key_files, config.verify_key_files, active_key_id=config.active_key_id
        )
    except ConfigError as exc:
        print(f"hessra-issuer: {exc}", file=sys.stderr)
        return 2
    if check_only:
        print(f"hessra-issuer: configuration OK (active key id {keyring.active_key_id})")
        return 0
    if config.processes > 1:
        from hessra_issuer.supervisor import run_supervisor

        configure_logging(config.log_level, service="issuer", role="supervisor")
        return run_supervisor(config)
    from hessra_issuer.app import IssuerApp, write_port_file

    configure_logging(config.log_level, service="issuer", worker=0)

    def started(app: IssuerApp) -> None:
        if config.port_file is not None:
            write_port_file(config.port_file, app.port, app.identity_port, [app.info()])

    try:
        asyncio.run(IssuerApp(config).run(started))
    except ConfigError as exc:
        print(f"hessra-issuer: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
