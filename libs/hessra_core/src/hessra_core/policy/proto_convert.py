"""Snapshots to and from ``hessra.v1.PolicySnapshot``.

The message is untrusted input: ``snapshot_from_proto`` rebuilds the model through the
same canonicalisation and key parsing as the validator, recomputes the digest and refuses
a message whose digest does not match, or whose policy version is not this release's
(PolicyError).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hessra.v1 import common_pb2, policy_pb2
from hessra_core.errors import KeyFormatError, PolicyError
from hessra_core.keys import PublicKey
from hessra_core.policy.diagnostics import Diagnostic, Severity
from hessra_core.policy.identifiers import IdentifierFormatError, canonicalise
from hessra_core.policy.model import (
    POLICY_VERSION,
    ChainNode,
    Client,
    CommitInfo,
    Grant,
    Identifier,
    IdentifierType,
    Mechanism,
    Policy,
    RequiredSigner,
    Resource,
)
from hessra_core.policy.snapshot import Snapshot

_ID_TO_PB = {
    IdentifierType.SAN_URI: policy_pb2.Identifier.SAN_URI,
    IdentifierType.SAN_DNS: policy_pb2.Identifier.SAN_DNS,
    IdentifierType.SAN_EMAIL: policy_pb2.Identifier.SAN_EMAIL,
    IdentifierType.SAN_IP: policy_pb2.Identifier.SAN_IP,
    IdentifierType.SERIAL: policy_pb2.Identifier.SERIAL,
}
_ID_FROM_PB = {v: k for k, v in _ID_TO_PB.items()}
_MECH_TO_PB = {
    Mechanism.SERVICE_CHAIN: policy_pb2.Resource.SERVICE_CHAIN,
    Mechanism.MULTI_PARTY: policy_pb2.Resource.MULTI_PARTY,
}
_MECH_FROM_PB = {v: k for k, v in _MECH_TO_PB.items()}
_SEV_TO_PB = {
    Severity.ERROR: common_pb2.Diagnostic.ERROR,
    Severity.WARNING: common_pb2.Diagnostic.WARNING,
}


def _refuse(message: str) -> PolicyError:
    return PolicyError([Diagnostic("", 0, 0, Severity.ERROR, message)], message)


def diagnostic_to_proto(d: Diagnostic) -> common_pb2.Diagnostic:
    message = common_pb2.Diagnostic(
        path=d.path,
        line=d.line,
        column=d.column,
        severity=_SEV_TO_PB[d.severity],
        message=d.message,
    )
    if d.hint is not None:
        message.hint = d.hint
    return message


def diagnostic_from_proto(m: common_pb2.Diagnostic) -> Diagnostic:
    # Anything but an explicit WARNING counts as an error: fail closed.
    severity = Severity.WARNING if m.severity == common_pb2.Diagnostic.WARNING else Severity.ERROR
    hint = m.hint if m.HasField("hint") else None
    return Diagnostic(m.path, m.line, m.column, severity, m.message, hint)


def snapshot_to_proto(snapshot: Snapshot) -> policy_pb2.PolicySnapshot:
    policy = snapshot.policy
    message = policy_pb2.PolicySnapshot(
        revision=snapshot.revision,
        digest=snapshot.digest,
        version=policy.version,
        ca_certs=policy.ca_certs_pem,
    )
    message.created_at.FromDatetime(snapshot.created_at.astimezone(UTC))
    if snapshot.commit is not None:
        commit = snapshot.commit
        message.commit.sha = commit.sha
        message.commit.author = commit.author
        message.commit.message = commit.message
        if commit.committed_at is not None:
            message.commit.committed_at.FromDatetime(commit.committed_at.astimezone(UTC))
    for client in policy.clients:
        pb_client = message.clients.add(identity_token_enabled=client.identity_token_enabled)
        pb_client.identifier.type = _ID_TO_PB[client.identifier.type]
        pb_client.identifier.value = client.identifier.value
        if client.identity_token_duration is not None:
            pb_client.identity_token_duration_seconds = client.identity_token_duration
        for grant in client.grants:
            pb_client.resources.add(name=grant.resource, operations=list(grant.operations))
    for resource in policy.resources:
        pb_res = message.resources.add(name=resource.name)
        pb_res.mechanisms.extend(_MECH_TO_PB[m] for m in resource.mechanisms)
        if resource.token_lifetime is not None:
            pb_res.token_lifetime_seconds = resource.token_lifetime
        if Mechanism.SERVICE_CHAIN in resource.mechanisms:
            for node in resource.service_chain:
                pb_res.service_chain.nodes.add(
                    component=node.component, public_key=node.public_key.to_string()
                )
        if Mechanism.MULTI_PARTY in resource.mechanisms:
            for signer in resource.required_signers:
                pb_res.multi_party.required_signers.add(
                    name=signer.name, url=signer.url, public_key=signer.public_key.to_string()
                )
    message.warnings.extend(diagnostic_to_proto(d) for d in snapshot.warnings)
    return message


def _key(text: str, owner: str) -> PublicKey:
    try:
        return PublicKey.parse(text)
    except KeyFormatError as exc:
        raise _refuse(f"snapshot has an invalid public key for {owner}: {exc.message}") from exc


def _client(pb: policy_pb2.Client) -> Client:
    kind = _ID_FROM_PB.get(pb.identifier.type)
    if kind is None:
        raise _refuse("snapshot has a client without an identifier type")
    try:
        canonical = canonicalise(kind, pb.identifier.value)
    except IdentifierFormatError as exc:
        raise _refuse(f"snapshot has an invalid identifier: {exc.message}") from exc
    grants = tuple(Grant(g.name, tuple(g.operations)) for g in pb.resources)
    duration = (
        pb.identity_token_duration_seconds
        if pb.HasField("identity_token_duration_seconds")
        else None
    )
    return Client(
        Identifier(kind, pb.identifier.value, canonical),
        grants,
        pb.identity_token_enabled,
        duration,
    )


def _resource(pb: policy_pb2.Resource) -> Resource:
    mechanisms = []
    for value in pb.mechanisms:
        if value not in _MECH_FROM_PB:
            raise _refuse(f"snapshot resource `{pb.name}` has an unknown mechanism {value}")
        mechanisms.append(_MECH_FROM_PB[value])
    nodes = tuple(
        ChainNode(n.component, _key(n.public_key, f"node `{n.component}`"))
        for n in pb.service_chain.nodes
    )
    signers = tuple(
        RequiredSigner(s.name, s.url, _key(s.public_key, f"signer `{s.name}`"))
        for s in pb.multi_party.required_signers
    )
    lifetime = pb.token_lifetime_seconds if pb.HasField("token_lifetime_seconds") else None
    return Resource(pb.name, tuple(mechanisms), nodes, signers, lifetime)


def snapshot_from_proto(message: policy_pb2.PolicySnapshot) -> Snapshot:
    if message.version != POLICY_VERSION:
        # A snapshot of another policy version may rely on fields this release does not know
        # (protobuf drops them silently), so deciding with it could grant what it restricts.
        raise _refuse(
            f"snapshot has policy version `{message.version}`; "
            f"this release only reads version {POLICY_VERSION}"
        )
    try:
        policy = Policy(
            message.version,
            message.ca_certs,
            tuple(_client(c) for c in message.clients),
            tuple(sorted((_resource(r) for r in message.resources), key=lambda r: r.name)),
        )
        snapshot = Snapshot.build(
            policy,
            revision=message.revision,
            commit=_commit(message),
            warnings=[diagnostic_from_proto(d) for d in message.warnings],
            created_at=message.created_at.ToDatetime(tzinfo=UTC)
            if message.HasField("created_at")
            else None,
        )
    except ValueError as exc:  # e.g. unparseable CA certificates while digesting
        raise _refuse(f"snapshot is malformed: {exc}") from exc
    if snapshot.digest != message.digest:
        raise _refuse(
            f"snapshot digest mismatch: message says {message.digest or '(none)'}, "
            f"content hashes to {snapshot.digest}"
        )
    return snapshot


def _commit(message: policy_pb2.PolicySnapshot) -> CommitInfo | None:
    if not message.HasField("commit"):
        return None
    pb = message.commit
    when: datetime | None = (
        pb.committed_at.ToDatetime(tzinfo=UTC) if pb.HasField("committed_at") else None
    )
    return CommitInfo(pb.sha, pb.author, when, pb.message)


__all__ = [
    "diagnostic_from_proto",
    "diagnostic_to_proto",
    "snapshot_from_proto",
    "snapshot_to_proto",
]
