"""Compiled, immutable policy snapshots: what issuers and signers decide with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hessra_core.errors import PolicyError
from hessra_core.policy.decide import (
    Ambiguous,
    ClientMatch,
    Decision,
    Matcher,
    ambiguous_client,
    unknown_client,
)
from hessra_core.policy.diagnostics import Diagnostic
from hessra_core.policy.digest import policy_digest
from hessra_core.policy.identifiers import PresentedIdentities
from hessra_core.policy.model import Client, CommitInfo, Policy, Resource
from hessra_core.policy.validate import read_policy_dir

if TYPE_CHECKING:
    from hessra.v1 import policy_pb2


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One validated policy revision with its lookup indexes. Never changes once built."""

    policy: Policy
    revision: str
    digest: str
    commit: CommitInfo | None = None
    warnings: tuple[Diagnostic, ...] = ()
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def build(
        cls,
        policy: Policy,
        *,
        revision: str,
        commit: CommitInfo | None = None,
        warnings: Sequence[Diagnostic] = (),
        created_at: datetime | None = None,
    ) -> Snapshot:
        snapshot = cls(
            policy,
            revision,
            policy_digest(policy),
            commit,
            tuple(warnings),
            created_at or datetime.now(UTC),
        )
        snapshot._matcher  # noqa: B018 - build the indexes now, not on the first request
        return snapshot

    @cached_property
    def _matcher(self) -> Matcher:
        return Matcher(self.policy)

    @cached_property
    def ca_certificates(self) -> tuple[x509.Certificate, ...]:
        pem = self.policy.ca_certs_pem
        return tuple(x509.load_pem_x509_certificates(pem.encode())) if pem.strip() else ()

    @cached_property
    def ca_certs(self) -> bytes:
        """The trusted CA certificates, PEM, ready for gRPC's root certificates."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.ca_certificates)

    @property
    def version(self) -> str:
        return self.policy.version

    @property
    def clients(self) -> tuple[Client, ...]:
        return self.policy.clients

    @property
    def resources(self) -> tuple[Resource, ...]:
        return self.policy.resources

    def resource(self, name: str) -> Resource | None:
        return self._matcher.resources.get(name)

    def match(self, identities: PresentedIdentities) -> ClientMatch | None:
        """The client these identities belong to; None when unknown or ambiguous."""
        try:
            return self._matcher.match(identities)
        except Ambiguous:
            return None

    def match_subject(self, subject: str) -> ClientMatch | None:
        """The client whose token subject is ``subject`` (for identity-token callers)."""
        try:
            return self._matcher.match_subject(subject)
        except Ambiguous:
            return None

    def decide(self, identities: PresentedIdentities, resource: str, operation: str) -> Decision:
        try:
            found = self._matcher.match(identities)
        except Ambiguous as exc:
            return ambiguous_client(resource, operation, exc.candidates)
        if found is None:
            return unknown_client(resource, operation, _describe(identities))
        return self._matcher.decide(found, resource, operation)

    def decide_subject(self, subject: str, resource: str, operation: str) -> Decision:
        """Decide for a caller known by its token subject (identity tokens)."""
        try:
            found = self._matcher.match_subject(subject)
        except Ambiguous as exc:
            return ambiguous_client(resource, operation, exc.candidates)
        if found is None:
            return unknown_client(resource, operation, f"subject `{subject}`")
        return self._matcher.decide(found, resource, operation)

    def to_proto(self) -> policy_pb2.PolicySnapshot:
        from hessra_core.policy.proto_convert import snapshot_to_proto

        return snapshot_to_proto(self)

    @classmethod
    def from_proto(cls, message: policy_pb2.PolicySnapshot) -> Snapshot:
        """Rebuild from a message; PolicyError when it is malformed or its digest is wrong."""
        from hessra_core.policy.proto_convert import snapshot_from_proto

        return snapshot_from_proto(message)

    def __repr__(self) -> str:
        return f"Snapshot(revision={self.revision!r}, digest={self.digest!r})"


def _describe(identities: PresentedIdentities) -> str:
    shown = [f"{kind.value} `{value}`" for kind, value in identities.exact_candidates()]
    return ", ".join(shown[:4]) + (", ..." if len(shown) > 4 else "") if shown else "(no names)"


def revision_for(path: Path, revision: str | None, commit: CommitInfo | None) -> str:
    if revision:
        return revision
    if commit is not None:
        return f"HEAD@sha1:{commit.sha}"
    return f"dir:{Path(path).resolve()}"


def compile_policy_dir(
    path: Path,
    *,
    revision: str | None = None,
    commit: CommitInfo | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """Validate and compile the policy in ``path``; PolicyError lists every problem."""
    result = read_policy_dir(Path(path), now=now)
    if result.policy is None:
        errors = [d for d in result.diagnostics if d.is_error]
        raise PolicyError(
            result.diagnostics,
            "\n".join(str(d) for d in result.diagnostics) if errors else "policy is invalid",
        )
    return Snapshot.build(
        result.policy,
        revision=revision_for(path, revision, commit),
        commit=commit,
        warnings=result.warnings,
    )


__all__ = ["Snapshot", "compile_policy_dir"]
