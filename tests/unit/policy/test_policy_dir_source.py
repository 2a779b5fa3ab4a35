"""A standalone service's policy directory (``PolicyDirSource``) changing while it compiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hessra_core.policy import validate
from hessra_core.policy.snapshot import Snapshot, compile_policy_dir
from hessra_core.service.policy_source import PolicyDirSource
from hessra_core.testing import paired_policy_change, write_files_atomically

CHANGE = paired_policy_change()
BEFORE, AFTER = CHANGE.before, CHANGE.after


async def test_a_change_landing_mid_compile_is_never_applied_half_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = write_files_atomically(tmp_path / "policy", BEFORE)
    before = compile_policy_dir(write_files_atomically(tmp_path / "before", BEFORE)).digest
    after = compile_policy_dir(write_files_atomically(tmp_path / "after", AFTER)).digest

    # The edit lands after resources.toml was read and before clients.toml is: the moment
    # that would pair the old resources (no sign-off) with the new clients (the partner).
    real_parse_resources = validate.parse_resources
    landed: list[bool] = []

    def parse_then_edit(*args: Any, **kwargs: Any) -> Any:
        result = real_parse_resources(*args, **kwargs)
        if not landed:
            landed.append(True)
            write_files_atomically(policy, AFTER)
        return result

    monkeypatch.setattr(validate, "parse_resources", parse_then_edit)
    got: list[Snapshot] = []
    source = PolicyDirSource(policy, got.append, interval=60)
    assert await source.load_once() is True
    assert landed
    assert got[0].digest in (before, after), "applied a mix of two states of the directory"
    assert got[0].revision == f"dir:{policy.resolve()}"
    await source.load_once()  # the next poll sees the edit
    assert got[-1].digest == after
