"""A standalone service's policy directory (``PolicyDirSource``) changing while it compiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hessra_core import pki
from hessra_core.keys import KeyPair
from hessra_core.policy import validate
from hessra_core.policy.snapshot import Snapshot, compile_policy_dir
from hessra_core.service.policy_source import PolicyDirSource

CA = pki.create_ca().cert_pem.decode()
SIGNER_KEY = KeyPair.generate().public_key.to_string()
HEADER = 'version = "0.2.0"\n'


def _clients(*subjects: str) -> str:
    blocks = "".join(
        f'[[clients]]\nidentifier = {{ type = "san_uri", value = "{s}" }}\n'
        'resources = [{ name = "exports", operations = ["read"] }]\n'
        for s in subjects
    )
    return f"{HEADER}[cacerts]\ncert_chain = '''{CA}'''\n{blocks}"


BEFORE = {
    "resources.toml": f"{HEADER}[resources.exports]\n",
    "clients.toml": _clients("spiffe://acme/gateway"),
}
# One change, made together: exports now needs legal's sign-off, and a partner may read it.
AFTER = {
    "resources.toml": f'{HEADER}[resources.exports]\ntype = "multi_party"\n'
    f'required_signers = [{{ name = "legal", url = "legal.acme:8443", '
    f'public_key = "{SIGNER_KEY}" }}]\n',
    "clients.toml": _clients("spiffe://acme/gateway", "spiffe://partner/app"),
}


def _write_atomically(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        tmp = directory / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(directory / name)
    return directory


async def test_a_change_landing_mid_compile_is_never_applied_half_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _write_atomically(tmp_path / "policy", BEFORE)
    before = compile_policy_dir(_write_atomically(tmp_path / "before", BEFORE)).digest
    after = compile_policy_dir(_write_atomically(tmp_path / "after", AFTER)).digest

    # The edit lands after resources.toml was read and before clients.toml is: the moment
    # that would pair the old resources (no sign-off) with the new clients (the partner).
    real_parse_resources = validate.parse_resources
    landed: list[bool] = []

    def parse_then_edit(*args: Any, **kwargs: Any) -> Any:
        result = real_parse_resources(*args, **kwargs)
        if not landed:
            landed.append(True)
            _write_atomically(policy, AFTER)
        return result

    monkeypatch.setattr(validate, "parse_resources", parse_then_edit)
    got: list[Snapshot] = []
    source = PolicyDirSource(policy, got.append, interval=60)
    assert await source.load_once() is True
    assert landed
    assert got[0].digest in (before, after), "applied a mix of two states of the directory"
    assert got[0].revision == f"dir:{policy.resolve()}"
    await source.load_once()  # the next poll sees the edit
    assert got[-1].digest == after
