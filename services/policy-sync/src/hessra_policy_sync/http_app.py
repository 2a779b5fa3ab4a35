"""The HTTP side of policy-sync: webhooks, ``/metrics``, ``/healthz``, ``/readyz``, ``/status``.

``/healthz`` answers 200 while the process runs; ``/readyz`` only once a snapshot
is loaded (from git or from disk), because before that issuers have nothing to
receive. ``/status`` is the GetStatus answer as JSON, for people with curl.

Limits (one client must not hold the listener for everyone): connections idle or still
sending their request line and headers are closed after :data:`KEEPALIVE_TIMEOUT`
seconds (aiohttp's default is an hour, long enough to pile up connections until the
process runs out of file descriptors, which the gRPC port shares); request lines and
header fields stay at aiohttp's 8190 bytes and at most :data:`MAX_HEADERS` headers; and
``/status`` lists at most :data:`MAX_STATUS_DIAGNOSTICS` diagnostics of the last error
(a policy with thousands of broken entries would otherwise make every poll of it
megabytes), with the total in ``diagnostics_total``. Webhook bodies have their own
bounds (:mod:`hessra_policy_sync.webhook`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.status import MAX_STATUS_DIAGNOSTICS, StatusView
from hessra_policy_sync.webhook import WebhookReceiver

KEEPALIVE_TIMEOUT = 15.0  # seconds
MAX_HEADERS = 64

# Handed to aiohttp's request handler for every connection of the app.
HANDLER_ARGS: dict[str, Any] = {
    "keepalive_timeout": KEEPALIVE_TIMEOUT,
    "max_headers": MAX_HEADERS,
    "max_line_size": 8190,
    "max_field_size": 8190,
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def status_json(view: StatusView) -> dict[str, Any]:
    error = view.last_error
    return {
        "source": view.source,
        "branch": view.branch,
        "serving_revision": view.serving_revision,
        "serving_digest": view.serving_digest,
        "serving_since": _iso(view.serving_since),
        "last_fetch_time": _iso(view.last_fetch_time),
        "last_fetch_revision": view.last_fetch_revision,
        "last_attempt_time": _iso(view.last_attempt_time),
        "last_error": None
        if error is None
        else {
            "step": error.step.value,
            "reason": error.reason,
            "revision": error.revision,
            "message": error.message,
            "diagnostics": [str(d) for d in error.diagnostics[:MAX_STATUS_DIAGNOSTICS]],
            "diagnostics_total": len(error.diagnostics),
            "occurred_at": _iso(error.occurred_at),
        },
        "conditions": [
            {
                "type": c.type,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
                "last_transition_time": _iso(c.last_transition_time),
            }
            for c in view.conditions
        ],
    }


def build_http_app(
    *,
    receiver: WebhookReceiver,
    metrics: PolicySyncMetrics,
    ready: Callable[[], bool],
    status: Callable[[], StatusView],
) -> web.Application:
    async def metrics_view(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        if ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "no snapshot loaded yet"}, status=503)

    async def status_view(_request: web.Request) -> web.Response:
        return web.json_response(status_json(status()))

    app = web.Application(handler_args=HANDLER_ARGS)
    app.add_routes(
        [
            *receiver.routes(),
            web.get("/metrics", metrics_view),
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/status", status_view),
        ]
    )
    return app


__all__ = [
    "HANDLER_ARGS",
    "KEEPALIVE_TIMEOUT",
    "MAX_HEADERS",
    "MAX_STATUS_DIAGNOSTICS",
    "build_http_app",
    "status_json",
]
