"""Every message, field, enum, enum value, service and RPC of the contract carries a comment.

The .proto files are the reference other languages read, so an undocumented element is a bug.
Comments are read back from protoc's SourceCodeInfo, exactly as code generators see them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

# Field numbers inside descriptor.proto, used to address elements in SourceCodeInfo paths.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM = 2, 3, 4
ENUM_VALUE = 2
SERVICE_METHOD = 2

Path = tuple[int, ...]


def _enum_elements(
    enum: descriptor_pb2.EnumDescriptorProto, path: Path, scope: str
) -> Iterator[tuple[str, Path]]:
    yield f"enum {scope}{enum.name}", path
    for i, value in enumerate(enum.value):
        yield f"enum value {scope}{enum.name}.{value.name}", (*path, ENUM_VALUE, i)


def _message_elements(
    message: descriptor_pb2.DescriptorProto, path: Path, scope: str
) -> Iterator[tuple[str, Path]]:
    name = f"{scope}{message.name}"
    yield f"message {name}", path
    for i, field in enumerate(message.field):
        yield f"field {name}.{field.name}", (*path, MESSAGE_FIELD, i)
    for i, nested in enumerate(message.nested_type):
        yield from _message_elements(nested, (*path, MESSAGE_NESTED, i), f"{name}.")
    for i, enum in enumerate(message.enum_type):
        yield from _enum_elements(enum, (*path, MESSAGE_ENUM, i), f"{name}.")


def _file_elements(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[str, Path]]:
    for i, message in enumerate(file.message_type):
        yield from _message_elements(message, (FILE_MESSAGE, i), "")
    for i, enum in enumerate(file.enum_type):
        yield from _enum_elements(enum, (FILE_ENUM, i), "")
    for i, service in enumerate(file.service):
        yield f"service {service.name}", (FILE_SERVICE, i)
        for j, method in enumerate(service.method):
            yield f"rpc {service.name}.{method.name}", (FILE_SERVICE, i, SERVICE_METHOD, j)


def undocumented(file: descriptor_pb2.FileDescriptorProto) -> list[str]:
    comments = {
        tuple(loc.path): (loc.leading_comments + loc.trailing_comments).strip()
        for loc in file.source_code_info.location
    }
    return [f"{file.name}: {what}" for what, path in _file_elements(file) if not comments.get(path)]


def test_every_contract_element_is_documented(descriptor_set):
    missing = [line for file in descriptor_set.file for line in undocumented(file)]
    assert missing == []


def test_the_walk_covers_the_whole_contract(descriptor_set):
    # Guards the check above against passing because it walked nothing.
    kinds = [what.split(" ")[0] for f in descriptor_set.file for what, _ in _file_elements(f)]
    assert {"message", "field", "enum", "service", "rpc"} <= set(kinds)
    assert kinds.count("rpc") == 12


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("// A thing.\nmessage M {\n  // The id.\n  string id = 1;\n}\n", []),
        ("message M {\n  // The id.\n  string id = 1;\n}\n", ["t.proto: message M"]),
        ("// A thing.\nmessage M {\n  string id = 1;\n}\n", ["t.proto: field M.id"]),
        (
            "// E.\nenum E {\n  // Zero.\n  E_UNSPECIFIED = 0;\n  ONE = 1;\n}\n",
            ["t.proto: enum value E.ONE"],
        ),
        (
            "// A thing.\nmessage M {\n  // Kinds.\n  enum K {\n    K_UNSPECIFIED = 0;\n  }\n}\n",
            ["t.proto: enum value M.K.K_UNSPECIFIED"],
        ),
        (
            "// M.\nmessage M {}\n// S.\nservice S {\n  rpc Do(M) returns (M);\n}\n",
            ["t.proto: rpc S.Do"],
        ),
    ],
    ids=["documented", "message", "field", "enum-value", "nested-enum-value", "rpc"],
)
def test_undocumented_elements_are_reported(tmp_path, source, expected):
    (tmp_path / "t.proto").write_text('syntax = "proto3";\npackage t;\n' + source)
    out = tmp_path / "t.pb"
    rc = protoc.main(
        [
            "protoc",
            f"-I{tmp_path}",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            "t.proto",
        ]
    )
    assert rc == 0
    (file,) = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    assert undocumented(file) == expected
