"""The signer's checks and its sign-off, free of protobuf and gRPC.

:meth:`Signing.sign` runs the steps of ``Signer.SignToken`` in order and stops at
the first refusal, each with its own error (and so its own gRPC status):

0. the token, resource and operation are present, and the resource and operation are
   at most 128 characters, as any policy's names are (``InvalidRequestError``);
1. the whole token verifies under a trusted issuer key (``SignatureError``,
   ``UnknownKeyIdError``, ``MalformedTokenError``) and has not expired
   (``TokenExpiredError``);
2. it grants exactly ``operation`` on ``resource`` (``ResourceMismatchError``,
   ``OperationMismatchError``);
3. it names this signer, with this signer's key, as a party whose sign-off is still
   missing (``SignerNotRequiredError``);
4. this organisation's own policy allows the caller that operation
   (``PermissionDeniedError``);

and only then appends the ``namespace({name})`` block. The caller need not be the
token's subject: what this organisation approves is "this certificate may have this
action co-signed", decided by its own ``[[clients]]``.

Steps 1-3 are :func:`hessra_core.tokens.check_signoff_request` and the sign-off is
:func:`hessra_core.tokens.add_signoff`: the token engine owns every look inside a
token, and this module only orders the steps and adds the policy decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hessra_core.errors import InvalidRequestError, PermissionDeniedError
from hessra_core.keys import KeyPair, KeySet
from hessra_core.tokens import SignoffRequest, add_signoff, check_signoff_request
from hessra_core.x509_identity import PresentedIdentities


@dataclass(frozen=True)
class SignedToken:
    token: str = field(repr=False)  # a bearer secret
    subject: str
    pending: tuple[str, ...]
    revision: str


def _require(**values: str) -> None:
    empty = [name for name, value in values.items() if not value]
    if empty:
        raise InvalidRequestError(f"{', '.join(empty)} must not be empty")


# A policy declares resources and operations as names of 1-128 characters, so a longer
# one can never be co-signed. Refusing it up front gives a clear error instead of running
# the token check with it (into the Datalog facts) and echoing kilobytes into the status
# and the log line. The token itself is bounded by the token engine (MAX_TOKEN_CHARS).
MAX_NAME_CHARS = 128


def _bounded(**values: str) -> None:
    for name, value in values.items():
        if len(value) > MAX_NAME_CHARS:
            raise InvalidRequestError(
                f"{name} is {len(value)} characters long; at most {MAX_NAME_CHARS}"
            )


class Signing:
    """One signer's identity: its name, its key pair, and the issuer keys it trusts."""

    def __init__(self, name: str, keypair: KeyPair, issuer_keys: KeySet) -> None:
        self.name = name
        self.keypair = keypair
        self.issuer_keys = issuer_keys

    def check_token(
        self, token: str, resource: str, operation: str, *, now: datetime | None = None
    ) -> SignoffRequest:
        """Steps 1-3: trusted issuer, unexpired, exact grant, needs this signer."""
        _require(token=token, resource=resource, operation=operation)
        _bounded(resource=resource, operation=operation)
        return check_signoff_request(
            token,
            self.issuer_keys,
            signer_name=self.name,
            signer_public_key=self.keypair.public_key,
            resource=resource,
            operation=operation,
            now=now,
        )

    def decide(
        self, snapshot: Any, identities: PresentedIdentities, resource: str, operation: str
    ) -> str:
        """Step 4: this organisation's policy decides for the caller. Returns its subject."""
        decision = snapshot.decide(identities, resource, operation)
        if not decision.allowed:
            who = decision.subject or "the caller"
            raise PermissionDeniedError(
                f"{self.name}: `{who}` may not `{operation}` on `{resource}`: {decision.message}"
            )
        return str(decision.subject)

    def sign(
        self,
        token: str,
        resource: str,
        operation: str,
        *,
        snapshot: Any,
        identities: PresentedIdentities,
        now: datetime | None = None,
    ) -> SignedToken:
        checked = self.check_token(token, resource, operation, now=now)
        self.decide(snapshot, identities, resource, operation)
        signed = add_signoff(
            token, self.keypair, signer_name=self.name, root_keys=self.issuer_keys, now=now
        )
        return SignedToken(signed, checked.subject, checked.pending, str(snapshot.revision))


__all__ = ["MAX_NAME_CHARS", "SignedToken", "Signing"]
