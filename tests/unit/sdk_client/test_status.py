"""gRPC answers become typed SDK errors in one place (``hessra._status``)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from hessra import _errors
from hessra._status import error_for_reason, error_from_rpc, may_be_certificate_refusal
from hessra._tls_probe import CertificateRefusal
from hessra_core import errors

Code = grpc.StatusCode


@dataclass
class Answer(grpc.RpcError):
    """What grpc raises for a failed call: a code, details and trailing metadata."""

    status: grpc.StatusCode
    text: str
    trailing: tuple[tuple[str, str], ...] = ()

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.text

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.trailing


REASONS = [
    ("expired", "Token has expired (at 2026-01-01T00:00:00+00:00)", errors.TokenExpiredError),
    ("missing_signoff", "Required signature from legal_dept not found", errors.MissingSignoffError),
    ("missing_attestation", "Missing attestation from: fraud_detection",
     errors.MissingAttestationError),
    ("subject_mismatch", "token does not grant anything to subject 'x'",
     errors.SubjectMismatchError),
    ("unknown_key_id", "Token root key id 7 is not a trusted key", errors.UnknownKeyIdError),
    ("permission_denied", "`a` may not `b` on `c`", errors.PermissionDeniedError),
    ("unauthenticated", "client certificate is expired", errors.AuthenticationError),
    ("no_snapshot", "no policy snapshot loaded yet", errors.NotReadyError),
    ("signer_not_required", "token does not require a sign-off from x",
     errors.SignerNotRequiredError),
    ("invalid_argument", "resource must not be empty", errors.InvalidRequestError),
    ("run_limit", "token evaluation hit the Datalog run limits", errors.RunLimitError),
]  # fmt: skip


@pytest.mark.parametrize(("reason", "message", "cls"), REASONS, ids=[r[0] for r in REASONS])
def test_reason_picks_the_exact_class(reason: str, message: str, cls: type) -> None:
    error = error_for_reason(reason, message)
    assert type(error) is cls
    assert error.message == message
    assert error.reason == reason


def test_named_parts_are_recovered_from_the_message() -> None:
    signoff = error_for_reason("missing_signoff", "Required signature from legal_dept not found")
    assert isinstance(signoff, errors.MissingSignoffError)
    assert signoff.signer == "legal_dept"
    chain = error_for_reason("missing_attestation", "Missing attestation from: fraud_detection")
    assert isinstance(chain, errors.MissingAttestationError)
    assert chain.component == "fraud_detection"


CODES = [
    (Code.PERMISSION_DENIED, errors.PermissionDeniedError),
    (Code.UNAUTHENTICATED, errors.AuthenticationError),
    (Code.FAILED_PRECONDITION, errors.PreconditionError),
    (Code.INVALID_ARGUMENT, errors.InvalidRequestError),
    (Code.UNAVAILABLE, _errors.ServiceUnavailableError),
    (Code.DEADLINE_EXCEEDED, _errors.ServiceUnavailableError),
    (Code.INTERNAL, errors.HessraError),
]


@pytest.mark.parametrize(("code", "cls"), CODES, ids=[c[0].name for c in CODES])
def test_code_alone_picks_the_family(code: grpc.StatusCode, cls: type) -> None:
    error = error_from_rpc(Answer(code, "refused"), where="issuer 127.0.0.1:1")
    assert type(error) is cls


def test_trailing_reason_wins_over_the_code() -> None:
    answer = Answer(Code.UNAUTHENTICATED, "Token has expired", (("x-hessra-reason", "expired"),))
    assert type(error_from_rpc(answer, where="signer x")) is errors.TokenExpiredError


def test_unreachable_says_where_and_what_to_check() -> None:
    error = error_from_rpc(Answer(Code.UNAVAILABLE, "connection refused"), where="signer h:1")
    assert isinstance(error, _errors.ServiceUnavailableError)
    assert "signer h:1 is unreachable" in error.message
    assert "certificate" in error.message


def test_unknown_reason_falls_back_to_the_code() -> None:
    answer = Answer(Code.PERMISSION_DENIED, "nope", (("x-hessra-reason", "brand_new"),))
    assert type(error_from_rpc(answer, where="issuer")) is errors.PermissionDeniedError


# What grpcio 1.85 reports for each way a connection can fail (see the experiment in
# tests/integration/sdk/test_certificate_refusal.py), and whether a probe may help.
CLOSED = "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:1: "
FAILURES = [
    ("refused_cert", Answer(Code.UNAVAILABLE, CLOSED + "Socket closed"), True),
    ("server_down", Answer(Code.UNAVAILABLE, "failed to connect to all addresses; last error: "
     "UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"), False),
    ("server_untrusted", Answer(Code.UNAVAILABLE, "last error: UNKNOWN: ipv4:127.0.0.1:1: Tls "
     "handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: CERTIFICATE_VERIFY_FAILED"), False),
    ("bad_name", Answer(Code.UNAVAILABLE, "DNS resolution failed for nowhere:1"), False),
    ("server_reason", Answer(Code.UNAVAILABLE, "draining", (("x-hessra-reason", "x"),)), False),
    ("deadline", Answer(Code.DEADLINE_EXCEEDED, "Deadline Exceeded"), False),
    ("unauthenticated", Answer(Code.UNAUTHENTICATED, "no identity"), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "probe"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_only_a_closed_socket_may_be_a_certificate_refusal(answer: Answer, probe: bool) -> None:
    assert may_be_certificate_refusal(answer) is probe


def test_a_probe_finding_makes_unavailable_a_certificate_rejection() -> None:
    finding = CertificateRefusal("unknown_ca", "it is issued by CN=x, which is not a CA ...")
    answer = Answer(Code.UNAVAILABLE, CLOSED + "Socket closed")
    error = error_from_rpc(answer, where="issuer h:1", refusal=finding)
    assert type(error) is _errors.CertificateRejectedError
    assert isinstance(error, errors.AuthenticationError)
    assert (error.endpoint, error.why) == ("issuer h:1", "unknown_ca")
    assert error.message == (
        "issuer h:1 refused the client certificate (unknown CA): "
        "it is issued by CN=x, which is not a CA ..."
    )
    assert _errors.hints_for(error)
    # Without a finding, the same answer is a server that cannot be reached.
    assert type(error_from_rpc(answer, where="issuer h:1")) is _errors.ServiceUnavailableError


def test_a_finding_never_overrides_what_the_server_said() -> None:
    finding = CertificateRefusal("unknown_ca", "x")
    answer = Answer(Code.UNAVAILABLE, "draining", (("x-hessra-reason", "no_snapshot"),))
    assert type(error_from_rpc(answer, where="issuer", refusal=finding)) is errors.NotReadyError


def test_remote_certificate_rejected_reason_maps_to_the_class() -> None:
    error = error_for_reason("certificate_rejected", "refused")
    assert type(error) is _errors.CertificateRejectedError
    assert (error.endpoint, error.why) == ("", "")
