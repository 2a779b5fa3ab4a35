"""The curated ``hessra`` namespace: ``__all__`` is exactly what it exports, and it resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import hessra


def test_all_is_sorted_and_unique() -> None:
    assert list(hessra.__all__) == sorted(set(hessra.__all__))


@pytest.mark.parametrize("name", hessra.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    value = getattr(hessra, name)
    assert value is not None
    assert not isinstance(value, types.ModuleType)


def test_no_public_name_is_left_out_of_all() -> None:
    public = {
        name
        for name in dir(hessra)
        if not name.startswith("_") and not isinstance(getattr(hessra, name), types.ModuleType)
    }
    assert public == set(hessra.__all__)


def test_errors_are_the_core_tree() -> None:
    core = importlib.import_module("hessra_core.errors")
    for name in core.__all__:
        if name in hessra.__all__:
            assert getattr(hessra, name) is getattr(core, name)
    for name in hessra.__all__:
        value = getattr(hessra, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, core.HessraError), name


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = hessra.nope  # type: ignore[attr-defined]


def test_importing_the_stubs_does_not_load_the_token_engine() -> None:
    code = (
        "import sys, hessra.v1; "
        "print('hessra_core.tokens' in sys.modules, 'biscuit_auth' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "False"]
