from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALGORITHM_UNSPECIFIED: _ClassVar[Algorithm]
    ED25519: _ClassVar[Algorithm]
    SECP256R1: _ClassVar[Algorithm]
ALGORITHM_UNSPECIFIED: Algorithm
ED25519: Algorithm
SECP256R1: Algorithm

class PublicKeyInfo(_message.Message):
    __slots__ = ("key_id", "algorithm", "public_key", "pem", "active")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PEM_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    key_id: int
    algorithm: Algorithm
    public_key: str
    pem: str
    active: bool
    def __init__(self, key_id: _Optional[int] = ..., algorithm: _Optional[_Union[Algorithm, str]] = ..., public_key: _Optional[str] = ..., pem: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class Diagnostic(_message.Message):
    __slots__ = ("path", "line", "column", "severity", "message", "hint")
    class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SEVERITY_UNSPECIFIED: _ClassVar[Diagnostic.Severity]
        ERROR: _ClassVar[Diagnostic.Severity]
        WARNING: _ClassVar[Diagnostic.Severity]
    SEVERITY_UNSPECIFIED: Diagnostic.Severity
    ERROR: Diagnostic.Severity
    WARNING: Diagnostic.Severity
    PATH_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    path: str
    line: int
    column: int
    severity: Diagnostic.Severity
    message: str
    hint: str
    def __init__(self, path: _Optional[str] = ..., line: _Optional[int] = ..., column: _Optional[int] = ..., severity: _Optional[_Union[Diagnostic.Severity, str]] = ..., message: _Optional[str] = ..., hint: _Optional[str] = ...) -> None: ...
