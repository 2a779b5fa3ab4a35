"""Wiring: config -> source, reconciler, hub, store, gRPC server, HTTP server.

``PolicySyncApp.start`` restores the persisted snapshot first (so the process
serves at once even when git is unreachable), starts both servers, then the
reconcile queue, the poller and (for a directory) the file watcher, and asks for
a first reconcile without waiting for it. ``stop`` reports NOT_SERVING first,
ends the watch streams, then stops the servers with a grace period.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from hessra.v1 import policy_pb2, policy_pb2_grpc
from hessra_core.errors import ConfigError
from hessra_core.rpc import (
    DynamicServerCredentials,
    Listener,
    ObservabilityInterceptor,
    RunningServer,
    start_server,
)
from hessra_core.service.secret_files import warn_exposed_secret_files
from hessra_policy_sync.config import (
    DirSourceConfig,
    GitSourceConfig,
    PolicySyncConfig,
    ServerConfig,
)
from hessra_policy_sync.dir_source import DirSource
from hessra_policy_sync.git_source import GitSource
from hessra_policy_sync.http_app import build_http_app
from hessra_policy_sync.hub import PublishedSnapshot, SnapshotHub
from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.policy_adapter import compile_snapshot, decode_snapshot
from hessra_policy_sync.reconcile import Compiler, Outcome, Reconciler
from hessra_policy_sync.scheduler import Poller, ReconcileQueue
from hessra_policy_sync.servicer import PolicySyncServicer
from hessra_policy_sync.source import Source
from hessra_policy_sync.status import SyncStatus
from hessra_policy_sync.store import SnapshotStore
from hessra_policy_sync.webhook import WebhookReceiver

log = structlog.get_logger("hessra.policy_sync")

SERVICE_NAME = policy_pb2.DESCRIPTOR.services_by_name["PolicySync"].full_name


class _FileReader:
    """The subscribers' CA bundle, re-read when the file changes (asked on every handshake)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._data: bytes | None = None

    def __call__(self) -> bytes | None:
        try:
            st = os.stat(self._path)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._data, self._stamp = self._path.read_bytes(), stamp
        except OSError:
            log.error("client_ca_unreadable", path=str(self._path))
        return self._data


