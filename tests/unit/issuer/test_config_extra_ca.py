"""``server.extra_client_ca_file`` is checked with the rest of the configuration.

A file that is not a CA bundle used to pass ``--check`` and then stop the issuer at
start-up with "main listener 127.0.0.1:50051: cannot bind", pointing at the address.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core import pki
from hessra_core.errors import ConfigError
from hessra_core.keys import KeyPair
from hessra_issuer.config import load_config


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """A valid issuer config file in ``tmp_path``, its extra CA in ``extra-ca.pem``."""
    ca = pki.create_ca("issuer config test CA")
    server = pki.issue_cert(ca, "issuer", pki.SubjectNames(dns=["localhost"]), server=True)
    (tmp_path / "tls.crt").write_bytes(server.cert_pem)
    (tmp_path / "tls.key").write_bytes(server.key_pem)
    KeyPair.generate().save(tmp_path / "signing.pem")
    (tmp_path / "policy").mkdir()
    (tmp_path / "extra-ca.pem").write_bytes(ca.cert_pem)
    config = tmp_path / "issuer.toml"
    config.write_text(
        '[server]\ncert_file = "tls.crt"\nkey_file = "tls.key"\n'
        'extra_client_ca_file = "extra-ca.pem"\n'
        '[keys]\nsigning_key_files = ["signing.pem"]\n[policy]\ndir = "policy"\n'
    )
    return config


def test_a_ca_bundle_is_accepted(setup: Path) -> None:
    cfg = load_config(setup, env={})
    assert cfg.extra_client_ca_file == setup.parent / "extra-ca.pem"


def _leaf() -> bytes:
    ca = pki.create_ca("another CA")
    return pki.issue_cert(ca, "leaf", pki.SubjectNames(uris=["urn:x"])).cert_pem


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "holds no PEM certificate"),
        (b"not a certificate\n", "holds no PEM certificate"),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "holds no PEM certificate",
        ),
        (None, "CN=leaf is not a CA certificate"),
    ],
    ids=["empty", "text", "broken-pem", "leaf-not-ca"],
)
def test_a_file_that_is_no_ca_bundle_is_a_config_problem_naming_it(
    setup: Path, content: bytes | None, problem: str
) -> None:
    extra = setup.parent / "extra-ca.pem"
    extra.write_bytes(_leaf() if content is None else content)
    with pytest.raises(ConfigError) as info:
        load_config(setup, env={})
    assert [p for p in info.value.problems if "extra_client_ca_file" in p] == [
        f"server.extra_client_ca_file: {extra}: {problem}"
    ]
