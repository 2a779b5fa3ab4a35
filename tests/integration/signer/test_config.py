"""Signer configuration: file, environment and flags merge; every problem reported at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hessra_core.errors import ConfigError
from hessra_core.keys import KeyPair
from hessra_signer.config import load_config

SIGNER_BIN = Path(sys.executable).with_name("hessra-signer")


def _files(tmp_path: Path) -> dict[str, Path]:
    tls = tmp_path / "tls"
    tls.mkdir()
    for name in ("signer.crt", "signer.key"):
        (tls / name).write_text("x")
    KeyPair.generate().save(tmp_path / "legal.pem")
    issuer = KeyPair.generate()
    (tmp_path / "issuer.pub").write_text(issuer.public_key.to_pem())
    (tmp_path / "policy").mkdir()
    return {"tls": tls, "issuer_pub": tmp_path / "issuer.pub"}


def test_file_env_and_flags_merge(tmp_path: Path) -> None:
    files = _files(tmp_path)
    extra = KeyPair.generate().public_key.to_string()
    config_file = tmp_path / "signer.toml"
    config_file.write_text(
        '[server]\ncert_file = "tls/signer.crt"\nkey_file = "tls/signer.key"\n'
        '[signer]\nname = "legal_dept"\nkey_file = "legal.pem"\n'
        'issuer_public_key_files = ["issuer.pub"]\n'
        '[policy]\ndir = "policy"\n'
    )
    config = load_config(
        config_file,
        env={
            "HESSRA_SIGNER_SIGNER_ISSUER_PUBLIC_KEYS": extra,
            "HESSRA_SIGNER_SERVER_LISTEN": "127.0.0.1:1",
        },
        overrides={"listen": "127.0.0.1:2"},
    )
    assert config.name == "legal_dept"
    assert config.cert_file == files["tls"] / "signer.crt"
    assert config.listen == "127.0.0.1:2"
    assert len(config.issuer_keys) == 2


BAD = [
    ("unknown_key", '[signer]\nnmae = "x"\n', "unknown key `signer.nmae`"),
    ("bad_issuer_key", '[signer]\nissuer_public_keys = ["ed25519/zz"]\n', "issuer_public_keys[1]"),
    ("missing_name", "", "signer.name is required"),
    ("bad_listen", '[server]\nlisten = "nowhere"\n', "'nowhere' is not host:port"),
    ("two_policies", '[policy]\ndir = "."\nsync_target = "127.0.0.1:1"\n', "exactly one of"),
    ("no_issuer_keys", "", "issuer_public_keys or signer.issuer_public_key_files is required"),
    (
        "metrics_host_with_port",
        '[server]\nmetrics_host = "0.0.0.0:9090"\n',
        "server.metrics_host: '0.0.0.0:9090' is not an IP address or host name (no port)",
    ),
    (
        "connection_age_negative",
        "[server]\nmax_connection_age = -1.0\n",
        "server.max_connection_age: -1.0 is not 0 (off)",
    ),
    (
        "extra_ca_not_pem",
        '[server]\nextra_client_ca_file = "signer.toml"\n',
        "server.extra_client_ca_file:",
    ),
]


@pytest.mark.parametrize(("text", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_every_problem_is_reported(tmp_path: Path, text: str, fragment: str) -> None:
    config_file = tmp_path / "signer.toml"
    config_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, env={})
    assert fragment in str(caught.value)
    # Missing required settings are reported alongside whatever else is wrong.
    assert "server.cert_file is required" in str(caught.value)


def test_console_script_exits_2_with_all_problems(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(SIGNER_BIN), "--listen", "bad"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HESSRA_SIGNER_SERVER_TYPO": "1"},
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "unknown variable HESSRA_SIGNER_SERVER_TYPO" in done.stderr
    assert "'bad' is not host:port" in done.stderr
    assert "signer.name is required" in done.stderr
