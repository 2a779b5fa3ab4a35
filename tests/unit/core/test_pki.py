from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from hessra_core.pki import SubjectNames, create_ca, issue_cert


def test_ca_is_a_ca_and_key_is_hidden_from_repr():
    ca = create_ca("Test CA")
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True
    assert b"PRIVATE KEY" in ca.key_pem
    assert "PRIVATE" not in repr(ca)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (SubjectNames(uris=["urn:service:api"]), ["urn:service:api"]),
        (SubjectNames(dns=["worker-1.internal.com"]), ["worker-1.internal.com"]),
        (SubjectNames(emails=["ops@example.com"]), ["ops@example.com"]),
    ],
    ids=["uri", "dns", "email"],
)
def test_leaf_carries_its_names_and_chains_to_the_ca(names, expected):
    ca = create_ca()
    leaf = issue_cert(ca, "leaf", names, serial=1234567890)
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [n.value for n in san] == expected
    assert leaf.cert.serial_number == 1234567890
    leaf.cert.verify_directly_issued_by(ca.cert)


def test_ip_names_and_validity_window():
    ca = create_ca()
    start = datetime.now(UTC) - timedelta(days=10)
    end = datetime.now(UTC) - timedelta(days=1)
    leaf = issue_cert(ca, "ip", SubjectNames(ips=["10.0.0.7"]), not_before=start, not_after=end)
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert str(san[0].value) == "10.0.0.7"
    assert leaf.cert.not_valid_after_utc < datetime.now(UTC)
