"""The generated PolicySync stubs carry snapshots over a real mTLS connection on loopback.

The servicer here is a minimal stand-in that streams a fixed list: what is under test is the
contract (server streaming, message encoding, size limits), not policy-sync's behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc
import pytest

from hessra.v1 import policy_pb2, policy_pb2_grpc
from hessra_core.pki import SubjectNames, create_ca, issue_cert

MAX_MESSAGE = "grpc.max_receive_message_length"


class _Streamer(policy_pb2_grpc.PolicySyncServicer):
    def __init__(self, snapshots: Sequence[policy_pb2.PolicySnapshot]) -> None:
        self.snapshots = snapshots
        self.known_digests: list[str] = []

    async def WatchSnapshots(
        self,
        request: policy_pb2.WatchSnapshotsRequest,
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[policy_pb2.WatchSnapshotsResponse]:
        self.known_digests.append(request.known_digest)
        for snapshot in self.snapshots:
            yield policy_pb2.WatchSnapshotsResponse(snapshot=snapshot)

    # The other RPCs keep the generated base class's UNIMPLEMENTED answer; they are not used.


@pytest.fixture
def tls():
    ca = create_ca("Contract Test CA")
    server = issue_cert(ca, "policy-sync", SubjectNames(dns=["localhost"]), server=True)
    client = issue_cert(ca, "issuer", SubjectNames(uris=["urn:service:issuer"]))
    return ca, server, client


async def _watch(tls, snapshots, *, options=()) -> tuple[list[policy_pb2.PolicySnapshot], list]:
    ca, server_cert, client_cert = tls
    streamer = _Streamer(snapshots)
    server = grpc.aio.server(
        options=[(MAX_MESSAGE, 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    )
    policy_pb2_grpc.add_PolicySyncServicer_to_server(streamer, server)
    creds = grpc.ssl_server_credentials(
        [(server_cert.key_pem, server_cert.cert_pem)],
        root_certificates=ca.cert_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    try:
        channel_creds = grpc.ssl_channel_credentials(
            ca.cert_pem, client_cert.key_pem, client_cert.cert_pem
        )
        options = [("grpc.ssl_target_name_override", "localhost"), *options]
        async with grpc.aio.secure_channel(f"127.0.0.1:{port}", channel_creds, options) as channel:
            stub = policy_pb2_grpc.PolicySyncStub(channel)
            call = stub.WatchSnapshots(
                policy_pb2.WatchSnapshotsRequest(known_digest="sha256:" + "0" * 64), timeout=30
            )
            received = [event.snapshot async for event in call]
    finally:
        await server.stop(None)
    return received, streamer.known_digests


def _snapshot(n: int, ca_pem: str = "") -> policy_pb2.PolicySnapshot:
    return policy_pb2.PolicySnapshot(
        revision=f"main@sha1:{n:040x}",
        digest=f"sha256:{n:064x}",
        ca_certs=ca_pem,
        clients=[
            policy_pb2.Client(
                identifier=policy_pb2.Identifier(type=policy_pb2.Identifier.SAN_URI, value="u"),
                resources=[policy_pb2.ResourceGrant(name="orders", operations=["read"])],
            )
        ],
        resources=[policy_pb2.Resource(name="orders")],
    )


async def test_snapshots_stream_in_order_over_mtls(tls):
    sent = [_snapshot(1), _snapshot(2), _snapshot(3)]
    received, digests = await _watch(tls, sent)
    assert received == sent
    assert digests == ["sha256:" + "0" * 64]


async def test_large_snapshot_needs_a_raised_receive_limit(tls):
    big = _snapshot(4, ca_pem="x" * (5 << 20))  # over gRPC's default 4 MiB receive limit
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _watch(tls, [big])
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    received, _ = await _watch(tls, [big], options=[(MAX_MESSAGE, 16 << 20)])
    assert received == [big]
