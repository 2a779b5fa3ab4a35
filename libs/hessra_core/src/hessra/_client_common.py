"""What the sync and asyncio clients share: configuration, results, offline operations.

:class:`ClientConfig` is the frozen, validated description of a client (issuer
address, TLS files, trusted keys, personal key pair, signer CAs); it is built from
keyword arguments or, by :meth:`ClientConfig.from_env`, from ``HESSRA_*`` variables,
the only place the SDK reads the environment. :class:`ClientBase` holds everything
that needs no network: local verification, attestation, delegation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hessra._channel import TlsFiles, TlsSource, grpc_target
from hessra._errors import MissingTokenError
from hessra._status import REDACTED, error_for_reason
from hessra._verify import (
    AuthContext,
    ChainLike,
    KeysLike,
    LocalVerifier,
    coerce_keys,
)
from hessra.v1 import issuer_pb2, signer_pb2
from hessra_core import tokens
from hessra_core.errors import ConfigError, KeyFormatError, MissingSignoffError
from hessra_core.keys import KeyPair, KeySet, PublicKey

DEFAULT_TIMEOUT = 10.0
PROBE_TIMEOUT = 3.0  # seconds for the handshake that explains a dropped connection
BEARER = "authorization"

ENV_VARS = {
    "server": "HESSRA_SERVER",
    "cert": "HESSRA_CERT",
    "key": "HESSRA_KEY",
    "ca": "HESSRA_CA",
    "public_key": "HESSRA_PUBLIC_KEY",
    "personal_keypair": "HESSRA_PERSONAL_KEY",
    "identity_server": "HESSRA_IDENTITY_SERVER",
}


@dataclass(frozen=True)
class PendingSignoff:
    """A sign-off a multi-party token still needs: who, where, and the key it signs with."""

    name: str
    endpoint: str
    public_key: str


@dataclass(frozen=True)
class TokenResponse:
    """``request_token_full``'s answer. The token is a bearer secret: not in repr."""

    token: str = field(repr=False)
    pending_signoffs: tuple[PendingSignoff, ...] = ()
    expires_at: datetime | None = None
    subject: str = ""
    revision: str = ""
    token_id: str = ""
    key_id: int = 0

    @property
    def complete(self) -> bool:
        """True when no sign-off is pending: the token verifies as it is."""
        return not self.pending_signoffs


@dataclass(frozen=True)
class IdentityTokenResponse:
    token: str = field(repr=False)
    expires_at: datetime | None = None
    subject: str = ""
    revision: str = ""


def _timestamp(value: Any) -> datetime | None:
    """An expiry as sent, or None when unset or not a valid timestamp (a broken server
    must not turn a usable token into a ``ValueError``; unknown expiry is never cached)."""
    if value is None or (value.seconds == 0 and value.nanos == 0):
        return None
    try:
        return value.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError):
        return None


def token_response(reply: issuer_pb2.RequestTokenResponse) -> TokenResponse:
    return TokenResponse(
        token=reply.token,
        pending_signoffs=tuple(
            PendingSignoff(p.name, p.endpoint, p.public_key) for p in reply.pending_signoffs
        ),
        expires_at=_timestamp(reply.expires_at),
        subject=reply.subject,
        revision=reply.policy_revision,
        token_id=reply.token_id,
        key_id=reply.key_id,
    )


def identity_response(reply: Any) -> IdentityTokenResponse:
    return IdentityTokenResponse(
        token=reply.token,
        expires_at=_timestamp(reply.expires_at),
        subject=reply.subject,
        revision=reply.policy_revision,
    )


def token_request(
    resource: str, operation: str, domain: str | None, ttl: int | None
) -> issuer_pb2.RequestTokenRequest:
    request = issuer_pb2.RequestTokenRequest(resource=resource, operation=operation)
    if domain is not None:
        request.domain = domain
    if ttl is not None:
        request.ttl_seconds = ttl
    return request


def verify_request(
    token: str, subject: str, resource: str, operation: str, domain: str | None
) -> issuer_pb2.VerifyTokenRequest:
    request = issuer_pb2.VerifyTokenRequest(
        token=token, subject=subject, resource=resource, operation=operation
    )
    if domain is not None:
        request.domain = domain
    return request


