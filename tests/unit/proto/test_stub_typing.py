"""The committed .pyi stubs give messages, servicers and stubs real types under mypy --strict.

Services are written against these types, so a stub that silently degrades to `Any` (or an
untyped `*_pb2_grpc` module, which strict mode refuses to call) would hide contract mistakes.
The snippet below is type-checked with the repository's mypy configuration; every line marked
`# E` must be reported and nothing else.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

SNIPPET = """
from collections.abc import AsyncIterator

import grpc

from hessra.v1 import common_pb2, issuer_pb2, policy_pb2, policy_pb2_grpc, signer_pb2_grpc

Ctx = grpc.aio.ServicerContext[object, object]


class Sync(policy_pb2_grpc.PolicySyncServicer):
    async def WatchSnapshots(
        self, request: policy_pb2.WatchSnapshotsRequest, context: Ctx
    ) -> AsyncIterator[policy_pb2.WatchSnapshotsResponse]:
        yield policy_pb2.WatchSnapshotsResponse(snapshot=policy_pb2.PolicySnapshot(revision="r"))

    async def GetSnapshot(
        self, request: policy_pb2.GetSnapshotRequest, context: Ctx
    ) -> policy_pb2.GetSnapshotResponse:
        return policy_pb2.GetSnapshotResponse()

    async def GetStatus(
        self, request: policy_pb2.GetStatusRequest, context: Ctx
    ) -> policy_pb2.GetStatusResponse:
        return policy_pb2.GetStatusResponse(subscriber_count=1)

    async def Resync(
        self, request: policy_pb2.ResyncRequest, context: Ctx
    ) -> policy_pb2.ResyncResponse:
        return policy_pb2.ResyncResponse(accepted=True)


class HalfSigner(signer_pb2_grpc.SignerServicer):
    pass


async def use(server: grpc.aio.Server, channel: grpc.aio.Channel) -> str:
    policy_pb2_grpc.add_PolicySyncServicer_to_server(Sync(), server)
    signer_pb2_grpc.add_SignerServicer_to_server(HalfSigner(), server)  # E abstract
    stub = policy_pb2_grpc.PolicySyncStub(channel)
    status = await stub.GetStatus(policy_pb2.GetStatusRequest())
    async for event in stub.WatchSnapshots(policy_pb2.WatchSnapshotsRequest(known_digest="d")):
        kind: policy_pb2.Identifier.Type.ValueType = event.snapshot.clients[0].identifier.type
        assert kind == policy_pb2.Identifier.SAN_URI
    await stub.GetSnapshot(policy_pb2.GetStatusRequest())  # E wrong request type
    issuer_pb2.RequestTokenRequest(resource=1)  # E wrong field type
    issuer_pb2.RequestTokenRequest(resourse="users")  # E misspelt field
    severity: common_pb2.Algorithm.ValueType = common_pb2.Diagnostic.ERROR  # E wrong enum
    print(severity)
    count: str = status.subscriber_count  # E int is not str
    return count + status.serving_digest
"""


def test_stubs_are_typed_for_mypy_strict(tmp_path):
    snippet = tmp_path / "uses_stubs.py"
    snippet.write_text(SNIPPET)
    expected = {n for n, line in enumerate(SNIPPET.splitlines(), 1) if "  # E " in line}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO_ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-error-summary",
            "--show-error-codes",
            str(snippet),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    reported = {int(m.group(1)) for e in errors if (m := re.search(r":(\d+): error:", e))}
    assert expected, "the snippet marks no expected errors"
    assert reported == expected, result.stdout + result.stderr
