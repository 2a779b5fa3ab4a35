"""Keep ``hessra_core.policy.__all__`` honest: every name exists, nothing public is missed."""

from __future__ import annotations

import hessra_core.policy as policy


def test_all_names_exist():
    for name in policy.__all__:
        assert hasattr(policy, name), name


def test_all_is_sorted_and_unique():
    assert len(set(policy.__all__)) == len(policy.__all__)
    assert list(policy.__all__) == sorted(policy.__all__, key=lambda n: (not n.isupper(), n))


def test_every_public_attribute_is_listed():
    modules = {
        "decide",
        "diagnostics",
        "digest",
        "identifiers",
        "loader",
        "model",
        "snapshot",
        "validate",
        "validate_certs",
        "validate_clients",
        "validate_resources",
        "proto_convert",
        "plan",
    }
    public = {
        name
        for name in vars(policy)
        if not name.startswith("_") and name not in modules and name != "annotations"
    }
    assert public == set(policy.__all__)


def test_interface_names():
    # The names other components were promised.
    for name in ("compile_policy_dir", "validate_policy_dir", "Diagnostic", "Snapshot", "Decision"):
        assert name in policy.__all__
