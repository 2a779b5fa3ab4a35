"""ClientConfig: keyword arguments or HESSRA_* variables, validated all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra import ClientConfig, ConfigError
from hessra._channel import grpc_target
from hessra_core import pki
from hessra_core.keys import KeyPair

TARGETS = [
    ("host_port", "auth.example.com:50051", "auth.example.com:50051"),
    ("https_url", "https://auth.example.com:8443/", "auth.example.com:8443"),
    ("https_default_port", "https://auth.example.com", "auth.example.com:443"),
    ("bare_host", "auth.example.com", "auth.example.com:443"),
    ("loopback_url", "https://127.0.0.1:4000", "127.0.0.1:4000"),
]


@pytest.mark.parametrize(
    ("endpoint", "target"), [t[1:] for t in TARGETS], ids=[t[0] for t in TARGETS]
)
def test_grpc_target(endpoint: str, target: str) -> None:
    assert grpc_target(endpoint) == target


def test_every_problem_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        ClientConfig.create(
            "",
            cert=tmp_path / "missing.crt",
            public_key="ed25519/zz",
            personal_keypair=b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            timeout=0,
        )
    text = str(caught.value)
    for fragment in (
        "an endpoint is empty",
        "give both or neither",
        "missing.crt does not exist",
        "public_key:",
        "personal_keypair:",
        "timeout must be > 0",
    ):
        assert fragment in text


def test_from_env_and_overrides(tmp_path: Path) -> None:
    pair = KeyPair.generate()
    pair.save(tmp_path / "me.pem")
    config = ClientConfig.from_env(
        {
            "HESSRA_SERVER": "https://issuer.test:9000",
            "HESSRA_PUBLIC_KEY": pair.public_key.to_string(),
            "HESSRA_PERSONAL_KEY": str(tmp_path / "me.pem"),
        },
        server="other.test:1",
    )
    assert config.server == "other.test:1"
    assert config.personal_keypair is not None
    assert config.personal_keypair.public_key == pair.public_key
    assert "PRIVATE" not in repr(config)


def test_from_env_requires_a_server() -> None:
    with pytest.raises(ConfigError, match="HESSRA_SERVER"):
        ClientConfig.from_env({})


def test_signer_ca_by_name_or_shared(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.pem", tmp_path / "theirs.pem"
    ours.write_bytes(pki.create_ca("ours").cert_pem)
    theirs.write_bytes(pki.create_ca("theirs").cert_pem)
    shared = ClientConfig.create("h:1", ca=ours, signer_ca=theirs)
    assert shared.signer_tls("x", "e:1").ca == theirs
    mapped = ClientConfig.create("h:1", ca=ours, signer_ca={"partner": theirs})
    assert mapped.signer_tls("partner", "e:1").ca == theirs
    assert mapped.signer_tls("legal", "e:2").ca == ours
    with pytest.raises(ConfigError, match=r"signer_ca\[partner\]: ca: .*gone.pem does not exist"):
        ClientConfig.create("h:1", signer_ca={"partner": tmp_path / "gone.pem"})
