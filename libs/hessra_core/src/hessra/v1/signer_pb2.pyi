from hessra.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignTokenRequest(_message.Message):
    __slots__ = ("token", "resource", "operation")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    token: str
    resource: str
    operation: str
    def __init__(self, token: _Optional[str] = ..., resource: _Optional[str] = ..., operation: _Optional[str] = ...) -> None: ...

class SignTokenResponse(_message.Message):
    __slots__ = ("token", "signer_name", "pending_signoffs", "policy_revision")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SIGNER_NAME_FIELD_NUMBER: _ClassVar[int]
    PENDING_SIGNOFFS_FIELD_NUMBER: _ClassVar[int]
    POLICY_REVISION_FIELD_NUMBER: _ClassVar[int]
    token: str
    signer_name: str
    pending_signoffs: _containers.RepeatedScalarFieldContainer[str]
    policy_revision: str
    def __init__(self, token: _Optional[str] = ..., signer_name: _Optional[str] = ..., pending_signoffs: _Optional[_Iterable[str]] = ..., policy_revision: _Optional[str] = ...) -> None: ...

class GetPublicKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPublicKeyResponse(_message.Message):
    __slots__ = ("signer_name", "key")
    SIGNER_NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    signer_name: str
    key: _common_pb2.PublicKeyInfo
    def __init__(self, signer_name: _Optional[str] = ..., key: _Optional[_Union[_common_pb2.PublicKeyInfo, _Mapping]] = ...) -> None: ...
