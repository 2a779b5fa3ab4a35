"""The gRPC runtime every Hessra service shares.

- :mod:`~hessra_core.rpc.server`: ``start_server`` (grpc.aio, health, reflection,
  SO_REUSEPORT, an optional plaintext health-only listener for kubelet probes),
  ``RunningServer.stop`` (graceful), ``serve_until_signalled``.
- :mod:`~hessra_core.rpc.credentials`: ``DynamicServerCredentials`` (mTLS whose
  client CAs and server cert change without a restart).
- :mod:`~hessra_core.rpc.interceptors`: ``ObservabilityInterceptor`` (one canonical
  log line, metrics, error mapping) and ``annotate`` for servicers.
- :mod:`~hessra_core.rpc.status`: ``status_for`` / ``status_message``, the one map from
  ``hessra_core.errors`` to gRPC status.
- :mod:`~hessra_core.rpc.peer`: the caller's certificate from the TLS session.
- :mod:`~hessra_core.rpc.logging`: ``configure_logging`` (structlog, JSON off a TTY).
"""

from hessra_core.rpc.credentials import DynamicServerCredentials, unreachable_ca_pem
from hessra_core.rpc.interceptors import ObservabilityInterceptor, annotate, current_record
from hessra_core.rpc.logging import configure_logging
from hessra_core.rpc.peer import peer_certificate, peer_certificate_chain, peer_label
from hessra_core.rpc.server import (
    LIVENESS,
    NOT_SERVING,
    SERVING,
    Listener,
    RunningServer,
    connection_age_options,
    serve_until_signalled,
    start_server,
)
from hessra_core.rpc.status import reason_for, status_for, status_message

__all__ = [
    "LIVENESS",
    "NOT_SERVING",
    "SERVING",
    "DynamicServerCredentials",
    "Listener",
    "ObservabilityInterceptor",
    "RunningServer",
    "annotate",
    "configure_logging",
    "connection_age_options",
    "current_record",
    "peer_certificate",
    "peer_certificate_chain",
    "peer_label",
    "reason_for",
    "serve_until_signalled",
    "start_server",
    "status_for",
    "status_message",
    "unreachable_ca_pem",
]
