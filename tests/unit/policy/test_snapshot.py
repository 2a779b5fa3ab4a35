"""Compiled snapshots: decisions, digests, and the protobuf round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra.v1 import policy_pb2
from hessra_core.errors import PolicyError
from hessra_core.keys import KeyPair
from hessra_core.policy import (
    CommitInfo,
    DenyReason,
    Mechanism,
    Snapshot,
    compile_policy_dir,
)
from hessra_core.x509_identity import PresentedIdentities

from .conftest import Material
from .helpers import write_tree

K1, K2, K3 = (KeyPair.generate().public_key.to_string() for _ in range(3))

CLIENTS = '''version = "0.2.0"
[cacerts]
cert_chain = """@CA@"""

[[clients]]
identifier = { type = "san_uri", value = "uri:urn:service:api-gateway" }
resources = [
  { name = "users", operations = ["read", "write"] },
  { name = "payments", operations = ["charge"] },
]

[[clients]]
identifier = { type = "san_dns", value = "worker-*.internal.com" }
resources = [{ name = "*", operations = ["read"] }, { name = "queue", operations = ["*"] }]

[[clients]]
identifier = { type = "serial", value = "0x2a" }
identity_token_enabled = true
identity_token_duration = 900
'''

RESOURCES_SHORT = f'''version = "0.2.0"
[resources.users]
[resources.queue]
token_lifetime = 60

[resources.payments]
type = "service_chain"
nodes = [
  {{ component = "api_gateway", public_key = "{K1}" }},
  {{ component = "fraud_detection", public_key = "{K2}" }},
]

[resources.exports]
mechanisms = ["multi_party", "service_chain"]
[resources.exports.service_chain]
nodes = [{{ component = "api_gateway", public_key = "{K1}" }}]
[resources.exports.multi_party]
required_signers = [{{ name = "legal", url = "legal.example.com:8443", public_key = "{K3}" }}]
'''

# The same policy, written differently: long form, other key order, comments, client order.
RESOURCES_LONG = f'''# resources, long form
[resources.exports.multi_party]
required_signers = [{{ public_key = "{K3}", url = "legal.example.com:8443", name = "legal" }}]
[resources.exports.service_chain]
nodes = [{{ public_key = "{K1}", component = "api_gateway" }}]
[resources.exports]
mechanisms = ["service_chain", "multi_party"]

[resources.payments]
mechanisms = ["service_chain"]
[resources.payments.service_chain]
nodes = [
  {{ public_key = "{K1}", component = "api_gateway" }},   # edge
  {{ component = "fraud_detection", public_key = "{K2}" }},
]
[resources.queue]
token_lifetime = 60
[resources.users]
'''


@pytest.fixture
def snapshot(material: Material, tmp_path: Path) -> Snapshot:
    tree = write_tree(tmp_path / "p", material.render(CLIENTS), RESOURCES_SHORT)
    return compile_policy_dir(tree, revision="main@sha1:" + "ab" * 20)


GATEWAY = PresentedIdentities.of(uris=["urn:service:api-gateway"])
WORKER = PresentedIdentities.of(dns=["worker-7.internal.com"])


def test_allowed_decision_carries_mechanisms_and_lifetime(snapshot: Snapshot):
    d = snapshot.decide(GATEWAY, "payments", "charge")
    assert d.allowed
    assert d.reason is None
    assert d.subject == "uri:urn:service:api-gateway"
    assert d.mechanisms == (Mechanism.SERVICE_CHAIN,)
    assert [n.component for n in d.service_chain] == ["api_gateway", "fraud_detection"]
    assert d.required_signers == ()
    assert d.lifetime == 300


@pytest.mark.parametrize(
    ("who", "resource", "operation", "allowed", "reason"),
    [
        ("gateway", "users", "write", True, None),
        ("gateway", "users", "delete", False, DenyReason.OPERATION_NOT_GRANTED),
        ("gateway", "queue", "read", False, DenyReason.RESOURCE_NOT_GRANTED),
        ("gateway", "nonexistent", "read", False, DenyReason.RESOURCE_NOT_GRANTED),
        ("worker", "users", "read", True, None),
        ("worker", "users", "write", False, DenyReason.OPERATION_NOT_GRANTED),
        ("worker", "queue", "purge", True, None),
        ("worker", "nonexistent", "read", False, DenyReason.RESOURCE_NOT_GRANTED),
        ("stranger", "users", "read", False, DenyReason.UNKNOWN_CLIENT),
    ],
    ids=lambda v: str(v),
)
def test_decision_table(snapshot: Snapshot, who, resource, operation, allowed, reason):
    presented = {
        "gateway": GATEWAY,
        "worker": WORKER,
        "stranger": PresentedIdentities.of(dns=["evil.example.com"]),
    }[who]
    d = snapshot.decide(presented, resource, operation)
    assert (d.allowed, d.reason) == (allowed, reason), d.message
    if not allowed:
        assert resource in d.message or "no client" in d.message


def test_mixed_mechanisms_and_lifetime(snapshot: Snapshot):
    exports = snapshot.resource("exports")
    assert exports is not None
    assert set(exports.mechanisms) == {Mechanism.SERVICE_CHAIN, Mechanism.MULTI_PARTY}
    assert exports.required_signers[0].url == "legal.example.com:8443"
    queue = snapshot.resource("queue")
    assert queue is not None
    assert queue.lifetime == 60


def test_identity_token_settings_and_subject_lookup(snapshot: Snapshot):
    match = snapshot.match(PresentedIdentities.of(serial=42))
    assert match is not None
    assert match.subject == "42"
    assert match.client.identity_token_enabled
    assert match.client.identity_token_duration == 900
    assert snapshot.decide_subject("worker-9.internal.com", "users", "read").allowed
    assert snapshot.decide_subject("uri:urn:service:api-gateway", "users", "read").allowed
    assert not snapshot.decide_subject("nobody", "users", "read").allowed


def test_digest_ignores_spelling(material: Material, tmp_path: Path, snapshot: Snapshot):
    clients = material.render(CLIENTS)
    blocks = clients.split("[[clients]]")
    reordered = blocks[0] + "[[clients]]" + "[[clients]]".join(reversed(blocks[1:]))
    reordered = reordered.replace('"read", "write"', '"write", "read"') + "\n# trailing comment\n"
    other = compile_policy_dir(write_tree(tmp_path / "q", reordered, RESOURCES_LONG))
    assert other.digest == snapshot.digest
    assert other.revision.startswith("dir:")


def test_digest_changes_with_a_grant(material: Material, tmp_path: Path, snapshot: Snapshot):
    changed = material.render(CLIENTS).replace('"charge"', '"charge", "refund"')
    other = compile_policy_dir(write_tree(tmp_path / "q", changed, RESOURCES_SHORT))
    assert other.digest != snapshot.digest


def test_chain_order_changes_the_digest(material: Material, tmp_path: Path, snapshot: Snapshot):
    gateway = f'{{ component = "api_gateway", public_key = "{K1}" }},'
    fraud = f'{{ component = "fraud_detection", public_key = "{K2}" }},'
    swapped = RESOURCES_SHORT.replace(f"{gateway}\n  {fraud}", f"{fraud}\n  {gateway}")
    assert swapped != RESOURCES_SHORT
    other = compile_policy_dir(write_tree(tmp_path / "q", material.render(CLIENTS), swapped))
    assert other.digest != snapshot.digest


def test_proto_round_trip(snapshot: Snapshot):
    message = snapshot.to_proto()
    wire = policy_pb2.PolicySnapshot.FromString(message.SerializeToString())
    back = Snapshot.from_proto(wire)
    assert back.digest == snapshot.digest
    assert back.revision == snapshot.revision
    assert back.policy == snapshot.policy
    assert back.warnings == snapshot.warnings
    assert back.ca_certs == snapshot.ca_certs
    assert back.decide(WORKER, "queue", "x") == snapshot.decide(WORKER, "queue", "x")


def test_proto_round_trip_keeps_commit(material: Material, tmp_path: Path):
    tree = write_tree(tmp_path / "p", material.render(CLIENTS), RESOURCES_SHORT)
    commit = CommitInfo("cd" * 20, "Ann <ann@example.com>", None, "grant payments")
    snap = compile_policy_dir(tree, commit=commit)
    back = Snapshot.from_proto(snap.to_proto())
    assert back.commit == commit
    assert back.revision == f"HEAD@sha1:{'cd' * 20}"


def _tamper_operation(m: policy_pb2.PolicySnapshot) -> None:
    m.clients[0].resources[0].operations.append("delete")


def _tamper_digest(m: policy_pb2.PolicySnapshot) -> None:
    m.digest = "sha256:" + "0" * 64


def _tamper_key(m: policy_pb2.PolicySnapshot) -> None:
    m.resources[1].service_chain.nodes[0].public_key = "ed25519/00"


def _tamper_identifier(m: policy_pb2.PolicySnapshot) -> None:
    m.clients[0].identifier.type = policy_pb2.Identifier.TYPE_UNSPECIFIED


def _tamper_ca(m: policy_pb2.PolicySnapshot) -> None:
    m.ca_certs = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    "tamper",
    [_tamper_operation, _tamper_digest, _tamper_key, _tamper_identifier, _tamper_ca],
    ids=["operation", "digest", "key", "identifier-type", "ca"],
)
def test_tampered_message_is_refused(snapshot: Snapshot, tamper):
    message = snapshot.to_proto()
    tamper(message)
    with pytest.raises(PolicyError):
        Snapshot.from_proto(message)


def test_compile_raises_policy_error_with_diagnostics(tmp_path: Path):
    tree = write_tree(tmp_path / "bad", 'version = "9"\n', None)
    with pytest.raises(PolicyError) as info:
        compile_policy_dir(tree)
    assert any("unsupported policy version" in str(d) for d in info.value.diagnostics)


@pytest.mark.parametrize("version", ["0.3.0", "1.0.0", ""], ids=["newer", "major", "missing"])
def test_snapshot_of_another_policy_version_is_refused(snapshot: Snapshot, version: str):
    # What a newer (or broken) policy-sync would send: self-consistent, digest and all. Its
    # meaning may rest on fields this release drops unseen, so serving it could fail open.
    from dataclasses import replace

    from hessra_core.policy.digest import policy_digest

    message = snapshot.to_proto()
    message.version = version
    message.digest = policy_digest(replace(snapshot.policy, version=version))
    with pytest.raises(PolicyError) as info:
        Snapshot.from_proto(message)
    assert f"policy version `{version}`" in info.value.message
    assert "0.2.0" in info.value.message
