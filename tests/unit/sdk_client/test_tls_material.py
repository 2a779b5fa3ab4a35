"""TLS files that cannot work are configuration errors naming the file, at creation.

Without this, grpc only logs "Update handshaker factory failed" and every call
fails as "issuer ... is unreachable", sending the operator after the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hessra import ClientConfig, ConfigError, Hessra, ServiceUnavailableError
from hessra_core import pki
from hessra_core.testing import write_tls

CA = pki.create_ca("test CA")
ALICE = pki.issue_cert(CA, "alice", pki.SubjectNames(uris=["urn:test:alice"]))
BOB = pki.issue_cert(CA, "bob", pki.SubjectNames(uris=["urn:test:bob"]))

# (id, files to write {option: bytes}, message fragment)
CASES: list[tuple[str, Callable[[], dict[str, bytes]], str]] = [
    ("ca_not_pem", lambda: {"ca": b"garbage\n"}, "ca: {ca} holds no PEM certificate"),
    (
        "cert_is_a_key",
        lambda: {"ca": CA.cert_pem, "cert": ALICE.key_pem, "key": ALICE.key_pem},
        "cert: {cert} holds no PEM certificate",
    ),
    (
        "key_is_a_cert",
        lambda: {"ca": CA.cert_pem, "cert": ALICE.cert_pem, "key": ALICE.cert_pem},
        "key: {key} is not an unencrypted PEM private key",
    ),
    (
        "key_of_another_cert",
        lambda: {"ca": CA.cert_pem, "cert": ALICE.cert_pem, "key": BOB.key_pem},
        "cert and key do not belong together",
    ),
]


def _write(tmp_path: Path, files: dict[str, bytes]) -> dict[str, Path]:
    paths = {}
    for option, data in files.items():
        paths[option] = tmp_path / f"{option}.pem"
        paths[option].write_bytes(data)
    return paths


@pytest.mark.parametrize(("files", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_unusable_tls_files_are_named(
    tmp_path: Path, files: Callable[[], dict[str, bytes]], fragment: str
) -> None:
    paths = _write(tmp_path, files())
    with pytest.raises(ConfigError) as caught:
        ClientConfig.create("127.0.0.1:1", **paths)
    text = str(caught.value)
    assert fragment.format(**{k: str(v) for k, v in paths.items()}) in text, text
    for secret in (ALICE.key_pem, BOB.key_pem):
        assert secret.decode().splitlines()[1] not in text


def test_inline_pem_is_named_without_its_text() -> None:
    with pytest.raises(ConfigError) as caught:
        ClientConfig.create("127.0.0.1:1", ca=CA.cert_pem, cert=ALICE.cert_pem, key=BOB.key_pem)
    text = str(caught.value)
    assert "cert and key do not belong together" in text
    assert BOB.key_pem.decode().splitlines()[1] not in text


def test_signer_ca_contents_are_checked_too(tmp_path: Path) -> None:
    bad = tmp_path / "partner-ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"signer_ca\[partner\]: ca: .*partner-ca.pem holds no"):
        ClientConfig.create("h:1", signer_ca={"partner": bad})


def test_good_material_builds_and_fails_only_on_the_network(tmp_path: Path) -> None:
    files = write_tls(tmp_path, "alice", ALICE)
    (tmp_path / "ca.pem").write_bytes(CA.cert_pem)
    kwargs: dict[str, Any] = {"ca": tmp_path / "ca.pem", "cert": files.cert, "key": files.key}
    with (
        Hessra("127.0.0.1:1", timeout=2, **kwargs) as client,
        pytest.raises(ServiceUnavailableError),
    ):
        client.request_token("orders", "read")
