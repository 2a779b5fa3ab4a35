"""Helpers for end-to-end tests and the local demo: real processes, git repos, TLS files.

Nothing here fakes a component. :class:`GitRemote` drives the ``git`` CLI against
a bare repository served as a ``file://`` remote; :class:`ServiceProcess` runs one of
our console scripts as an OS process with its log in a file, waits on its port file,
its log or gRPC health (never on a fixed sleep), and always stops it;
:func:`write_tls` and :func:`policy_files` write what the services read;
:func:`malformed_san_client` and :func:`release_fifo` build the awkward inputs that
failure tests need.

``tomli_w`` (a development dependency) is imported only by :func:`policy_files`.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from hessra_core import pki
from hessra_core.keys import KeyPair

T = TypeVar("T")

_GIT = [
    "-c", "user.name=Policy Author", "-c", "user.email=author@example.com",
    "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main",
    "-c", "advice.detachedHead=false",
]  # fmt: skip


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


def write_tls(directory: Path, name: str, issued: pki.IssuedCert) -> TlsFiles:
    """``<name>.crt`` and ``<name>.key`` (mode 0600) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    key.chmod(0o600)
    return TlsFiles(cert, key)


def policy_files(
    ca_pems: Sequence[bytes],
    clients: Sequence[Mapping[str, Any]],
    resources: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """``clients.toml`` and ``resources.toml`` (version 0.2.0) as text."""
    import tomli_w

    return {
        "clients.toml": tomli_w.dumps(
            {
                "version": "0.2.0",
                "cacerts": {"cert_chain": b"".join(ca_pems).decode()},
                "clients": [dict(c) for c in clients],
            }
        ),
        "resources.toml": tomli_w.dumps(
            {"version": "0.2.0", "resources": {k: dict(v) for k, v in resources.items()}}
        ),
    }


def client_entry(value: str, grants: Mapping[str, Sequence[str]], **extra: Any) -> dict[str, Any]:
    """One ``[[clients]]`` entry identified by a SAN URI."""
    return {
        "identifier": {"type": "san_uri", "value": value},
        "resources": [{"name": n, "operations": list(ops)} for n, ops in grants.items()],
        **extra,
    }


class GitRemote:
    """A bare repository (the remote, ``url``) and a work tree that commits and pushes to it."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.root = Path(root)
        self.bare = self.root / "remote.git"
        self.work = self.root / "work"
        self.branch = branch
        self.root.mkdir(parents=True, exist_ok=True)
        self._git(self.root, "init", "--quiet", "--bare", "-b", branch, str(self.bare))
        self._git(self.root, "init", "--quiet", "-b", branch, str(self.work))
        self.run("remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return self.bare.resolve().as_uri()

    @staticmethod
    def _git(cwd: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", *_GIT, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            # No user or system git config: the same behaviour on every machine.
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_CONFIG_NOSYSTEM": "1",
                "HOME": str(cwd),
            },
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def run(self, *args: str) -> str:
        return self._git(self.work, *args)

    def write(self, files: Mapping[str, str | None]) -> None:
        """Write (or, for ``None``, delete) files in the work tree."""
        for name, content in files.items():
            path = self.work / name
            if content is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")

    def commit(self, message: str, files: Mapping[str, str | None] | None = None) -> str:
        if files:
            self.write(files)
        self.run("add", "--all")
        self.run("commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.run("rev-parse", "HEAD")

    def push(self, branch: str | None = None, *, force: bool = False) -> None:
        branch = branch or self.branch
        args = ["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"]
        if force:
            args.insert(1, "--force")
        self.run(*args)

    def commit_and_push(self, message: str, files: Mapping[str, str | None]) -> str:
        sha = self.commit(message, files)
        self.push()
        return sha

    def revert(self, sha: str) -> str:
        """Undo ``sha`` with a new commit (``git revert``), push it, return the new head."""
        self.run("revert", "--no-edit", sha)
        self.push()
        return self.head()

    def switch(self, branch: str, *, create: bool = False) -> None:
        self.run("checkout", "--quiet", *(["-b"] if create else []), branch)


def console_script(name: str) -> Path:
    """An installed console script beside this interpreter (``hessra-issuer`` ...)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is not installed: run `make setup`")
    return path


class ServiceProcess:
    """One of our services as an OS process, logging JSON lines to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")}
        clean.update(env or {})
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(a) for a in argv], stdout=self._log, stderr=subprocess.STDOUT, env=clean
        )

    def events(self, event: str) -> list[dict[str, Any]]:
        """Every JSON log line with ``"event": event`` so far."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if f'"{event}"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event:
                found.append(record)
        return found

    def wait_event(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            self._check_alive()
            found = self.events(event)
            return found[-1] if found else None

        return wait_for(check, timeout, f"{self.name} to log {event}")

    def wait_port_file(self, path: Path, timeout: float = 30.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            self._check_alive()
            try:
                return dict(json.loads(path.read_text()))
            except (OSError, ValueError):
                return None

        return wait_for(check, timeout, f"{self.name}'s port file {path}")

    def _check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def sigterm_during_start(self, fifo: Path, *, held_after: str, started: str) -> int:
        """SIGTERM the service while its start-up blocks reading ``fifo``, then let the read
        finish; return the exit code.

        ``held_after`` is the last event logged before the blocking read, ``started`` the
        one logged once start-up is over (it must not have been logged yet)."""
        self.wait_event(held_after, 60)
        if self.events(started):
            raise AssertionError(f"{self.name}: start-up was not held open")
        self.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # the signal arrives while start-up is still blocked
        release_fifo(fifo)
        return self.proc.wait(30)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._log.close()
        return int(self.proc.returncode)


def wait_for_health(
    port: int,
    credentials: grpc.ChannelCredentials,
    service: str = "",
    *,
    timeout: float = 30.0,
    server_name: str | None = None,
) -> None:
    """Wait until gRPC health reports SERVING for ``service`` on 127.0.0.1:``port``."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def serving() -> bool:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        wait_for(serving, timeout, f"health of {service or 'server'} on port {port}")


class LoopThread:
    """An event loop on a daemon thread, for blocking-client tests of asyncio servers:
    ``run(coro)`` blocks until it finishes there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass(frozen=True)
class PolicyChange:
    """One policy change made to both files together: ``exports`` gains a required
    sign-off and a partner may read it. Applied half-way (new clients, old resources) it
    would let the partner read without the sign-off: what watchers must never publish."""

    before: dict[str, str]
    after: dict[str, str]


def paired_policy_change() -> PolicyChange:
    ca = pki.create_ca().cert_pem.decode()
    signer_key = KeyPair.generate().public_key.to_string()
    header = 'version = "0.2.0"\n'

    def clients(*subjects: str) -> str:
        blocks = "".join(
            f'[[clients]]\nidentifier = {{ type = "san_uri", value = "{s}" }}\n'
            'resources = [{ name = "exports", operations = ["read"] }]\n'
            for s in subjects
        )
        return f"{header}[cacerts]\ncert_chain = '''{ca}'''\n{blocks}"

    return PolicyChange(
        before={
            "resources.toml": f"{header}[resources.exports]\n",
            "clients.toml": clients("spiffe://acme/gateway"),
        },
        after={
            "resources.toml": f'{header}[resources.exports]\ntype = "multi_party"\n'
            f'required_signers = [{{ name = "legal", url = "legal.acme:8443", '
            f'public_key = "{signer_key}" }}]\n',
            "clients.toml": clients("spiffe://acme/gateway", "spiffe://partner/app"),
        },
    )


def write_files_atomically(directory: Path, files: Mapping[str, str]) -> Path:
    """Write each file of ``files`` into ``directory`` (created) by rename, as editors and
    ``git`` do, so a reader never sees a file half-written; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        tmp = directory / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(directory / name)
    return directory


# SubjectAlternativeName ::= SEQUENCE { dNSName [2] IA5String "a\xffb" }: 0xff is not IA5.
MALFORMED_SAN = b"\x30\x05\x82\x03a\xffb"


def malformed_san_client(ca: pki.IssuedCert, common_name: str = "weird") -> pki.IssuedCert:
    """A client certificate signed by ``ca`` that TLS handshakes accept but whose SAN
    extension ``cryptography`` cannot parse (a DNS name with a byte outside IA5)."""
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("development CAs use EC P-256 keys")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, MALFORMED_SAN),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pki.IssuedCert(cert.public_bytes(serialization.Encoding.PEM), key_pem)


def release_fifo(fifo: Path) -> None:
    """Let a reader blocked on ``fifo`` see end-of-file (nothing if no reader is left).

    Tests put a FIFO where a service reads a file at start-up to hold it there."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: no reader, the process is gone
            raise
        return
    os.close(fd)


__all__ = [
    "MALFORMED_SAN",
    "GitRemote",
    "LoopThread",
    "PolicyChange",
    "ServiceProcess",
    "TlsFiles",
    "client_entry",
    "console_script",
    "malformed_san_client",
    "paired_policy_change",
    "policy_files",
    "release_fifo",
    "wait_for",
    "wait_for_health",
    "write_files_atomically",
    "write_tls",
]
