"""Fixtures for the hessra.v1 contract tests: paths, and the .proto files compiled with comments."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTO_ROOT = REPO_ROOT / "proto"
PROTO_FILES = sorted(
    p.relative_to(PROTO_ROOT).as_posix() for p in PROTO_ROOT.glob("hessra/v1/*.proto")
)


def compile_descriptor_set(out: Path) -> descriptor_pb2.FileDescriptorSet:
    """Compile every contract file with source info (comments), as protoc sees them."""
    well_known = str(resources.files("grpc_tools") / "_proto")
    rc = protoc.main(
        [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *PROTO_FILES,
        ]
    )
    assert rc == 0, f"protoc failed with exit code {rc}"
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    return compile_descriptor_set(tmp_path_factory.mktemp("descriptors") / "hessra.pb")
