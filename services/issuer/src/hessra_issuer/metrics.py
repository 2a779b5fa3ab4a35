"""Prometheus metrics of one issuer worker process.

Each worker serves its own ``/metrics`` (``server.metrics_port`` + worker index, on
``server.metrics_host``, 127.0.0.1 by default): biscuit-python holds the GIL, so the issuer
scales by processes, and per-process endpoints keep every counter exact without
prometheus_client's multiprocess mode (which cannot export Info metrics and needs a
shared scratch directory). Scrape every worker port and sum in PromQL. gRPC call
counts and latency come from ``hessra_core.rpc.interceptors`` and are served on the
same endpoint; ``hessra_grpc_request_duration_seconds{method=".../RequestToken"}`` is
the minting latency.
"""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge, Info, start_http_server

MINTED = Counter(
    "hessra_issuer_tokens_minted",
    "Tokens minted, by kind (authorization, identity) and resource ('-' for identity).",
    ["kind", "resource"],
)
DENIED = Counter(
    "hessra_issuer_tokens_denied",
    "Token requests refused, by reason (permission_denied, unauthenticated, no_snapshot, ...).",
    ["reason"],
)
SNAPSHOT = Info("hessra_issuer_snapshot", "The policy snapshot this worker serves.")
SNAPSHOT_LOADED = Gauge(
    "hessra_issuer_snapshot_loaded_timestamp_seconds",
    "When the serving snapshot was applied (Unix time).",
)
READY = Gauge("hessra_issuer_ready", "1 once a policy snapshot is loaded, else 0.")


@functools.lru_cache(maxsize=4096)
def minted(kind: str, resource: str) -> Any:
    """The MINTED child for (kind, resource); resources are bounded by the policy."""
    return MINTED.labels(kind, resource)


@functools.lru_cache(maxsize=64)
def denied(reason: str) -> Any:
    return DENIED.labels(reason)


def record_snapshot(revision: str, digest: str) -> None:
    SNAPSHOT.info({"revision": revision, "digest": digest})
    SNAPSHOT_LOADED.set_to_current_time()
    READY.set(1)


class MetricsServer:
    """``/metrics`` over HTTP on a daemon thread; ``port`` is the bound port."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._httpd, self._thread = start_http_server(port, addr=host)
        self.port = int(self._httpd.server_address[1])

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


__all__ = [
    "DENIED",
    "MINTED",
    "READY",
    "SNAPSHOT",
    "SNAPSHOT_LOADED",
    "MetricsServer",
    "denied",
    "minted",
    "record_snapshot",
]
