"""gRPC channels for the SDK, rebuilt when the client's certificate files change.

Python gRPC cannot swap client certificates on a live channel (grpc#15735), and a
channel whose certificate expired cannot reconnect (grpc#18257). So the SDK keeps one
channel per target and, before each call, compares the stamps (inode, mtime, ctime,
size) of the files its credentials came from; when cert-manager or an operator rotates them, the
next call builds a fresh channel from the new files, and the old one closes once the
calls still running on it finish. PEM given inline never changes, so it is never
re-read.

``TlsSource`` is one credential: a path or the PEM itself (text containing
``-----BEGIN``, or bytes). Endpoints may be written the way policies write signer
URLs (``https://host:port``); :func:`grpc_target` reduces them to ``host:port``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import grpc.aio
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from hessra._errors import ClientClosedError
from hessra_core.errors import ConfigError

TlsSource = str | bytes | os.PathLike[str]

# Calls that only read are retried when the server is briefly unavailable (a pod
# restarting, a connection drained by max_connection_age): at most 3 attempts, with
# jittered backoff from 0.1 s, all within the call's one deadline. Nothing else is
# retried: a refusal (PERMISSION_DENIED, UNAUTHENTICATED, INVALID_ARGUMENT, ...) is an
# answer, and RequestToken, the identity calls and SignToken mint or sign something.
IDEMPOTENT_METHODS = (
    ("hessra.v1.Issuer", "GetPublicKeys"),
    ("hessra.v1.Issuer", "VerifyToken"),
    ("hessra.v1.Issuer", "VerifyServiceChainToken"),
    ("hessra.v1.Signer", "GetPublicKey"),
)
RETRY_POLICY = {
    "maxAttempts": 3,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": s, "method": m} for s, m in IDEMPOTENT_METHODS],
                "retryPolicy": RETRY_POLICY,
            }
        ]
    }
)
# 4 MiB is far above any token response; retries apply only to IDEMPOTENT_METHODS.
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 4 << 20),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", SERVICE_CONFIG),
)


def grpc_target(endpoint: str) -> str:
    """``https://auth.example.com:8443/`` -> ``auth.example.com:8443``; ``host:port`` as is."""
    text = endpoint.strip()
    if "://" in text:
        parts = urlsplit(text)
        host = parts.hostname or ""
        if not host:
            raise ConfigError([f"endpoint {endpoint!r} has no host"], source="client")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{port}"
    if not text:
        raise ConfigError(["an endpoint is empty"], source="client")
    return text if ":" in text else f"{text}:443"


def _is_inline(source: TlsSource) -> bool:
    return isinstance(source, bytes) or (isinstance(source, str) and "-----BEGIN" in source)


def _label(source: TlsSource | None) -> str:
    """How a message names a source: its path, never inline PEM (it may be a key)."""
    return "inline PEM" if source is None or _is_inline(source) else str(source)


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


@dataclass(frozen=True)
class TlsFiles:
    """Where a client's TLS material comes from: CA (to trust the server), cert and key."""

    ca: TlsSource | None = None
    cert: TlsSource | None = field(default=None)
    key: TlsSource | None = field(default=None, repr=False)
    server_name: str | None = None  # TLS name to check, when it differs from the host

    def problems(self) -> list[str]:
        found = []
        if (self.cert is None) != (self.key is None):
            found.append("a client certificate and its key go together: give both or neither")
        for name in ("ca", "cert", "key"):
            source = getattr(self, name)
            readable = source is None or _is_inline(source) or os.access(Path(source), os.R_OK)
            if not readable:
                found.append(f"{name}: {source} does not exist or is not readable")
        return found or self._content_problems()

    def _content_problems(self) -> list[str]:
        """What grpc would reject only at connect time, as "unreachable": not PEM, or a
        key that is not the certificate's. Messages name files, never their contents."""
        found: list[str] = []
        certs: dict[str, x509.Certificate] = {}
        for name in ("ca", "cert"):
            source = getattr(self, name)
            if source is None:
                continue
            try:
                certs[name] = x509.load_pem_x509_certificates(self._read(source) or b"")[0]
            except (ValueError, IndexError, UnsupportedAlgorithm):
                found.append(f"{name}: {_label(source)} holds no PEM certificate")
        if self.key is not None:
            try:
                key = serialization.load_pem_private_key(self._read(self.key) or b"", None)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                found.append(f"key: {_label(self.key)} is not an unencrypted PEM private key")
            else:
                if "cert" in certs and _spki(certs["cert"].public_key()) != _spki(key.public_key()):
                    found.append(
                        f"cert and key do not belong together: {_label(self.key)} is not the "
                        f"private key of {_label(self.cert)}"
                    )
        return found

    def _read(self, source: TlsSource | None) -> bytes | None:
        if source is None:
            return None
        if isinstance(source, bytes):
            return source
        if isinstance(source, str) and "-----BEGIN" in source:
            return source.encode("ascii")
        assert not isinstance(source, bytes)
        try:
            return Path(source).read_bytes()
        except OSError as exc:
            raise ConfigError(
                [f"{source}: cannot read: {exc.strerror}"], source="client TLS"
            ) from None

    def stamps(self) -> tuple[tuple[int, ...] | None, ...]:
        """What changes when a file is rewritten (inline PEM never changes).

        The inode changes when a file is replaced (Kubernetes swaps a secret's symlink to
        a new directory, and ``stat`` follows it); the ctime changes on any write, even
        one that keeps the size and puts the old mtime back.
        """
        out: list[tuple[int, ...] | None] = []
        for source in (self.ca, self.cert, self.key):
            if source is None or _is_inline(source):
                out.append(None)
                continue
            try:
                st = os.stat(source)
            except OSError:
                out.append((-1,))
                continue
            out.append((st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size))
        return tuple(out)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self._read(self.ca),
            private_key=self._read(self.key),
            certificate_chain=self._read(self.cert),
        )

    def options(self) -> list[tuple[str, Any]]:
        options = list(CHANNEL_OPTIONS)
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options


