"""The shared main() scaffolding: flags, overrides, exit codes, reports, signals."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from hessra_core.errors import ConfigError
from hessra_core.service.entrypoint import (
    EXIT_CONFIG,
    EXIT_OK,
    add_setting_flags,
    report_error,
    report_ok,
    run_service,
    service_parser,
    setting_overrides,
    shutdown_signals,
)

FLAGS = {"listen": "listen", "signing_key": "signing_key_file", "log_level": "log_level"}


def _parser(check: bool = True) -> Any:
    parser = service_parser("hessra-demo", "A demo service.", check=check)
    parser.add_argument("--key", action="append", dest="key_files")
    add_setting_flags(parser, FLAGS)
    return parser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {}),
        (["--listen", "127.0.0.1:1"], {"listen": "127.0.0.1:1"}),
        (["--signing-key", "k.pem"], {"signing_key_file": "k.pem"}),
        (["--log-level", ""], {}),
        (["--key", "a", "--key", "b"], {"key_files": ["a", "b"]}),
    ],
    ids=["none", "plain", "renamed-field", "empty-is-unset", "repeated"],
)
def test_flags_become_overrides_by_field(argv: list[str], expected: dict[str, Any]) -> None:
    args = _parser().parse_args(argv)
    assert setting_overrides(args, FLAGS, ("key_files",)) == expected


def test_parser_has_config_and_check() -> None:
    args = _parser().parse_args(["--config", "svc.toml", "--check"])
    assert (args.config, args.check) == (Path("svc.toml"), True)
    assert _parser().parse_args([]).check is False


def test_check_can_be_left_out() -> None:
    parser = _parser(check=False)
    assert not hasattr(parser.parse_args([]), "check")
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(["--check"])
    assert caught.value.code == 2


def test_report_error_prints_every_problem_and_returns_2(capsys: Any) -> None:
    exc = ConfigError(["server.listen: bad", "keys: missing"], source="demo config")
    assert report_error("hessra-demo", exc) == EXIT_CONFIG == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("hessra-demo: invalid demo config:\n  - server.listen: bad\n  - keys: missing\n")


def test_report_ok_prints_the_verdict_and_returns_0(capsys: Any) -> None:
    assert report_ok("hessra-demo", "active key id 3") == EXIT_OK == 0
    assert capsys.readouterr().out == "hessra-demo: configuration OK (active key id 3)\n"


def test_run_service_returns_0_when_the_service_ends() -> None:
    ran: list[bool] = []

    async def serve() -> None:
        await asyncio.sleep(0)
        ran.append(True)

    assert run_service("hessra-demo", serve) == EXIT_OK
    assert ran == [True]


def test_run_service_turns_a_start_up_config_error_into_exit_2(capsys: Any) -> None:
    async def serve() -> None:
        raise ConfigError(["policy.sync_* settings are incomplete"], source="demo config")

    assert run_service("hessra-demo", serve) == EXIT_CONFIG
    assert "hessra-demo: invalid demo config:\n  - policy.sync_*" in capsys.readouterr().err


def test_run_service_lets_other_errors_through() -> None:
    async def serve() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_service("hessra-demo", serve)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
async def test_shutdown_signals_set_the_event(sig: signal.Signals) -> None:
    loop = asyncio.get_running_loop()
    with shutdown_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), timeout=5)
    # Handlers are gone afterwards: removing one again reports there was none.
    assert loop.remove_signal_handler(sig) is False
