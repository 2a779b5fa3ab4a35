"""The policy schema as frozen values: what ``clients.toml`` and ``resources.toml`` say.

Instances are built only by the validator (``hessra_core.policy.validate``) or from a
snapshot message, so every value here is already known to be well-formed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from hessra_core.keys import PublicKey

POLICY_VERSION = "0.2.0"
DEFAULT_TOKEN_LIFETIME = 300
MAX_TOKEN_LIFETIME = 600
DEFAULT_IDENTITY_TOKEN_DURATION = 3600
# Identity tokens authenticate a caller, they grant nothing by themselves; a day is the
# longest a leaked one should stay useful.
MAX_IDENTITY_TOKEN_DURATION = 86_400
WILDCARD = "*"


class IdentifierType(enum.StrEnum):
    SAN_URI = "san_uri"
    SAN_DNS = "san_dns"
    SAN_EMAIL = "san_email"
    SAN_IP = "san_ip"
    SERIAL = "serial"


class Mechanism(enum.StrEnum):
    SERVICE_CHAIN = "service_chain"
    MULTI_PARTY = "multi_party"


@dataclass(frozen=True)
class Identifier:
    """How a client certificate is recognised.

    ``value`` is the policy's spelling (a serial is normalised to decimal) and becomes the
    token subject; ``canonical`` is the form compared with certificates.
    """

    type: IdentifierType
    value: str
    canonical: str

    @property
    def is_wildcard(self) -> bool:
        return self.type is IdentifierType.SAN_DNS and WILDCARD in self.canonical

    def __str__(self) -> str:
        return f"{self.type.value}:{self.value}"


@dataclass(frozen=True)
class Grant:
    """``{ name = ..., operations = [...] }``: operations a client may ask for on a resource."""

    resource: str
    operations: tuple[str, ...]


@dataclass(frozen=True)
class Client:
    identifier: Identifier
    grants: tuple[Grant, ...] = ()
    identity_token_enabled: bool = False
    identity_token_duration: int | None = None

    @property
    def effective_identity_token_duration(self) -> int:
        return self.identity_token_duration or DEFAULT_IDENTITY_TOKEN_DURATION


@dataclass(frozen=True)
class ChainNode:
    """One service of a service chain, in traversal order."""

    component: str
    public_key: PublicKey


@dataclass(frozen=True)
class RequiredSigner:
    """One party whose sign-off a multi-party token needs."""

    name: str
    url: str
    public_key: PublicKey


@dataclass(frozen=True)
class Resource:
    name: str
    mechanisms: tuple[Mechanism, ...] = ()
    service_chain: tuple[ChainNode, ...] = ()
    required_signers: tuple[RequiredSigner, ...] = ()
    token_lifetime: int | None = None

    @property
    def lifetime(self) -> int:
        """Token lifetime in seconds (the per-resource value or the default)."""
        return self.token_lifetime or DEFAULT_TOKEN_LIFETIME


@dataclass(frozen=True)
class Policy:
    """Everything both files declare. ``resources`` is sorted by name."""

    version: str
    ca_certs_pem: str
    clients: tuple[Client, ...]
    resources: tuple[Resource, ...]


@dataclass(frozen=True)
class CommitInfo:
    """The git commit a policy was read from."""

    sha: str
    author: str = ""
    committed_at: datetime | None = None
    message: str = ""


__all__ = [
    "DEFAULT_IDENTITY_TOKEN_DURATION",
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_IDENTITY_TOKEN_DURATION",
    "MAX_TOKEN_LIFETIME",
    "POLICY_VERSION",
    "WILDCARD",
    "ChainNode",
    "Client",
    "CommitInfo",
    "Grant",
    "Identifier",
    "IdentifierType",
    "Mechanism",
    "Policy",
    "RequiredSigner",
    "Resource",
]
