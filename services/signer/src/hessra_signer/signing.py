"""The signer's checks and its sign-off, free of protobuf and gRPC.

:meth:`Signing.sign` runs the steps of ``Signer.SignToken`` in order and stops at
the first refusal, each with its own error (and so its own gRPC status):

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

Step 1-2 evaluate the token's own Datalog with every check in force except the
sign-off checks: those cannot pass before every signer has signed, so the
authorizer supplies ``namespace(name)`` for each signer the token requires. A fact
from the authorizer satisfies ``check if namespace(..) trusting {key}`` (biscuit
always trusts the authorizer), which is exactly "pretend the sign-offs are in"; the
signer never hands that authorizer's verdict to anyone else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hessra_core.errors import InvalidRequestError, PermissionDeniedError, SignerNotRequiredError
from hessra_core.keys import KeyPair, KeySet
from hessra_core.tokens import add_signoff
from hessra_core.tokens._authorize import CAPABILITY_SUBJECT, RIGHT_POLICY, authorize, fact
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens._errors import Context
from hessra_core.tokens._load import load_token
from hessra_core.tokens._source import DOMAIN_CHECK
from hessra_core.tokens.model import to_unix
from hessra_core.tokens.multiparty import signoff_state
from hessra_core.x509_identity import PresentedIdentities

_SUBJECTS = biscuit.Rule("found($s) <- subject($s)")


@dataclass(frozen=True)
class CheckedToken:
    """What steps 1-3 established about a token."""

    subject: str
    required: tuple[str, ...]
    signed: frozenset[str]


@dataclass(frozen=True)
class SignedToken:
    token: str
    subject: str
    pending: tuple[str, ...]
    revision: str


def _require(**values: str) -> None:
    empty = [name for name, value in values.items() if not value]
    if empty:
        raise InvalidRequestError(f"{', '.join(empty)} must not be empty")


class Signing:
    """One signer's identity: its name, its key pair, and the issuer keys it trusts."""

    def __init__(self, name: str, keypair: KeyPair, issuer_keys: KeySet) -> None:
        self.name = name
        self.keypair = keypair
        self.issuer_keys = issuer_keys

    def check_token(
        self, token: str, resource: str, operation: str, *, now: datetime | None = None
    ) -> CheckedToken:
        """Steps 1-3: trusted issuer, unexpired, exact grant, needs this signer."""
        _require(token=token, resource=resource, operation=operation)
        loaded = load_token(token, self.issuer_keys)
        required, signed = signoff_state(loaded)
        facts: list[Any] = [
            fact("time", to_unix(now)),
            fact("resource", resource),
            fact("operation", operation),
        ]
        facts += [fact("namespace", r.name) for r in required]
        # A domain-restricted token still goes to every signer; the domain binds verifiers.
        authority = loaded.biscuit.block_source(0)
        facts += [fact("domain", d) for d in DOMAIN_CHECK.findall(authority)]
        authorizer = authorize(
            loaded,
            facts,
            RIGHT_POLICY,
            lambda: Context("capability", None, resource, operation),
            rules=[CAPABILITY_SUBJECT],
        )
        subjects = sorted(str(f.terms[0]) for f in authorizer.query(_SUBJECTS))

        mine = [r for r in required if r.name == self.name]
        if not mine:
            needed = ", ".join(r.name for r in required) or "none"
            raise SignerNotRequiredError(
                f"token does not require a sign-off from {self.name} (required: {needed})"
            )
        own_key = self.keypair.public_key.to_string()
        if all(r.public_key != own_key for r in mine):
            raise SignerNotRequiredError(
                f"token requires {self.name} to sign with a different key than {own_key}"
            )
        if self.name in signed:
            raise SignerNotRequiredError(f"token already carries the sign-off of {self.name}")
        return CheckedToken(subjects[0], tuple(r.name for r in required), frozenset(signed))

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
        done = checked.signed | {self.name}
        pending = tuple(n for n in checked.required if n not in done)
        return SignedToken(signed, checked.subject, pending, str(snapshot.revision))


__all__ = ["CheckedToken", "SignedToken", "Signing"]
