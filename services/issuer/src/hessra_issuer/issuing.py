"""The issuer's decisions and minting, free of protobuf and gRPC.

The servicer converts messages to calls on :class:`Issuing` and back. Every method
takes one :class:`ServingState` for the whole request, so a snapshot swap in the
middle of a request cannot mix two policies.

Identity-token callers (``Caller.actor``): the minted token's subject is the actor
itself (``base:child`` when delegated). The permissions are those of a client the
policy names by the actor exactly (never through a DNS wildcard) when there is one,
otherwise those of the base client: a delegate the policy does not name never holds
more than the identity it was delegated from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hessra_core import tokens
from hessra_core.errors import (
    AuthenticationError,
    InvalidRequestError,
    PermissionDeniedError,
    PreconditionError,
)
from hessra_core.keyring import Keyring
from hessra_core.policy.model import MAX_TOKEN_LIFETIME
from hessra_core.service.snapshot_holder import ServingState
from hessra_issuer.authn import Caller

_UNAUTHENTICATED_REASONS = frozenset({"unknown_client", "ambiguous_client"})
# Grants remembered per snapshot: callers x (resource, operation) pairs actually asked for.
_GRANT_CACHE_SIZE = 4096


@dataclass(frozen=True)
class PendingSignoff:
    name: str
    endpoint: str
    public_key: str


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)  # a bearer secret
    expires_at: datetime
    subject: str
    revision: str
    key_id: int
    pending_signoffs: tuple[PendingSignoff, ...] = ()
    token_id: str = ""


@dataclass(frozen=True)
class _Grant:
    """What an allowed decision puts into every token minted for it."""

    subject: str
    lifetime: int
    chain: tuple[tokens.ServiceNode, ...]
    signers: tuple[tokens.SignerRef, ...]
    pending: tuple[PendingSignoff, ...]


def _require(**fields: str) -> None:
    empty = [name for name, value in fields.items() if not value]
    if empty:
        raise InvalidRequestError(f"{', '.join(empty)} must not be empty")


# A policy declares resources and operations as names of 1-128 characters, so a longer one
# can never be granted; a domain is a host-like name (at most 253 characters, as in DNS).
# Refusing them up front gives a clear error instead of echoing kilobytes into the status
# and the log line (and, for a domain, into the token).
MAX_NAME_CHARS = 128
MAX_DOMAIN_CHARS = 253


def _bounded(**fields: tuple[str | None, int]) -> None:
    for name, (value, limit) in fields.items():
        if value is not None and len(value) > limit:
            raise InvalidRequestError(f"{name} is {len(value)} characters long; at most {limit}")


def _ttl(requested: int | None, configured: int) -> int:
    if requested is not None and not 1 <= requested <= MAX_TOKEN_LIFETIME:
        raise InvalidRequestError(f"ttl_seconds must be 1..{MAX_TOKEN_LIFETIME}, got {requested}")
    return min(requested or configured, configured, MAX_TOKEN_LIFETIME)


def token_id(token: str) -> str:
    """An opaque id for audit logs: the first 16 bytes of the token's SHA-256, hex.

    Anyone holding the token can recompute it; it reveals nothing about the token.
    """
    return hashlib.sha256(token.encode("ascii")).hexdigest()[:32]


class Issuing:
    """Decide and mint for one worker, with the worker's keyring."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        # A decision is a pure function of (snapshot, caller, resource, operation), and a
        # busy caller asks for the same few pairs over and over: remember the allowed ones
        # for the snapshot being served. A new snapshot starts an empty cache; refusals
        # are never cached, so they are decided (and explained) afresh every time.
        # The state and its cache are swapped as one value, so a cache never outlives its state.
        self._grants: tuple[ServingState | None, dict[tuple[Caller, str, str], _Grant]] = (None, {})

    def decide(self, caller: Caller, state: ServingState, resource: str, operation: str) -> Any:
        snapshot = state.snapshot
        if caller.identities is not None:
            decision = snapshot.decide(caller.identities, resource, operation)
        else:
            # The token's owner must still be a client allowed identity tokens in *this*
            # snapshot: a policy that removes the client or turns its identity tokens off
            # revokes the tokens already out there, and every delegation made from them
            # (even a delegate the policy names as a client of its own).
            self._identity_client(state, caller.base_subject or caller.actor or "")
            actor = caller.actor or ""
            basis = caller.base_subject or actor
            if actor != basis:
                # A delegate acts with its own permissions only when the policy names it
                # exactly. The holder of the parent token picks the child's name, so a
                # DNS wildcard (`*.partner.test` "matching" `base:x.partner.test`) must
                # not hand it the permissions of an unrelated client.
                named = snapshot.match_subject(actor)
                if named is not None and not named.client.identifier.is_wildcard:
                    basis = actor
            decision = snapshot.decide_subject(basis, resource, operation)
        if decision.allowed:
            return decision
        reason = str(decision.reason) if decision.reason else "denied"
        if reason in _UNAUTHENTICATED_REASONS:
            raise AuthenticationError(decision.message)
        subject = caller.actor or decision.subject or caller.label
        raise PermissionDeniedError(
            f"`{subject}` may not `{operation}` on `{resource}`: {decision.message}"
        )

    def _grant(self, caller: Caller, state: ServingState, resource: str, operation: str) -> _Grant:
        cached_for, grants = self._grants
        if cached_for is not state:
            grants = {}
            self._grants = (state, grants)
        key = (caller, resource, operation)
        grant = grants.get(key)
        if grant is not None:
            return grant
        decision = self.decide(caller, state, resource, operation)
        signers = decision.required_signers
        grant = _Grant(
            caller.actor or decision.subject,
            decision.lifetime,
            tuple(tokens.ServiceNode(n.component, n.public_key) for n in decision.service_chain),
            tuple(tokens.SignerRef(s.name, s.public_key, s.url) for s in signers),
            tuple(PendingSignoff(s.name, s.url, s.public_key.to_string()) for s in signers),
        )
        if len(grants) >= _GRANT_CACHE_SIZE:
            grants.pop(next(iter(grants)))  # the oldest entry
        grants[key] = grant
        return grant

    def request_token(
        self,
        caller: Caller,
        state: ServingState,
        *,
        resource: str,
        operation: str,
        domain: str | None = None,
        ttl: int | None = None,
    ) -> IssuedToken:
        if not (resource and operation):
            _require(resource=resource, operation=operation)
        if len(resource) > MAX_NAME_CHARS or len(operation) > MAX_NAME_CHARS or domain:
            _bounded(
                resource=(resource, MAX_NAME_CHARS),
                operation=(operation, MAX_NAME_CHARS),
                domain=(domain, MAX_DOMAIN_CHARS),
            )
        grant = self._grant(caller, state, resource, operation)
        key_id = self.keyring.active_key_id
        minted = tokens.mint_token(
            self.keyring.active,
            subject=grant.subject,
            resource=resource,
            operation=operation,
            ttl=_ttl(ttl, grant.lifetime),
            domain=domain or None,
            service_chain=grant.chain,
            signers=grant.signers,
            key_id=key_id,
            revision=state.revision,
        )
        return IssuedToken(
            minted.token,
            minted.expires_at,
            grant.subject,
            state.revision,
            key_id,
            grant.pending,
            token_id(minted.token),
        )

    def _identity_client(self, state: ServingState, subject: str) -> Any:
        match = state.snapshot.match_subject(subject)
        if match is None:
            raise AuthenticationError(f"no client in the policy is `{subject}`")
        if not match.client.identity_token_enabled:
            raise PermissionDeniedError(f"identity tokens are not enabled for `{subject}`")
        return match.client

    def request_identity_token(
        self,
        caller: Caller,
        state: ServingState,
        *,
        identifier: str | None = None,
        ttl: int | None = None,
    ) -> IssuedToken:
        if caller.identities is None:
            raise AuthenticationError(
                "RequestIdentityToken needs a client certificate; "
                "refresh an identity token with RefreshIdentityToken"
            )
        match = state.snapshot.match(caller.identities)
        if match is None:
            # No client, or several (an ambiguous certificate is refused, never resolved
            # to one of them): the decision's message says which, naming the candidates.
            why = state.snapshot.decide(caller.identities, "", "")
            raise AuthenticationError(f"client certificate {caller.label}: {why.message}")
        subject = match.subject
        if identifier and identifier != subject:
            other = state.snapshot.match(_only(caller, identifier))
            if other is None or other.subject != identifier:
                raise PermissionDeniedError(
                    f"`{identifier}` is not one of the identities of {caller.label}"
                )
            subject = identifier
        client = self._identity_client(state, subject)
        return self._mint_identity(state, subject, client, ttl)

    def refresh_identity_token(
        self, state: ServingState, *, current_token: str, identifier: str | None = None
    ) -> IssuedToken:
        _require(current_token=current_token)
        from hessra_issuer.authn import authenticate_identity_token

        presented = authenticate_identity_token(current_token, self.keyring.keys)
        if presented.actor != presented.base_subject:
            # Refreshing a delegated token would hand the delegate its parent's identity.
            raise PermissionDeniedError(
                f"a delegated identity token (`{presented.actor}`) cannot be refreshed"
            )
        if len(tokens.inspect_token(current_token, self.keyring.keys).blocks) > 1:
            # An attenuated token (a just-in-time derivative, or one with any other block
            # appended) is what travels and may be intercepted: refreshing it would turn a
            # few seconds of validity into a fresh full-lifetime token.
            raise PermissionDeniedError(
                "only an identity token as issued can be refreshed, not one with blocks appended"
            )
        subject = presented.actor or ""
        if identifier and identifier != subject:
            raise PermissionDeniedError(
                f"the identity token is for `{subject}`, not `{identifier}`"
            )
        client = self._identity_client(state, subject)
        return self._mint_identity(state, subject, client, None)

    def _mint_identity(
        self, state: ServingState, subject: str, client: Any, ttl: int | None
    ) -> IssuedToken:
        configured = int(client.effective_identity_token_duration)
        if ttl is not None and ttl < 1:
            raise InvalidRequestError("ttl_seconds must be at least 1")
        minted = tokens.mint_identity_token(
            self.keyring.active,
            subject=subject,
            ttl=min(ttl or configured, configured),
            key_id=self.keyring.active_key_id,
        )
        return IssuedToken(
            minted.token, minted.expires_at, subject, state.revision, self.keyring.active_key_id
        )

    def service_chain(self, state: ServingState, resource: str, component: str | None) -> Any:
        declared = state.snapshot.resource(resource)
        if declared is None or not declared.service_chain:
            raise PreconditionError(f"resource `{resource}` has no service chain in the policy")
        nodes = [tokens.ServiceNode(n.component, n.public_key) for n in declared.service_chain]
        if component and component not in {n.component for n in nodes}:
            raise InvalidRequestError(
                f"component `{component}` is not in the service chain of `{resource}`"
            )
        return nodes


def _only(caller: Caller, identifier: str) -> Any:
    """The caller's presented identities narrowed to the one equal to ``identifier``."""
    from hessra_core.x509_identity import PresentedIdentities

    ids = caller.identities or PresentedIdentities()
    return PresentedIdentities(
        uris=tuple(u for u in ids.uris if identifier in (u, f"uri:{u}")),
        dns=tuple(d for d in ids.dns if d == identifier.lower()),
        emails=tuple(e for e in ids.emails if e.lower() == identifier.lower()),
        ips=tuple(i for i in ids.ips if i == identifier),
        serial=ids.serial if ids.serial == identifier else None,
    )


__all__ = ["IssuedToken", "Issuing", "PendingSignoff"]
