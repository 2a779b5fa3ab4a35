"""A serial number names a certificate only within one CA.

``[cacerts]`` may trust several CAs, and each numbers its own certificates: a client
identified by ``serial`` is then any certificate with that serial from any of them. The
policy still applies, with a warning on the serial identifier; one CA (or one CA renewed
in place under the same name) gives none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core.policy import Severity, validate_policy_dir

from .conftest import Material
from .helpers import write_tree

HEADER = 'version = "0.2.0"\n'
SERIAL = '[[clients]]\nidentifier = { type = "serial", value = "0x2A" }\n'
URI = '[[clients]]\nidentifier = { type = "san_uri", value = "urn:a" }\n'

CASES = [
    ("two-cas-serial", "@CA@@CA2@", SERIAL, True),
    ("two-cas-uri", "@CA@@CA2@", URI, False),
    ("one-ca-serial", "@CA@", SERIAL, False),
    ("same-ca-twice-serial", "@CA@@CA@", SERIAL, False),
]


@pytest.mark.parametrize(
    ("chain", "client", "warned"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_serial_client_with_several_cas_is_a_warning(
    chain: str, client: str, warned: bool, material: Material, tmp_path: Path
) -> None:
    clients = HEADER + f'[cacerts]\ncert_chain = """{chain}"""\n' + client
    tree = write_tree(tmp_path / "p", material.render(clients), HEADER)
    diagnostics = validate_policy_dir(tree)
    assert not [d for d in diagnostics if d.severity is Severity.ERROR], diagnostics
    found = [str(d) for d in diagnostics if "unique only per CA" in d.message]
    assert bool(found) is warned, diagnostics
    if warned:
        assert found[0].startswith("clients.toml:")
        assert "warning: serial `42` is unique only per CA, and [cacerts] trusts 2" in found[0]
