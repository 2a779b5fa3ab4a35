"""Keys: parsing and formatting public keys, private key files, key ids, key sets."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path

import biscuit_auth
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hessra_core.errors import KeyFormatError, UnknownKeyIdError
from hessra_core.keys import Algorithm, KeyPair, KeySet, PublicKey

ALGORITHMS = [Algorithm.ED25519, Algorithm.SECP256R1]
ALG_IDS = [a.value for a in ALGORITHMS]


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=ALG_IDS)
def test_public_key_round_trips_through_text_and_pem(algorithm: Algorithm) -> None:
    kp = KeyPair.generate(algorithm)
    pk = kp.public_key
    text = pk.to_string()
    assert text.startswith(f"{algorithm.value}/")
    assert PublicKey.parse(text) == pk
    assert PublicKey.parse(pk.to_pem()) == pk
    assert PublicKey.parse(pk.to_pem().encode()) == pk
    assert PublicKey.parse(f"  {text}\n") == pk
    assert pk.algorithm is algorithm


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=ALG_IDS)
def test_text_form_matches_biscuit_notation(algorithm: Algorithm) -> None:
    kp = KeyPair.generate(algorithm)
    # biscuit_auth prints public keys in the same `alg/hex` notation Hessra uses.
    assert repr(kp.to_biscuit().public_key) == kp.public_key.to_string()
    assert repr(kp.public_key.to_biscuit()) == kp.public_key.to_string()


def test_secp256r1_uncompressed_point_is_normalised_to_compressed() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    uncompressed = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    compressed = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    pk = PublicKey.parse(f"secp256r1/{uncompressed.hex()}")
    assert pk.to_string() == f"secp256r1/{compressed.hex()}"


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _p384_pem() -> str:
    key = ec.generate_private_key(ec.SECP384R1())
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


BAD_PUBLIC = [
    ("empty", "", "must look like"),
    ("no-prefix", "abcdef", "must look like"),
    ("unknown-alg", "rsa/abcd", "unknown key algorithm"),
    ("bad-hex", "ed25519/zz", "not valid hex"),
    ("short-ed25519", "ed25519/abcd", "invalid ed25519 public key"),
    ("bad-point", "secp256r1/" + "00" * 33, "invalid secp256r1 public key"),
    ("garbage-pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "invalid PEM"),
    ("non-ascii-bytes", "ed25519/\u00e9".encode(), "not ASCII"),
]


@pytest.mark.parametrize(
    ("text", "needle"), [(t, n) for _, t, n in BAD_PUBLIC], ids=[i for i, _, _ in BAD_PUBLIC]
)
def test_bad_public_keys_raise_key_format_error(text: str | bytes, needle: str) -> None:
    with pytest.raises(KeyFormatError, match=needle):
        PublicKey.parse(text)


@pytest.mark.parametrize("make_pem", [_rsa_pem, _p384_pem], ids=["rsa", "p384"])
def test_unsupported_pem_public_keys_are_refused(make_pem: object) -> None:
    assert callable(make_pem)
    with pytest.raises(KeyFormatError, match="unsupported public key type"):
        PublicKey.parse(make_pem())


def test_private_pem_given_as_public_key_is_refused_without_echo() -> None:
    pem = KeyPair.generate().private_pem()
    with pytest.raises(KeyFormatError) as info:
        PublicKey.parse(pem)
    body = pem.splitlines()[1]
    assert body not in str(info.value)
    assert "private key" in str(info.value)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=ALG_IDS)
def test_keypair_save_load_round_trip_with_mode_0600(tmp_path: Path, algorithm: Algorithm) -> None:
    kp = KeyPair.generate(algorithm)
    path = tmp_path / "root.pem"
    kp.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = KeyPair.load(path)
    assert loaded.public_key == kp.public_key
    assert loaded.algorithm is algorithm
    # No temp files are left beside the key.
    assert [p.name for p in tmp_path.iterdir()] == ["root.pem"]


def test_save_replaces_existing_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    first, second = KeyPair.generate(), KeyPair.generate()
    first.save(path)
    second.save(path)
    assert KeyPair.load(path).public_key == second.public_key


def test_keys_signed_by_loaded_pair_verify_under_public_key(tmp_path: Path) -> None:
    kp = KeyPair.generate()
    kp.save(tmp_path / "k.pem")
    loaded = KeyPair.load(tmp_path / "k.pem")
    token = biscuit_auth.BiscuitBuilder("user(1);").build(loaded.to_biscuit().private_key)
    parsed = biscuit_auth.Biscuit.from_base64(token.to_base64(), kp.public_key.to_biscuit())
    assert parsed.block_count() == 1


def test_sec1_ec_private_key_pem_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    kp = KeyPair.from_pem(pem)
    assert kp.algorithm is Algorithm.SECP256R1


def test_private_material_never_in_repr_str_or_pickle() -> None:
    kp = KeyPair.generate()
    secret_hex = bytes(kp.to_biscuit().private_key.to_bytes()).hex()
    pem_body = "".join(kp.private_pem().splitlines()[1:-1])
    for shown in (repr(kp), str(kp), f"{kp}", repr(kp.public_key)):
        assert secret_hex not in shown
        assert pem_body not in shown
    assert kp.public_key.to_string() in repr(kp)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(kp)


BAD_PRIVATE = [
    ("garbage", b"not a key"),
    ("public-pem", None),
    ("encrypted", None),
    ("p384", None),
]


def _bad_private(kind: str) -> bytes:
    if kind == "public-pem":
        return KeyPair.generate().public_key.to_pem().encode()
    if kind == "encrypted":
        return ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return b"not a key"


@pytest.mark.parametrize("kind", [k for k, _ in BAD_PRIVATE], ids=[k for k, _ in BAD_PRIVATE])
def test_bad_private_keys_raise_key_format_error(kind: str) -> None:
    with pytest.raises(KeyFormatError):
        KeyPair.from_pem(_bad_private(kind))


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pem"
    path.write_text("nope")
    with pytest.raises(KeyFormatError, match=r"broken\.pem"):
        KeyPair.load(path)
    with pytest.raises(KeyFormatError, match=r"missing\.pem: cannot read"):
        KeyPair.load(tmp_path / "missing.pem")


def test_key_id_is_stable_u32_and_distinct() -> None:
    kp = KeyPair.generate()
    pk = kp.public_key
    again = PublicKey.parse(pk.to_pem())
    assert pk.key_id == again.key_id
    assert 0 <= pk.key_id < 2**32
    # 32 bits: 21 random keys collide with probability ~5e-8.
    others = {KeyPair.generate().public_key.key_id for _ in range(20)}
    assert len(others | {pk.key_id}) == 21


def test_key_id_is_a_fixed_function_of_the_key() -> None:
    # Pinned so a change to the derivation (which would strand every issued token) is noticed.
    pk = PublicKey.parse("ed25519/" + "11" * 32)
    assert pk.key_id == 3570174604
    assert pk.key_id == int.from_bytes(hashlib.sha256(pk.to_string().encode()).digest()[:4], "big")


def test_keyset_picks_key_by_id_and_refuses_unknown() -> None:
    a, b = KeyPair.generate().public_key, KeyPair.generate(Algorithm.SECP256R1).public_key
    keys = KeySet.of(a, b.to_string())
    assert len(keys) == 2
    assert keys.for_token(a.key_id) == a
    assert keys.for_token(b.key_id) == b
    assert keys[b.key_id] == b
    with pytest.raises(UnknownKeyIdError, match="12345"):
        keys.for_token(12345)
    # Without an id there is no safe choice among several keys.
    with pytest.raises(UnknownKeyIdError, match="none"):
        keys.for_token(None)
    assert KeySet.of(a).for_token(None) == a
    assert KeySet.coerce(a) == KeySet.of(a)
    assert KeySet.coerce(keys) is keys


def test_keyset_is_immutable() -> None:
    keys = KeySet.of(KeyPair.generate().public_key)
    with pytest.raises(TypeError):
        keys[1] = KeyPair.generate().public_key  # type: ignore[index]
    assert hash(keys) == hash(KeySet.of(*keys.values()))


def test_saved_file_never_world_readable_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        KeyPair.generate().save(tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
