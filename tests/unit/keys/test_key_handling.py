"""Key material handling at the edges: files that are not what they claim, key id clashes.

A key file's contents never appear in an error (not even one byte of it), a
private key handed over as a public key is named as such wherever in the PEM it
sits, and a key set never silently drops one of two keys that share an id.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hessra_core.errors import ConfigError, KeyFormatError
from hessra_core.keyring import Keyring
from hessra_core.keys import Algorithm, KeyPair, KeySet, PublicKey


def test_binary_verify_file_is_refused_without_quoting_its_bytes(tmp_path: Path) -> None:
    signing = tmp_path / "signing.pem"
    KeyPair.generate().save(signing)
    # Someone points verify_files at a DER private key: binary, and secret.
    der = tmp_path / "issuer.der"
    der.write_bytes(b"\xfe" + KeyPair.generate().private_pem().encode("ascii")[1:])
    with pytest.raises(ConfigError) as info:
        Keyring.load([signing], [der])
    message = str(info.value)
    assert f"{der}: public key file is not ASCII text" in message
    assert not re.search(r"0x[0-9a-f]{2}|byte|position", message), message


def _ec_private_key_with_parameters() -> str:
    # What `openssl ecparam -name prime256v1 -genkey` writes: the private key is second.
    key = ec.generate_private_key(ec.SECP256R1())
    params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    return params + private


@pytest.mark.parametrize(
    "make",
    [
        lambda: KeyPair.generate().private_pem(),
        lambda: "\n" + KeyPair.generate(Algorithm.SECP256R1).private_pem(),
        _ec_private_key_with_parameters,
    ],
    ids=["pkcs8", "leading-blank-line", "ec-parameters-first"],
)
def test_private_key_pem_is_named_as_such_wherever_it_sits(make: object) -> None:
    assert callable(make)
    pem = make()
    with pytest.raises(KeyFormatError) as info:
        PublicKey.parse(pem)
    assert str(info.value) == "expected a public key but got a PEM private key"
    # Nothing from the parser (which saw the secret) rides along as the cause.
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


def _clashing(first: PublicKey) -> PublicKey:
    """A different key that reports ``first``'s id, standing in for a 32-bit id collision."""
    other = KeyPair.generate().public_key
    other.__dict__["key_id"] = first.key_id  # key_id is a cached_property
    assert other != first
    assert other.key_id == first.key_id
    return other


def test_keyset_refuses_two_keys_sharing_an_id() -> None:
    first = KeyPair.generate().public_key
    second = _clashing(first)
    with pytest.raises(KeyFormatError) as info:
        KeySet.of(first, second)
    assert str(info.value) == (
        f"keys {first} and {second} share key id {first.key_id}: "
        "a token's root key id could not tell them apart"
    )


def test_keyset_still_accepts_the_same_key_twice() -> None:
    key = KeyPair.generate().public_key
    assert KeySet.of(key, key.to_string(), key) == KeySet.of(key)
