"""The generated services expose exactly the RPCs of DESIGN.md §6, with the agreed shapes."""

from __future__ import annotations

import pytest

from hessra.v1 import (
    issuer_pb2,
    issuer_pb2_grpc,
    policy_pb2,
    policy_pb2_grpc,
    signer_pb2,
    signer_pb2_grpc,
)

UNARY, SERVER_STREAM = "unary", "server-stream"

# service -> {rpc: (request type, response type, kind)}
EXPECTED = {
    "Issuer": {
        "RequestToken": ("RequestTokenRequest", "RequestTokenResponse", UNARY),
        "RequestIdentityToken": (
            "RequestIdentityTokenRequest",
            "RequestIdentityTokenResponse",
            UNARY,
        ),
        "RefreshIdentityToken": (
            "RefreshIdentityTokenRequest",
            "RefreshIdentityTokenResponse",
            UNARY,
        ),
        "VerifyToken": ("VerifyTokenRequest", "VerifyTokenResponse", UNARY),
        "VerifyServiceChainToken": (
            "VerifyServiceChainTokenRequest",
            "VerifyServiceChainTokenResponse",
            UNARY,
        ),
        "GetPublicKeys": ("GetPublicKeysRequest", "GetPublicKeysResponse", UNARY),
    },
    "Signer": {
        "SignToken": ("SignTokenRequest", "SignTokenResponse", UNARY),
        "GetPublicKey": ("GetPublicKeyRequest", "GetPublicKeyResponse", UNARY),
    },
    "PolicySync": {
        "WatchSnapshots": ("WatchSnapshotsRequest", "WatchSnapshotsResponse", SERVER_STREAM),
        "GetSnapshot": ("GetSnapshotRequest", "GetSnapshotResponse", UNARY),
        "GetStatus": ("GetStatusRequest", "GetStatusResponse", UNARY),
        "Resync": ("ResyncRequest", "ResyncResponse", UNARY),
    },
}

MODULES = {
    "Issuer": (issuer_pb2, issuer_pb2_grpc),
    "Signer": (signer_pb2, signer_pb2_grpc),
    "PolicySync": (policy_pb2, policy_pb2_grpc),
}


def _kind(method) -> str:
    assert not method.client_streaming, f"{method.full_name} must not stream requests"
    return SERVER_STREAM if method.server_streaming else UNARY


@pytest.mark.parametrize("service", sorted(EXPECTED), ids=sorted(EXPECTED))
def test_service_descriptor_lists_exactly_the_designed_rpcs(service):
    pb2, _ = MODULES[service]
    descriptor = pb2.DESCRIPTOR.services_by_name[service]
    assert descriptor.full_name == f"hessra.v1.{service}"
    actual = {m.name: (m.input_type.name, m.output_type.name, _kind(m)) for m in descriptor.methods}
    assert actual == EXPECTED[service]


def test_each_file_declares_only_its_own_service():
    declared = {name: sorted(pb2.DESCRIPTOR.services_by_name) for name, (pb2, _) in MODULES.items()}
    assert declared == {name: [name] for name in MODULES}


@pytest.mark.parametrize("service", sorted(EXPECTED), ids=sorted(EXPECTED))
def test_grpc_module_has_stub_servicer_and_registration(service):
    _, grpc_module = MODULES[service]
    servicer = getattr(grpc_module, f"{service}Servicer")
    assert callable(getattr(grpc_module, f"add_{service}Servicer_to_server"))
    assert callable(getattr(grpc_module, f"{service}Stub"))
    for rpc in EXPECTED[service]:
        assert callable(getattr(servicer, rpc)), f"{service}Servicer.{rpc} missing"
