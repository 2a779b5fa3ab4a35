"""`make proto-check` passes on the committed stubs and fails whenever they drift from the .proto.

Each case copies the contract, the stubs and the real Makefile into a temporary tree, damages
it in one way, and runs the unchanged `proto-check` target there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
STUBS = Path("libs/hessra_core/src/hessra/v1")
PROTOS = Path("proto/hessra/v1")


def _copy_tree(dest: Path) -> None:
    shutil.copytree(REPO_ROOT / PROTOS, dest / PROTOS)
    shutil.copytree(REPO_ROOT / STUBS, dest / STUBS, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "Makefile", dest / "Makefile")


def _run_proto_check(root: Path) -> subprocess.CompletedProcess[str]:
    # `-o` treats the venv stamp as up to date so the copy never tries to reinstall anything;
    # BIN is the venv running the tests (python with grpcio-tools, and the mypy-protobuf plugins).
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed",
            "proto-check",
            f"BIN={Path(sys.executable).parent}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def edit_rpc_comment(root: Path) -> None:
    _edit(root / PROTOS / "signer.proto", "// Co-signs multi-party tokens.", "// Co-signs tokens.")


def edit_field_comment(root: Path) -> None:
    # Field comments are docstrings in the .pyi, so editors show them: they must stay current.
    _edit(root / PROTOS / "signer.proto", "// The operation the token must grant.", "// Op.")


def add_proto_field(root: Path) -> None:
    _edit(
        root / PROTOS / "signer.proto",
        "  string operation = 3;\n}",
        "  string operation = 3;\n  // New.\n  string domain = 4;\n}",
    )


def rename_proto_rpc(root: Path) -> None:
    _edit(root / PROTOS / "issuer.proto", "rpc GetPublicKeys(", "rpc ListPublicKeys(")


def edit_stub_by_hand(root: Path) -> None:
    with (root / STUBS / "policy_pb2.py").open("a") as f:
        f.write("# hand edit\n")


def edit_type_stub(root: Path) -> None:
    _edit(root / STUBS / "issuer_pb2.pyi", "token: _builtins.str", "token: _builtins.bytes")


def edit_grpc_type_stub(root: Path) -> None:
    _edit(root / STUBS / "policy_pb2_grpc.pyi", "def GetStatus(", "def GetState(")


def delete_stub(root: Path) -> None:
    (root / STUBS / "signer_pb2_grpc.py").unlink()


def orphan_stub(root: Path) -> None:
    shutil.copy2(root / STUBS / "common_pb2.py", root / STUBS / "legacy_pb2.py")


def orphan_after_deleting_proto(root: Path) -> None:
    # Removing a .proto but keeping its stubs must fail too; nothing else imports signer.proto.
    (root / PROTOS / "signer.proto").unlink()


def broken_proto(root: Path) -> None:
    _edit(root / PROTOS / "common.proto", "uint32 key_id = 1;", "uint32 key_id = ;")


STALE = {
    "proto-field-added": (add_proto_field, "is stale"),
    "proto-rpc-renamed": (rename_proto_rpc, "is stale"),
    "service-docstring-changed": (edit_rpc_comment, "signer_pb2_grpc.py is stale"),
    "field-docstring-changed": (edit_field_comment, "signer_pb2.pyi is stale"),
    "stub-edited": (edit_stub_by_hand, "policy_pb2.py is stale"),
    "pyi-edited": (edit_type_stub, "issuer_pb2.pyi is stale"),
    "grpc-pyi-edited": (edit_grpc_type_stub, "policy_pb2_grpc.pyi is stale"),
    "stub-deleted": (delete_stub, "signer_pb2_grpc.py is stale"),
    "stub-without-proto": (orphan_stub, "legacy_pb2.py has no .proto source"),
    "proto-deleted": (orphan_after_deleting_proto, "has no .proto source"),
    "proto-syntax-error": (broken_proto, "common.proto"),
}


def test_committed_stubs_pass(tmp_path):
    _copy_tree(tmp_path)
    result = _run_proto_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stubs are up to date" in result.stdout


def _no_change(root: Path) -> None:
    pass


def _spacing_only(root: Path) -> None:
    # Layout inside a declaration reaches no generated file.
    _edit(root / PROTOS / "signer.proto", "string operation = 3;", "string   operation  =  3 ;")


def _bytecode_cache(root: Path) -> None:
    cache = root / STUBS / "__pycache__"
    cache.mkdir()
    (cache / "common_pb2.cpython-311.pyc").write_bytes(b"\0")


@pytest.mark.parametrize(
    "change",
    [_no_change, _spacing_only, _bytecode_cache],
    ids=["unchanged", "spacing-only", "bytecode-cache"],
)
def test_harmless_differences_pass(tmp_path, change: Callable[[Path], None]):
    _copy_tree(tmp_path)
    change(tmp_path)
    result = _run_proto_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("damage", "message"), STALE.values(), ids=STALE.keys())
def test_drift_fails_with_a_clear_message(tmp_path, damage, message):
    _copy_tree(tmp_path)
    damage(tmp_path)
    result = _run_proto_check(tmp_path)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
