"""Push webhooks from GitHub, GitLab and anything that can sign with HMAC-SHA256.

Order of checks, cheapest and safest first, so an unauthenticated sender never
gets a byte parsed and never triggers anything:

1. the provider is configured (a secret, or the explicit insecure mode)  -> 404
2. ``Content-Length`` above the cap                                       -> 413
3. the signature/token header is present and well-formed                 -> 401
   (GitLab's token is compared here, constant time, before reading the body)
4. at most ``max_concurrent_reads`` bodies are read at once               -> 503
   and the body is read while counting, stopping past the cap              -> 413
   within ``body_timeout`` seconds                                          -> 408
5. the HMAC over the raw bytes is compared, constant time                 -> 401
6. only now is the body parsed as JSON; anything malformed                -> 400

Then: events other than a push, pushes to other branches and branch deletions are
answered ``200 {"result": "ignored"}``; a delivery id already seen gets
``200 {"result": "duplicate"}``; a push to the tracked branch gets
``202 {"result": "accepted"}`` at once and the reconcile runs in the background,
targeting the pushed ``after`` commit. Bursts are coalesced by the reconcile queue.

Why the read is bounded in time and in number: a signed body cannot be checked before
it is read, so reading is the one step an unauthenticated sender gets. Without bounds,
senders that announce ``max_body_bytes`` and trickle it in would each hold a handler and
up to that many bytes for as long as they like. With them, bodies held at once are at
most ``max_concurrent_reads * max_body_bytes`` (16 MiB with the defaults), each for at
most ``body_timeout`` seconds. The price: a sender keeping ``max_concurrent_reads``
slow bodies in flight gets genuine deliveries refused with 503 (GitHub does not retry
on its own), so pushes are then picked up by the poll instead, which is a delay and
not an outage; unbounded, the same sender could exhaust memory and stop serving.

Endpoints: ``POST /webhook/github`` (``X-Hub-Signature-256: sha256=<hex>``),
``POST /webhook/gitlab`` (``X-Gitlab-Token``), ``POST /webhook/generic``
(``X-Hessra-Signature: sha256=<hex>``, optional ``X-Hessra-Delivery``, body
``{"ref": "refs/heads/main", "after": "<sha>"}``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import structlog
from aiohttp import web

from hessra_policy_sync.config import WebhookConfig
from hessra_policy_sync.metrics import PolicySyncMetrics

log = structlog.get_logger("hessra.policy_sync.webhook")

_SIGNATURE = re.compile(r"^sha256=([0-9a-fA-F]{64})$")
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_CHUNK = 64 * 1024
BODY_TIMEOUT = 10.0  # seconds to receive a whole body
MAX_CONCURRENT_READS = 16


@dataclass(frozen=True)
class _Provider:
    name: str
    header: str  # the signature or token header
    delivery_header: str
    event_header: str | None
    push_events: frozenset[str]
    hmac: bool  # False: the header carries the shared secret itself (GitLab)


PROVIDERS = {
    "github": _Provider(
        "github",
        "X-Hub-Signature-256",
        "X-GitHub-Delivery",
        "X-GitHub-Event",
        frozenset({"push"}),
        hmac=True,
    ),
    "gitlab": _Provider(
        "gitlab",
        "X-Gitlab-Token",
        "X-Gitlab-Event-UUID",
        "X-Gitlab-Event",
        frozenset({"Push Hook"}),
        hmac=False,
    ),
    "generic": _Provider(
        "generic",
        "X-Hessra-Signature",
        "X-Hessra-Delivery",
        None,
        frozenset(),
        hmac=True,
    ),
}


class _Reject(Exception):
    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.message = message


class DeliveryLog:
    """The most recent delivery ids, bounded (least recently seen evicted first)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: OrderedDict[str, None] = OrderedDict()

    def seen_before(self, key: str) -> bool:
        """Record ``key``; True if it was already recorded."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return False


def sign(secret: bytes, body: bytes) -> str:
    """The ``sha256=<hex>`` signature header value for ``body`` (what senders compute)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookReceiver:
    def __init__(
        self,
        config: WebhookConfig,
        *,
        branch: str | None,
        on_push: Callable[[str], None],
        metrics: PolicySyncMetrics,
        body_timeout: float = BODY_TIMEOUT,
        max_concurrent_reads: int = MAX_CONCURRENT_READS,
    ) -> None:
        self._config = config
        self._branch = branch
        self._on_push = on_push
        self._metrics = metrics
        self._deliveries = DeliveryLog(config.dedup_size)
        self._body_timeout = body_timeout
        self._max_reads = max_concurrent_reads
        self._reading = 0

    @property
    def bodies_in_flight(self) -> int:
        """Request bodies being received right now."""
        return self._reading

    def routes(self) -> list[web.RouteDef]:
        return [web.post(f"/webhook/{name}", self._handler(name)) for name in PROVIDERS]

    def _secret(self, provider: str) -> bytes | None:
        secrets = self._config.secrets
        value: bytes | None = getattr(secrets, provider)
        return value

    def _handler(self, name: str) -> Callable[[web.Request], Any]:
        provider = PROVIDERS[name]

        async def handle(request: web.Request) -> web.Response:
            started = time.perf_counter()
            fields: dict[str, Any] = {"provider": name, "remote": request.remote}
            try:
                status, body = await self._handle(provider, request, fields)
            except _Reject as exc:
                status, body = exc.status, {"result": exc.outcome, "error": exc.message}
            fields.update(outcome=body["result"], status=status)
            fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            self._metrics.webhooks.labels(provider=name, outcome=body["result"]).inc()
            (log.info if status < 400 else log.warning)("webhook", **fields)
            response = web.json_response(body, status=status)
            if status in (401, 408, 413, 503):
                # Do not keep reading an unwanted body to reuse the connection.
                response.force_close()
            return response

        return handle

    async def _handle(
        self, provider: _Provider, request: web.Request, fields: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        secret = self._secret(provider.name)
        if secret is None and not self._config.insecure:
            raise _Reject(404, "disabled", f"no secret configured for {provider.name} webhooks")
        cap = self._config.max_body_bytes
        if request.content_length is not None and request.content_length > cap:
            raise _Reject(413, "too_large", f"body exceeds {cap} bytes")
        claimed = request.headers.get(provider.header, "")
        expected_digest: bytes | None = None
        if secret is not None:
            if not provider.hmac:
                if not claimed or not hmac.compare_digest(claimed.encode(), secret):
                    raise _Reject(401, "bad_signature", f"missing or wrong {provider.header}")
            else:
                match = _SIGNATURE.match(claimed)
                if match is None:
                    raise _Reject(401, "bad_signature", f"missing or malformed {provider.header}")
                expected_digest = bytes.fromhex(match.group(1))
        if self._reading >= self._max_reads:
            raise _Reject(503, "busy", "too many webhook deliveries in progress, retry later")
        self._reading += 1
        try:
            async with asyncio.timeout(self._body_timeout):
                raw = await _read_capped(request, cap)
        except TimeoutError:
            raise _Reject(
                408, "timeout", f"body not received within {self._body_timeout:g} s"
            ) from None
        finally:
            self._reading -= 1
        if expected_digest is not None and secret is not None:
            actual = hmac.new(secret, raw, hashlib.sha256).digest()
            if not hmac.compare_digest(actual, expected_digest):
                raise _Reject(401, "bad_signature", f"{provider.header} does not match the body")

        delivery = request.headers.get(provider.delivery_header, "")[:200]
        fields["delivery"] = delivery
        if provider.event_header is not None:
            event = request.headers.get(provider.event_header, "")[:100]
            fields["hook_event"] = event
            if event == "ping":
                return 200, {"result": "pong"}
            if event not in provider.push_events:
                return 200, {"result": "ignored", "reason": f"event {event!r} is not a push"}
        ref, after = _parse_push(raw, request.headers.get("Content-Type", ""))
        fields.update(ref=ref, after=after)
        if delivery and self._deliveries.seen_before(f"{provider.name}:{delivery}"):
            return 200, {"result": "duplicate"}
        if self._branch is not None and ref != f"refs/heads/{self._branch}":
            return 200, {"result": "ignored", "reason": f"push to {ref}, following {self._branch}"}
        if set(after) == {"0"}:
            return 200, {"result": "ignored", "reason": "branch deleted"}
        self._on_push(after)
        return 202, {"result": "accepted", "after": after}


async def _read_capped(request: web.Request, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > cap:
            raise _Reject(413, "too_large", f"body exceeds {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_push(raw: bytes, content_type: str) -> tuple[str, str]:
    """``(ref, after)`` from a push payload; raises ``_Reject(400)`` on anything else."""
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            # GitHub's form delivery: payload=<url-encoded JSON>
            raw = parse_qs(raw.decode("utf-8"), strict_parsing=True)["payload"][0].encode()
        payload = json.loads(raw)
    except (ValueError, KeyError, IndexError, RecursionError, UnicodeDecodeError):
        raise _Reject(400, "bad_payload", "body is not a JSON push payload") from None
    if not isinstance(payload, dict):
        raise _Reject(400, "bad_payload", "payload must be a JSON object")
    ref, after = payload.get("ref"), payload.get("after")
    if not isinstance(ref, str) or not ref.startswith("refs/") or len(ref) > 300:
        raise _Reject(400, "bad_payload", "payload.ref must be a ref like refs/heads/main")
    if not isinstance(after, str) or not _SHA.match(after):
        raise _Reject(400, "bad_payload", "payload.after must be a full commit sha")
    return ref, after


__all__ = [
    "BODY_TIMEOUT",
    "MAX_CONCURRENT_READS",
    "PROVIDERS",
    "DeliveryLog",
    "WebhookReceiver",
    "sign",
]
