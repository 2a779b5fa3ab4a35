"""Wiring of one issuer worker: keys, snapshot source, mTLS server, metrics.

:class:`IssuerApp` is one worker process's worth of issuer; tests run it in-process.
``hessra_issuer.supervisor`` runs several of them as OS processes sharing one port.

Start-up order matters for readiness: the server starts NOT_SERVING, then the
policy source delivers a snapshot (a compiled ``--policy-dir``, or policy-sync's
stream, or the persisted copy when policy-sync is unreachable), and only then does
gRPC health report SERVING. Until then every token request fails with
FAILED_PRECONDITION ("no policy snapshot loaded yet"). With ``server.health_listen``
the same health is also served in plaintext on that port, for kubelet probes.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from hessra.v1 import issuer_pb2, issuer_pb2_grpc
from hessra_core.keyring import Keyring
from hessra_core.rpc import (
    DynamicServerCredentials,
    Listener,
    ObservabilityInterceptor,
    RunningServer,
    connection_age_options,
    start_server,
)
from hessra_core.service.entrypoint import start_and_serve
from hessra_core.service.policy_source import PolicySource, open_policy_source
from hessra_core.service.secret_files import warn_exposed_secret_files
from hessra_core.service.snapshot_holder import ServeWhenReady, SnapshotHolder
from hessra_core.snapshot_file import write_atomic
from hessra_issuer import metrics
from hessra_issuer.config import IssuerConfig
from hessra_issuer.issuing import Issuing
from hessra_issuer.servicer import IssuerServicer

if TYPE_CHECKING:
    from hessra_core.policy import Snapshot

_log = structlog.get_logger("hessra.issuer")

ISSUER_SERVICE = issuer_pb2.DESCRIPTOR.services_by_name["Issuer"].full_name
WORKER_PID_METADATA = "x-hessra-worker-pid"


@dataclass
class WorkerInfo:
    """What a started worker reports (written to the port file)."""

    pid: int
    port: int
    identity_port: int | None
    metrics_port: int | None
    index: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    health_port: int | None = None


def write_port_file(
    path: Path, port: int, identity_port: int | None, workers: list[WorkerInfo]
) -> None:
    info = {
        "port": port,
        "identity_port": identity_port,
        # Workers share it (SO_REUSEPORT) like the main port.
        "health_port": workers[0].health_port if workers else None,
        "pids": [w.pid for w in workers],
        "metrics_ports": [w.metrics_port for w in workers],
    }
    write_atomic(path, (json.dumps(info) + "\n").encode(), mode=0o644)


class IssuerApp:
    """One worker: ``await app.start()``, then ``await app.stop()`` (or ``run()``)."""

    def __init__(self, config: IssuerConfig, *, worker_index: int = 0) -> None:
        self.config = config
        self.worker_index = worker_index
        extra_ca = config.extra_client_ca_file.read_bytes() if config.extra_client_ca_file else b""
        self.keyring = Keyring.load(
            config.signing_key_files, config.verify_key_files, active_key_id=config.active_key_id
        )
        # Anyone who can read a signing key can mint tokens: say so (a warning, since some
        # platforms mount secrets world-readable by default).
        warn_exposed_secret_files(
            _log,
            {
                **{
                    f"keys.signing_key_files[{i}]": path
                    for i, path in enumerate(config.signing_key_files, 1)
                },
                "server.key_file": config.key_file,
                "policy.sync_key_file": config.sync_key_file,
            },
        )
        self.holder = SnapshotHolder(extra_ca, log_name="hessra.issuer.snapshot")
        self.running: RunningServer | None = None
        self.metrics_port: int | None = None
        self._source: PolicySource | None = None
        self._metrics: metrics.MetricsServer | None = None

    @property
    def port(self) -> int:
        assert self.running is not None, "start() first"
        return self.running.ports["main"]

    @property
    def identity_port(self) -> int | None:
        return self.running.ports.get("identity") if self.running else None

    @property
    def health_port(self) -> int | None:
        """The plaintext health-only port (``server.health_listen``), if configured."""
        return self.running.health_port if self.running else None

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            os.getpid(),
            self.port,
            self.identity_port,
            self.metrics_port,
            self.worker_index,
            health_port=self.health_port,
        )

    def _listeners(self) -> list[Listener]:
        cfg = self.config
        mtls = DynamicServerCredentials(
            cfg.cert_file, cfg.key_file, client_ca=lambda: self.holder.client_ca_pem
        )
        listeners = [Listener(cfg.listen, mtls.server_credentials(), "main")]
        if cfg.identity_listen:
            server_only = DynamicServerCredentials(
                cfg.cert_file, cfg.key_file, require_client_auth=False
            )
            listeners.append(
                Listener(cfg.identity_listen, server_only.server_credentials(), "identity")
            )
        return listeners

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Serve ``snapshot`` now (what the policy sources call)."""
        self.holder.set(snapshot)

    async def start(self) -> None:
        servicer = IssuerServicer(self.holder, Issuing(self.keyring))
        self.running = await start_server(
            listeners=self._listeners(),
            services=[(issuer_pb2_grpc.add_IssuerServicer_to_server, servicer)],
            service_names=[ISSUER_SERVICE],
            interceptors=[
                ObservabilityInterceptor(
                    trailing_metadata=[(WORKER_PID_METADATA, str(os.getpid()))]
                )
            ],
            health_listen=self.config.health_listen,
            options=connection_age_options(
                self.config.max_connection_age, self.config.shutdown_grace
            ),
        )
        self.holder.on_change(lambda state: metrics.record_snapshot(state.revision, state.digest))
        self.holder.on_change(ServeWhenReady(self.running))
        if self.config.metrics_port >= 0:
            base = self.config.metrics_port
            self._metrics = metrics.MetricsServer(
                base + self.worker_index if base else 0, host=self.config.metrics_host
            )
            self.metrics_port = self._metrics.port
        self._source = open_policy_source(
            self.config,
            self.apply_snapshot,
            config_source="issuer config",
            log_name="hessra.issuer.policy_dir",
            task_name="policy-dir-poll",
        )
        await self._source.start()
        _log.info(
            "issuer_started",
            port=self.port,
            identity_port=self.identity_port,
            health_port=self.health_port,
            metrics_port=self.metrics_port,
            active_key_id=self.keyring.active_key_id,
            worker=self.worker_index,
        )

    async def stop(self, grace: float | None = None) -> None:
        if self._source is not None:
            await self._source.stop()
            self._source = None
        if self.running is not None:
            await self.running.stop(self.config.shutdown_grace if grace is None else grace)
        if self._metrics is not None:
            await asyncio.to_thread(self._metrics.close)
            self._metrics = None

    async def run(self, on_started: Callable[[IssuerApp], object] | None = None) -> None:
        """Start, call ``on_started``, serve until SIGTERM/SIGINT, shut down gracefully (a
        signal during start-up included: see ``start_and_serve``)."""
        try:
            await start_and_serve(
                self._start,
                grace=self.config.shutdown_grace,
                on_started=None if on_started is None else lambda: on_started(self),
            )
        finally:
            await self.stop(0)

    async def _start(self) -> RunningServer:
        await self.start()
        assert self.running is not None
        return self.running


__all__ = ["ISSUER_SERVICE", "WORKER_PID_METADATA", "IssuerApp", "WorkerInfo", "write_port_file"]
