"""Multi-party tokens: every required signer appends a sign-off before the token verifies.

The authority block carries ``check if namespace({signer}) trusting {key}``
for each signer, so the token fails every verifier until each signer has
appended a third-party block ``namespace({signer});`` signed with its key.

A signer checks the whole token under the issuer keys it trusts before it
signs: a third-party block request alone could be made to carry another
issuer's token (the lesson of CVE-2024-41949).
"""

from __future__ import annotations

from datetime import datetime

from hessra_core.errors import SignerNotRequiredError, TokenExpiredError
from hessra_core.keys import KeyPair, PublicKey
from hessra_core.tokens import _authority as src
from hessra_core.tokens._authorize import query, world
from hessra_core.tokens._biscuit import biscuit
from hessra_core.tokens._errors import append_failure
from hessra_core.tokens._load import Keys, LoadedToken, load_token
from hessra_core.tokens._source import Requirement, earliest_expiry, required_signers
from hessra_core.tokens.model import check_name, from_unix, to_unix


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
    try:
        request = loaded.biscuit.third_party_request()
        block = request.create_block(
            keypair.to_biscuit().private_key,
            biscuit.BlockBuilder(src.SIGNOFF_BLOCK, {"signer": signer_name}),
        )
        signed_token = loaded.biscuit.append_third_party(keypair.public_key.to_biscuit(), block)
        return str(signed_token.to_base64())
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise append_failure(exc) from exc


__all__ = ["add_signoff", "pending_signoffs"]