def grpc_server_options(server: ServerConfig) -> list[tuple[str, int]]:
    """Keepalive for the long-lived watch streams (see ``hessra_policy_sync.config``).

    The server pings idle connections to drop subscribers that vanished, and accepts the
    subscribers' own pings down to ``min_client_ping_interval`` instead of gRPC's 5 minutes.
    Deliberately no ``grpc.max_connection_age_ms`` (``connection_age_options``): it would
    cut every watch stream and send all subscribers back at once.
    """
    return [
        ("grpc.keepalive_time_ms", max(1, int(server.keepalive_time * 1000))),
        ("grpc.keepalive_timeout_ms", max(1, int(server.keepalive_timeout * 1000))),
        # In grpcio 1.85 this, not keepalive_timeout_ms, bounds an unanswered ping (else 60 s).
        ("grpc.http2.ping_timeout_ms", max(1, int(server.keepalive_timeout * 1000))),
        ("grpc.keepalive_permit_without_calls", 1),
        # GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS (the key lost its "recv").
        (
            "grpc.http2.min_ping_interval_without_data_ms",
            int(server.min_client_ping_interval * 1000),
        ),
    ]


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class PolicySyncApp:
    def __init__(
        self,
        config: PolicySyncConfig,
        *,
        compiler: Compiler = compile_snapshot,
        retry_delay: float = 0.1,
    ) -> None:
        self.config = config
        state_dir = config.server.state_dir
        self.metrics = PolicySyncMetrics()
        self.hub = SnapshotHub()
        self.source: Source
        if isinstance(config.source, DirSourceConfig):
            self.source = DirSource(config.source)
        else:
            self.source = GitSource(config.source, Path(state_dir) / "git")
        self.status = SyncStatus(source=self.source.display, branch=self.source.branch)
        self.store = SnapshotStore(state_dir, decode_snapshot)
        self.reconciler = Reconciler(
            source=self.source,
            compiler=compiler,
            hub=self.hub,
            persist=self.store.save,
            status=self.status,
            metrics=self.metrics,
            pushed_commit_attempts=config.webhook.pushed_commit_attempts,
            retry_delay=retry_delay,
        )
        self.queue = ReconcileQueue(self.reconciler)
        self.poller = Poller(self.queue, config.source.poll_interval, config.source.poll_jitter)
        self.webhooks = WebhookReceiver(
            config.webhook,
            branch=self.source.branch,
            on_push=self._on_push,
            metrics=self.metrics,
        )
        self.servicer = PolicySyncServicer(
            hub=self.hub,
            status=self.status.view,
            resync=lambda: self.queue.request(trigger="resync"),
            metrics=self.metrics,
            resync_allowed=frozenset(config.server.resync_allowed),
        )
        self._grpc: RunningServer | None = None
        self._http: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.grpc_port = 0
        self.http_port = 0
        # The plaintext health-only port (server.health_listen), if configured.
        self.health_port: int | None = None

    def _on_files_changed(self) -> None:
        self.queue.request(trigger="watch")

    def _on_push(self, sha: str) -> None:
        self.queue.request(want=sha, trigger="webhook")

    def resync(self) -> asyncio.Future[Outcome]:
        return self.queue.request(trigger="resync")

    async def start(self) -> None:
        server = self.config.server
        self._warn_insecure()
        self._warn_exposed_secrets()
        restored = await asyncio.to_thread(self.store.load)
        if restored is not None:
            self._restore(restored)
        self.hub.add_listener(self._on_publish)

        if server.plaintext_grpc:
            listener = Listener(server.grpc_listen, None)
        else:
            if not (server.cert_file and server.key_file and server.client_ca_file):
                raise ConfigError(["server: cert_file, key_file and client_ca_file are required"])
            creds = DynamicServerCredentials(
                server.cert_file, server.key_file, client_ca=_FileReader(server.client_ca_file)
            )
            listener = Listener(server.grpc_listen, creds.server_credentials())
        self._grpc = await start_server(
            listeners=[listener],
            services=[(policy_pb2_grpc.add_PolicySyncServicer_to_server, self.servicer)],
            service_names=[SERVICE_NAME],
            interceptors=[ObservabilityInterceptor()],
            serving=restored is not None,
            options=grpc_server_options(server),
            health_listen=server.health_listen,
        )
        self.grpc_port = self._grpc.port
        self.health_port = self._grpc.health_port

        http_app = build_http_app(
            receiver=self.webhooks,
            metrics=self.metrics,
            ready=lambda: self.hub.current is not None,
            status=self.status.view,
        )
        self._http = web.AppRunner(http_app, access_log=None, handle_signals=False)
        await self._http.setup()
        host, port = _host_port(server.http_listen)
        site = web.TCPSite(self._http, host, port)
        try:
            await site.start()
        except OSError as exc:
            # Like the gRPC listeners: a configuration problem (exit 2), not a crash.
            raise ConfigError(
                [f"server.http_listen {server.http_listen}: cannot bind ({exc.strerror or exc})"],
                source="policy-sync config",
            ) from None
        self.http_port = self._http.addresses[0][1]

        self.queue.start()
        self.poller.start()
        if isinstance(self.source, DirSource):
            self.source.watch(self._on_files_changed)
        self.queue.request(trigger="startup")
        log.info(
            "policy_sync_started",
            source=self.source.display,
            branch=self.source.branch,
            grpc_port=self.grpc_port,
            http_port=self.http_port,
            health_port=self.health_port,
            restored=restored.revision if restored else None,
        )

    def _restore(self, snapshot: PublishedSnapshot) -> None:
        self.hub.publish(snapshot)
        self.status.restored(
            snapshot.revision, snapshot.digest, datetime.now(UTC), datetime.now(UTC)
        )
        self.metrics.set_serving(snapshot.revision, snapshot.digest)

    def _on_publish(self, _snapshot: PublishedSnapshot) -> None:
        running = self._grpc
        if running is not None and not running.serving:
            task = asyncio.create_task(running.set_serving(True))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _warn_insecure(self) -> None:
        if self.config.server.plaintext_grpc:
            log.warning(
                "INSECURE_PLAINTEXT_GRPC",
                address=self.config.server.grpc_listen,
                note="gRPC without TLS: subscribers are not authenticated; development only",
            )
        if self.config.webhook.insecure:
            log.warning(
                "INSECURE_WEBHOOKS",
                note="webhooks without a configured secret are accepted unsigned; "
                "anyone who can reach the HTTP port can trigger reconciles",
            )

    def _warn_exposed_secrets(self) -> None:
        """Name each secret file other users may read (a warning, as in the other services:
        some platforms mount secrets world-readable by default)."""
        cfg = self.config
        files: dict[str, Path | None] = {"server.key_file": cfg.server.key_file}
        if isinstance(cfg.source, GitSourceConfig):
            files["source.ssh_key_file"] = cfg.source.ssh_key_file
            files["source.token_file"] = cfg.source.token_file
        files.update(cfg.webhook.secret_files)
        warn_exposed_secret_files(log, files)

    async def stop(self, grace: float | None = None) -> None:
        grace = self.config.server.shutdown_grace if grace is None else grace
        if self._grpc is not None:
            await self._grpc.set_serving(False)
        await self.poller.stop()
        self.hub.close()
        if self._http is not None:
            await self._http.cleanup()
        if self._grpc is not None:
            await self._grpc.stop(grace)
        await self.queue.stop()
        await self.source.close()
        log.info("policy_sync_stopped")


__all__ = ["SERVICE_NAME", "PolicySyncApp", "grpc_server_options"]
