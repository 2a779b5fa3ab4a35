"""The SDK's errors: the core tree, re-exported, plus what only a request boundary can see.

Every error an application sees from ``hessra`` is a ``hessra_core.errors``
class, so one ``except hessra.TokenError`` covers the SDK, the middleware and
the engine alike. The few classes defined here extend that tree (they do not
fork it); each has a ``reason`` like every other error::

    AuthenticationError                    (hessra_core)
    ├── MissingTokenError                  no bearer token was presented
    ├── MissingFieldError                  subject/resource/operation absent
    ├── MalformedRequestError              an auth header repeated, an event not an object
    └── CertificateRejectedError           the server refused our client certificate (TLS)
    PermissionDeniedError                  (hessra_core)
    └── UnmappedRouteError                 no resource/operation configured for a route
    ConfigError                            (hessra_core)
    └── ChainConfigError                   a chain file or JSON could not be read
    ServiceUnavailableError                an issuer or signer unreachable or too slow
    ClientClosedError                      a client was used after close()

``hints_for(error)`` returns the troubleshooting advice for the errors users
meet most (expired token, missing attestation, missing sign-off); the CLI
prints it under the message.
"""

from __future__ import annotations

from collections.abc import Sequence

from hessra_core.errors import (
    AttestationOrderError,
    AuthenticationError,
    ConfigError,
    DomainMismatchError,
    HessraError,
    IdentityMismatchError,
    KeyFormatError,
    MalformedTokenError,
    MissingAttestationError,
    MissingSignoffError,
    OperationMismatchError,
    PermissionDeniedError,
    ResourceMismatchError,
    RightMismatchError,
    RunLimitError,
    ServiceChainError,
    SignatureError,
    SubjectMismatchError,
    TokenDeniedError,
    TokenError,
    TokenExpiredError,
    UnknownAttesterError,
    UnknownKeyIdError,
)


class MissingTokenError(AuthenticationError):
    """The request carried no bearer token (or an empty one)."""

    reason = "missing_token"

    def __init__(self, where: str = "authorization header") -> None:
        self.where = where
        super().__init__(f"No bearer token in the {where}")


class MissingFieldError(AuthenticationError):
    """A field the verifier needs (subject, resource, operation) was not supplied."""

    reason = "missing_field"

    def __init__(self, field: str, where: str) -> None:
        self.field = field
        self.where = where
        super().__init__(f"Missing {field} ({where})")


class MalformedRequestError(AuthenticationError):
    """The authorization data could not be read (a header repeated, an event not an object)."""

    reason = "malformed_request"


class CertificateRejectedError(AuthenticationError):
    """The issuer or signer refused this client's certificate in the TLS handshake.

    ``why`` says what was wrong: ``unknown_ca``, ``certificate_expired``,
    ``certificate_not_yet_valid``, ``certificate_required`` (none configured),
    ``unsupported_certificate`` (not for client authentication), or the name of the TLS
    alert the server sent. ``endpoint`` is the server that refused. No RPC ran.
    """

    reason = "certificate_rejected"

    def __init__(self, endpoint: str, why: str, detail: str) -> None:
        self.endpoint = endpoint
        self.why = why
        label = _WHY_LABELS.get(why, why.replace("_", " "))
        super().__init__(f"{endpoint} refused the client certificate ({label}): {detail}")


_WHY_LABELS = {"unknown_ca": "unknown CA"}


class UnmappedRouteError(PermissionDeniedError):
    """Routes are mapped to actions, and this route (or gRPC method) has no mapping."""

    reason = "unmapped_route"


class ServiceUnavailableError(HessraError):
    """An issuer or signer could not be reached, answered UNAVAILABLE, or missed the
    call's deadline (retry later)."""

    reason = "unavailable"


class ClientClosedError(HessraError):
    """A ``Hessra`` or ``AsyncHessra`` was called after ``close()`` (or its ``with`` block).

    Calls still in flight when the client closes are cancelled and raise this too;
    a closed client never opens a new connection.
    """

    reason = "client_closed"

    def __init__(self, client: str) -> None:
        super().__init__(f"{client} is closed: create a new client to make more calls")


class SignoffCollectionError(MissingSignoffError):
    """A required signer refused (or could not be asked for) its sign-off.

    ``signer`` names it, ``endpoint`` is where it was asked, and ``cause`` is the
    typed error its answer mapped to (a ``PermissionDeniedError`` when its policy
    says no).
    """

    reason = "signoff_refused"

    def __init__(self, signer: str, endpoint: str, cause: HessraError) -> None:
        super().__init__(signer)
        self.endpoint = endpoint
        self.cause = cause
        self.message = (
            f"Required signature from {signer} not found: {signer} at {endpoint} "
            f"refused ({cause.reason}): {cause.message}"
        )
        self.args = (self.message,)


class ChainConfigError(ConfigError):
    """A service-chain definition could not be read; ``problems`` names file:line:field."""

    reason = "invalid_chain_config"

    def __init__(self, problems: Sequence[str], *, source: str = "service chain") -> None:
        super().__init__(problems, source=source)


# The seed's troubleshooting advice, keyed by the error class it belongs to.
_HINTS: tuple[tuple[type[HessraError], tuple[str, ...]], ...] = (
    (
        TokenExpiredError,
        (
            "Tokens are short-lived by design",
            "Request a new token just before use",
            "Consider your network latency when setting the TTL",
        ),
    ),
    (
        MissingAttestationError,
        (
            "Ensure services attest in the correct order",
            "Verify public keys match the chain configuration",
            "Check service keypairs are correctly configured",
        ),
    ),
    (
        AttestationOrderError,
        (
            "Ensure services attest in the order the chain lists them",
            "Each node attests once, after verifying the nodes before it",
        ),
    ),
    (
        UnknownAttesterError,
        ("An attestation was signed by a key outside the chain: check the node keys",),
    ),
    (
        MissingSignoffError,
        (
            "Ensure all required signing services are reachable",
            "Verify mTLS credentials work with each service",
            "Check each service's policy allows the operation",
        ),
    ),
    (
        CertificateRejectedError,
        (
            "The TLS handshake failed on the server's side: no request was sent",
            "Check the client certificate's dates and that its CA is in the policy's [cacerts]",
        ),
    ),
    (
        UnknownKeyIdError,
        ("The token was minted under a key this verifier does not trust: fetch current keys",),
    ),
)


def hints_for(error: BaseException) -> tuple[str, ...]:
    """Troubleshooting advice for ``error`` (empty when there is none)."""
    for cls, hints in _HINTS:
        if isinstance(error, cls):
            return hints
    return ()


__all__ = [
    "AttestationOrderError",
    "AuthenticationError",
    "CertificateRejectedError",
    "ChainConfigError",
    "ClientClosedError",
    "ConfigError",
    "DomainMismatchError",
    "HessraError",
    "IdentityMismatchError",
    "KeyFormatError",
    "MalformedRequestError",
    "MalformedTokenError",
    "MissingAttestationError",
    "MissingFieldError",
    "MissingSignoffError",
    "MissingTokenError",
    "OperationMismatchError",
    "PermissionDeniedError",
    "ResourceMismatchError",
    "RightMismatchError",
    "RunLimitError",
    "ServiceChainError",
    "ServiceUnavailableError",
    "SignatureError",
    "SignoffCollectionError",
    "SubjectMismatchError",
    "TokenDeniedError",
    "TokenError",
    "TokenExpiredError",
    "UnknownAttesterError",
    "UnknownKeyIdError",
    "UnmappedRouteError",
    "hints_for",
]
