"""``hessra-signer``: co-sign multi-party tokens under this organisation's policy.

    hessra-signer --config signer.toml
    hessra-signer --name legal_dept --signing-key keys/legal.pem \\
                  --issuer-public-key ed25519/<hex> --policy-dir ./policy \\
                  --cert-file tls/signer.crt --key-file tls/signer.key --listen 127.0.0.1:50052

Flags override ``HESSRA_SIGNER_*`` variables, which override the file (see
``hessra_signer.config``). ``--check`` validates the configuration and the keys and
exits. Exit codes: 0 ok, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from hessra_core.errors import ConfigError
from hessra_core.rpc import configure_logging
from hessra_signer.config import SignerConfig, load_config

# flag -> config field
_FLAGS: dict[str, str] = {
    "name": "name",
    "signing_key": "signing_key_file",
    "listen": "listen",
    "health_listen": "health_listen",
    "cert_file": "cert_file",
    "key_file": "key_file",
    "extra_client_ca_file": "extra_client_ca_file",
    "port_file": "port_file",
    "metrics_port": "metrics_port",
    "shutdown_grace": "shutdown_grace",
    "log_level": "log_level",
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
        prog="hessra-signer",
        description="Co-sign multi-party Hessra tokens under this organisation's policy.",
    )
    p.add_argument("--config", type=Path, help="TOML config file")
    p.add_argument("--check", action="store_true", help="validate config and keys, then exit")
    p.add_argument(
        "--issuer-public-key",
        action="append",
        dest="issuer_public_keys",
        metavar="KEY",
        help="a trusted issuer key, ed25519/<hex> or PEM (repeat)",
    )
    p.add_argument(
        "--issuer-public-key-file",
        action="append",
        dest="issuer_public_key_files",
        metavar="FILE",
        help="a file holding a trusted issuer key (repeat)",
    )
    for flag in _FLAGS:
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, default=None)
    return p


def config_from_args(argv: list[str] | None = None) -> tuple[SignerConfig, bool]:
    args = parser().parse_args(argv)
    overrides: dict[str, Any] = {
        field: getattr(args, flag) for flag, field in _FLAGS.items() if getattr(args, flag)
    }
    if args.issuer_public_keys:
        overrides["issuer_public_keys"] = args.issuer_public_keys
    if args.issuer_public_key_files:
        overrides["issuer_public_key_files"] = args.issuer_public_key_files
    return load_config(args.config, overrides=overrides), bool(args.check)


def main(argv: list[str] | None = None) -> int:
    try:
        config, check_only = config_from_args(argv)
        from hessra_signer.app import load_keypair

        keypair = load_keypair(config.signing_key_file)
    except ConfigError as exc:
        print(f"hessra-signer: {exc}", file=sys.stderr)
        return 2
    if check_only:
        print(
            f"hessra-signer: configuration OK (signer {config.name}, "
            f"key {keypair.public_key.to_string()})"
        )
        return 0
    configure_logging(config.log_level, service="signer", signer=config.name)
    from hessra_signer.app import SignerApp

    async def run() -> None:
        await SignerApp(config).run()

    try:
        asyncio.run(run())
    except ConfigError as exc:
        print(f"hessra-signer: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
