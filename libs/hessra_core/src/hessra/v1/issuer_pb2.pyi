import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from hessra.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RequestTokenRequest(_message.Message):
    __slots__ = ("resource", "operation", "domain", "ttl_seconds")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    resource: str
    operation: str
    domain: str
    ttl_seconds: int
    def __init__(self, resource: _Optional[str] = ..., operation: _Optional[str] = ..., domain: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class PendingSignoff(_message.Message):
    __slots__ = ("name", "endpoint", "public_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoint: str
    public_key: str
    def __init__(self, name: _Optional[str] = ..., endpoint: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class RequestTokenResponse(_message.Message):
    __slots__ = ("token", "pending_signoffs", "expires_at", "subject", "policy_revision", "token_id", "key_id")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    PENDING_SIGNOFFS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    POLICY_REVISION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    token: str
    pending_signoffs: _containers.RepeatedCompositeFieldContainer[PendingSignoff]
    expires_at: _timestamp_pb2.Timestamp
    subject: str
    policy_revision: str
    token_id: str
    key_id: int
    def __init__(self, token: _Optional[str] = ..., pending_signoffs: _Optional[_Iterable[_Union[PendingSignoff, _Mapping]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ..., policy_revision: _Optional[str] = ..., token_id: _Optional[str] = ..., key_id: _Optional[int] = ...) -> None: ...

class RequestIdentityTokenRequest(_message.Message):
    __slots__ = ("identifier", "ttl_seconds")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    identifier: str
    ttl_seconds: int
    def __init__(self, identifier: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class RequestIdentityTokenResponse(_message.Message):
    __slots__ = ("token", "expires_at", "subject", "policy_revision")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    POLICY_REVISION_FIELD_NUMBER: _ClassVar[int]
    token: str
    expires_at: _timestamp_pb2.Timestamp
    subject: str
    policy_revision: str
    def __init__(self, token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ..., policy_revision: _Optional[str] = ...) -> None: ...

class RefreshIdentityTokenRequest(_message.Message):
    __slots__ = ("current_token", "identifier")
    CURRENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    current_token: str
    identifier: str
    def __init__(self, current_token: _Optional[str] = ..., identifier: _Optional[str] = ...) -> None: ...

class RefreshIdentityTokenResponse(_message.Message):
    __slots__ = ("token", "expires_at", "subject", "policy_revision")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    POLICY_REVISION_FIELD_NUMBER: _ClassVar[int]
    token: str
    expires_at: _timestamp_pb2.Timestamp
    subject: str
    policy_revision: str
    def __init__(self, token: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ..., policy_revision: _Optional[str] = ...) -> None: ...

class VerifyTokenRequest(_message.Message):
    __slots__ = ("token", "subject", "resource", "operation", "domain")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    token: str
    subject: str
    resource: str
    operation: str
    domain: str
    def __init__(self, token: _Optional[str] = ..., subject: _Optional[str] = ..., resource: _Optional[str] = ..., operation: _Optional[str] = ..., domain: _Optional[str] = ...) -> None: ...

class VerifyTokenResponse(_message.Message):
    __slots__ = ("valid", "reason", "message")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: str
    message: str
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class VerifyServiceChainTokenRequest(_message.Message):
    __slots__ = ("token", "subject", "resource", "operation", "component")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    token: str
    subject: str
    resource: str
    operation: str
    component: str
    def __init__(self, token: _Optional[str] = ..., subject: _Optional[str] = ..., resource: _Optional[str] = ..., operation: _Optional[str] = ..., component: _Optional[str] = ...) -> None: ...

class VerifyServiceChainTokenResponse(_message.Message):
    __slots__ = ("valid", "reason", "message")
    VALID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    reason: str
    message: str
    def __init__(self, valid: _Optional[bool] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class GetPublicKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPublicKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[_common_pb2.PublicKeyInfo]
    def __init__(self, keys: _Optional[_Iterable[_Union[_common_pb2.PublicKeyInfo, _Mapping]]] = ...) -> None: ...
