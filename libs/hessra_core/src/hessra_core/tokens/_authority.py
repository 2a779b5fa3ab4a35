"""Hessra's authority-block Datalog, as parameterised source.

Every user-supplied value enters through biscuit parameters (``{name}`` plus a
parameters dict); nothing here formats a string into Datalog. The shapes match
Hessra's so its verifiers accept our tokens and ours accept theirs.
"""

from __future__ import annotations

# The authorization authority block is these three statements, in this order.
# mint.py adds them as separately parsed terms so each is parsed once per
# distinct value rather than once per token.
AUTHZ_RIGHT = "right({subject}, {resource}, {operation})"
AUTHZ_RIGHT_CHECK = "check if subject($sub), resource($res), operation($op), right($sub, $res, $op)"
AUTHZ_EXPIRY_CHECK = "check if time($time), $time < {expiration}"

DOMAIN_CHECK = "check if domain({domain});"

CHAIN_NODE_RULE = "node($s, {component}) <- service($s) trusting {node_key}"

SIGNER_CHECK = "check if namespace({signer}) trusting {signer_key}"

# Not read by any verifier; lets an operator trace a token to the policy that allowed it.
POLICY_REVISION = "policy_revision({revision})"

ATTESTATION_BLOCK = "service({resource});"

SIGNOFF_BLOCK = "namespace({signer});"

IDENTITY_DELEGATABLE = """
subject({subject});
check if actor($a), $a == {subject} || $a.starts_with({subject} + ":");
check if time($time), $time < {expiration};
"""

IDENTITY_EXACT = """
subject({subject});
check if actor($a), $a == {subject};
check if time($time), $time < {expiration};
"""

# Hessra ties the subject to the domain so a verifier can look up the pair.
IDENTITY_DOMAIN = """
check if domain({domain});
subject($d, $s) <- domain($d), subject($s);
"""

# The `delegated` fact is ours: it lets a later delegation find the narrowest
# identity without reading printed Datalog. Verifiers never consult it.
DELEGATION_BLOCK = """
delegated({identity});
check if actor($a), $a == {identity} || $a.starts_with({identity} + ":");
check if time($time), $time < {expiration};
"""

EXPIRY_BLOCK = "check if time($time), $time < {expiration};"
