import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from hessra.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PolicySnapshot(_message.Message):
    __slots__ = ("revision", "digest", "commit", "created_at", "version", "ca_certs", "clients", "resources", "warnings")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CA_CERTS_FIELD_NUMBER: _ClassVar[int]
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    revision: str
    digest: str
    commit: CommitInfo
    created_at: _timestamp_pb2.Timestamp
    version: str
    ca_certs: str
    clients: _containers.RepeatedCompositeFieldContainer[Client]
    resources: _containers.RepeatedCompositeFieldContainer[Resource]
    warnings: _containers.RepeatedCompositeFieldContainer[_common_pb2.Diagnostic]
    def __init__(self, revision: _Optional[str] = ..., digest: _Optional[str] = ..., commit: _Optional[_Union[CommitInfo, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[str] = ..., ca_certs: _Optional[str] = ..., clients: _Optional[_Iterable[_Union[Client, _Mapping]]] = ..., resources: _Optional[_Iterable[_Union[Resource, _Mapping]]] = ..., warnings: _Optional[_Iterable[_Union[_common_pb2.Diagnostic, _Mapping]]] = ...) -> None: ...

class CommitInfo(_message.Message):
    __slots__ = ("sha", "author", "committed_at", "message")
    SHA_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    sha: str
    author: str
    committed_at: _timestamp_pb2.Timestamp
    message: str
    def __init__(self, sha: _Optional[str] = ..., author: _Optional[str] = ..., committed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class Client(_message.Message):
    __slots__ = ("identifier", "resources", "identity_token_enabled", "identity_token_duration_seconds")
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TOKEN_ENABLED_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TOKEN_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    identifier: Identifier
    resources: _containers.RepeatedCompositeFieldContainer[ResourceGrant]
    identity_token_enabled: bool
    identity_token_duration_seconds: int
    def __init__(self, identifier: _Optional[_Union[Identifier, _Mapping]] = ..., resources: _Optional[_Iterable[_Union[ResourceGrant, _Mapping]]] = ..., identity_token_enabled: _Optional[bool] = ..., identity_token_duration_seconds: _Optional[int] = ...) -> None: ...

class Identifier(_message.Message):
    __slots__ = ("type", "value")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[Identifier.Type]
        SAN_URI: _ClassVar[Identifier.Type]
        SAN_DNS: _ClassVar[Identifier.Type]
        SAN_EMAIL: _ClassVar[Identifier.Type]
        SAN_IP: _ClassVar[Identifier.Type]
        SERIAL: _ClassVar[Identifier.Type]
    TYPE_UNSPECIFIED: Identifier.Type
    SAN_URI: Identifier.Type
    SAN_DNS: Identifier.Type
    SAN_EMAIL: Identifier.Type
    SAN_IP: Identifier.Type
    SERIAL: Identifier.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    type: Identifier.Type
    value: str
    def __init__(self, type: _Optional[_Union[Identifier.Type, str]] = ..., value: _Optional[str] = ...) -> None: ...

class ResourceGrant(_message.Message):
    __slots__ = ("name", "operations")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    operations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., operations: _Optional[_Iterable[str]] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("name", "mechanisms", "token_lifetime_seconds", "service_chain", "multi_party")
    class Mechanism(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MECHANISM_UNSPECIFIED: _ClassVar[Resource.Mechanism]
        SERVICE_CHAIN: _ClassVar[Resource.Mechanism]
        MULTI_PARTY: _ClassVar[Resource.Mechanism]
    MECHANISM_UNSPECIFIED: Resource.Mechanism
    SERVICE_CHAIN: Resource.Mechanism
    MULTI_PARTY: Resource.Mechanism
    NAME_FIELD_NUMBER: _ClassVar[int]
    MECHANISMS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_LIFETIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_CHAIN_FIELD_NUMBER: _ClassVar[int]
    MULTI_PARTY_FIELD_NUMBER: _ClassVar[int]
    name: str
    mechanisms: _containers.RepeatedScalarFieldContainer[Resource.Mechanism]
    token_lifetime_seconds: int
    service_chain: ServiceChain
    multi_party: MultiParty
    def __init__(self, name: _Optional[str] = ..., mechanisms: _Optional[_Iterable[_Union[Resource.Mechanism, str]]] = ..., token_lifetime_seconds: _Optional[int] = ..., service_chain: _Optional[_Union[ServiceChain, _Mapping]] = ..., multi_party: _Optional[_Union[MultiParty, _Mapping]] = ...) -> None: ...

class ServiceChain(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[ServiceNode]
    def __init__(self, nodes: _Optional[_Iterable[_Union[ServiceNode, _Mapping]]] = ...) -> None: ...

class ServiceNode(_message.Message):
    __slots__ = ("component", "public_key")
    COMPONENT_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    component: str
    public_key: str
    def __init__(self, component: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class MultiParty(_message.Message):
    __slots__ = ("required_signers",)
    REQUIRED_SIGNERS_FIELD_NUMBER: _ClassVar[int]
    required_signers: _containers.RepeatedCompositeFieldContainer[RequiredSigner]
    def __init__(self, required_signers: _Optional[_Iterable[_Union[RequiredSigner, _Mapping]]] = ...) -> None: ...

class RequiredSigner(_message.Message):
    __slots__ = ("name", "url", "public_key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    url: str
    public_key: str
    def __init__(self, name: _Optional[str] = ..., url: _Optional[str] = ..., public_key: _Optional[str] = ...) -> None: ...

class WatchSnapshotsRequest(_message.Message):
    __slots__ = ("known_digest", "subscriber")
    KNOWN_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    known_digest: str
    subscriber: str
    def __init__(self, known_digest: _Optional[str] = ..., subscriber: _Optional[str] = ...) -> None: ...

class WatchSnapshotsResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: PolicySnapshot
    def __init__(self, snapshot: _Optional[_Union[PolicySnapshot, _Mapping]] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: PolicySnapshot
    def __init__(self, snapshot: _Optional[_Union[PolicySnapshot, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("source", "branch", "serving_revision", "serving_digest", "serving_since", "last_fetch_time", "last_fetch_revision", "last_attempt_time", "last_error", "conditions", "subscriber_count")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    SERVING_REVISION_FIELD_NUMBER: _ClassVar[int]
    SERVING_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SERVING_SINCE_FIELD_NUMBER: _ClassVar[int]
    LAST_FETCH_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_FETCH_REVISION_FIELD_NUMBER: _ClassVar[int]
    LAST_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_COUNT_FIELD_NUMBER: _ClassVar[int]
    source: str
    branch: str
    serving_revision: str
    serving_digest: str
    serving_since: _timestamp_pb2.Timestamp
    last_fetch_time: _timestamp_pb2.Timestamp
    last_fetch_revision: str
    last_attempt_time: _timestamp_pb2.Timestamp
    last_error: ReconcileError
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    subscriber_count: int
    def __init__(self, source: _Optional[str] = ..., branch: _Optional[str] = ..., serving_revision: _Optional[str] = ..., serving_digest: _Optional[str] = ..., serving_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_fetch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_fetch_revision: _Optional[str] = ..., last_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error: _Optional[_Union[ReconcileError, _Mapping]] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., subscriber_count: _Optional[int] = ...) -> None: ...

class ReconcileError(_message.Message):
    __slots__ = ("step", "revision", "message", "diagnostics", "occurred_at")
    class Step(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STEP_UNSPECIFIED: _ClassVar[ReconcileError.Step]
        FETCH: _ClassVar[ReconcileError.Step]
        VALIDATE: _ClassVar[ReconcileError.Step]
        COMPILE: _ClassVar[ReconcileError.Step]
        PUBLISH: _ClassVar[ReconcileError.Step]
    STEP_UNSPECIFIED: ReconcileError.Step
    FETCH: ReconcileError.Step
    VALIDATE: ReconcileError.Step
    COMPILE: ReconcileError.Step
    PUBLISH: ReconcileError.Step
    STEP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DIAGNOSTICS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    step: ReconcileError.Step
    revision: str
    message: str
    diagnostics: _containers.RepeatedCompositeFieldContainer[_common_pb2.Diagnostic]
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, step: _Optional[_Union[ReconcileError.Step, str]] = ..., revision: _Optional[str] = ..., message: _Optional[str] = ..., diagnostics: _Optional[_Iterable[_Union[_common_pb2.Diagnostic, _Mapping]]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("type", "status", "reason", "message", "last_transition_time")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_TRANSITION_TIME_FIELD_NUMBER: _ClassVar[int]
    type: str
    status: bool
    reason: str
    message: str
    last_transition_time: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[str] = ..., status: _Optional[bool] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., last_transition_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResyncRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class ResyncResponse(_message.Message):
    __slots__ = ("accepted", "revision", "changed", "error")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    revision: str
    changed: bool
    error: ReconcileError
    def __init__(self, accepted: _Optional[bool] = ..., revision: _Optional[str] = ..., changed: _Optional[bool] = ..., error: _Optional[_Union[ReconcileError, _Mapping]] = ...) -> None: ...
