"""``hessra.v1.Signer`` over gRPC: messages in, :mod:`hessra_signer.signing` calls, messages out.

Errors are raised from ``hessra_core.errors``; the observability interceptor maps
them to status codes (``hessra_core.rpc.status``) and writes the one log line per
RPC, which this module fills in with :func:`hessra_core.rpc.annotate`.
"""

from __future__ import annotations

from typing import Any

from hessra.v1 import common_pb2, signer_pb2, signer_pb2_grpc
from hessra_core.errors import HessraError
from hessra_core.keys import Algorithm
from hessra_core.rpc import annotate
from hessra_signer import metrics
from hessra_signer.signing import Signing
from hessra_signer.state import SnapshotHolder, authenticate

_ALGORITHMS = {Algorithm.ED25519: common_pb2.ED25519, Algorithm.SECP256R1: common_pb2.SECP256R1}


def _peer_pem(context: Any) -> bytes | None:
    for value in context.auth_context().get("x509_pem_cert") or ():
        return bytes(value)
    return None


class SignerServicer(signer_pb2_grpc.SignerServicer):
    def __init__(self, holder: SnapshotHolder, signing: Signing) -> None:
        self._holder = holder
        self._signing = signing

    async def SignToken(
        self, request: signer_pb2.SignTokenRequest, context: Any
    ) -> signer_pb2.SignTokenResponse:
        annotate(resource=request.resource, operation=request.operation, signer=self._signing.name)
        try:
            state = self._holder.require()
            annotate(revision=state.revision)
            identities = authenticate(_peer_pem(context), state)
            signed = self._signing.sign(
                request.token,
                request.resource,
                request.operation,
                snapshot=state.snapshot,
                identities=identities,
            )
        except HessraError as exc:
            metrics.REFUSED.labels(exc.reason).inc()
            raise
        metrics.SIGNED.labels(request.resource).inc()
        annotate(decision="allow", subject=signed.subject, pending=list(signed.pending))
        return signer_pb2.SignTokenResponse(
            token=signed.token,
            signer_name=self._signing.name,
            pending_signoffs=list(signed.pending),
            policy_revision=signed.revision,
        )

    async def GetPublicKey(
        self, request: signer_pb2.GetPublicKeyRequest, context: Any
    ) -> signer_pb2.GetPublicKeyResponse:
        key = self._signing.keypair.public_key
        annotate(decision="allow")
        return signer_pb2.GetPublicKeyResponse(
            signer_name=self._signing.name,
            key=common_pb2.PublicKeyInfo(
                key_id=key.key_id,
                algorithm=_ALGORITHMS[key.algorithm],
                public_key=key.to_string(),
                pem=key.to_pem(),
                active=True,
            ),
        )


__all__ = ["SignerServicer"]
