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
import sys

from hessra_core.errors import ConfigError
from hessra_core.keyring import Keyring
from hessra_core.rpc import configure_logging
from hessra_core.service.entrypoint import (
    add_setting_flags,
    report_error,
    report_ok,
    run_service,
    service_parser,
    setting_overrides,
)
from hessra_issuer.config import SCHEMA, IssuerConfig, load_config

# flag dest -> config field: one flag per single-valued setting, named like it
_FLAGS = SCHEMA.flags()


PROG = "hessra-issuer"


def parser() -> argparse.ArgumentParser:
    p = service_parser(PROG, "Mint Hessra tokens for mTLS-authenticated callers.")
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
    add_setting_flags(p, _FLAGS)
    return p


def config_from_args(argv: list[str] | None = None) -> tuple[IssuerConfig, bool]:
    args = parser().parse_args(argv)
    overrides = setting_overrides(args, _FLAGS, ("signing_key_files", "verify_key_files"))
    return load_config(args.config, overrides=overrides), bool(args.check)


def main(argv: list[str] | None = None) -> int:
    try:
        config, check_only = config_from_args(argv)  # parses the keys and TLS pair too
        keyring = Keyring.load(
            config.signing_key_files, config.verify_key_files, active_key_id=config.active_key_id
        )
    except ConfigError as exc:
        return report_error(PROG, exc)
    if check_only:
        return report_ok(PROG, f"active key id {keyring.active_key_id}")
    if config.processes > 1:
        from hessra_issuer.supervisor import run_supervisor

        configure_logging(config.log_level, service="issuer", role="supervisor")
        return run_supervisor(config)
    from hessra_issuer.app import IssuerApp, write_port_file

    configure_logging(config.log_level, service="issuer", worker=0)

    def started(app: IssuerApp) -> None:
        if config.port_file is not None:
            write_port_file(config.port_file, app.port, app.identity_port, [app.info()])

    return run_service(PROG, lambda: IssuerApp(config).run(started))


if __name__ == "__main__":
    sys.exit(main())
