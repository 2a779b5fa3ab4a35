"""Certificates and keys for policy tests, generated per session so nothing rots.

Corpus and seed files are templates: ``@NAME@`` placeholders are replaced with PEM
certificates or public keys made here.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hessra_core import pki
from hessra_core.keys import KeyPair

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
SEED = HERE / "seed_examples"
_PLACEHOLDER = re.compile(r"@([A-Z0-9_]+)@")


def _ca_without_key_cert_sign() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "No Signing CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Material:
    """Everything a template may name."""

    ca: pki.IssuedCert
    values: dict[str, str]

    def render(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.values[m.group(1)], text)

    def write_tree(self, source: Path, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("clients.toml", "resources.toml"):
            if (source / name).exists():
                raw = (source / name).read_bytes()
                # A deliberately broken (non UTF-8) file is copied as it is.
                with contextlib.suppress(UnicodeDecodeError):
                    raw = self.render(raw.decode("utf-8")).encode("utf-8")
                (dest / name).write_bytes(raw)
        return dest


@pytest.fixture(scope="session")
def material() -> Material:
    return make_material()


def make_material() -> Material:
    ca = pki.create_ca("Policy Test CA")
    leaf = pki.issue_cert(ca, "leaf", pki.SubjectNames(dns=["leaf.internal"]))
    expired = pki.create_ca(
        "Expired CA",
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
        not_after=datetime(2021, 1, 1, tzinfo=UTC),
    )
    future = pki.create_ca(
        "Future CA",
        not_before=datetime(2099, 1, 1, tzinfo=UTC),
        not_after=datetime(2100, 1, 1, tzinfo=UTC),
    )
    soon = pki.create_ca("Soon CA", not_after=datetime.now(UTC) + timedelta(days=10, hours=1))
    values = {
        "CA": ca.cert_pem.decode(),
        "CA2": pki.create_ca("Second CA").cert_pem.decode(),
        "LEAF": leaf.cert_pem.decode(),
        "EXPIRED_CA": expired.cert_pem.decode(),
        "FUTURE_CA": future.cert_pem.decode(),
        "SOON_CA": soon.cert_pem.decode(),
        "NOSIGN_CA": _ca_without_key_cert_sign().decode(),
    }
    for i in range(1, 7):
        values[f"KEY{i}"] = KeyPair.generate().public_key.to_string()
    return Material(ca, values)