def service_chain_request(
    token: str, subject: str, resource: str, operation: str, component: str | None
) -> issuer_pb2.VerifyServiceChainTokenRequest:
    request = issuer_pb2.VerifyServiceChainTokenRequest(
        token=token, subject=subject, resource=resource, operation=operation
    )
    if component is not None:
        request.component = component
    return request


def secrets_in(request: Any, metadata: Any = None) -> tuple[str, ...]:
    """The tokens a call sends (request fields and a bearer header), to keep them out
    of the error a failed call raises."""
    found = [getattr(request, name, "") for name in ("token", "current_token")]
    for key, value in metadata or ():
        if key == BEARER and isinstance(value, str):
            found.append(value.removeprefix("Bearer ").strip())
    return tuple(t for t in found if isinstance(t, str) and t)


def raise_unless_valid(reply: Any, token: str = "") -> None:
    """A remote verification's refusal as the typed error a local one would raise
    (``token``, the one verified, is redacted from the server's message)."""
    if not reply.valid:
        message = reply.message.replace(token, REDACTED) if token else reply.message
        raise error_for_reason(reply.reason, message)


def identity_request(
    identifier: str | None, ttl: int | None
) -> issuer_pb2.RequestIdentityTokenRequest:
    request = issuer_pb2.RequestIdentityTokenRequest()
    if identifier is not None:
        request.identifier = identifier
    if ttl is not None:
        request.ttl_seconds = ttl
    return request


def refresh_request(current: str, identifier: str | None) -> issuer_pb2.RefreshIdentityTokenRequest:
    request = issuer_pb2.RefreshIdentityTokenRequest(current_token=current)
    if identifier is not None:
        request.identifier = identifier
    return request


def sign_request(token: str, resource: str, operation: str) -> signer_pb2.SignTokenRequest:
    return signer_pb2.SignTokenRequest(token=token, resource=resource, operation=operation)


def signoffs_to_collect(response: Any, pending: Any) -> tuple[str, Any]:
    """The token to start from and the sign-offs to ask for: ``pending`` if given, else
    the response's own ``pending_signoffs`` (none for a bare token string)."""
    token = response if isinstance(response, str) else response.token
    signers = pending if pending is not None else getattr(response, "pending_signoffs", ())
    return token, signers


def check_signoff_reply(
    signoff: Any, asked: str, answered: str, keys: PublicKey | KeySet | None
) -> None:
    """Refuse a signer's answer that does not carry its own sign-off on the token it was
    asked to sign, naming the signer (``MissingSignoffError``).

    Caught here, at collection, the fault is the signer's and says so; otherwise the
    token would fail only later, at some verifier, as a bare missing signature. With
    the issuer's keys (``setup()`` or ``public_key=``) the sign-off block must be signed
    by the key the token requires of that signer; without them only its presence can
    be checked (signatures need the root key).
    """
    name = signoff.name
    after = tokens.inspect_token(answered, keys)
    before = tokens.inspect_token(asked)
    problem = ""
    if after.revocation_ids[: len(before.revocation_ids)] != before.revocation_ids:
        problem = "a token that is not the one it was asked to sign"
    elif name not in after.required_signoffs:
        problem = "a token that does not require its sign-off"
    elif name in after.missing_signoffs:
        problem = "a token without its sign-off" + (
            "" if after.verified else " (signatures not checked: no issuer keys)"
        )
    if problem:
        error = MissingSignoffError(name)
        error.message = f"Required signature from {name} not found: {name} answered {problem}"
        error.args = (error.message,)
        raise error


def keys_from_reply(reply: issuer_pb2.GetPublicKeysResponse) -> KeySet:
    keys = [PublicKey.parse(k.public_key) for k in reply.keys]
    if not keys:
        raise ConfigError(["the issuer published no public keys"], source="issuer")
    return KeySet.of(*keys)


def _keypair(value: KeyPair | TlsSource) -> KeyPair:
    if isinstance(value, KeyPair):
        return value
    if isinstance(value, bytes) or (isinstance(value, str) and "-----BEGIN" in value):
        return KeyPair.from_pem(value)
    return KeyPair.load(Path(value))


