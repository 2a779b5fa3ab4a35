"""Wiring of the signer: its key, its policy source, the mTLS server, metrics.

Start-up order matters for readiness: the server starts NOT_SERVING, the policy
source (``--policy-dir`` or this organisation's policy-sync, or the persisted copy
when policy-sync is unreachable) delivers a snapshot, and only then does gRPC health
report SERVING. Until then SignToken fails with FAILED_PRECONDITION. Until a snapshot
names trusted CAs, no client certificate can complete the handshake at all, which is
why kubelet probes use the plaintext health-only port (``server.health_listen``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import structlog

from hessra.v1 import signer_pb2, signer_pb2_grpc
from hessra_core.errors import ConfigError, KeyFormatError
from hessra_core.keys import KeyPair
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
from hessra_core.service.snapshot_holder import ServeWhenReady
from hessra_core.snapshot_file import write_atomic
from hessra_signer import metrics
from hessra_signer.config import SignerConfig
from hessra_signer.servicer import SignerServicer
from hessra_signer.signing import Signing
from hessra_signer.state import SnapshotHolder

_log = structlog.get_logger("hessra.signer")

SIGNER_SERVICE = signer_pb2.DESCRIPTOR.services_by_name["Signer"].full_name


def load_keypair(path: Path) -> KeyPair:
    try:
        return KeyPair.load(path)
    except KeyFormatError as exc:
        raise ConfigError([f"signer.key_file: {exc.message}"], source="signer config") from None


class SignerApp:
    """``await app.start()``, then ``await app.stop()`` (or ``run()``)."""

    def __init__(self, config: SignerConfig) -> None:
        self.config = config
        extra_ca = config.extra_client_ca_file.read_bytes() if config.extra_client_ca_file else b""
        self.signing = Signing(
            config.name, load_keypair(config.signing_key_file), config.issuer_keys
        )
        # Anyone who can read the signing key can co-sign as this organisation: say so
        # (a warning, since some platforms mount secrets world-readable by default).
        warn_exposed_secret_files(
            _log,
            {
                "signer.key_file": config.signing_key_file,
                "server.key_file": config.key_file,
                "policy.sync_key_file": config.sync_key_file,
            },
        )
        self.holder = SnapshotHolder(extra_ca, log_name="hessra.signer.snapshot")
        self.running: RunningServer | None = None
        self.metrics_port: int | None = None
        self._source: PolicySource | None = None

    @property
    def port(self) -> int:
        assert self.running is not None, "start() first"
        return self.running.port

    @property
    def health_port(self) -> int | None:
        """The plaintext health-only port (``server.health_listen``), if configured."""
        return self.running.health_port if self.running else None

    def apply_snapshot(self, snapshot: Any) -> None:
        """Decide by ``snapshot`` from now on (what the policy sources call)."""
        self.holder.set(snapshot)

    async def start(self) -> None:
        cfg = self.config
        mtls = DynamicServerCredentials(
            cfg.cert_file, cfg.key_file, client_ca=lambda: self.holder.client_ca_pem
        )
        self.running = await start_server(
            listeners=[Listener(cfg.listen, mtls.server_credentials())],
            services=[
                (
                    signer_pb2_grpc.add_SignerServicer_to_server,
                    SignerServicer(self.holder, self.signing),
                )
            ],
            service_names=[SIGNER_SERVICE],
            interceptors=[ObservabilityInterceptor()],
            health_listen=cfg.health_listen,
            options=connection_age_options(cfg.max_connection_age, cfg.shutdown_grace),
        )
        self.holder.on_change(lambda state: metrics.record_snapshot(state.revision, state.digest))
        self.holder.on_change(ServeWhenReady(self.running))
        if cfg.metrics_port >= 0:
            self.metrics_port = metrics.start_metrics_server(cfg.metrics_port, cfg.metrics_host)
        self._source = open_policy_source(
            cfg,
            self.apply_snapshot,
            config_source="signer config",
            subscriber_name=f"signer:{cfg.name}",
            log_name="hessra.signer.policy_dir",
            task_name="signer-policy-dir-poll",
        )
        await self._source.start()
        if cfg.port_file is not None:
            info = {
                "port": self.port,
                "pid": os.getpid(),
                "metrics_port": self.metrics_port,
                "health_port": self.health_port,
            }
            write_atomic(cfg.port_file, (json.dumps(info) + "\n").encode(), mode=0o644)
        _log.info(
            "signer_started",
            signer=cfg.name,
            port=self.port,
            health_port=self.health_port,
            metrics_port=self.metrics_port,
            public_key=self.signing.keypair.public_key.to_string(),
            trusted_issuer_keys=len(cfg.issuer_keys),
        )

    async def stop(self, grace: float | None = None) -> None:
        if self._source is not None:
            await self._source.stop()
            self._source = None
        if self.running is not None:
            await self.running.stop(self.config.shutdown_grace if grace is None else grace)

    async def run(self) -> None:
        """Start, serve until SIGTERM/SIGINT, shut down gracefully (a signal during
        start-up included: see ``start_and_serve``)."""
        try:
            await start_and_serve(self._start, grace=self.config.shutdown_grace)
        finally:
            await self.stop(0)

    async def _start(self) -> RunningServer:
        await self.start()
        assert self.running is not None
        return self.running


__all__ = ["SIGNER_SERVICE", "SignerApp"]
