"""A PolicySnapshot survives bytes and JSON unchanged, including optional-field presence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import json_format, timestamp_pb2

from hessra.v1 import common_pb2, policy_pb2

KEY_A = "ed25519/e57618058b1d2e0381a9813c1405830d5ed7d603717384ef555d9cc0cfa65d83"
KEY_B = "ed25519/78ef4255c4c9ab5c7186d6db4760758b06616c042a2538323ae3b058094034b6"
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _ts(text: str) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(datetime.fromisoformat(text).astimezone(UTC))
    return ts


def _client(kind, value, grants, **extra) -> policy_pb2.Client:
    return policy_pb2.Client(
        identifier=policy_pb2.Identifier(type=kind, value=value),
        resources=[policy_pb2.ResourceGrant(name=n, operations=ops) for n, ops in grants],
        **extra,
    )


CHAIN = policy_pb2.ServiceChain(
    nodes=[
        policy_pb2.ServiceNode(component="api_gateway", public_key=KEY_A),
        policy_pb2.ServiceNode(component="fraud_detection", public_key=KEY_B),
    ]
)
SIGNERS = policy_pb2.MultiParty(
    required_signers=[
        policy_pb2.RequiredSigner(name="legal_dept", url="https://legal.example", public_key=KEY_B)
    ]
)
SC, MP = policy_pb2.Resource.SERVICE_CHAIN, policy_pb2.Resource.MULTI_PARTY

CASES = {
    "empty": policy_pb2.PolicySnapshot(),
    "plain": policy_pb2.PolicySnapshot(
        revision="dir:/srv/policy",
        digest="sha256:" + "ab" * 32,
        version="0.2.0",
        ca_certs=CA_PEM,
        clients=[
            _client(policy_pb2.Identifier.SAN_URI, "uri:urn:svc:gw", [("users", ["read", "write"])])
        ],
        resources=[policy_pb2.Resource(name="users")],
    ),
    "every-field": policy_pb2.PolicySnapshot(
        revision="main@sha1:" + "0" * 40,
        digest="sha256:" + "cd" * 32,
        commit=policy_pb2.CommitInfo(
            sha="0" * 40,
            author="Ada <ada@example.com>",
            committed_at=_ts("2026-01-02T03:04:05+00:00"),
            message="Grant payments\n\nTicket: SEC-1",
        ),
        created_at=_ts("2026-01-02T03:04:06.5+00:00"),
        version="0.2.0",
        ca_certs=CA_PEM + CA_PEM,
        clients=[
            _client(policy_pb2.Identifier.SAN_DNS, "worker-*.internal.com", [("queue", ["read"])]),
            _client(policy_pb2.Identifier.SAN_EMAIL, "ops@example.com", []),
            _client(policy_pb2.Identifier.SAN_IP, "10.0.0.1", [("metrics", ["write"])]),
            _client(
                policy_pb2.Identifier.SERIAL,
                "1234567890",
                [("api", ["read"])],
                identity_token_enabled=True,
                identity_token_duration_seconds=3600,
            ),
        ],
        resources=[
            policy_pb2.Resource(name="chain", mechanisms=[SC], service_chain=CHAIN),
            policy_pb2.Resource(
                name="both",
                mechanisms=[SC, MP],
                token_lifetime_seconds=60,
                service_chain=CHAIN,
                multi_party=SIGNERS,
            ),
            policy_pb2.Resource(name="party", mechanisms=[MP], multi_party=SIGNERS),
        ],
        warnings=[
            common_pb2.Diagnostic(
                path="clients.toml",
                line=12,
                column=5,
                severity=common_pb2.Diagnostic.WARNING,
                message="wildcard `*` in san_dns",
                hint="list the hosts",
            )
        ],
    ),
}


@pytest.mark.parametrize("snapshot", CASES.values(), ids=CASES.keys())
def test_snapshot_round_trips_through_bytes(snapshot):
    data = snapshot.SerializeToString(deterministic=True)
    back = policy_pb2.PolicySnapshot.FromString(data)
    assert back == snapshot
    assert back.SerializeToString(deterministic=True) == data


@pytest.mark.parametrize("snapshot", CASES.values(), ids=CASES.keys())
def test_snapshot_round_trips_through_json(snapshot):
    back = json_format.Parse(json_format.MessageToJson(snapshot), policy_pb2.PolicySnapshot())
    assert back == snapshot


def test_optional_presence_survives_the_wire():
    snapshot = CASES["every-field"]
    back = policy_pb2.PolicySnapshot.FromString(snapshot.SerializeToString())
    presence = [
        (r.name, r.HasField("token_lifetime_seconds"), r.HasField("multi_party"))
        for r in back.resources
    ]
    assert presence == [("chain", False, False), ("both", True, True), ("party", False, True)]
    assert [c.HasField("identity_token_duration_seconds") for c in back.clients] == [
        False,
        False,
        False,
        True,
    ]
    assert back.warnings[0].HasField("hint")
    assert not common_pb2.Diagnostic().HasField("hint")


def test_a_changed_field_changes_the_bytes():
    # Guards the round-trip tests against comparing two empty encodings.
    changed = policy_pb2.PolicySnapshot()
    changed.CopyFrom(CASES["every-field"])
    changed.resources[1].service_chain.nodes[0].component = "cdn"
    assert changed.SerializeToString() != CASES["every-field"].SerializeToString()
    assert policy_pb2.PolicySnapshot.FromString(changed.SerializeToString()) != CASES["every-field"]


def test_enum_names_are_the_policy_spelling_in_upper_case():
    types = [v.name for v in policy_pb2.Identifier.Type.DESCRIPTOR.values[1:]]
    assert [t.lower() for t in types] == ["san_uri", "san_dns", "san_email", "san_ip", "serial"]
    mechanisms = [v.name for v in policy_pb2.Resource.Mechanism.DESCRIPTOR.values[1:]]
    assert [m.lower() for m in mechanisms] == ["service_chain", "multi_party"]
    assert policy_pb2.Identifier.Type.Value("SAN_DNS") == policy_pb2.Identifier.SAN_DNS
