"""Identifier values no certificate can carry are refused when the policy is validated.

A client certificate's IP SAN has no IPv6 zone and its rfc822Name is ASCII. A policy
`fe80::1%eth0` compiled and then refused the certificate it names; a policy domain with
the Kelvin sign compiled and, folded to ASCII by ``str.lower``, matched `k.test`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core.errors import PolicyError
from hessra_core.x509_identity import PresentedIdentities

from .helpers import client_block, snapshot_of

REFUSED = [
    ("ipv6-zone", "san_ip", "fe80::1%eth0", "without its `%zone`"),
    ("mapped-ipv4-zone", "san_ip", "::ffff:10.0.0.1%1", "without its `%zone`"),
    ("email-kelvin-domain", "san_email", "ops@\u212a.test", "punycode"),
    ("email-non-ascii-local", "san_email", "\u00f6ps@k.test", "punycode"),
]


@pytest.mark.parametrize(
    ("kind", "value", "hint"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_unmatchable_value_is_an_error(kind: str, value: str, hint: str, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        snapshot_of(tmp_path, client_block(kind, value))
    assert f"invalid {kind}" in str(info.value)
    assert hint in str(info.value)


ACCEPTED = [
    ("ipv6", "san_ip", "fe80::1", {"ips": ["fe80:0::1"]}),
    ("email-upper-domain", "san_email", "ops@K.test", {"emails": ["ops@k.test"]}),
]


@pytest.mark.parametrize(
    ("kind", "value", "presented"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED]
)
def test_plain_values_still_match(
    kind: str, value: str, presented: dict[str, list[str]], tmp_path: Path
) -> None:
    snapshot = snapshot_of(tmp_path, client_block(kind, value))
    assert snapshot.decide(PresentedIdentities.of(**presented), "users", "read").allowed
