"""Key material handling at the edges: files that are not what they claim, key id clashes.

A key file's contents never appear in an error (not even one byte of it), a
private key handed over as a public key is named as such wherever in the PEM it
sits, and a key set never silently drops one of two keys that share an id.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hessra_core.errors import ConfigError
from hessra_core.keyring import Keyring
from hessra_core.keys import KeyPair


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
