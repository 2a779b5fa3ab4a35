"""Tokens inside event payloads, in the seed's shape::

    {
      "event_id": "evt_123",
      "type": "order.created",
      "data": {...},
      "authorization": {
        "token": "...", "subject": "uri:urn:service:order-processor",
        "resource": "orders", "operation": "create"
      }
    }

A producer calls :func:`attach_authorization`; a consumer calls
:func:`verify_event`. The consumer should say which resource and operation it
is about to perform (``resource=``, ``operation=``): the event's own claims are
then checked against them, so an event carrying a valid token for
``orders/read`` cannot trigger a handler that creates orders. Without them, the
event's claims are verified as stated, which proves only that *some* action was
authorized.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hessra._errors import MalformedRequestError, MissingFieldError
from hessra._verify import AuthContext, KeysLike, LocalVerifier
from hessra_core.errors import (
    OperationMismatchError,
    ResourceMismatchError,
    SubjectMismatchError,
)

AUTHORIZATION_KEY = "authorization"
_FIELDS = ("token", "subject", "resource", "operation")
# Events travel through brokers with their own size limits; this one only keeps a
# hostile payload from being parsed at any size.
MAX_EVENT_BYTES = 1024 * 1024


def attach_authorization(
    event: Mapping[str, Any], *, token: str, subject: str, resource: str, operation: str
) -> dict[str, Any]:
    """A copy of ``event`` with its ``authorization`` block set."""
    out = dict(event)
    out[AUTHORIZATION_KEY] = {
        "token": token,
        "subject": subject,
        "resource": resource,
        "operation": operation,
    }
    return out


def _load(event: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(event, str | bytes):
        if len(event) > MAX_EVENT_BYTES:
            raise MalformedRequestError(f"Event is larger than {MAX_EVENT_BYTES} bytes")
        try:
            event = json.loads(event)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedRequestError(
                f"Event is not valid JSON: {exc.__class__.__name__}"
            ) from None
    if not isinstance(event, Mapping):
        raise MalformedRequestError("Event is not a JSON object")
    return event


def verify_event(
    event: Mapping[str, Any] | str | bytes,
    keys: KeysLike | LocalVerifier,
    *,
    subject: str | None = None,
    resource: str | None = None,
    operation: str | None = None,
    now: datetime | None = None,
) -> AuthContext:
    """Verify an event's ``authorization`` block; return what it proved, or raise.

    ``subject``/``resource``/``operation``, when given, are what this consumer
    expects; a different claim in the event is refused before the token is read.
    """
    payload = _load(event)
    block = payload.get(AUTHORIZATION_KEY)
    if block is None:
        raise MissingFieldError("authorization", "event")
    if not isinstance(block, Mapping):
        raise MalformedRequestError("Event authorization is not an object")
    claims: dict[str, str] = {}
    for name in _FIELDS:
        value = block.get(name)
        if not isinstance(value, str) or not value:
            raise MissingFieldError(name, "event authorization")
        claims[name] = value
    for expected, name, error in (
        (subject, "subject", SubjectMismatchError),
        (resource, "resource", ResourceMismatchError),
        (operation, "operation", OperationMismatchError),
    ):
        if expected is not None and claims[name] != expected:
            raise error(
                f"Event claims {name} {claims[name]!r}, but this consumer requires {expected!r}"
            )
    verifier = keys if isinstance(keys, LocalVerifier) else LocalVerifier.create(keys)
    return verifier.verify(
        claims["token"],
        claims["subject"],
        claims["resource"],
        claims["operation"],
        now=now,
        where="event authorization",
    )


__all__ = ["AUTHORIZATION_KEY", "attach_authorization", "verify_event"]
