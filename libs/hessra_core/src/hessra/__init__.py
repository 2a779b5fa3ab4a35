"""The Hessra Python SDK: what application developers import.

Networked: ``Hessra`` (blocking) and ``AsyncHessra`` (asyncio) request tokens from
an issuer, collect multi-party sign-offs from signers, verify remotely, and handle
identity tokens; ``TokenCache`` renews tokens before they expire.

Offline: verify tokens locally (``verify_token_local``,
``verify_service_chain_token_local``, ``LocalVerifier``), build or load service
chains (``ServiceChain``), attest chain tokens, inspect tokens, verify event
payloads (``hessra.events``), and guard services with middleware
(``hessra.middleware.asgi``, ``hessra.middleware.grpc``). The networked clients
verify locally through the same ``LocalVerifier``, with the issuer's published keys.

Every error belongs to the ``hessra_core.errors`` tree (``hessra._errors`` adds a few
SDK-only classes under it) and is re-exported here.
``hessra.v1`` holds the generated protobuf and gRPC stubs (package ``hessra.v1``).
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from hessra._async_client import AsyncHessra
    from hessra._cache import TokenCache
    from hessra._chain import ServiceChain, ServiceNode
    from hessra._client import Hessra
    from hessra._client_common import (
        ClientConfig,
        IdentityTokenResponse,
        PendingSignoff,
        TokenResponse,
    )
    from hessra._errors import (
        AttestationOrderError,
        AuthenticationError,
        CertificateRejectedError,
        ChainConfigError,
        ClientClosedError,
        ConfigError,
        DomainMismatchError,
        HessraError,
        IdentityMismatchError,
        KeyFormatError,
        MalformedRequestError,
        MalformedTokenError,
        MissingAttestationError,
        MissingFieldError,
        MissingSignoffError,
        MissingTokenError,
        OperationMismatchError,
        PermissionDeniedError,
        ResourceMismatchError,
        RightMismatchError,
        RunLimitError,
        ServiceChainError,
        ServiceUnavailableError,
        SignatureError,
        SignoffCollectionError,
        SubjectMismatchError,
        TokenDeniedError,
        TokenError,
        TokenExpiredError,
        UnknownAttesterError,
        UnknownKeyIdError,
        UnmappedRouteError,
        hints_for,
    )
    from hessra._verify import (
        AuthContext,
        LocalVerifier,
        verify_service_chain_token_local,
        verify_token_local,
    )
    from hessra.events import attach_authorization, verify_event
    from hessra_core.keys import Algorithm, KeyPair, KeySet, PublicKey
    from hessra_core.tokens import (
        SignerRef,
        TokenInfo,
        VerifiedToken,
        attest_service_chain_token,
        inspect_token,
    )

# Names resolve on first use (PEP 562), so importing the ``hessra.v1`` stubs, or
# the CLI, does not load the token engine, and hessra_core modules that use the
# stubs cannot form an import cycle through this package.
_EXPORTS: dict[str, str] = {
    "Algorithm": "hessra_core.keys",
    "AsyncHessra": "hessra._async_client",
    "ClientConfig": "hessra._client_common",
    "Hessra": "hessra._client",
    "IdentityTokenResponse": "hessra._client_common",
    "PendingSignoff": "hessra._client_common",
    "ServiceUnavailableError": "hessra._errors",
    "SignoffCollectionError": "hessra._errors",
    "TokenCache": "hessra._cache",
    "TokenResponse": "hessra._client_common",
    "AttestationOrderError": "hessra._errors",
    "AuthContext": "hessra._verify",
    "AuthenticationError": "hessra._errors",
    "CertificateRejectedError": "hessra._errors",
    "ChainConfigError": "hessra._errors",
    "ClientClosedError": "hessra._errors",
    "ConfigError": "hessra._errors",
    "DomainMismatchError": "hessra._errors",
    "HessraError": "hessra._errors",
    "IdentityMismatchError": "hessra._errors",
    "KeyFormatError": "hessra._errors",
    "KeyPair": "hessra_core.keys",
    "KeySet": "hessra_core.keys",
    "LocalVerifier": "hessra._verify",
    "MalformedRequestError": "hessra._errors",
    "MalformedTokenError": "hessra._errors",
    "MissingAttestationError": "hessra._errors",
    "MissingFieldError": "hessra._errors",
    "MissingSignoffError": "hessra._errors",
    "MissingTokenError": "hessra._errors",
    "OperationMismatchError": "hessra._errors",
    "PermissionDeniedError": "hessra._errors",
    "PublicKey": "hessra_core.keys",
    "ResourceMismatchError": "hessra._errors",
    "RightMismatchError": "hessra._errors",
    "RunLimitError": "hessra._errors",
    "ServiceChain": "hessra._chain",
    "ServiceChainError": "hessra._errors",
    "ServiceNode": "hessra._chain",
    "SignatureError": "hessra._errors",
    "SignerRef": "hessra_core.tokens",
    "SubjectMismatchError": "hessra._errors",
    "TokenDeniedError": "hessra._errors",
    "TokenError": "hessra._errors",
    "TokenExpiredError": "hessra._errors",
    "TokenInfo": "hessra_core.tokens",
    "UnknownAttesterError": "hessra._errors",
    "UnknownKeyIdError": "hessra._errors",
    "UnmappedRouteError": "hessra._errors",
    "VerifiedToken": "hessra_core.tokens",
    "attach_authorization": "hessra.events",
    "attest_service_chain_token": "hessra_core.tokens",
    "hints_for": "hessra._errors",
    "inspect_token": "hessra_core.tokens",
    "verify_event": "hessra.events",
    "verify_service_chain_token_local": "hessra._verify",
    "verify_token_local": "hessra._verify",
}

__all__ = [
    "Algorithm",
    "AsyncHessra",
    "AttestationOrderError",
    "AuthContext",
    "AuthenticationError",
    "CertificateRejectedError",
    "ChainConfigError",
    "ClientClosedError",
    "ClientConfig",
    "ConfigError",
    "DomainMismatchError",
    "Hessra",
    "HessraError",
    "IdentityMismatchError",
    "IdentityTokenResponse",
    "KeyFormatError",
    "KeyPair",
    "KeySet",
    "LocalVerifier",
    "MalformedRequestError",
    "MalformedTokenError",
    "MissingAttestationError",
    "MissingFieldError",
    "MissingSignoffError",
    "MissingTokenError",
    "OperationMismatchError",
    "PendingSignoff",
    "PermissionDeniedError",
    "PublicKey",
    "ResourceMismatchError",
    "RightMismatchError",
    "RunLimitError",
    "ServiceChain",
    "ServiceChainError",
    "ServiceNode",
    "ServiceUnavailableError",
    "SignatureError",
    "SignerRef",
    "SignoffCollectionError",
    "SubjectMismatchError",
    "TokenCache",
    "TokenDeniedError",
    "TokenError",
    "TokenExpiredError",
    "TokenInfo",
    "TokenResponse",
    "UnknownAttesterError",
    "UnknownKeyIdError",
    "UnmappedRouteError",
    "VerifiedToken",
    "attach_authorization",
    "attest_service_chain_token",
    "hints_for",
    "inspect_token",
    "verify_event",
    "verify_service_chain_token_local",
    "verify_token_local",
]


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hessra' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
