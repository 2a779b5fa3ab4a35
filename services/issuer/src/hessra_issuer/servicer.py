"""``hessra.v1.Issuer`` over gRPC: messages in, :mod:`hessra_issuer.issuing` calls, messages out.

Errors are raised from ``hessra_core.errors``; the observability interceptor maps
them to status codes (``hessra_core.rpc.status``) and writes the one log line per
RPC, which this module fills in with :func:`hessra_core.rpc.annotate`.
Authentication is described in :mod:`hessra_issuer.authn`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from hessra.v1 import common_pb2, issuer_pb2, issuer_pb2_grpc
from hessra_core import tokens
from hessra_core.errors import AuthenticationError, HessraError, InvalidRequestError, TokenError
from hessra_core.keys import Algorithm
from hessra_core.rpc import annotate, current_record
from hessra_core.rpc.peer import peer_pem
from hessra_core.service.snapshot_holder import ServingState, SnapshotHolder
from hessra_issuer import metrics
from hessra_issuer.authn import (
    Caller,
    CertificateAuthenticator,
    authenticate_identity_token,
    bearer_token,
)
from hessra_issuer.issuing import IssuedToken, Issuing

# The two identity replies share their fields; one builder serves both.
_IdentityReply = TypeVar(
    "_IdentityReply",
    issuer_pb2.RequestIdentityTokenResponse,
    issuer_pb2.RefreshIdentityTokenResponse,
)

_ALGORITHMS = {Algorithm.ED25519: common_pb2.ED25519, Algorithm.SECP256R1: common_pb2.SECP256R1}


def _timestamp(value: Any) -> Timestamp:
    # Token expiries are whole seconds; this skips FromDatetime's generic conversion.
    return Timestamp(seconds=int(value.timestamp()))


def _peer_pem(context: Any) -> bytes | None:
    # The observability interceptor has already read the certificate for this call; asking
    # grpc again would rebuild the whole TLS auth context.
    record = current_record()
    if record is not None:
        return record.peer_pem
    return peer_pem(context)


class IssuerServicer(issuer_pb2_grpc.IssuerServicer):
    def __init__(self, holder: SnapshotHolder, issuing: Issuing) -> None:
        self._holder = holder
        self._issuing = issuing
        self._certs = CertificateAuthenticator()

    def _caller(self, context: Any, state: ServingState) -> Caller:
        token = bearer_token(context.invocation_metadata())
        if token is not None:
            caller = authenticate_identity_token(token, self._issuing.keyring.keys)
        else:
            caller = self._certs.authenticate(_peer_pem(context), state)
        annotate(caller=caller.label, auth="identity_token" if caller.via_token else "certificate")
        return caller

    def _require_any_caller(self, context: Any) -> None:
        """Verification and key listing serve any authenticated caller: a client certificate
        the handshake accepted, or (on the identity listener) a valid identity token."""
        if _peer_pem(context) is not None:
            return
        token = bearer_token(context.invocation_metadata())
        if token is None:
            raise AuthenticationError(
                "a client certificate or an identity token (authorization: Bearer) is required"
            )
        caller = authenticate_identity_token(token, self._issuing.keyring.keys)
        annotate(caller=caller.label, auth="identity_token")

    async def RequestToken(
        self, request: issuer_pb2.RequestTokenRequest, context: Any
    ) -> issuer_pb2.RequestTokenResponse:
        annotate(resource=request.resource, operation=request.operation)
        try:
            state = self._holder.require()
            annotate(revision=state.revision)
            caller = self._caller(context, state)
            issued = self._issuing.request_token(
                caller,
                state,
                resource=request.resource,
                operation=request.operation,
                domain=request.domain if request.HasField("domain") else None,
                ttl=request.ttl_seconds if request.HasField("ttl_seconds") else None,
            )
        except HessraError as exc:
            metrics.denied(exc.reason).inc()
            raise
        metrics.minted("authorization", request.resource).inc()
        annotate(
            decision="allow", subject=issued.subject, key_id=issued.key_id, token_id=issued.token_id
        )
        response = issuer_pb2.RequestTokenResponse(
            token=issued.token,
            subject=issued.subject,
            policy_revision=issued.revision,
            token_id=issued.token_id,
            key_id=issued.key_id,
        )
        # Set in place: a Timestamp passed to the constructor is built and then copied.
        response.expires_at.seconds = int(issued.expires_at.timestamp())
        for p in issued.pending_signoffs:
            response.pending_signoffs.add(name=p.name, endpoint=p.endpoint, public_key=p.public_key)
        return response

    async def RequestIdentityToken(
        self, request: issuer_pb2.RequestIdentityTokenRequest, context: Any
    ) -> issuer_pb2.RequestIdentityTokenResponse:
        try:
            state = self._holder.require()
            annotate(revision=state.revision, operation="identity")
            caller = self._caller(context, state)
            issued = self._issuing.request_identity_token(
                caller,
                state,
                identifier=request.identifier if request.HasField("identifier") else None,
                ttl=request.ttl_seconds if request.HasField("ttl_seconds") else None,
            )
        except HessraError as exc:
            metrics.denied(exc.reason).inc()
            raise
        return self._identity_response(issuer_pb2.RequestIdentityTokenResponse, issued)

    async def RefreshIdentityToken(
        self, request: issuer_pb2.RefreshIdentityTokenRequest, context: Any
    ) -> issuer_pb2.RefreshIdentityTokenResponse:
        try:
            state = self._holder.require()
            annotate(revision=state.revision, operation="identity_refresh")
            issued = self._issuing.refresh_identity_token(
                state,
                current_token=request.current_token,
                identifier=request.identifier if request.HasField("identifier") else None,
            )
        except HessraError as exc:
            metrics.denied(exc.reason).inc()
            raise
        annotate(caller=issued.subject)
        return self._identity_response(issuer_pb2.RefreshIdentityTokenResponse, issued)

    def _identity_response(self, cls: type[_IdentityReply], issued: IssuedToken) -> _IdentityReply:
        metrics.minted("identity", "-").inc()
        annotate(decision="allow", subject=issued.subject)
        return cls(
            token=issued.token,
            expires_at=_timestamp(issued.expires_at),
            subject=issued.subject,
            policy_revision=issued.revision,
        )

    async def VerifyToken(
        self, request: issuer_pb2.VerifyTokenRequest, context: Any
    ) -> issuer_pb2.VerifyTokenResponse:
        annotate(resource=request.resource, operation=request.operation)
        self._require_any_caller(context)
        _require_fields(request, "token", "subject", "resource", "operation")
        try:
            tokens.verify_token(
                request.token,
                self._issuing.keyring.keys,
                subject=request.subject,
                resource=request.resource,
                operation=request.operation,
                domain=request.domain if request.HasField("domain") else None,
            )
        except TokenError as exc:
            annotate(decision="invalid", reason=exc.reason)
            return issuer_pb2.VerifyTokenResponse(valid=False, reason=exc.reason, message=str(exc))
        annotate(decision="valid")
        return issuer_pb2.VerifyTokenResponse(valid=True)

    async def VerifyServiceChainToken(
        self, request: issuer_pb2.VerifyServiceChainTokenRequest, context: Any
    ) -> issuer_pb2.VerifyServiceChainTokenResponse:
        annotate(resource=request.resource, operation=request.operation)
        self._require_any_caller(context)
        _require_fields(request, "token", "subject", "resource", "operation")
        state = self._holder.require()
        annotate(revision=state.revision)
        component = request.component if request.HasField("component") else None
        chain = self._issuing.service_chain(state, request.resource, component)
        try:
            tokens.verify_service_chain_token(
                request.token,
                self._issuing.keyring.keys,
                subject=request.subject,
                resource=request.resource,
                operation=request.operation,
                chain=chain,
                component=component,
            )
        except TokenError as exc:
            annotate(decision="invalid", reason=exc.reason)
            return issuer_pb2.VerifyServiceChainTokenResponse(
                valid=False, reason=exc.reason, message=str(exc)
            )
        annotate(decision="valid")
        return issuer_pb2.VerifyServiceChainTokenResponse(valid=True)

    async def GetPublicKeys(
        self, request: issuer_pb2.GetPublicKeysRequest, context: Any
    ) -> issuer_pb2.GetPublicKeysResponse:
        self._require_any_caller(context)
        keyring = self._issuing.keyring
        annotate(decision="allow")
        return issuer_pb2.GetPublicKeysResponse(
            keys=[
                common_pb2.PublicKeyInfo(
                    key_id=key.key_id,
                    algorithm=_ALGORITHMS[key.algorithm],
                    public_key=key.to_string(),
                    pem=key.to_pem(),
                    active=key.key_id == keyring.active_key_id,
                )
                for key in keyring.published
            ]
        )


def _require_fields(request: Any, *names: str) -> None:
    empty = [name for name in names if not getattr(request, name)]
    if empty:
        raise InvalidRequestError(f"{', '.join(empty)} must not be empty")


__all__ = ["IssuerServicer"]
