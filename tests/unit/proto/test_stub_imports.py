"""Every message, enum and service of the contract imports from ``hessra.v1``."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
STUB_DIR = REPO_ROOT / "libs" / "hessra_core" / "src" / "hessra" / "v1"
STEMS = sorted(p.stem for p in (REPO_ROOT / "proto" / "hessra" / "v1").glob("*.proto"))
MODULES = [f"hessra.v1.{stem}_pb2" for stem in STEMS]


def _top_level_types(module) -> list[str]:
    d = module.DESCRIPTOR
    return [*d.message_types_by_name, *d.enum_types_by_name]


@pytest.mark.parametrize("module_name", MODULES, ids=MODULES)
def test_every_declared_type_is_a_module_attribute(module_name):
    module = importlib.import_module(module_name)
    assert module.DESCRIPTOR.package == "hessra.v1"
    names = _top_level_types(module)
    assert names, f"{module_name} declares no types"
    missing = [n for n in names if getattr(module, n, None) is None]
    assert missing == []


@pytest.mark.parametrize("module_name", MODULES, ids=MODULES)
def test_grpc_module_imports(module_name):
    importlib.import_module(f"{module_name}_grpc")


def test_every_proto_has_committed_stubs_and_nothing_else():
    assert STEMS == ["common", "issuer", "policy", "signer"]
    expected = {f"{s}_pb2{ext}" for s in STEMS for ext in (".py", ".pyi", "_grpc.py", "_grpc.pyi")}
    present = {p.name for p in STUB_DIR.iterdir() if p.is_file() and "_pb2" in p.name}
    assert present == expected


def test_messages_resolve_across_files():
    from hessra.v1 import common_pb2, policy_pb2, signer_pb2

    key = signer_pb2.GetPublicKeyResponse(
        key=common_pb2.PublicKeyInfo(algorithm=common_pb2.ED25519)
    )
    assert key.key.algorithm == common_pb2.ED25519
    status = policy_pb2.GetStatusResponse(
        last_error=policy_pb2.ReconcileError(
            diagnostics=[common_pb2.Diagnostic(severity=common_pb2.Diagnostic.ERROR)]
        )
    )
    assert status.last_error.diagnostics[0].severity == common_pb2.Diagnostic.ERROR
