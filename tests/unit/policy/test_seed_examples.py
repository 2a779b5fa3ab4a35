"""Every policy example of the product documentation, as written there.

With their truncated certificates and keys replaced by generated ones, each is valid
(warnings allowed); left as published, each fails with an error about the certificate or
the key, never with a crash or a confusing message.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hessra_core.keys import KeyPair
from hessra_core.policy import Severity, compile_policy_dir, validate_policy_dir

from .conftest import SEED, Material

EXAMPLES = sorted(p.name for p in SEED.iterdir() if p.is_dir())
_CERT_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.DOTALL)
_KEY = re.compile(r'public_key = "([^"]*)"')
_MIXED_TODO = "# Configuration for both mechanisms..."


def _mixed_config() -> str:
    k1, k2 = (KeyPair.generate().public_key.to_string() for _ in range(2))
    return (
        "[resources.sensitive_operation.service_chain]\n"
        f'nodes = [{{ component = "gateway", public_key = "{k1}" }}]\n'
        "[resources.sensitive_operation.multi_party]\n"
        f'required_signers = [{{ name = "legal", url = "https://legal.example.com", '
        f'public_key = "{k2}" }}]\n'
    )


def realise(text: str, material: Material, keys: dict[str, str]) -> str:
    """Swap the documentation's placeholder certificates and keys for real ones."""
    text = _CERT_BLOCK.sub(lambda _: material.values["CA"].strip(), text)

    def key(m: re.Match[str]) -> str:
        original = m.group(1)
        if original not in keys or original == "...":  # each bare "..." elides its own key
            keys[original] = KeyPair.generate().public_key.to_string()
        return f'public_key = "{keys[original]}"'

    return _KEY.sub(key, text).replace(_MIXED_TODO, _mixed_config())


def _copy(example: str, dest: Path, transform: object = None) -> Path:
    dest.mkdir()
    for file in (SEED / example).iterdir():
        text = file.read_text()
        (dest / file.name).write_text(transform(text) if callable(transform) else text)
    return dest


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_with_real_material_is_valid(example: str, material: Material, tmp_path: Path):
    keys: dict[str, str] = {}
    tree = _copy(example, tmp_path / example, lambda t: realise(t, material, keys))
    diagnostics = validate_policy_dir(tree)
    assert [str(d) for d in diagnostics if d.severity is Severity.ERROR] == []
    snapshot = compile_policy_dir(tree)
    assert snapshot.digest.startswith("sha256:")
    assert snapshot.revision == f"dir:{tree.resolve()}"
    assert snapshot.clients


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_as_published_fails_on_its_placeholders(example: str, tmp_path: Path):
    tree = _copy(example, tmp_path / example)
    errors = [d for d in validate_policy_dir(tree) if d.severity is Severity.ERROR]
    assert errors, "each published example carries at least one placeholder"
    for d in errors:
        about_material = "certificate" in d.message or "public key" in d.message
        unfinished_mixed = example == "full_resources" and "is listed but" in d.message
        assert about_material or unfinished_mixed, str(d)
