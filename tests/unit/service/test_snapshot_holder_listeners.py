"""One failing listener must not keep a new snapshot from the others (readiness among them).

``SnapshotHolder.set`` swaps the state and then tells each listener in turn; a listener
that raised used to end the loop, so a listener registered after it (``ServeWhenReady``
in the services) never heard of the snapshot, and the exception reached the policy
source as if the snapshot had not been applied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from hessra_core.policy import compile_policy_dir
from hessra_core.service.snapshot_holder import ServingState, SnapshotHolder

WritePolicy = Callable[..., Path]


def test_a_failing_listener_is_logged_and_the_others_still_hear(
    write_policy: WritePolicy,
) -> None:
    holder = SnapshotHolder()
    heard: list[ServingState] = []

    def broken(_state: ServingState) -> None:
        raise RuntimeError("listener bug")

    holder.on_change(broken)
    holder.on_change(heard.append)
    with structlog.testing.capture_logs() as logs:
        assert holder.set(compile_policy_dir(write_policy())) is True
    assert heard == [holder.state]
    failures = [e for e in logs if e["event"] == "snapshot_listener_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "error"
