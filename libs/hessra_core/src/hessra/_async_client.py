"""``AsyncHessra``: the asyncio client, the same API as ``Hessra`` with ``await``.

    async with AsyncHessra("auth.example.com:50051", cert="client.crt", key="client.key",
                           ca="ca.crt") as client:
        await client.setup()
        token = await client.request_token("orders", "read")
        client.verify_token_local(token, subject, "orders", "read")   # offline: no await

Or ``AsyncHessra.from_env()`` (``HESSRA_SERVER``, ``HESSRA_CERT``, ``HESSRA_KEY``,
``HESSRA_CA``, ``HESSRA_PUBLIC_KEY``, ``HESSRA_PERSONAL_KEY``). Every refusal raises
a typed error from the ``hessra`` tree (mapped in ``hessra._status``); a signer that
refuses raises ``SignoffCollectionError`` naming it. The channel is rebuilt when the
certificate files change (``hessra._channel``); calls in flight finish on the old one.
Every call has a deadline, ``timeout=`` seconds (default 10): a server that does not
answer in time raises ``ServiceUnavailableError``. Read-only calls (``setup``,
``verify_token_remote``, ``verify_service_chain_token_remote``) are retried on
UNAVAILABLE, at most 3 attempts with backoff within that deadline; nothing else is
retried. After ``close()`` every call raises ``ClientClosedError``.
Channels belong to the event loop that created them: use one client per loop (a call
from another loop raises ``ConfigError``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from hessra._channel import ChannelPool, TlsFiles, TlsSource
from hessra._client_common import (
    PROBE_TIMEOUT,
    ClientBase,
    ClientConfig,
    IdentityTokenResponse,
    TokenResponse,
    check_signoff_reply,
    identity_request,
    keys_from_reply,
    raise_unless_valid,
    refresh_request,
    secrets_in,
    service_chain_request,
    sign_request,
    signoffs_to_collect,
    token_request,
    token_response,
    verify_request,
)
from hessra._errors import ClientClosedError, SignoffCollectionError
from hessra._status import error_from_rpc, may_be_certificate_refusal
from hessra._tls_probe import probe_client_certificate
from hessra._verify import KeysLike
from hessra.v1 import issuer_pb2, issuer_pb2_grpc, signer_pb2, signer_pb2_grpc
from hessra_core.errors import HessraError
from hessra_core.keys import KeyPair, KeySet

MAX_BATCH_CONCURRENCY = 8


class AsyncHessra(ClientBase):
    """An asyncio client; see the module docstring. Close it (or use ``async with``)."""

    def __init__(
        self,
        server: str,
        *,
        cert: TlsSource | None = None,
        key: TlsSource | None = None,
        ca: TlsSource | None = None,
        public_key: KeysLike | None = None,
        personal_keypair: KeyPair | TlsSource | None = None,
        signer_ca: TlsSource | Mapping[str, TlsSource] | None = None,
        server_name: str | None = None,
        identity_server: str | None = None,
        timeout: float = 10.0,
        config: ClientConfig | None = None,
    ) -> None:
        super().__init__(
            config
            or ClientConfig.create(
                server,
                cert=cert,
                key=key,
                ca=ca,
                public_key=public_key,
                personal_keypair=personal_keypair,
                signer_ca=signer_ca,
                server_name=server_name,
                identity_server=identity_server,
                timeout=timeout,
            )
        )
        self._pool = ChannelPool(aio=True, owner=repr(self))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> AsyncHessra:
        return cls("", config=ClientConfig.from_env(env, **overrides))

    async def __aenter__(self) -> AsyncHessra:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's channels. Calls still in flight are cancelled and raise
        ``ClientClosedError``, as does every later call. Closing twice is harmless."""
        await self._pool.aclose()

    # --- plumbing ----------------------------------------------------------------------

    async def _issuer(
        self, method: str, request: Any, *, identity: bool = False, **kwargs: Any
    ) -> Any:
        """Call the issuer's ``method`` (on its identity listener with ``identity``)."""
        target, tls = self._issuer_endpoint(identity=identity)
        stub = issuer_pb2_grpc.IssuerStub
        return await self._call(self._where, target, tls, stub, method, request, **kwargs)

    async def _call(
        self,
        where: str,
        target: str,
        tls: TlsFiles,
        stub_type: Any,
        method: str,
        request: Any,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` at ``target`` within the client's timeout; a failure becomes a
        typed error (``where`` names the server in it). The channel is leased for the
        call, so a certificate rotation meanwhile does not cancel it."""
        async with self._pool.alease(target, tls) as channel:
            # The generated stubs are typed for blocking channels; on a grpc.aio channel
            # the same multicallables return awaitables.
            rpc = getattr(stub_type(channel), method)
            try:
                return await rpc(request, timeout=self.config.timeout, **kwargs)
            except grpc.RpcError as exc:
                if self._pool.closed:
                    raise ClientClosedError(repr(self)) from None
                refusal = None
                if may_be_certificate_refusal(exc):
                    refusal = await asyncio.to_thread(
                        probe_client_certificate,
                        target,
                        tls,
                        timeout=min(self.config.timeout, PROBE_TIMEOUT),
                    )
                secrets = secrets_in(request, kwargs.get("metadata"))
                raise error_from_rpc(exc, where=where, refusal=refusal, secrets=secrets) from None
            except asyncio.CancelledError:
                # grpc.aio cancels calls in flight when their channel closes: that is
                # close(), not a cancellation of this task, unless the task is cancelled.
                task = asyncio.current_task()
                if self._pool.closed and task is not None and not task.cancelling():
                    raise ClientClosedError(repr(self)) from None
                raise

    # --- keys --------------------------------------------------------------------------

    async def setup(self) -> KeySet:
        """Fetch the issuer's public keys (all published ones) for local verification."""
        reply = await self._issuer("GetPublicKeys", issuer_pb2.GetPublicKeysRequest())
        keys: KeySet = keys_from_reply(reply)
        self._keys = keys
        return keys

    # --- tokens ------------------------------------------------------------------------

    async def request_token_full(
        self, resource: str, operation: str, *, domain: str | None = None, ttl: int | None = None
    ) -> TokenResponse:
        """The token with its pending sign-offs, expiry, subject and policy revision."""
        reply = await self._issuer("RequestToken", token_request(resource, operation, domain, ttl))
        return token_response(reply)

    async def request_token(
        self, resource: str, operation: str, *, domain: str | None = None, ttl: int | None = None
    ) -> str:
        return (await self.request_token_full(resource, operation, domain=domain, ttl=ttl)).token

    async def request_tokens(
        self, requests: Iterable[tuple[str, str]], *, domain: str | None = None
    ) -> list[str]:
        """Request several tokens concurrently; results in the order asked. The first
        failure is raised once every request has finished."""
        pairs = list(requests)
        if not pairs:
            return []
        limit = asyncio.Semaphore(MAX_BATCH_CONCURRENCY)

        async def one(resource: str, operation: str) -> str:
            async with limit:
                return await self.request_token(resource, operation, domain=domain)

        results = await asyncio.gather(*(one(r, o) for r, o in pairs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, str)]

    async def sign_token(
        self,
        token: str,
        resource: str,
        operation: str,
        *,
        endpoint: str | None = None,
        signer: str = "",
    ) -> str:
        """Ask a signer (``endpoint``, or this client's server) for its sign-off. ``signer``
        names it, to pick its CA from a ``signer_ca`` mapping."""
        target, tls = self._signer_endpoint(endpoint, signer)
        return (await self._sign(target, tls, token, resource, operation)).token

    async def _sign(
        self, target: str, tls: TlsFiles, token: str, resource: str, operation: str
    ) -> signer_pb2.SignTokenResponse:
        request = sign_request(token, resource, operation)
        stub = signer_pb2_grpc.SignerStub
        reply: signer_pb2.SignTokenResponse = await self._call(
            f"signer {target}", target, tls, stub, "SignToken", request
        )
        return reply

    async def collect_multi_party_signoffs(
        self, response: TokenResponse | str, resource: str, operation: str, pending: Any = None
    ) -> str:
        """Ask each pending signer in turn, with this client's certificate; the token
        carrying every sign-off. A refusal raises ``SignoffCollectionError`` naming the
        signer (its ``cause`` is the typed refusal); so does an answer that does not
        carry that signer's sign-off on the token it was given (``cause`` is then a
        ``MissingSignoffError``; with the issuer's keys known, its signature is checked)."""
        token, signers = signoffs_to_collect(response, pending)
        for signoff in signers:
            try:
                target, tls = self._signoff_endpoint(signoff)
                signed = (await self._sign(target, tls, token, resource, operation)).token
                check_signoff_reply(signoff, token, signed, self._keys)
                token = signed
            except HessraError as exc:
                raise SignoffCollectionError(signoff.name, signoff.endpoint, exc) from exc
        return token

    # --- remote verification -----------------------------------------------------------

    async def verify_token_remote(
        self, token: str, subject: str, resource: str, operation: str, *, domain: str | None = None
    ) -> None:
        """Ask the issuer to verify; raises the same typed error a local refusal would."""
        request = verify_request(token, subject, resource, operation, domain)
        raise_unless_valid(await self._issuer("VerifyToken", request), token)

    async def verify_service_chain_token_remote(
        self,
        token: str,
        subject: str,
        resource: str,
        operation: str,
        component: str | None = None,
    ) -> None:
        request = service_chain_request(token, subject, resource, operation, component)
        raise_unless_valid(await self._issuer("VerifyServiceChainToken", request), token)

    # --- identity tokens ---------------------------------------------------------------

    async def request_identity_token(
        self, identifier: str | None = None, *, ttl: int | None = None
    ) -> IdentityTokenResponse:
        """An identity token for this client's certificate; kept for later calls."""
        request = identity_request(identifier, ttl)
        reply = await self._issuer("RequestIdentityToken", request)
        return self._keep_identity(reply)

    async def refresh_identity_token(
        self, token: str | None = None, *, identifier: str | None = None
    ) -> IdentityTokenResponse:
        """Exchange the (given or kept) identity token for a fresh one."""
        current = self._identity_token(token, "token=")
        request = refresh_request(current, identifier)
        reply = await self._issuer("RefreshIdentityToken", request, identity=True)
        return self._keep_identity(reply)

    async def request_token_with_identity(
        self,
        resource: str,
        operation: str,
        *,
        identity_token: str | None = None,
        domain: str | None = None,
    ) -> str:
        """A token requested as the identity token's actor (``authorization: Bearer``)."""
        metadata = self._identity_metadata(identity_token)
        reply = await self._issuer(
            "RequestToken",
            token_request(resource, operation, domain, None),
            identity=True,
            metadata=metadata,
        )
        return token_response(reply).token


__all__ = ["AsyncHessra"]
