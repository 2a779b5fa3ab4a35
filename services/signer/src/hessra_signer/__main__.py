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
import sys

from hessra_core.errors import ConfigError
from hessra_core.rpc import configure_logging
from hessra_core.service.entrypoint import (
    add_setting_flags,
    report_error,
    report_ok,
    run_service,
    service_parser,
    setting_overrides,
)
from hessra_signer.config import SCHEMA, SignerConfig, load_config

# flag dest -> config field: one flag per single-valued setting, named like it but
# for --signing-key (the file of [signer] key_file)
_FLAGS = SCHEMA.flags(rename={"signing_key_file": "signing_key"})


PROG = "hessra-signer"


def parser() -> argparse.ArgumentParser:
    p = service_parser(PROG, "Co-sign multi-party Hessra tokens under this organisation's policy.")
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
    add_setting_flags(p, _FLAGS)
    return p


def config_from_args(argv: list[str] | None = None) -> tuple[SignerConfig, bool]:
    args = parser().parse_args(argv)
    overrides = setting_overrides(args, _FLAGS, ("issuer_public_keys", "issuer_public_key_files"))
    return load_config(args.config, overrides=overrides), bool(args.check)


def main(argv: list[str] | None = None) -> int:
    try:
        config, check_only = config_from_args(argv)
        from hessra_signer.app import load_keypair

        keypair = load_keypair(config.signing_key_file)
    except ConfigError as exc:
        return report_error(PROG, exc)
    if check_only:
        detail = f"signer {config.name}, key {keypair.public_key.to_string()}"
        return report_ok(PROG, detail)
    configure_logging(config.log_level, service="signer", signer=config.name)
    from hessra_signer.app import SignerApp

    return run_service(PROG, lambda: SignerApp(config).run())


if __name__ == "__main__":
    sys.exit(main())
