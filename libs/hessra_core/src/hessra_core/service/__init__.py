"""Service plumbing the issuer, the signer and policy-sync share.

- :mod:`~hessra_core.service.layered_config`: a service's config from built-in
  defaults, a TOML file, ``HESSRA_*`` variables and flags, with every problem
  reported at once (each service keeps its own frozen dataclass and keys).
- :mod:`~hessra_core.service.snapshot_holder`: the current policy snapshot and its
  trust anchors, swapped atomically by digest, with change listeners;
  ``ServeWhenReady`` turns health SERVING on the first snapshot.
- :mod:`~hessra_core.service.policy_source`: ``open_policy_source`` — a polled
  ``policy.dir`` (``PolicyDirSource``) or a policy-sync subscription.
- :mod:`~hessra_core.service.entrypoint`: ``main()`` scaffolding — ``--config`` and
  ``--check``, per-field flags, exit codes (0 ok, 2 bad configuration), SIGTERM/SIGINT.
"""

from hessra_core.service.layered_config import Schema, merge_layers
from hessra_core.service.policy_source import PolicyDirSource, PolicySource, open_policy_source
from hessra_core.service.snapshot_holder import ServeWhenReady, ServingState, SnapshotHolder

__all__ = [
    "PolicyDirSource",
    "PolicySource",
    "Schema",
    "ServeWhenReady",
    "ServingState",
    "SnapshotHolder",
    "merge_layers",
    "open_policy_source",
]
