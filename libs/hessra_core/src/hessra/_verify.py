"""Local (offline) verification: the one path the SDK, the middleware and the CLI share.

``verify_token_local`` and ``verify_service_chain_token_local`` mirror the seed's
client methods, with the trusted key(s) passed explicitly. ``LocalVerifier``
binds the keys (and, for a service in a chain, the chain and its own
component) once; the middleware holds one, and the networked ``Hessra`` client
will hold one built from the issuer's published keys, so "verify locally"
means the same thing everywhere.

Every refusal raises a typed ``TokenError`` subclass; nothing here returns
``False``, so a caller cannot forget to check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from hessra._chain import ServiceChain
from hessra._errors import MissingFieldError, MissingTokenError
from hessra_core.errors import ConfigError
from hessra_core.keys import KeySet, PublicKey
from hessra_core.tokens import (
    ServiceNode,
    VerifiedToken,
    verify_service_chain_token,
    verify_token,
)

KeysLike = PublicKey | KeySet | str | bytes | Iterable[PublicKey | str]
ChainLike = ServiceChain | Sequence[ServiceNode] | str


def coerce_keys(keys: KeysLike) -> PublicKey | KeySet:
    """The trusted key(s) from one key, a KeySet, key text (``ed25519/<hex>`` or PEM) or a list.

    One key stays a ``PublicKey``: the engine then trusts it whatever root key id
    the token carries (tokens from other issuers may carry none, or their own).
    Several keys become a ``KeySet``, where the token's key id picks the key.
    """
    if isinstance(keys, KeySet | PublicKey):
        return keys
    if isinstance(keys, str | bytes):
        return PublicKey.parse(keys)
    parsed = [k if isinstance(k, PublicKey) else PublicKey.parse(k) for k in keys]
    if not parsed:
        raise ConfigError(["at least one trusted public key is required"], source="verifier")
    return parsed[0] if len(parsed) == 1 else KeySet.of(*parsed)


def coerce_chain(chain: ChainLike) -> ServiceChain:
    if isinstance(chain, ServiceChain):
        return chain
    if isinstance(chain, str):
        return ServiceChain.from_json(chain)
    return ServiceChain(tuple(chain))


@dataclass(frozen=True)
class AuthContext:
    """What a verified request proved: subject, resource and operation, and the token.

    The token is kept for forwarding (a service in a chain attests it and passes
    it on) and is never shown in a repr.
    """

    subject: str
    resource: str
    operation: str
    token: str = field(repr=False)
    verified: VerifiedToken | None = field(default=None, repr=False, compare=False)
    component: str | None = None

    @property
    def triple(self) -> tuple[str, str, str]:
        return (self.subject, self.resource, self.operation)


def _require(value: str | None, name: str, where: str) -> str:
    if not value:
        raise MissingFieldError(name, where)
    return value


@dataclass(frozen=True)
class LocalVerifier:
    """Verifies tokens offline against trusted keys, optionally as a node of a service chain.

    With ``chain`` set, every token must carry the chain's attestations in order up
    to ``component`` (all of them when ``component`` is None: the last service).
    """

    keys: PublicKey | KeySet
    chain: ServiceChain | None = None
    component: str | None = None
    domain: str | None = None

    def __post_init__(self) -> None:
        if self.component is not None and self.chain is None:
            raise ConfigError(["a component was given without a service chain"], source="verifier")
        if self.chain is not None and not self.chain.nodes:
            # An empty chain demands no attestation, so it would accept a chain token no
            # node ever attested. Fail closed: a chain list that came out empty is a mistake.
            raise ConfigError(
                ["the service chain has no nodes: give its nodes, or no chain at all"],
                source="verifier",
            )

    @classmethod
    def create(
        cls,
        keys: KeysLike,
        *,
        chain: ChainLike | None = None,
        component: str | None = None,
        domain: str | None = None,
    ) -> LocalVerifier:
        return cls(
            keys=coerce_keys(keys),
            chain=None if chain is None else coerce_chain(chain),
            component=component,
            domain=domain,
        )

    def verify(
        self,
        token: str | None,
        subject: str | None,
        resource: str | None,
        operation: str | None,
        *,
        now: datetime | None = None,
        where: str = "request",
    ) -> AuthContext:
        """Verify ``token`` grants exactly (subject, resource, operation); raise if not."""
        token = (token or "").strip()
        if not token:
            raise MissingTokenError(where)
        subject = _require(subject, "subject", where)
        resource = _require(resource, "resource", where)
        operation = _require(operation, "operation", where)
        if self.chain is not None:
            chain, component = self.chain, self.component
            if component is not None and component not in chain:
                # The seed's partial chain: the nodes before this component, without it.
                # Every node given must have attested. (A mistyped component with a full
                # chain therefore demands its own attestation too, and fails closed.)
                component = None
            verified = verify_service_chain_token(
                token,
                self.keys,
                subject=subject,
                resource=resource,
                operation=operation,
                chain=chain.nodes,
                component=component,
                domain=self.domain,
                now=now,
            )
        else:
            verified = verify_token(
                token,
                self.keys,
                subject=subject,
                resource=resource,
                operation=operation,
                domain=self.domain,
                now=now,
            )
        return AuthContext(
            subject=subject,
            resource=resource,
            operation=operation,
            token=token,
            verified=verified,
            component=self.component,
        )


def verify_token_local(
    token: str,
    subject: str,
    resource: str,
    operation: str,
    *,
    public_key: KeysLike,
    domain: str | None = None,
    now: datetime | None = None,
) -> AuthContext:
    """Verify ``token`` offline; raises a ``TokenError`` subclass when it is refused."""
    verifier = LocalVerifier.create(public_key, domain=domain)
    return verifier.verify(token, subject, resource, operation, now=now, where="arguments")


def verify_service_chain_token_local(
    token: str,
    subject: str,
    resource: str,
    operation: str,
    chain: ChainLike,
    component: str | None = None,
    *,
    public_key: KeysLike,
    now: datetime | None = None,
) -> AuthContext:
    """Verify a service-chain token as ``component`` (None: as the last service)."""
    verifier = LocalVerifier.create(public_key, chain=chain, component=component)
    return verifier.verify(token, subject, resource, operation, now=now, where="arguments")


__all__ = [
    "AuthContext",
    "LocalVerifier",
    "coerce_chain",
    "coerce_keys",
    "verify_service_chain_token_local",
    "verify_token_local",
]
