"""Multi-party tokens: every required signer appends a sign-off before the token verifies.

The authority block carries ``check if namespace({signer}) trusting {key}``
for each signer, so the token fails every verifier until each signer has
appended a third-party block ``namespace({signer});`` signed with its key.

A signer checks the whole token under the issuer keys it trusts before it
signs: a third-party block request alone could be made to carry another
issuer's token (the lesson of CVE-2024-41949). :func:`check_signoff_request`
is that check, and :func:`add_signoff` appends the block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hessra_core.errors import SignerNotRequiredError, TokenExpiredError
from hessra_core.keys import KeyPair, PublicKey
from hessra_core.tokens import _authority as src
from hessra_core.tokens._authorize import (
    CAPABILITY_SUBJECT,
    RIGHT_POLICY,
    authorize,
    fact,
    query,
    require_str,
    world,
)
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens._errors import Context
from hessra_core.tokens._load import Keys, LoadedToken, append_third_party, load_token
from hessra_core.tokens._source import (
    Requirement,
    earliest_expiry,
    only_domain,
    required_signers,
)
from hessra_core.tokens.model import check_name, from_unix, to_unix

_SUBJECTS = biscuit.Rule("found($s) <- subject($s)")


def signoff_state(loaded: LoadedToken) -> tuple[list[Requirement], set[str]]:
    """The signers the token requires, and the names among them that have signed."""
    required = required_signers(loaded.biscuit.block_source(0))
    if not required:
        return required, set()
    authorizer = world(loaded.biscuit)
    signed: set[str] = set()
    for req in required:
        key = PublicKey.parse(req.public_key).to_biscuit()
        rule = biscuit.Rule("signed($n) <- namespace($n) trusting {k}", None, {"k": key})
        names = {str(f.terms[0]) for f in query(authorizer, rule)}
        if req.name in names:
            signed.add(req.name)
    return required, signed


def pending_signoffs(token: str, root_keys: Keys) -> list[str]:
    """Names of the required signers that have not signed yet, in the token's order."""
    required, signed = signoff_state(load_token(token, root_keys))
    return [r.name for r in required if r.name not in signed]


@dataclass(frozen=True)
class SignoffRequest:
    """What :func:`check_signoff_request` established about a token a signer is asked to sign.

    ``required`` lists every signer the token names, in the token's order;
    ``signed`` those among them whose sign-off it already carries (never the
    asking signer: that is a refusal). ``pending`` is what will still be missing
    once the asking signer has signed.
    """

    subject: str
    resource: str
    operation: str
    domain: str | None
    signer_name: str
    required: tuple[str, ...]
    signed: frozenset[str]
    root_key_id: int | None
    expires_at: datetime | None

    @property
    def pending(self) -> tuple[str, ...]:
        done = self.signed | {self.signer_name}
        return tuple(name for name in self.required if name not in done)


def check_signoff_request(
    token: str,
    root_keys: Keys,
    *,
    signer_name: str,
    signer_public_key: PublicKey,
    resource: str,
    operation: str,
    now: datetime | None = None,
) -> SignoffRequest:
    """Check, before signing, that ``signer_name`` should co-sign ``token`` for this action.

    The checks run in this order and stop at the first refusal:

    1. every signature verifies under ``root_keys`` (``SignatureError``,
       ``UnknownKeyIdError``, ``MalformedTokenError``);
    2. the token's own Datalog passes at ``now`` with every check in force
       except the sign-off checks, and it grants ``operation`` on ``resource``
       to someone (``TokenExpiredError``, ``ResourceMismatchError``,
       ``OperationMismatchError``, or another ``TokenError`` saying which check
       failed);
    3. it names ``signer_name`` as a required signer (``SignerNotRequiredError``),
       with ``signer_public_key`` as its key (``SignerNotRequiredError``), and
       does not carry that sign-off yet (``SignerNotRequiredError``).

    Sign-off checks cannot pass before every signer has signed, so step 2
    assumes all of them have (``authorize(assume_signed=...)``); that authorizer
    only answers "is this the token to sign", never "does this token verify".
    A domain-restricted token is checked under its own domain: the domain binds
    verifiers, and every signer still sees the token.
    """
    require_str(("resource", resource), ("operation", operation))
    check_name("signer name", signer_name)
    if not isinstance(signer_public_key, PublicKey):
        raise TypeError("signer_public_key must be a hessra_core.keys.PublicKey")
    loaded = load_token(token, root_keys)
    required, signed = signoff_state(loaded)
    domain = only_domain(loaded.biscuit.block_source(0))
    facts = [fact("time", to_unix(now)), fact("resource", resource), fact("operation", operation)]
    if domain is not None:
        facts.append(fact("domain", domain))

    def ctx() -> Context:  # built only if the check fails
        return Context("capability", None, resource, operation, domain)

    authorizer = authorize(
        loaded,
        facts,
        RIGHT_POLICY,
        ctx,
        rules=[CAPABILITY_SUBJECT],
        assume_signed=[r.name for r in required],
    )
    subjects = sorted(str(f.terms[0]) for f in query(authorizer, _SUBJECTS))

    mine = [r for r in required if r.name == signer_name]
    if not mine:
        needed = ", ".join(r.name for r in required) or "none"
        raise SignerNotRequiredError(
            f"token does not require a sign-off from {signer_name} (required: {needed})"
        )
    own_key = signer_public_key.to_string()
    if all(r.public_key != own_key for r in mine):
        raise SignerNotRequiredError(
            f"token requires {signer_name} to sign with a different key than {own_key}"
        )
    if signer_name in signed:
        raise SignerNotRequiredError(f"token already carries the sign-off of {signer_name}")
    return SignoffRequest(
        subject=subjects[0],
        resource=resource,
        operation=operation,
        domain=domain,
        signer_name=signer_name,
        required=tuple(r.name for r in required),
        signed=frozenset(signed),
        root_key_id=loaded.root_key_id,
        expires_at=earliest_expiry(loaded.biscuit),
    )


def add_signoff(
    token: str,
    keypair: KeyPair,
    *,
    signer_name: str,
    root_keys: Keys,
    now: datetime | None = None,
) -> str:
    """Append ``signer_name``'s sign-off, signed by ``keypair``.

    Refuses (``SignerNotRequiredError``) when the token does not require this
    signer with this key. Signing twice returns the token unchanged.
    """
    check_name("signer name", signer_name)
    loaded = load_token(token, root_keys)
    expiry = earliest_expiry(loaded.biscuit)
    if expiry is not None and expiry <= from_unix(to_unix(now)):
        raise TokenExpiredError(expiry)
    required, signed = signoff_state(loaded)
    mine = [r for r in required if r.name == signer_name]
    if not mine:
        raise SignerNotRequiredError(f"token does not require a sign-off from {signer_name}")
    if all(r.public_key != keypair.public_key.to_string() for r in mine):
        raise SignerNotRequiredError(
            f"token requires {signer_name} to sign with a different key than {keypair.public_key}"
        )
    if signer_name in signed:
        return token.strip()
    return append_third_party(loaded, keypair, src.SIGNOFF_BLOCK, {"signer": signer_name})


__all__ = ["SignoffRequest", "add_signoff", "check_signoff_request", "pending_signoffs"]
