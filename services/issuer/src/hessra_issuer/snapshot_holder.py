"""The policy snapshot a worker serves: the shared holder from ``hessra_core.service``.

Kept as the issuer's import path for its servicer, authentication and issuing code;
see :mod:`hessra_core.service.snapshot_holder` for how the swap works.
"""

from __future__ import annotations

from hessra_core.service.snapshot_holder import ServingState, SnapshotHolder

__all__ = ["ServingState", "SnapshotHolder"]
