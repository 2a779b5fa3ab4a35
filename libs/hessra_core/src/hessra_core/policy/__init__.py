"""Policy as code: read, validate and compile ``clients.toml`` + ``resources.toml``.

::

    diags = validate_policy_dir(Path("policy"))          # never raises for bad policy
    snapshot = compile_policy_dir(Path("policy"))        # PolicyError(diagnostics) if invalid
    decision = snapshot.decide(identities_from_certificate(cert), "orders", "read")

Modules: ``loader`` (TOML with positions), ``validate*`` (every check), ``model`` (frozen
values), ``identifiers`` (canonical forms, wildcards), ``decide`` (indexes, decisions),
``digest`` (canonical form), ``snapshot``, ``proto_convert``, ``plan`` (permission diffs).
"""

from hessra_core.policy.decide import ClientMatch, Decision, DenyReason
from hessra_core.policy.diagnostics import Diagnostic, Severity
from hessra_core.policy.digest import canonical_form, policy_digest
from hessra_core.policy.model import (
    DEFAULT_IDENTITY_TOKEN_DURATION,
    DEFAULT_TOKEN_LIFETIME,
    MAX_IDENTITY_TOKEN_DURATION,
    MAX_TOKEN_LIFETIME,
    POLICY_VERSION,
    ChainNode,
    Client,
    CommitInfo,
    Grant,
    Identifier,
    IdentifierType,
    Mechanism,
    Policy,
    RequiredSigner,
    Resource,
)
from hessra_core.policy.snapshot import Snapshot, compile_policy_dir
from hessra_core.policy.validate import read_policy_dir, validate_policy_dir

__all__ = [
    "DEFAULT_IDENTITY_TOKEN_DURATION",
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_IDENTITY_TOKEN_DURATION",
    "MAX_TOKEN_LIFETIME",
    "POLICY_VERSION",
    "ChainNode",
    "Client",
    "ClientMatch",
    "CommitInfo",
    "Decision",
    "DenyReason",
    "Diagnostic",
    "Grant",
    "Identifier",
    "IdentifierType",
    "Mechanism",
    "Policy",
    "RequiredSigner",
    "Resource",
    "Severity",
    "Snapshot",
    "canonical_form",
    "compile_policy_dir",
    "policy_digest",
    "read_policy_dir",
    "validate_policy_dir",
]
