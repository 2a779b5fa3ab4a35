"""The one place where a gRPC answer becomes a typed SDK error.

Issuer and signer send every refusal as a status code, a short message, and the
error's stable ``reason`` in the ``x-hessra-reason`` trailing metadata
(``hessra_core.rpc.status``). The reason picks the exact class from the error tree
(``TokenExpiredError``, ``MissingSignoffError``, ...); without one (a proxy, an older
server, a transport failure) the status code picks the family. Remote verification
answers (``valid=false`` with a reason) go through :func:`error_for_reason` too, so a
token refused remotely raises the same class it would raise locally.

A client certificate the server refuses never reaches an RPC: the TLS handshake fails,
and grpcio reports ``UNAVAILABLE ... Socket closed``, the same as a server going away.
:func:`may_be_certificate_refusal` says when that is possible; the client then asks
``hessra._tls_probe`` and passes its finding here as ``refusal``, which becomes a
``CertificateRejectedError``. Without a finding the answer stays
``ServiceUnavailableError``: when unsure, the server is called unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import grpc

from hessra import _errors
from hessra._tls_probe import CertificateRefusal
from hessra_core import errors
from hessra_core.errors import HessraError

REASON_METADATA_KEY = "x-hessra-reason"

# A status code alone says which family an error belongs to.
_BY_CODE: dict[grpc.StatusCode, type[HessraError]] = {
    grpc.StatusCode.UNAUTHENTICATED: errors.AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDeniedError,
    grpc.StatusCode.FAILED_PRECONDITION: errors.PreconditionError,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequestError,
    grpc.StatusCode.UNAVAILABLE: _errors.ServiceUnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: _errors.ServiceUnavailableError,
}


def _subclasses(cls: type[HessraError]) -> Iterator[type[HessraError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _by_reason() -> dict[str, type[HessraError]]:
    table: dict[str, type[HessraError]] = {}
    for cls in _subclasses(HessraError):
        # The first class declaring a reason owns it (subclasses that inherit it do not).
        if "reason" in cls.__dict__ and cls.__module__.startswith(("hessra_core.", "hessra.")):
            table.setdefault(cls.reason, cls)
    return table


def _build(cls: type[HessraError], message: str) -> HessraError:
    """An instance of ``cls`` carrying the server's message, whatever its constructor.

    Constructors of some classes take structured values (a key id, a signer name);
    a remote error has only the message, so those attributes are filled from it where
    it names them and left ``None`` otherwise.
    """
    error = cls.__new__(cls)
    HessraError.__init__(error, message)
    if isinstance(error, errors.UnknownKeyIdError):
        error.key_id = None
    if isinstance(error, errors.TokenExpiredError):
        error.expired_at = None
    if isinstance(error, errors.MissingSignoffError):
        error.signer = _name_in(message) or ""
    if isinstance(error, errors.MissingAttestationError):
        error.component = _name_in(message) or ""
    if isinstance(error, errors.PolicyError):
        error.diagnostics = ()
    if isinstance(error, errors.ConfigError):
        error.problems, error.source = (message,), "remote"
    if isinstance(error, _errors.CertificateRejectedError):
        error.endpoint, error.why = "", ""
    return error


def _name_in(message: str) -> str | None:
    for marker in ("Required signature from ", "Missing attestation from: "):
        if message.startswith(marker):
            return message[len(marker) :].split()[0] if message[len(marker) :] else None
    return None


def error_for_reason(reason: str, message: str, code: grpc.StatusCode | None = None) -> HessraError:
    """The typed error for a ``reason`` (falling back to ``code``, then ``HessraError``)."""
    cls = _by_reason().get(reason)
    if cls is None and code is not None:
        cls = _BY_CODE.get(code)
    if cls is None and reason.startswith(("token", "invalid_token")):
        cls = errors.TokenError
    return _build(cls or HessraError, message or reason or "request refused")


# What grpcio says when the connection never got as far as TLS, or when *our* side
# rejected the server's certificate: neither can be the server refusing ours.
_NOT_A_REFUSAL = (
    "Failed to connect",
    "Connection refused",
    "DNS resolution failed",
    "Tls handshake failed",
    "CERTIFICATE_VERIFY_FAILED",
)


def _code_and_reason(exc: grpc.RpcError) -> tuple[grpc.StatusCode | None, str, str]:
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else None) or ""
    reason = ""
    trailing: Any = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == REASON_METADATA_KEY:
            reason = value.decode() if isinstance(value, bytes) else str(value)
    return code, details, reason


def may_be_certificate_refusal(exc: grpc.RpcError) -> bool:
    """Could this failure be the server refusing our client certificate in the handshake?

    Only an ``UNAVAILABLE`` without a server reason, from a connection that got through
    TCP and past our own check of the server. A probe decides; this only saves the probe
    for failures that cannot be a refusal (nothing listening, a bad name, a server we
    do not trust).
    """
    code, details, reason = _code_and_reason(exc)
    if code != grpc.StatusCode.UNAVAILABLE or reason:
        return False
    return not any(marker in details for marker in _NOT_A_REFUSAL)


REDACTED = "<token redacted>"


def error_from_rpc(
    exc: grpc.RpcError,
    *,
    where: str,
    refusal: CertificateRefusal | None = None,
    secrets: Sequence[str] = (),
) -> HessraError:
    """Map a failed call to ``where`` (e.g. ``issuer 127.0.0.1:50051``) to a typed error.

    ``refusal`` is the probe's finding that the server refused our client certificate
    (see :func:`may_be_certificate_refusal`); it turns ``UNAVAILABLE`` into
    ``CertificateRejectedError``. ``secrets`` are the tokens the call sent: a server or
    proxy that echoes one in its message must not put it into our error (and so into
    the caller's logs), so each is replaced by ``<token redacted>``.
    """
    code, details, reason = _code_and_reason(exc)
    for secret in secrets:
        if secret:
            details = details.replace(secret, REDACTED)
    if refusal is not None and code == grpc.StatusCode.UNAVAILABLE and not reason:
        return _errors.CertificateRejectedError(where, refusal.why, refusal.detail)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED and not reason:
        # A hung or overloaded server looks the same as one never reached in time.
        return _errors.ServiceUnavailableError(
            f"{where} did not answer within the client's timeout (DEADLINE_EXCEEDED): it may "
            "be unreachable, overloaded or hung; check the address and the server's health, "
            "or raise timeout= for slow calls"
        )
    if code == grpc.StatusCode.UNAVAILABLE and not reason:
        name = code.name
        return _errors.ServiceUnavailableError(
            f"{where} is unreachable ({name}): {details or 'no answer'}; check the address, "
            "that the server runs, and that its certificate is trusted by your CA"
        )
    if reason:
        return error_for_reason(reason, details, code)
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is None:
        name = code.name if code is not None else "UNKNOWN"
        return _build(HessraError, f"{where} failed ({name}): {details}")
    return _build(cls, details or f"{where} refused the request ({code.name if code else ''})")


__all__ = [
    "REASON_METADATA_KEY",
    "error_for_reason",
    "error_from_rpc",
    "may_be_certificate_refusal",
]
