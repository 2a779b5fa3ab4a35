"""Every error hessra_core raises, in one tree.

Each class carries a stable ``reason`` (snake_case) that logs, metrics and the
gRPC layer use; messages are for people and may change. Foreign exceptions
(biscuit_auth, cryptography, tomllib) are translated where they are caught,
with ``raise ... from exc``, so callers only ever see this tree.

::

    HessraError
    ├── ConfigError                    a config object failed validation
    ├── KeyFormatError                 a public/private key could not be parsed
    ├── TokenError                     a token was refused
    │   ├── MalformedTokenError        not base64 / not a biscuit / truncated
    │   ├── SignatureError             signature does not verify under the root key
    │   ├── UnknownKeyIdError          root key id not in the verifier's key set
    │   ├── TokenExpiredError          expired (``expired_at`` says when)
    │   ├── RightMismatchError         grants something other than what was asked
    │   │   ├── SubjectMismatchError
    │   │   ├── ResourceMismatchError
    │   │   ├── OperationMismatchError
    │   │   └── DomainMismatchError
    │   ├── ServiceChainError
    │   │   ├── MissingAttestationError    "Missing attestation from: <component>"
    │   │   ├── AttestationOrderError      out of order, or attested twice
    │   │   └── UnknownAttesterError       attestation signed by a key outside the chain
    │   ├── MissingSignoffError        "Required signature from <name> not found"
    │   ├── IdentityMismatchError      identity token does not cover the actor
    │   ├── RunLimitError              the Datalog run limits were hit
    │   └── TokenDeniedError           any other failed check or policy
    ├── PolicyError                    a policy tree failed validation (``diagnostics``)
    ├── AuthenticationError            the caller could not be authenticated
    ├── PermissionDeniedError          policy does not allow the request
    ├── NotReadyError                  no policy snapshot loaded yet
    ├── SignerNotRequiredError         a signer was asked to sign a token that does not need it
    ├── SourceError                    a policy source (git, directory) could not be read
    ├── SnapshotFileError              a persisted snapshot file is truncated or corrupt
    ├── InvalidRequestError            a request field is missing or malformed
    └── PreconditionError              the request is valid but the current state cannot serve it
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any


class HessraError(Exception):
    """Base of every error raised by hessra_core."""

    reason: str = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(HessraError):
    """A configuration object failed validation; ``problems`` lists every issue at once."""

    reason = "invalid_config"

    def __init__(self, problems: Sequence[str], *, source: str = "config") -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid {source}:\n{lines}")


class KeyFormatError(HessraError):
    """A key could not be parsed. The message never contains private key material."""

    reason = "key_format"


class TokenError(HessraError):
    """A token was refused. Subclasses say why."""

    reason = "token_invalid"


class MalformedTokenError(TokenError):
    reason = "malformed_token"


class SignatureError(TokenError):
    reason = "bad_signature"


class UnknownKeyIdError(TokenError):
    reason = "unknown_key_id"

    def __init__(self, key_id: int | None) -> None:
        self.key_id = key_id
        shown = "none" if key_id is None else str(key_id)
        super().__init__(f"Token root key id {shown} is not a trusted key")


class TokenExpiredError(TokenError):
    reason = "expired"

    def __init__(self, expired_at: datetime | None, message: str | None = None) -> None:
        self.expired_at = expired_at
        if message is None:
            when = expired_at.isoformat() if expired_at else "an unknown time"
            message = f"Token has expired (at {when})"
        super().__init__(message)


class RightMismatchError(TokenError):
    reason = "right_mismatch"


class SubjectMismatchError(RightMismatchError):
    reason = "subject_mismatch"


class ResourceMismatchError(RightMismatchError):
    reason = "resource_mismatch"


class OperationMismatchError(RightMismatchError):
    reason = "operation_mismatch"


class DomainMismatchError(RightMismatchError):
    reason = "domain_mismatch"


class ServiceChainError(TokenError):
    reason = "service_chain"


class MissingAttestationError(ServiceChainError):
    reason = "missing_attestation"

    def __init__(self, component: str) -> None:
        self.component = component
        super().__init__(f"Missing attestation from: {component}")


class AttestationOrderError(ServiceChainError):
    reason = "attestation_out_of_order"


class UnknownAttesterError(ServiceChainError):
    reason = "unknown_attester"


class MissingSignoffError(TokenError):
    reason = "missing_signoff"

    def __init__(self, signer: str) -> None:
        self.signer = signer
        super().__init__(f"Required signature from {signer} not found")


class IdentityMismatchError(TokenError):
    reason = "identity_mismatch"


class RunLimitError(TokenError):
    reason = "run_limit"


class TokenDeniedError(TokenError):
    reason = "denied"


class PolicyError(HessraError):
    """A policy tree failed validation. ``diagnostics`` holds every error and warning."""

    reason = "invalid_policy"

    def __init__(self, diagnostics: Sequence[Any], message: str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        if message is None:
            message = "\n".join(str(d) for d in self.diagnostics) or "invalid policy"
        super().__init__(message)


class AuthenticationError(HessraError):
    reason = "unauthenticated"


class PermissionDeniedError(HessraError):
    reason = "permission_denied"


class NotReadyError(HessraError):
    reason = "no_snapshot"


class SignerNotRequiredError(HessraError):
    reason = "signer_not_required"


class InvalidRequestError(HessraError):
    """A request field is missing or malformed (an empty resource, an unknown component)."""

    reason = "invalid_argument"


class PreconditionError(HessraError):
    """The request is well-formed but the current state cannot serve it (e.g. the resource
    has no service chain in the current policy)."""

    reason = "failed_precondition"


class SourceError(HessraError):
    """Fetching a policy revision failed. Messages are scrubbed of credentials."""

    reason = "fetch_failed"


class SnapshotFileError(HessraError):
    """A persisted snapshot file failed its checksum or could not be read."""

    reason = "corrupt_snapshot_file"


__all__ = [
    "AttestationOrderError",
    "AuthenticationError",
    "ConfigError",
    "DomainMismatchError",
    "HessraError",
    "IdentityMismatchError",
    "InvalidRequestError",
    "KeyFormatError",
    "MalformedTokenError",
    "MissingAttestationError",
    "MissingSignoffError",
    "NotReadyError",
    "OperationMismatchError",
    "PermissionDeniedError",
    "PolicyError",
    "PreconditionError",
    "ResourceMismatchError",
    "RightMismatchError",
    "RunLimitError",
    "ServiceChainError",
    "SignatureError",
    "SignerNotRequiredError",
    "SnapshotFileError",
    "SourceError",
    "SubjectMismatchError",
    "TokenDeniedError",
    "TokenError",
    "TokenExpiredError",
    "UnknownAttesterError",
    "UnknownKeyIdError",
]
