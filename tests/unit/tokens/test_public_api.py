"""The curated public API of hessra_core.tokens stays honest."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import hessra_core.tokens as tokens


def test_every_exported_name_is_importable_and_public() -> None:
    assert len(tokens.__all__) == len(set(tokens.__all__))
    for name in tokens.__all__:
        assert not name.startswith("_"), name
        assert getattr(tokens, name) is not None, name


def test_all_is_sorted_by_kind_then_name() -> None:
    constants = [n for n in tokens.__all__ if n.isupper()]
    classes = [n for n in tokens.__all__ if n[0].isupper() and not n.isupper()]
    functions = [n for n in tokens.__all__ if n[0].islower()]
    assert tokens.__all__ == sorted(constants) + sorted(classes) + sorted(functions)


def test_nothing_private_leaks_through_exports() -> None:
    for name in tokens.__all__:
        obj = getattr(tokens, name)
        module = getattr(obj, "__module__", None)
        if module is not None and (inspect.isclass(obj) or inspect.isfunction(obj)):
            assert module.startswith("hessra_core.tokens"), (name, module)
            assert obj.__name__ == name, name


def test_public_functions_of_public_modules_are_exported() -> None:
    """Anything a public submodule lists in its own __all__ is reachable from the package."""
    exported = set(tokens.__all__)
    for info in pkgutil.iter_modules(tokens.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"hessra_core.tokens.{info.name}")
        for name in getattr(module, "__all__", []):
            if name in {"check_attestation_order"}:
                continue  # exported for inspect_token's use, not a user-facing API
            assert name in exported, f"{info.name}.{name} is public but not exported"


def test_interface_names_exist() -> None:
    # The names other components were promised (docs/interfaces).
    for name in (
        "ServiceNode",
        "SignerRef",
        "mint_token",
        "verify_token",
        "verify_capability",
        "attest_service_chain_token",
        "verify_service_chain_token",
        "add_signoff",
        "pending_signoffs",
        "mint_identity_token",
        "delegate_identity_token",
        "verify_identity_token",
        "inspect_token",
    ):
        assert name in tokens.__all__, name
