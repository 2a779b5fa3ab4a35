"""policy-sync's ``server.resync_allowed``: each entry names one SAN of one type.

An entry is typed (``uri:``, ``dns:``, ``email:``, ``ip:``) or read by its form; it never
matches a certificate name of another type, and a URI is compared exactly (the old forms
lower-cased every entry, so ``spiffe://OPS/Admin`` let ``spiffe://ops/admin`` in, and a
URI SAN ``ops.example.com`` passed for the DNS entry ``ops.example.com``).
"""

from __future__ import annotations

import pytest

from hessra_core import pki
from hessra_policy_sync.servicer import allowed_names, presented_names

_CA = pki.create_ca("resync allow-list test CA")
CERTS = {
    "every-kind": pki.SubjectNames(
        uris=["spiffe://ops/admin"],
        dns=["Admin.Ops.Test"],
        emails=["ops@Example.test"],
        ips=["10.0.0.9"],
    ),
    "uri-looks-like-host": pki.SubjectNames(uris=["ops.example.com", "urn:x:ops.example.com"]),
    "dns-looks-like-ip": pki.SubjectNames(dns=["10.0.0.9"]),
    "uri-with-capitals": pki.SubjectNames(uris=["spiffe://ops/Admin"]),
}

# (certificate, entry, allowed?)
ROWS = [
    ("every-kind", "spiffe://ops/admin", True),
    ("every-kind", "uri:spiffe://ops/admin", True),
    ("every-kind", "URI:spiffe://ops/admin", True),
    ("every-kind", "spiffe://OPS/Admin", False),
    ("every-kind", "spiffe://ops/admin/", False),
    ("every-kind", "admin.ops.test", True),
    ("every-kind", "ADMIN.ops.test.", True),
    ("every-kind", "dns:admin.ops.test", True),
    ("every-kind", "uri:admin.ops.test", False),
    ("every-kind", "email:admin.ops.test", False),
    ("every-kind", "ops@example.test", True),
    ("every-kind", "email:ops@EXAMPLE.test", True),
    ("every-kind", "Ops@example.test", False),
    ("every-kind", "10.0.0.9", True),
    ("every-kind", "ip:10.0.0.9", True),
    ("every-kind", "::ffff:10.0.0.9", True),
    ("every-kind", "dns:10.0.0.9", False),
    ("every-kind", "ip:admin.ops.test", False),
    ("every-kind", "ops", False),
    ("every-kind", "*", False),
    ("every-kind", "", False),
    ("uri-looks-like-host", "ops.example.com", False),
    ("uri-looks-like-host", "dns:ops.example.com", False),
    ("uri-looks-like-host", "urn:x:ops.example.com", True),
    ("dns-looks-like-ip", "10.0.0.9", False),
    ("dns-looks-like-ip", "ip:10.0.0.9", False),
    ("dns-looks-like-ip", "dns:10.0.0.9", True),
    ("uri-with-capitals", "spiffe://ops/admin", False),
    ("uri-with-capitals", "uri:spiffe://ops/Admin", True),
]


@pytest.mark.parametrize(
    ("cert", "entry", "allowed"), ROWS, ids=[f"{cert}<-{entry!r}" for cert, entry, _ in ROWS]
)
def test_entry_matches_only_its_own_type(cert: str, entry: str, allowed: bool) -> None:
    certificate = pki.issue_cert(_CA, cert, CERTS[cert]).cert
    assert bool(presented_names(certificate) & allowed_names((entry,))) is allowed


def test_presented_names_say_their_type() -> None:
    certificate = pki.issue_cert(_CA, "every-kind", CERTS["every-kind"]).cert
    assert presented_names(certificate) == {
        "uri:spiffe://ops/admin",
        "dns:admin.ops.test",
        "email:ops@example.test",
        "ip:10.0.0.9",
    }
