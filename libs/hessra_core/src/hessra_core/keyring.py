"""An issuer's signing keys: one active key that signs, older keys still published.

Rotation works by publishing first and signing later: add the new key as a
signing key (not yet active) so verifiers learn it from ``GetPublicKeys``, then
make it active; keep the old public key in ``verify_files`` until every token it
signed has expired (at most 10 minutes). Tokens carry their root key id, so a
verifier holding the whole :attr:`Keyring.keys` set picks the right key.

Loading reports every unreadable or malformed file at once as a ``ConfigError``;
messages name the file, never its contents.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hessra_core.errors import ConfigError, KeyFormatError
from hessra_core.keys import KeyPair, KeySet, PublicKey


@dataclass(frozen=True)
class Keyring:
    """The active signing key plus every public key verifiers should accept."""

    active: KeyPair
    published: tuple[PublicKey, ...]  # the active key first, no duplicates

    @property
    def keys(self) -> KeySet:
        return KeySet.of(*self.published)

    @property
    def active_key_id(self) -> int:
        return self.active.public_key.key_id

    @classmethod
    def of(cls, active: KeyPair, *others: PublicKey | KeyPair) -> Keyring:
        published = [active.public_key]
        for other in others:
            key = other.public_key if isinstance(other, KeyPair) else other
            if key not in published:
                published.append(key)
        return cls(active, tuple(published))

    @classmethod
    def load(
        cls,
        signing_files: Sequence[str | os.PathLike[str]],
        verify_files: Sequence[str | os.PathLike[str]] = (),
        *,
        active_key_id: int = 0,
    ) -> Keyring:
        """Read private keys (PKCS#8 PEM) and public keys (``ed25519/<hex>`` or PEM).

        ``active_key_id`` 0 means the first signing key; otherwise it must be the key id
        of one of the signing keys.
        """
        problems: list[str] = []
        signing: list[KeyPair] = []
        for path in signing_files:
            try:
                signing.append(KeyPair.load(path))
            except KeyFormatError as exc:
                problems.append(exc.message)
        verifying: list[PublicKey] = []
        for path in verify_files:
            try:
                verifying.append(PublicKey.parse(Path(path).read_text(encoding="ascii")))
            except OSError as exc:
                problems.append(f"{path}: cannot read public key: {exc.strerror}")
            except UnicodeDecodeError:
                # Its text would quote a byte of the file, which may be a secret key.
                problems.append(f"{path}: public key file is not ASCII text")
            except KeyFormatError as exc:
                problems.append(f"{path}: {exc}")
        if not signing_files:
            problems.append("at least one signing key file is required")
        active: KeyPair | None = signing[0] if signing else None
        if active_key_id and signing:
            matches = [k for k in signing if k.public_key.key_id == active_key_id]
            if matches:
                active = matches[0]
            else:
                ids = ", ".join(str(k.public_key.key_id) for k in signing)
                problems.append(
                    f"active key id {active_key_id} is not one of the signing keys ({ids})"
                )
        if problems or active is None:
            raise ConfigError(problems, source="signing keys")
        return cls.of(active, *signing, *verifying)

    def __repr__(self) -> str:
        return f"Keyring(active={self.active_key_id}, published={len(self.published)})"


__all__ = ["Keyring"]
