"""Follow policy-sync's snapshots: what every issuer and signer runs to stay current.

:class:`SnapshotSubscriber` keeps a ``WatchSnapshots`` stream open to policy-sync.
On each snapshot it recomputes the digest (``Snapshot.from_proto``), persists the
bytes atomically (``hessra_core.snapshot_file``), swaps ``current`` with a single
reference assignment and calls the listeners. When the stream breaks it reconnects
with exponential backoff and full jitter (:func:`backoff_delay`), sending the digest
it holds so an unchanged policy is not sent again. At start it loads the persisted copy, so a
service restarts into service while policy-sync is unreachable.

Reconnects: the first delay after a stream ends is drawn from ``[0, backoff_initial]``
(default 1 s), so when policy-sync restarts, the streams of all its subscribers,
which end at the same moment, come back spread over that second instead of at once;
each further failure doubles the ceiling up to ``backoff_max``. Connecting does not
reset the backoff: only a stream that stayed up ``backoff_max`` seconds does, so a
server that accepts streams and ends them at once (policy-sync shutting down) is
retried with growing delays, not ten times a second. ``connected`` is True while a
stream is open; ``reconnects`` counts attempts. Both are also Prometheus metrics, served
by each service's ``/metrics``: ``hessra_policy_subscription_connected{target}`` (alert
when it stays 0: the service is serving its last snapshot, not the current policy) and
``hessra_policy_subscription_reconnects_total{target}``.

Dead connections: the stream is idle between policy changes, and a TCP path that
silently drops it (a NAT or load-balancer idle timeout, a node lost without a RST)
would otherwise look open for ever while the service keeps an old policy. So the
channel sends HTTP/2 keepalive pings every ``keepalive_time`` seconds (default 20)
and gives up on the connection when one is not answered within ``keepalive_timeout``
(default 10): the stream fails with UNAVAILABLE, ``connected`` turns False, a
``subscription_failed`` warning is logged and the reconnect loop takes over.
``grpc.http2.ping_timeout_ms`` is set to the timeout too: in grpcio 1.85 it, not
``grpc.keepalive_timeout_ms``, decides how long an unanswered ping waits (60 s by
default). ``grpc.http2.max_pings_without_data`` is 0 because gRPC otherwise stops pinging
after two pings with no data sent, which on an idle stream is at once. policy-sync
must accept pings this often (its ``server.min_client_ping_interval``, default 10 s,
must not exceed ``keepalive_time``), or it answers with GOAWAY ``too_many_pings``.

Usage::

    creds = grpc.ssl_channel_credentials(ca_pem, key_pem, cert_pem)
    subscriber = SnapshotSubscriber(
        "policy-sync:50053", creds, state_dir / "snapshot.bin",
        on_snapshot=lambda snap: log.info("policy", revision=snap.revision),
    )
    await subscriber.start()
    snapshot = subscriber.current        # None until one is loaded or received
    ...
    await subscriber.stop()

A snapshot that fails its digest check is logged and dropped; the previous one
keeps serving. Listener exceptions are logged and never stop the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import structlog
from prometheus_client import Counter, Gauge

from hessra.v1 import policy_pb2, policy_pb2_grpc
from hessra_core.errors import HessraError
from hessra_core.policy.snapshot import Snapshot
from hessra_core.snapshot_file import decode_snapshot, read_snapshot_file, write_snapshot_file

_log = structlog.get_logger("hessra.rpc.subscriber")

# Large policies (many CA certificates, many clients) exceed gRPC's 4 MiB default.
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 64 << 20),
)
DEFAULT_KEEPALIVE_TIME = 20.0
DEFAULT_KEEPALIVE_TIMEOUT = 10.0


CONNECTED = Gauge(
    "hessra_policy_subscription_connected",
    "1 while the snapshot stream to policy-sync is open, else 0.",
    ["target"],
)
RECONNECTS = Counter(
    "hessra_policy_subscription_reconnects",
    "Attempts to reopen the snapshot stream to policy-sync after it ended or failed.",
    ["target"],
)


def keepalive_options(time: float, timeout: float) -> tuple[tuple[str, int], ...]:
    """Client channel options that find a silently dead connection within ``time + timeout`` s.

    See the module docstring; ``time`` 0 turns keepalive off.
    """
    if time <= 0:
        return ()
    return (
        ("grpc.keepalive_time_ms", max(1, int(time * 1000))),
        ("grpc.keepalive_timeout_ms", max(1, int(timeout * 1000))),
        # What actually bounds an unanswered ping in grpcio 1.85: without it a ping to a
        # frozen peer is given 60 s whatever keepalive_timeout_ms says (measured).
        ("grpc.http2.ping_timeout_ms", max(1, int(timeout * 1000))),
        # The watch stream sends no data for hours: without this, pings stop after two.
        ("grpc.http2.max_pings_without_data", 0),
    )


Listener = Callable[[Snapshot], None]


def backoff_delay(
    attempt: int, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): full jitter, uniform in
    ``[0, min(maximum, initial * 2**attempt)]``.

    Full rather than equal jitter: subscribers that lost their streams at the same
    moment (a policy-sync restart) spread over the whole window, not its upper half.
    """
    ceiling = min(maximum, initial * (2 ** min(attempt, 62)))
    return (rng or _rng).uniform(0, ceiling)


