"""Biscuit tokens in Hessra's format: mint, verify, attest, sign off, delegate, inspect.

Every failure raises a ``hessra_core.errors.TokenError`` subclass that says
what failed. Verification is stricter than Hessra's own: a token grants only
the exact subject, resource and operation the verifier asks about, service
chain attestations must follow the configured order, and Datalog runs under
explicit limits.

Keys: pass a ``PublicKey`` to trust exactly that key, or a ``KeySet`` to pick
the key by the token's root key id (a token without an id is accepted only by
a set holding exactly one key).
"""

from hessra_core.tokens._load import MAX_TOKEN_CHARS, configure_token_cache
from hessra_core.tokens.chain import attest_service_chain_token, verify_service_chain_token
from hessra_core.tokens.identity import (
    JIT_TTL,
    claimed_actor,
    delegate_identity_token,
    jit_identity_token,
    mint_identity_token,
    verify_acting_identity,
    verify_identity_token,
)
from hessra_core.tokens.inspect import BlockInfo, ChainNodeInfo, TokenInfo, inspect_token
from hessra_core.tokens.limits import DEFAULT_LIMITS, RunLimits
from hessra_core.tokens.mint import mint_token
from hessra_core.tokens.model import (
    DEFAULT_TTL,
    MAX_IDENTITY_TTL,
    MAX_TTL,
    MintedToken,
    ServiceNode,
    SignerRef,
    VerifiedIdentity,
    VerifiedToken,
)
from hessra_core.tokens.multiparty import (
    SignoffRequest,
    add_signoff,
    check_signoff_request,
    pending_signoffs,
)
from hessra_core.tokens.verify import verify_capability, verify_token

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TTL",
    "JIT_TTL",
    "MAX_IDENTITY_TTL",
    "MAX_TOKEN_CHARS",
    "MAX_TTL",
    "BlockInfo",
    "ChainNodeInfo",
    "MintedToken",
    "RunLimits",
    "ServiceNode",
    "SignerRef",
    "SignoffRequest",
    "TokenInfo",
    "VerifiedIdentity",
    "VerifiedToken",
    "add_signoff",
    "attest_service_chain_token",
    "check_signoff_request",
    "claimed_actor",
    "configure_token_cache",
    "delegate_identity_token",
    "inspect_token",
    "jit_identity_token",
    "mint_identity_token",
    "mint_token",
    "pending_signoffs",
    "verify_acting_identity",
    "verify_capability",
    "verify_identity_token",
    "verify_service_chain_token",
    "verify_token",
]
