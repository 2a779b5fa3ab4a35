"""The console script's argument handling and the Resync identity check's name forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from hessra_core import pki
from hessra_policy_sync.__main__ import _overrides, _parser, main
from hessra_policy_sync.servicer import allowed_names, presented_names


@pytest.fixture
def keep_logging_config():  # type: ignore[no-untyped-def]
    # main() configures structlog for the process; give the next tests theirs back.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("keep_logging_config")
def test_bad_config_exits_2_listing_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[source]\npoll_interval = 0\n")
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "source.poll_interval: must be greater than 0" in err
    assert "server.state_dir: required" in err
    assert "source.url: required" in err


def test_flags_become_overrides() -> None:
    args = _parser().parse_args(
        ["--source-url", "file:///r", "--poll-interval", "2", "--insecure-webhooks"]
    )
    overrides = _overrides(args)
    assert overrides["source.url"] == "file:///r"
    assert overrides["source.poll_interval"] == 2.0
    assert overrides["webhook.insecure"] is True
    assert overrides["server.plaintext_grpc"] is None  # not given: the file/env decide


@pytest.mark.parametrize(
    ("entry", "allowed"),
    [
        ("spiffe://ops/admin", True),
        ("uri:spiffe://ops/admin", True),
        ("ops.example.com", True),
        ("OPS.example.com.", True),
        ("spiffe://ops/other", False),
        ("ops", False),
    ],
    ids=["uri", "uri-prefixed", "dns", "dns-case-dot", "other-uri", "partial"],
)
def test_resync_identity_forms(entry: str, allowed: bool) -> None:
    ca = pki.create_ca()
    cert = pki.issue_cert(
        ca, "admin", pki.SubjectNames(uris=["spiffe://ops/admin"], dns=["ops.example.com"])
    ).cert
    assert bool(presented_names(cert) & allowed_names((entry,))) is allowed
