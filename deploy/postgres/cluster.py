"""A throwaway PostgreSQL cluster with hessra_authz available, for tests and benchmarks.

``ThrowawayCluster`` runs initdb in a fresh temp dir and starts ``postgres`` on a free
127.0.0.1 port with its unix socket in the same dir. The server's PYTHONPATH points at
this checkout (``deploy/postgres``, ``libs/hessra_core/src`` and the running
interpreter's site-packages), so the extension runs the working tree's code.
PostgreSQL refuses to run as root; as root the cluster runs as ``run_as`` (a system
user created if absent). Durability is switched off: the data dies with the cluster.

The extension files must be installed in the server's SHAREDIR first
(``install.install_extension_files``; ``make pg-install`` does it for real servers).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RUN_AS = "hessra-pg"


class ClusterError(Exception):
    """The cluster could not be set up or started; the message says why and what to do."""


def checkout_pythonpath() -> str:
    """Where the server's Python finds hessra_authz_pg, hessra_core and its dependencies."""
    paths = [
        REPO / "deploy" / "postgres",
        REPO / "libs" / "hessra_core" / "src",
        Path(sysconfig.get_paths()["purelib"]),
        Path(sysconfig.get_paths()["platlib"]),
    ]
    return os.pathsep.join(dict.fromkeys(str(p) for p in paths))


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """One initdb'd cluster; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        bindir: Path,
        *,
        pythonpath: str | None = None,
        run_as: str = DEFAULT_RUN_AS,
        start_timeout: float = 30.0,
    ) -> None:
        self.bindir = bindir
        self.pythonpath = checkout_pythonpath() if pythonpath is None else pythonpath
        self.run_as = run_as if os.geteuid() == 0 else None
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port = 0
        self.base: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        assert self.base is not None
        return self.base / "postgres.log"

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname=dbname, **kwargs
        )

    def __enter__(self) -> ThrowawayCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.run_as is not None:
            self._ensure_user(self.run_as)
        self.base = Path(tempfile.mkdtemp(prefix="hessra-pg-"))
        try:
            if self.run_as is not None:
                shutil.chown(self.base, user=self.run_as)
            self._stage_unreadable_paths()
            self._check_readable()
            self._initdb_and_start()
        except BaseException:
            self.stop()
            raise

    def _initdb_and_start(self) -> None:
        assert self.base is not None
        if self.run_as is not None:
            shutil.chown(self.base, user=self.run_as)
        data = self.base / "data"
        initdb = [str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres"]
        initdb += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        done = subprocess.run(self._as_server_user(initdb), capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterError(f"initdb failed ({done.returncode}):\n{done.stderr[-2000:]}")
        self.port = _free_port()
        settings = {
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.base),
            # Throwaway data: durability buys nothing and costs time on a shared machine.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "20",
        }
        postgres = [str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port)]
        for name, value in settings.items():
            postgres += ["-c", f"{name}={value}"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        with open(self.log, "wb") as log:
            self._proc = subprocess.Popen(
                self._as_server_user(postgres),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches postgres
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                raise ClusterError(f"postgres exited with {self._proc.returncode}:\n{self.tail()}")
            try:
                self.connect(connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"postgres did not accept connections:\n{self.tail()}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # "fast" shutdown of this cluster only
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AssertionError):
            return "(no server log)"

    def _as_server_user(self, argv: list[str]) -> list[str]:
        return argv if self.run_as is None else ["runuser", "-u", self.run_as, "--", *argv]

    @staticmethod
    def _ensure_user(name: str) -> None:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                check=True,
                capture_output=True,
            )

    def _stage_unreadable_paths(self) -> None:
        """Give the server user a readable copy of any PYTHONPATH entry it cannot reach.

        A checkout under a private home (``/root/...``) is invisible to the unprivileged
        server user. Rather than loosen permissions on someone's home, mirror such entries
        into the cluster's own temp dir: hard links where the filesystem allows (instant,
        no extra space), a real copy otherwise.
        """
        assert self.base is not None
        staged: list[str] = []
        for index, path in enumerate(filter(None, self.pythonpath.split(os.pathsep))):
            if self._server_user_can_read(path) or not Path(path).is_dir():
                staged.append(path)
                continue
            target = self.base / "pythonpath" / str(index)
            shutil.copytree(
                path,
                target,
                copy_function=_link_or_copy,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                symlinks=True,
            )
            staged.append(str(target))
        self.pythonpath = os.pathsep.join(staged)

    def _server_user_can_read(self, path: str) -> bool:
        probe = subprocess.run(self._as_server_user(["test", "-r", path, "-a", "-x", path]))
        return probe.returncode == 0

    def _check_readable(self) -> None:
        for path in filter(None, self.pythonpath.split(os.pathsep)):
            if not self._server_user_can_read(path):
                user = self.run_as or "this user"
                raise ClusterError(
                    f"{path} is not readable by the PostgreSQL server user {user!r}; put the "
                    "checkout where other users can read it (not under /root, for example)"
                )