@dataclass
class _Entry:
    channel: Any
    stamps: tuple[tuple[int, ...] | None, ...]
    users: int = 0  # calls in flight on this channel
    retired: bool = False  # replaced after a rotation: closes when its last call ends


class ChannelPool:
    """One channel per (target, TLS source), rebuilt when the TLS files change.

    Calls borrow a channel for their duration (:meth:`lease`, :meth:`alease`). When
    the files rotate, the next call gets a new channel and the old one is closed
    once the calls still running on it have finished: closing it at once would
    cancel them, so a rotation under load would fail requests that were fine.
    ``aio=True`` builds ``grpc.aio`` channels (which must be created and closed on
    the event loop that uses them); otherwise blocking ``grpc`` channels. After
    :meth:`close` (or :meth:`aclose`) a lease raises ``ClientClosedError``.
    """

    def __init__(self, *, aio: bool = False, owner: str = "client") -> None:
        self._aio = aio
        self._owner = owner
        self._entries: dict[tuple[str, TlsFiles], _Entry] = {}
        self._retired: list[_Entry] = []
        self._lock = threading.Lock()
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # aio: the loop channels belong to
        self.rebuilds = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def _build(self, target: str, tls: TlsFiles) -> Any:
        creds = tls.credentials()
        if self._aio:
            return grpc.aio.secure_channel(target, creds, options=tls.options())
        return grpc.secure_channel(target, creds, options=tls.options())

    def _acquire(self, target: str, tls: TlsFiles) -> tuple[_Entry, _Entry | None]:
        """The entry to call through (its use counted), and a replaced idle one to close."""
        key = (target, tls)
        stamps = tls.stamps()
        idle = None
        loop = asyncio.get_running_loop() if self._aio else None
        with self._lock:
            if self._closed:
                raise ClientClosedError(self._owner)
            if self._loop is None:
                self._loop = loop
            elif loop is not self._loop:
                raise ConfigError(
                    [
                        "grpc.aio channels belong to the event loop that made them, and this "
                        "client first ran on another one: create one AsyncHessra per event "
                        "loop (asyncio.run() starts a new loop each time)"
                    ],
                    source=self._owner,
                )
            entry = self._entries.get(key)
            if entry is None or entry.stamps != stamps:
                fresh = _Entry(self._build(target, tls), stamps)
                if entry is not None:
                    self.rebuilds += 1
                    entry.retired = True
                    if entry.users:
                        self._retired.append(entry)
                    else:
                        idle = entry
                self._entries[key] = entry = fresh
            entry.users += 1
            return entry, idle

    def _release(self, entry: _Entry) -> bool:
        """Count a call as finished; True when its retired channel should close now."""
        with self._lock:
            entry.users -= 1
            if entry.retired and entry.users == 0 and entry in self._retired:
                self._retired.remove(entry)
                return True
            return False

    @contextmanager
    def lease(self, target: str, tls: TlsFiles) -> Iterator[Any]:
        """The current channel to ``target`` for one blocking call."""
        entry, idle = self._acquire(target, tls)
        if idle is not None:
            idle.channel.close()
        try:
            yield entry.channel
        finally:
            if self._release(entry):
                entry.channel.close()

    @asynccontextmanager
    async def alease(self, target: str, tls: TlsFiles) -> AsyncIterator[Any]:
        """The current ``grpc.aio`` channel to ``target`` for one call.

        Closing is shielded: a task cancelled while a retired channel closes still
        lets it close, so cancellation never leaks a channel.
        """
        entry, idle = self._acquire(target, tls)
        if idle is not None:
            await asyncio.shield(idle.channel.close())
        try:
            yield entry.channel
        finally:
            if self._release(entry):
                await asyncio.shield(entry.channel.close())

    def _take_all(self) -> list[Any]:
        with self._lock:
            self._closed = True
            channels = [e.channel for e in (*self._entries.values(), *self._retired)]
            self._entries, self._retired = {}, []
        return channels

    def close(self) -> None:
        """Close every channel (calls in flight are cancelled). Idempotent."""
        for channel in self._take_all():
            channel.close()

    async def aclose(self) -> None:
        channels = self._take_all()
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            return  # they belong to another loop (usually closed): nothing to await here
        for channel in channels:
            await asyncio.shield(channel.close())

    @property
    def open_channels(self) -> int:
        """Channels not closed yet: current ones plus retired ones still finishing calls."""
        with self._lock:
            return len(self._entries) + len(self._retired)


__all__ = [
    "CHANNEL_OPTIONS",
    "IDEMPOTENT_METHODS",
    "ChannelPool",
    "TlsFiles",
    "TlsSource",
    "grpc_target",
]
