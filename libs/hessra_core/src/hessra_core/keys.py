"""Signing keys: the only module that handles private key material.

Public keys travel as text in Hessra's notation, ``ed25519/<hex>`` or
``secp256r1/<hex>`` (the SEC1 compressed point), or as PEM
(SubjectPublicKeyInfo) where a tool wants PEM. Private keys live in PKCS#8 PEM
files written with mode 0600; they never appear in a repr, a log line or an
error message.

Each public key has a ``key_id``: a stable u32 derived from the key bytes. It is
written into tokens as the biscuit root key id, so a verifier holding several
keys (during rotation) picks the right one without trying them all.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import biscuit_auth as _biscuit_auth
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from hessra_core.errors import KeyFormatError, UnknownKeyIdError

# The shipped biscuit_auth stubs lag the 0.4 API (Algorithm, from_bytes(data, alg)).
biscuit_auth: Any = _biscuit_auth

_PEM_MARKER = "-----BEGIN"
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")


class Algorithm(enum.Enum):
    """Signature algorithms a root or signer key may use."""

    ED25519 = "ed25519"
    SECP256R1 = "secp256r1"

    def to_biscuit(self) -> Any:
        if self is Algorithm.ED25519:
            return biscuit_auth.Algorithm.Ed25519
        return biscuit_auth.Algorithm.Secp256r1


def _public_from_crypto(key: object) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return PublicKey(Algorithm.ED25519, raw)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        raw = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        return PublicKey(Algorithm.SECP256R1, raw)
    raise KeyFormatError(
        f"unsupported public key type {type(key).__name__}: expected Ed25519 or EC P-256"
    )


def _public_from_raw(algorithm: Algorithm, raw: bytes) -> PublicKey:
    """Validate raw key bytes by loading them, and normalise P-256 points to compressed form."""
    try:
        if algorithm is Algorithm.ED25519:
            if len(raw) != 32:
                raise ValueError("length")
            key: object = ed25519.Ed25519PublicKey.from_public_bytes(raw)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        expected = "32 bytes" if algorithm is Algorithm.ED25519 else "a SEC1 point on P-256"
        raise KeyFormatError(
            f"invalid {algorithm.value} public key: {len(raw)} bytes is not {expected}"
        ) from exc
    return _public_from_crypto(key)


@dataclass(frozen=True)
class PublicKey:
    """A root or signer public key. Compare, hash and print it freely."""

    algorithm: Algorithm
    raw: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str | bytes) -> PublicKey:
        """Parse ``ed25519/<hex>``, ``secp256r1/<hex>`` or a PEM SubjectPublicKeyInfo."""
        if isinstance(text, bytes):
            try:
                text = text.decode("ascii")
            except UnicodeDecodeError as exc:
                raise KeyFormatError("public key is not ASCII text") from exc
        stripped = text.strip()
        if stripped.startswith(_PEM_MARKER):
            return cls._parse_pem(stripped)
        prefix, sep, hex_part = stripped.partition("/")
        if not sep:
            raise KeyFormatError(
                "public key must look like 'ed25519/<hex>', 'secp256r1/<hex>' or be PEM"
            )
        try:
            algorithm = Algorithm(prefix.lower())
        except ValueError:
            raise KeyFormatError(
                f"unknown key algorithm {prefix[:20]!r}: expected 'ed25519' or 'secp256r1'"
            ) from None
        try:
            raw = bytes.fromhex(hex_part)
        except ValueError:
            raise KeyFormatError(f"{algorithm.value} public key is not valid hex") from None
        return _public_from_raw(algorithm, raw)

    @staticmethod
    def _parse_pem(pem: str) -> PublicKey:
        if _PEM_PRIVATE.search(pem):
            # Refuse without echoing anything: this is someone's secret. The
            # private key need not come first (`openssl ecparam -genkey` writes
            # EC PARAMETERS before it), so look at every BEGIN line.
            raise KeyFormatError("expected a public key but got a PEM private key")
        try:
            key = serialization.load_pem_public_key(pem.encode("ascii"))
        except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
            raise KeyFormatError("invalid PEM public key (expected SubjectPublicKeyInfo)") from exc
        return _public_from_crypto(key)

    def to_string(self) -> str:
        return self._text

    # Keys are compared, hashed and printed on every verification (cache keys,
    # chain lookups), so both are computed once per key object.
    @cached_property
    def _text(self) -> str:
        return f"{self.algorithm.value}/{self.raw.hex()}"

    @cached_property
    def _hash(self) -> int:
        return hash((self.algorithm, self.raw))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"PublicKey({self.to_string()!r})"

    def to_pem(self) -> str:
        key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
        if self.algorithm is Algorithm.ED25519:
            key = ed25519.Ed25519PublicKey.from_public_bytes(self.raw)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.raw)
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    @cached_property
    def key_id(self) -> int:
        """A stable u32 naming this key; written into tokens as the root key id."""
        digest = hashlib.sha256(self.to_string().encode("ascii")).digest()
        return int.from_bytes(digest[:4], "big")

    @cached_property
    def _biscuit(self) -> Any:
        return biscuit_auth.PublicKey.from_bytes(self.raw, self.algorithm.to_biscuit())

    def to_biscuit(self) -> Any:
        """The biscuit_auth.PublicKey, parsed once and cached on this object."""
        return self._biscuit


class KeyPair:
    """A private key with its public half. Only ``private_pem()`` reveals the secret as
    text; the biscuit key objects handed to the token engine must never be logged."""

    __slots__ = ("_biscuit", "_biscuit_private", "_private", "public_key")

    def __init__(self, private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self._private = private
        self.public_key: PublicKey = _public_from_crypto(private.public_key())
        if isinstance(private, ed25519.Ed25519PrivateKey):
            raw = private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        else:
            raw = private.private_numbers().private_value.to_bytes(32, "big")
        biscuit_private = biscuit_auth.PrivateKey.from_bytes(
            raw, self.public_key.algorithm.to_biscuit()
        )
        self._biscuit = biscuit_auth.KeyPair.from_private_key(biscuit_private)
        self._biscuit_private = biscuit_private

    @classmethod
    def generate(cls, algorithm: Algorithm = Algorithm.ED25519) -> KeyPair:
        if algorithm is Algorithm.ED25519:
            return cls(ed25519.Ed25519PrivateKey.generate())
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, data: str | bytes) -> KeyPair:
        """Load a PKCS#8 (or SEC1 ``EC PRIVATE KEY``) PEM, unencrypted."""
        if isinstance(data, str):
            data = data.encode("utf-8", errors="replace")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # `from None`: the cause's text could quote bytes of the secret.
            raise KeyFormatError("invalid PEM private key (expected unencrypted PKCS#8)") from None
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return cls(key)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            return cls(key)
        raise KeyFormatError(
            f"unsupported private key type {type(key).__name__}: expected Ed25519 or EC P-256"
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyPair:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise KeyFormatError(f"{p}: cannot read private key: {exc.strerror}") from None
        try:
            return cls.from_pem(data)
        except KeyFormatError as exc:
            raise KeyFormatError(f"{p}: {exc.message}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the private key as PKCS#8 PEM, mode 0600, atomically (temp file + rename)."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.private_pem().encode("ascii"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def private_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM. Handle with care."""
        pem = self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return pem.decode("ascii")

    @property
    def algorithm(self) -> Algorithm:
        return self.public_key.algorithm

    def to_biscuit(self) -> Any:
        """The biscuit_auth.KeyPair used for signing (its repr shows the secret: never log it)."""
        return self._biscuit

    def biscuit_private_key(self) -> Any:
        """The biscuit_auth.PrivateKey that signs tokens, kept rather than copied out of the
        KeyPair on every mint (never log it)."""
        return self._biscuit_private

    def __repr__(self) -> str:
        return f"KeyPair(public_key={self.public_key.to_string()!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would copy the secret into whatever stores the pickle.
        raise TypeError("KeyPair cannot be pickled; save it with .save(path)")


class KeySet(Mapping[int, PublicKey]):
    """An immutable set of trusted public keys, looked up by key id.

    A token names its root key by id. A token with no id is accepted only when
    the set holds exactly one key: with several keys there is no safe way to
    pick, and trying each in turn would make the verifier's answer depend on
    key order.
    """

    __slots__ = ("_hash", "_keys")

    def __init__(self, keys: Mapping[int, PublicKey]) -> None:
        self._keys = dict(keys)
        # Verified tokens are cached per key set, so hashing must be cheap.
        self._hash = hash(frozenset(self._keys.items()))

    @classmethod
    def of(cls, *keys: PublicKey | str) -> KeySet:
        """A set of ``keys`` (objects or text), each under its own ``key_id``.

        Two different keys sharing an id (a 32-bit collision) raise
        ``KeyFormatError``: keeping either would silently distrust the other.
        """
        by_id: dict[int, PublicKey] = {}
        for item in keys:
            key = item if isinstance(item, PublicKey) else PublicKey.parse(item)
            held = by_id.setdefault(key.key_id, key)
            if held != key:
                raise KeyFormatError(
                    f"keys {held} and {key} share key id {key.key_id}: "
                    "a token's root key id could not tell them apart"
                )
        return cls(by_id)

    @classmethod
    def coerce(cls, keys: PublicKey | KeySet | str) -> KeySet:
        if isinstance(keys, KeySet):
            return keys
        return cls.of(keys)

    def __getitem__(self, key_id: int) -> PublicKey:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeySet):
            return self._keys == other._keys
        return NotImplemented

    def for_token(self, root_key_id: int | None) -> PublicKey:
        """The key that must have signed a token carrying ``root_key_id``."""
        if root_key_id is None:
            if len(self._keys) == 1:
                return next(iter(self._keys.values()))
            raise UnknownKeyIdError(None)
        try:
            return self._keys[root_key_id]
        except KeyError:
            raise UnknownKeyIdError(root_key_id) from None

    def __repr__(self) -> str:
        return f"KeySet({', '.join(k.to_string() for k in self._keys.values())})"


__all__ = ["Algorithm", "KeyPair", "KeySet", "PublicKey"]
