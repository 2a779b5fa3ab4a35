"""Prometheus metrics of the signer (gRPC call counts and latency come from
``hessra_core.rpc.interceptors`` and are served on the same endpoint)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Info, start_http_server

SIGNED = Counter("hessra_signer_signoffs", "Sign-offs appended, by resource.", ["resource"])
REFUSED = Counter(
    "hessra_signer_refusals",
    "Sign-off requests refused, by reason (permission_denied, signer_not_required, ...).",
    ["reason"],
)
SNAPSHOT = Info("hessra_signer_snapshot", "The policy snapshot this signer decides by.")
READY = Gauge("hessra_signer_ready", "1 once a policy snapshot is loaded, else 0.")


def record_snapshot(revision: str, digest: str) -> None:
    SNAPSHOT.info({"revision": revision, "digest": digest})
    READY.set(1)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> int:
    """Serve ``/metrics``; returns the bound port (useful with port 0)."""
    httpd, _thread = start_http_server(port, addr=host)
    return int(httpd.server_address[1])


__all__ = ["READY", "REFUSED", "SIGNED", "SNAPSHOT", "record_snapshot", "start_metrics_server"]
