"""Keep ``hessra_core.policy.__all__`` honest: every name exists, nothing public is missed."""

from __future__ import annotations

import types

import hessra_core.policy as policy


def test_all_names_exist():
    for name in policy.__all__:
        assert hasattr(policy, name), name


def test_all_is_sorted_and_unique():
    assert len(set(policy.__all__)) == len(policy.__all__)
    assert list(policy.__all__) == sorted(policy.__all__, key=lambda n: (not n.isupper(), n))


def test_every_public_attribute_is_listed():
    public = {
        name
        for name, value in vars(policy).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert public == set(policy.__all__)


def test_interface_names():
    # The names other components were promised.
    for name in ("compile_policy_dir", "validate_policy_dir", "Diagnostic", "Snapshot", "Decision"):
        assert name in policy.__all__