def _valid_timeout(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value > 0


@dataclass(frozen=True)
class ClientConfig:
    """A validated client configuration. Every problem is reported at once."""

    server: str
    tls: TlsFiles
    public_keys: PublicKey | KeySet | None = None
    personal_keypair: KeyPair | None = field(default=None, repr=False)
    signer_ca: TlsSource | Mapping[str, TlsSource] | None = field(default=None, repr=False)
    identity_server: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def create(
        cls,
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
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ClientConfig:
        problems: list[str] = []
        target = ""
        try:
            target = grpc_target(server or "")
        except ConfigError as exc:
            problems += exc.problems
        tls = TlsFiles(ca=ca, cert=cert, key=key, server_name=server_name)
        problems += tls.problems()
        signer_cas = signer_ca.items() if isinstance(signer_ca, Mapping) else [("", signer_ca)]
        for name, source in signer_cas:
            if source is not None:
                where = f"signer_ca[{name}]" if name else "signer_ca"
                problems += [f"{where}: {p}" for p in TlsFiles(ca=source).problems()]
        keys = None
        if public_key is not None:
            try:
                keys = coerce_keys(public_key)
            except (KeyFormatError, ConfigError) as exc:
                problems.append(f"public_key: {exc.message}")
        pair = None
        if personal_keypair is not None:
            try:
                pair = _keypair(personal_keypair)
            except KeyFormatError as exc:
                problems.append(f"personal_keypair: {exc.message}")
        if not _valid_timeout(timeout):
            # Every call has a deadline: None or infinity would let a hung server hang
            # the caller for ever, so neither means "no timeout".
            problems.append(f"timeout must be > 0 (a finite number of seconds), got {timeout!r}")
        if problems:
            raise ConfigError(problems, source="Hessra client")
        return cls(
            server=target,
            tls=tls,
            public_keys=keys,
            personal_keypair=pair,
            signer_ca=signer_ca,
            identity_server=grpc_target(identity_server) if identity_server else None,
            timeout=timeout,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """``HESSRA_SERVER``, ``HESSRA_CERT``, ``HESSRA_KEY``, ``HESSRA_CA``,
        ``HESSRA_PUBLIC_KEY``, ``HESSRA_PERSONAL_KEY`` (and ``HESSRA_IDENTITY_SERVER``);
        keyword arguments win over the environment."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {
            name: source[var] for name, var in ENV_VARS.items() if source.get(var)
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not values.get("server"):
            raise ConfigError(
                ["no issuer address: set HESSRA_SERVER or pass server="], source="Hessra client"
            )
        return cls.create(values.pop("server"), **values)

    def signer_tls(self, name: str, endpoint: str) -> TlsFiles:
        """TLS for a signer: our own client certificate, and the CA configured for it."""
        ca: TlsSource | None = self.tls.ca
        if isinstance(self.signer_ca, Mapping):
            ca = self.signer_ca.get(name) or self.signer_ca.get(endpoint) or ca
        elif self.signer_ca is not None:
            ca = self.signer_ca
        return TlsFiles(ca=ca, cert=self.tls.cert, key=self.tls.key)


class ClientBase:
    """Offline operations shared by :class:`~hessra.Hessra` and :class:`~hessra.AsyncHessra`."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._keys: PublicKey | KeySet | None = config.public_keys
        self.identity_token: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server={self.config.server!r})"

    @property
    def public_keys(self) -> PublicKey | KeySet:
        """The issuer keys tokens are verified against (``public_key=`` or ``setup()``)."""
        if self._keys is None:
            raise ConfigError(
                ["no issuer public key: call setup() or pass public_key="], source="Hessra client"
            )
        return self._keys

    def _issuer_endpoint(self, *, identity: bool = False) -> tuple[str, TlsFiles]:
        """Where issuer calls go: the mTLS listener, or with ``identity`` the identity
        listener when one is configured (server-authenticated TLS, no client cert)."""
        if identity and self.config.identity_server:
            tls = self.config.tls
            return self.config.identity_server, TlsFiles(ca=tls.ca, server_name=tls.server_name)
        return self.config.server, self.config.tls

    @property
    def _where(self) -> str:
        return f"issuer {self.config.server}"

    def _signer_endpoint(self, endpoint: str | None, signer: str) -> tuple[str, TlsFiles]:
        """Where ``sign_token`` goes: ``endpoint`` (with ``signer``'s CA), else our server."""
        target = grpc_target(endpoint) if endpoint else self.config.server
        tls = self.config.tls if endpoint is None else self.config.signer_tls(signer, endpoint)
        return target, tls

    def _signoff_endpoint(self, signoff: Any) -> tuple[str, TlsFiles]:
        """Where a pending sign-off is collected: the signer's endpoint, with its CA."""
        return grpc_target(signoff.endpoint), self.config.signer_tls(signoff.name, signoff.endpoint)

    def _keep_identity(self, reply: Any) -> IdentityTokenResponse:
        """The identity token in ``reply``, kept for later calls."""
        result = identity_response(reply)
        self.identity_token = result.token
        return result

    def _personal(self) -> KeyPair:
        if self.config.personal_keypair is None:
            raise ConfigError(
                ["no personal key pair: pass personal_keypair= or set HESSRA_PERSONAL_KEY"],
                source="Hessra client",
            )
        return self.config.personal_keypair

    def verify_token_local(
        self,
        token: str,
        subject: str,
        resource: str,
        operation: str,
        *,
        domain: str | None = None,
        now: datetime | None = None,
    ) -> AuthContext:
        """Verify offline with the issuer's keys; raises a typed ``TokenError`` if refused."""
        verifier = LocalVerifier(self.public_keys, domain=domain)
        return verifier.verify(token, subject, resource, operation, now=now, where="arguments")

    def verify_service_chain_token_local(
        self,
        token: str,
        subject: str,
        resource: str,
        operation: str,
        chain: ChainLike,
        component: str | None = None,
        *,
        now: datetime | None = None,
    ) -> AuthContext:
        """Verify as ``component`` of ``chain`` (None: as the last service)."""
        verifier = LocalVerifier.create(self.public_keys, chain=chain, component=component)
        return verifier.verify(token, subject, resource, operation, now=now, where="arguments")

    def attest_service_chain_token(self, token: str, resource: str) -> str:
        """Append this service's attestation, signed with its personal key pair."""
        return tokens.attest_service_chain_token(
            token, self._personal(), resource=resource, root_keys=self.public_keys
        )

    def delegate_identity_token(
        self, child: str, *, token: str | None = None, ttl: int = 300
    ) -> str:
        """Narrow an identity token (ours by default) to ``<identity>:<child>`` for ``ttl`` s."""
        current = self._identity_token(token, "token=")
        return tokens.delegate_identity_token(
            current, child=child, ttl=ttl, root_keys=self.public_keys
        )

    def _identity_token(self, given: str | None, argument: str) -> str:
        """``given`` when one was passed, else the token this client keeps.

        Only ``None`` means "use mine": an empty string passed explicitly (a caller's
        header that was missing, say) is refused, never replaced by this client's own
        identity token, which would act as another identity than the one meant.
        """
        if given is not None:
            if not given.strip():
                raise MissingTokenError(f"{argument} argument (empty identity token)")
            return given
        if not self.identity_token:
            raise ConfigError(
                [f"no identity token: request_identity_token() first or pass {argument}"],
                source="Hessra client",
            )
        return self.identity_token

    def _identity_metadata(self, identity_token: str | None) -> tuple[tuple[str, str], ...]:
        token = self._identity_token(identity_token, "identity_token=")
        return ((BEARER, f"Bearer {token}"),)


__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_VARS",
    "ClientBase",
    "ClientConfig",
    "IdentityTokenResponse",
    "PendingSignoff",
    "TokenResponse",
    "check_signoff_reply",
    "identity_request",
    "identity_response",
    "keys_from_reply",
    "raise_unless_valid",
    "refresh_request",
    "secrets_in",
    "service_chain_request",
    "sign_request",
    "signoffs_to_collect",
    "token_request",
    "token_response",
    "verify_request",
]