_rng = random.Random()  # noqa: S311 (jitter, not security)


class SnapshotSubscriber:
    """Holds the latest policy snapshot from policy-sync; see the module docstring."""

    def __init__(
        self,
        target: str,
        credentials: grpc.ChannelCredentials | None,
        persist_path: Path | None = None,
        on_snapshot: Listener | None = None,
        *,
        name: str = "",
        backoff_initial: float = 1.0,
        backoff_max: float = 10.0,
        keepalive_time: float = DEFAULT_KEEPALIVE_TIME,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        channel_options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._target = target
        self._credentials = credentials
        if credentials is None:
            # Development only: the snapshot decides who gets tokens, so say it loudly.
            _log.warning(
                "INSECURE_PLAINTEXT_SUBSCRIPTION",
                target=target,
                note="no TLS: policy-sync is not authenticated and snapshots travel in clear",
            )
        self._persist_path = Path(persist_path) if persist_path is not None else None
        self._listeners: list[Listener] = [on_snapshot] if on_snapshot is not None else []
        self._name = name
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        # By key, so a ``channel_options`` entry replaces a default instead of repeating it.
        options = dict(DEFAULT_CHANNEL_OPTIONS)
        options.update(keepalive_options(keepalive_time, keepalive_timeout))
        options.update(channel_options)
        self._options: tuple[tuple[str, Any], ...] = tuple(options.items())
        self._current: Snapshot | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connected_gauge = CONNECTED.labels(target)
        self._reconnects_counter = RECONNECTS.labels(target)
        self.connected = False
        self._connected_gauge.set(0)
        self.received = 0
        self.reconnects = 0

    # --- what services read ---------------------------------------------------------------

    @property
    def target(self) -> str:
        """The policy-sync address followed (the metrics' ``target`` label)."""
        return self._target

    @property
    def current(self) -> Snapshot | None:
        """The snapshot being served now, or None before the first one."""
        return self._current

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the serving snapshot, or ``""`` before the first one."""
        current = self._current
        return current.digest if current is not None else ""

    @property
    def channel_options(self) -> tuple[tuple[str, Any], ...]:
        """The gRPC channel options each connection attempt uses (keepalive included)."""
        return self._options

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def wait_for(self, digest: str | None = None) -> Snapshot:
        """Wait until a snapshot (with ``digest``, if given) is serving.

        Bound it with ``asyncio.timeout``; it waits forever otherwise.
        """
        while True:
            changed = self._changed
            current = self._current
            if current is not None and (digest is None or current.digest == digest):
                return current
            await changed.wait()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the persisted copy (if any), then follow policy-sync in the background."""
        if self._persist_path is not None and self._current is None:
            restored = await asyncio.to_thread(self._load_persisted, self._persist_path)
            if restored is not None:
                self._swap(restored)
        self._task = asyncio.create_task(self._follow(), name=f"snapshot-subscriber {self._target}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_connected(False)

    # --- internals ------------------------------------------------------------------------

    @staticmethod
    def _load_persisted(path: Path) -> Snapshot | None:
        try:
            payload = read_snapshot_file(path)
            if payload is None:
                return None
            snapshot = decode_snapshot(payload, source=str(path))
        except HessraError as exc:
            _log.error(
                "persisted_snapshot_ignored", path=str(path), reason=exc.reason, error=exc.message
            )
            return None
        _log.info(
            "persisted_snapshot_loaded",
            path=str(path),
            revision=snapshot.revision,
            digest=snapshot.digest,
        )
        return snapshot

    def _channel(self) -> grpc.aio.Channel:
        if self._credentials is None:
            return grpc.aio.insecure_channel(self._target, options=self._options)
        return grpc.aio.secure_channel(self._target, self._credentials, options=self._options)

    async def _follow(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while True:
            opened: float | None = None
            try:
                async with self._channel() as channel:
                    stub = policy_pb2_grpc.PolicySyncStub(channel)
                    request = policy_pb2.WatchSnapshotsRequest(
                        known_digest=self.digest, subscriber=self._name
                    )
                    call = stub.WatchSnapshots(request)
                    await call.wait_for_connection()
                    self._set_connected(True)
                    opened = loop.time()
                    _log.info("subscribed", target=self._target, known_digest=self.digest)
                    async for response in call:
                        await self._receive(response.snapshot)
                    _log.info("stream_ended", target=self._target)
            except grpc.aio.AioRpcError as exc:
                _log.warning(
                    "subscription_failed",
                    target=self._target,
                    code=exc.code().name,
                    detail=exc.details(),
                )
            except Exception:  # a bug must not end the subscription for good
                _log.exception("subscription_crashed", target=self._target)
            finally:
                self._set_connected(False)
            if opened is not None and loop.time() - opened >= self._backoff_max:
                attempt = 0  # that stream was healthy; this is a fresh failure
            delay = backoff_delay(attempt, self._backoff_initial, self._backoff_max)
            attempt += 1
            self.reconnects += 1
            self._reconnects_counter.inc()
            await asyncio.sleep(delay)

    def _set_connected(self, connected: bool) -> None:
        self.connected = connected
        self._connected_gauge.set(1 if connected else 0)

    async def _receive(self, message: policy_pb2.PolicySnapshot) -> None:
        try:
            snapshot = Snapshot.from_proto(message)
        except HessraError as exc:
            _log.error("snapshot_rejected", reason=exc.reason, error=exc.message)
            return
        if self._persist_path is not None:
            try:
                await asyncio.to_thread(
                    write_snapshot_file, self._persist_path, message.SerializeToString()
                )
            except OSError as exc:
                # Serving the new policy matters more than keeping a copy; say so loudly.
                _log.error("snapshot_persist_failed", path=str(self._persist_path), error=str(exc))
        self.received += 1
        self._swap(snapshot)
        _log.info("snapshot_received", revision=snapshot.revision, digest=snapshot.digest)

    def _swap(self, snapshot: Snapshot) -> None:
        self._current = snapshot  # the one assignment readers observe
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in self._listeners:
            try:
                listener(snapshot)
            except Exception:
                _log.exception("snapshot_listener_failed")


__all__ = [
    "CONNECTED",
    "DEFAULT_KEEPALIVE_TIME",
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "RECONNECTS",
    "SnapshotSubscriber",
    "backoff_delay",
    "keepalive_options",
]
