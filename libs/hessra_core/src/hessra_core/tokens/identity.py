"""Identity tokens in Hessra's identity format, delegation, and short-lived derivatives.

An identity token says who its holder is (``subject``) and which actors may
present it: exactly the subject, or (when delegatable) the subject and any
``subject:...`` below it. Delegation appends a block that narrows the actor to
``{identity}:{child}`` with its own, shorter expiry; the holder can narrow,
never widen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hessra_core.errors import IdentityMismatchError
from hessra_core.keys import KeyPair, PublicKey
from hessra_core.tokens import _authority as src
from hessra_core.tokens._authorize import (
    IDENTITY_POLICY,
    authorize,
    fact,
    query,
    require_str,
    world,
)
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens._errors import Context, append_failure
from hessra_core.tokens._load import Keys, LoadedToken, load_token
from hessra_core.tokens._source import (
    ACTOR_CHECK,
    ACTOR_PREFIX_CHECK,
    DELEGATED_FACT,
    only_domain,
)
from hessra_core.tokens.limits import DEFAULT_LIMITS, RunLimits
from hessra_core.tokens.model import (
    DEFAULT_TTL,
    MAX_IDENTITY_TTL,
    MintedToken,
    VerifiedIdentity,
    check_key_id,
    check_ttl,
    from_unix,
    to_unix,
)

JIT_TTL = 5
"""Seconds a just-in-time derivative lives: long enough to cross the network once."""

_SUBJECT = biscuit.Rule("found($s) <- subject($s)")


def mint_identity_token(
    keypair: KeyPair,
    *,
    subject: str,
    ttl: int = DEFAULT_TTL,
    delegatable: bool = True,
    domain: str | None = None,
    key_id: int | None = None,
    now: datetime | None = None,
) -> MintedToken:
    if not isinstance(subject, str) or not subject:
        raise ValueError("subject must be a non-empty string")
    check_ttl(ttl, maximum=MAX_IDENTITY_TTL)
    check_key_id(key_id)
    expiration = to_unix(now) + ttl
    authority = src.IDENTITY_DELEGATABLE if delegatable else src.IDENTITY_EXACT
    builder = biscuit.BiscuitBuilder(authority, {"subject": subject, "expiration": expiration})
    if domain is not None:
        if not isinstance(domain, str) or not domain:
            raise ValueError("domain must be a non-empty string or None")
        builder.add_code(src.IDENTITY_DOMAIN, {"domain": domain})
    builder.set_root_key_id(keypair.public_key.key_id if key_id is None else key_id)
    token = builder.build(keypair.to_biscuit().private_key).to_base64()
    return MintedToken(token, from_unix(expiration), subject)


def _append_ephemeral(loaded: LoadedToken, code: str, params: dict[str, Any]) -> str:
    # Like Hessra, sign attenuation blocks with a throwaway third-party key: it
    # lets a later call read the block's facts back through a `trusting` query.
    ephemeral = KeyPair.generate()
    try:
        request = loaded.biscuit.third_party_request()
        block = request.create_block(
            ephemeral.to_biscuit().private_key, biscuit.BlockBuilder(code, params)
        )
        appended = loaded.biscuit.append_third_party(ephemeral.public_key.to_biscuit(), block)
        return str(appended.to_base64())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise append_failure(exc) from exc


def _subject(authorizer: Any) -> str:
    found = sorted(str(f.terms[0]) for f in query(authorizer, _SUBJECT))
    if len(found) != 1:
        raise IdentityMismatchError("identity token must name exactly one subject")
    return found[0]


def _narrowest_identity(loaded: LoadedToken, subject: str) -> str:
    """The longest identity the token's delegation blocks narrow it to.

    Our delegation blocks carry a ``delegated`` fact, read through a Datalog
    query. Blocks appended by Hessra's tools carry only the actor check; for
    those the identity is read from the printed check. Either way the result
    is only a claim: callers verify it with ``verify_identity_token``. Two
    claims of which neither narrows the other raise ``IdentityMismatchError``.
    """
    token = loaded.biscuit
    authorizer = world(token)
    narrowest = subject
    for i in range(1, token.block_count()):
        source = token.block_source(i)
        external = token.block_external_key(i)
        claimed: list[str] = []
        if external is not None and DELEGATED_FACT.search(source):
            rule = biscuit.Rule(
                "d($i) <- delegated($i) trusting {k}",
                None,
                {"k": PublicKey.parse(str(external)).to_biscuit()},
            )
            claimed = [str(f.terms[0]) for f in query(authorizer, rule)]
        else:
            claimed = [a for a, b in ACTOR_CHECK.findall(source) if a == b]
            claimed += ACTOR_PREFIX_CHECK.findall(source)
        # Shortest first, so nested claims in one block narrow step by step
        # whatever order the query returned them in.
        for identity in sorted(set(claimed), key=lambda c: (len(c), c)):
            if identity.startswith(narrowest + ":"):
                narrowest = identity
            elif identity != narrowest and not narrowest.startswith(identity + ":"):
                # Neither wider nor narrower: the token names two identities and
                # picking one would be arbitrary. (A wider claim narrows nothing.)
                raise IdentityMismatchError(
                    f"identity token is ambiguous: it delegates to both {narrowest!r} "
                    f"and {identity!r}"
                )
    return narrowest


def claimed_actor(token: str, root_keys: Keys) -> str:
    """The identity a (possibly delegated) identity token speaks for, unverified.

    Checks signatures, then reads the narrowest delegated identity. Pass the
    result to ``verify_identity_token`` as ``actor`` before trusting it.
    """
    loaded = load_token(token, root_keys)
    return _narrowest_identity(loaded, _subject_of(loaded))


def verify_identity_token(
    token: str,
    keys: Keys,
    *,
    actor: str,
    domain: str | None = None,
    now: datetime | None = None,
    limits: RunLimits = DEFAULT_LIMITS,
) -> VerifiedIdentity:
    """Verify that ``token`` is a live identity token covering ``actor``."""
    require_str(("actor", actor))
    return _verify_loaded(load_token(token, keys), actor, domain, now, limits)


def verify_acting_identity(
    token: str,
    keys: Keys,
    *,
    domain: str | None = None,
    now: datetime | None = None,
    limits: RunLimits = DEFAULT_LIMITS,
) -> VerifiedIdentity:
    """Verify ``token`` for the identity it acts as, and return both identities.

    The acting identity is the narrowest one its delegation blocks narrow it to
    (what :func:`claimed_actor` reads); it is trusted only because the whole token,
    signature, expiry and every block's checks, then verifies for exactly that actor.
    ``.actor`` is who acts (``alice:agent`` for a delegated token), ``.subject`` whom
    the token was issued to (``alice``). For a service that takes identity tokens as
    credentials and has no actor of its own to ask about.
    """
    loaded = load_token(token, keys)
    actor = _narrowest_identity(loaded, _subject_of(loaded))
    return _verify_loaded(loaded, actor, domain, now, limits)


def _verify_loaded(
    loaded: LoadedToken,
    actor: str,
    domain: str | None,
    now: datetime | None,
    limits: RunLimits,
) -> VerifiedIdentity:
    facts = [fact("time", to_unix(now)), fact("actor", actor)]
    if domain is not None:
        require_str(("domain", domain))
        facts.append(fact("domain", domain))

    def ctx() -> Context:  # built only if verification fails
        return Context("identity", domain=domain, actor=actor)

    authorizer = authorize(loaded, facts, IDENTITY_POLICY, ctx, limits=limits)
    return VerifiedIdentity(_subject(authorizer), actor, loaded.root_key_id, loaded.biscuit)


def delegate_identity_token(
    token: str,
    *,
    child: str,
    ttl: int,
    root_keys: Keys,
    now: datetime | None = None,
) -> str:
    """Narrow the token to ``{identity}:{child}`` for ``ttl`` seconds.

    The token must verify (signature, expiry) and allow delegation to the new
    identity, otherwise this raises the verification error.
    """
    if not isinstance(child, str) or not child:
        raise ValueError("child must be a non-empty string")
    check_ttl(ttl, maximum=MAX_IDENTITY_TTL)
    loaded = load_token(token, root_keys)
    subject = _subject_of(loaded)
    identity = f"{_narrowest_identity(loaded, subject)}:{child}"
    # Delegating is only meaningful if the token would accept the new identity.
    # A domain restriction binds verifiers, not the holder: check under the
    # token's own domain (the delegated token keeps the restriction).
    domain = only_domain(loaded.biscuit.block_source(0))
    verify_identity_token(token, root_keys, actor=identity, domain=domain, now=now)
    params = {"identity": identity, "expiration": to_unix(now) + ttl}
    return _append_ephemeral(loaded, src.DELEGATION_BLOCK, params)


def _subject_of(loaded: LoadedToken) -> str:
    return _subject(world(loaded.biscuit))


def jit_identity_token(
    token: str,
    *,
    root_keys: Keys,
    ttl: int = JIT_TTL,
    now: datetime | None = None,
) -> str:
    """A derivative that expires in ``ttl`` seconds, for sending over the network.

    The long-lived token stays with its holder; what travels is useless a few
    seconds later. The identity and every existing restriction are kept.
    """
    check_ttl(ttl, maximum=MAX_IDENTITY_TTL)
    loaded = load_token(token, root_keys)
    return _append_ephemeral(loaded, src.EXPIRY_BLOCK, {"expiration": to_unix(now) + ttl})


__all__ = [
    "JIT_TTL",
    "claimed_actor",
    "delegate_identity_token",
    "jit_identity_token",
    "mint_identity_token",
    "verify_acting_identity",
    "verify_identity_token",
]
