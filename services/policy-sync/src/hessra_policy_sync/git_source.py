"""The git policy source: the only module that imports GitPython.

A bare mirror under the state directory is fetched with a forced refspec
(``+refs/heads/<branch>:refs/remotes/origin/<branch>``), so force-pushes and
rewritten history are ordinary updates. Each revision is exported with
``git archive <sha>:<subpath>`` into a fresh temporary directory, so nothing from a
previous revision leaks into the next one. The export is read into memory, so a
revision whose policy directory holds more than ``MAX_EXPORT_BYTES`` (summed from
``git ls-tree -l``, without reading a blob) is refused as invalid policy.

Every git call runs in a worker thread (``asyncio.to_thread``), one at a time (a
thread lock, because a timed-out call may still be finishing), and is killed
after ``fetch_timeout`` seconds. Credentials are passed through the environment
(``GIT_SSH_COMMAND`` with ``-i``, or an ``http.extraHeader`` via ``GIT_CONFIG_*``),
never on the command line or in the URL, and every message that leaves this
module is scrubbed of userinfo and token values.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import shlex
import shutil
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC
from pathlib import Path
from typing import ParamSpec, TypeVar

import git
from git.exc import GitCommandError, GitError, InvalidGitRepositoryError, NoSuchPathError

from hessra_core.errors import PolicyError, SourceError
from hessra_core.policy.diagnostics import Diagnostic, Severity
from hessra_policy_sync.config import GitSourceConfig, scrub_url
from hessra_policy_sync.source import CommitMeta, Fetched

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_P = ParamSpec("_P")
_T = TypeVar("_T")
# The most the policy directory of a revision may hold: `git archive` output is read into
# memory, so a huge blob committed beside the policy would otherwise exhaust it.
MAX_EXPORT_BYTES = 256 * 1024 * 1024
# Slack on top of git's own kill timer before the event loop gives up waiting.
_THREAD_GRACE = 5.0


class GitSource:
    """Follows one branch of one repository."""

    kind = "git"

    def __init__(self, config: GitSourceConfig, workdir: Path) -> None:
        self._config = config
        self._workdir = Path(workdir)
        self._mirror = self._workdir / "mirror.git"
        self._trees = self._workdir / "trees"
        self._lock = threading.Lock()
        self._repo: git.Repo | None = None

    @property
    def display(self) -> str:
        return scrub_url(self._config.url)

    @property
    def branch(self) -> str:
        return self._config.branch

    # --- async API (what the reconcile loop calls) ------------------------------------------

    async def fetch(self) -> Fetched:
        return await self._off_loop(self._fetch_blocking)

    async def contains(self, sha: str) -> bool:
        if not _SHA.match(sha):
            return False
        return await self._off_loop(self._contains_blocking, sha)

    @asynccontextmanager
    async def checkout(self, fetched: Fetched) -> AsyncIterator[Path]:
        tree = await self._off_loop(self._export_blocking, fetched.key)
        try:
            yield tree
        finally:
            await asyncio.to_thread(shutil.rmtree, tree, True)

    async def close(self) -> None:
        repo, self._repo = self._repo, None
        if repo is not None:
            repo.close()

    async def _off_loop(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        timeout = self._config.fetch_timeout + _THREAD_GRACE
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args, **kwargs), timeout)
        except TimeoutError:
            raise SourceError(
                f"git operation on {self.display} timed out after {self._config.fetch_timeout:g}s"
            ) from None

    # --- blocking work, one call at a time --------------------------------------------------

    def _fetch_blocking(self) -> Fetched:
        branch = self._config.branch
        with self._lock:
            try:
                repo = self._open()
                repo.git.fetch(
                    "--prune",
                    "--no-tags",
                    "--quiet",
                    self._config.url,
                    f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
                    env=self._env(),
                    kill_after_timeout=self._config.fetch_timeout,
                )
                sha = repo.git.rev_parse("--verify", f"refs/remotes/origin/{branch}^{{commit}}")
                commit = repo.commit(sha)
            except (GitError, OSError, ValueError) as exc:
                raise SourceError(
                    f"fetching {branch} from {self.display} failed: {self._scrub(exc)}"
                ) from None
        meta = CommitMeta(
            sha=sha,
            author=f"{commit.author.name} <{commit.author.email}>",
            committed_at=commit.authored_datetime.astimezone(UTC),
            message=str(commit.message),
        )
        return Fetched(key=sha, revision=f"{branch}@sha1:{sha}", commit=meta)

    def _contains_blocking(self, sha: str) -> bool:
        with self._lock:
            repo = self._open()
            try:
                repo.git.cat_file("-e", f"{sha}^{{commit}}")
            except GitCommandError:
                return False
            return True

    def _export_blocking(self, sha: str) -> Path:
        self._trees.mkdir(parents=True, exist_ok=True)
        tree = Path(tempfile.mkdtemp(prefix=f"{sha[:12]}-", dir=self._trees))
        subpath = self._config.subpath
        treeish = f"{sha}:{subpath}" if subpath else sha
        with self._lock:
            repo = self._open()
            try:
                repo.git.cat_file("-e", treeish)
            except GitCommandError:
                # The policy directory does not exist at this revision: hand the compiler an
                # empty tree so the failure is reported as missing policy files, with names.
                return tree
            too_large = self._oversized(repo, treeish)
            if too_large is not None:
                shutil.rmtree(tree, ignore_errors=True)
                raise too_large
            try:
                data = repo.git.archive(
                    "--format=tar",
                    treeish,
                    stdout_as_string=False,
                    kill_after_timeout=self._config.fetch_timeout,
                )
            except GitCommandError as exc:
                shutil.rmtree(tree, ignore_errors=True)
                raise SourceError(f"exporting {sha[:12]} failed: {self._scrub(exc)}") from None
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                archive.extractall(tree, filter="data")
        except tarfile.FilterError as exc:
            # A symlink to an absolute path or out of the policy directory is a property of
            # the revision, so it is bad policy (not retried), reported by file name.
            shutil.rmtree(tree, ignore_errors=True)
            raise _unsafe_member(exc) from None
        except tarfile.TarError as exc:
            shutil.rmtree(tree, ignore_errors=True)
            raise SourceError(f"exporting {sha[:12]} failed: {exc}") from None
        return tree

    def _oversized(self, repo: git.Repo, treeish: str) -> PolicyError | None:
        """A PolicyError if the files under ``treeish`` add up to more than we export.

        ``git ls-tree -l`` gives blob sizes without reading the blobs.
        """
        try:
            listing: bytes = repo.git.ls_tree(
                "-r",
                "-l",
                "-z",
                treeish,
                stdout_as_string=False,
                kill_after_timeout=self._config.fetch_timeout,
            )
        except GitCommandError as exc:
            raise SourceError(f"listing {treeish[:12]} failed: {self._scrub(exc)}") from None
        total, largest, largest_size = 0, "", -1
        for entry in listing.split(b"\0"):
            meta, _, name = entry.partition(b"\t")
            fields = meta.split()
            if len(fields) != 4 or not fields[3].isdigit():
                continue  # submodules have no size; they are not exported either
            size = int(fields[3])
            total += size
            if size > largest_size:
                # Bytes from git: a file name need not be UTF-8.
                largest, largest_size = name.decode("utf-8", "replace"), size
        if total <= MAX_EXPORT_BYTES:
            return None
        diagnostic = Diagnostic(
            largest,
            0,
            0,
            Severity.ERROR,
            f"the policy directory holds {total} bytes, more than {MAX_EXPORT_BYTES} bytes "
            f"policy-sync exports (this file is {largest_size} bytes)",
            "keep large files out of the policy directory, or set source.subpath to the "
            "directory holding clients.toml and resources.toml",
        )
        return PolicyError([diagnostic])

    def _open(self) -> git.Repo:
        if self._repo is None:
            # Trees left by a crash mid-reconcile are garbage: each revision gets a fresh one.
            shutil.rmtree(self._trees, ignore_errors=True)
            try:
                self._repo = git.Repo(self._mirror)
            except (InvalidGitRepositoryError, NoSuchPathError):
                # Missing or damaged mirror: it is only a cache of the remote, so start over.
                shutil.rmtree(self._mirror, ignore_errors=True)
                self._mirror.mkdir(parents=True, exist_ok=True)
                self._repo = git.Repo.init(self._mirror, bare=True)
        return self._repo

    def _env(self) -> dict[str, str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
        cfg = self._config
        if cfg.ssh_key_file is not None:
            ssh = ["ssh", "-i", str(cfg.ssh_key_file), "-o", "IdentitiesOnly=yes"]
            ssh += ["-o", "BatchMode=yes"]
            if cfg.known_hosts_file is not None:
                ssh += ["-o", f"UserKnownHostsFile={cfg.known_hosts_file}"]
                ssh += ["-o", "StrictHostKeyChecking=yes"]
            env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        token = self._token()
        if token:
            basic = base64.b64encode(f"{cfg.token_username}:{token}".encode()).decode()
            # GIT_CONFIG_* keeps the header out of argv (visible in ps) and out of the URL.
            env["GIT_CONFIG_COUNT"] = "1"
            env["GIT_CONFIG_KEY_0"] = "http.extraHeader"
            env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {basic}"
        return env

    def _token(self) -> str | None:
        # Read on every fetch so a rotated token file takes effect without a restart.
        if self._config.token_file is None:
            return None
        try:
            return self._config.token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise SourceError(f"cannot read source.token_file ({exc.strerror})") from None

    def _scrub(self, exc: Exception) -> str:
        if isinstance(exc, GitCommandError):
            text = (exc.stderr or "").strip() or f"git exited with status {exc.status}"
        else:
            text = str(exc)
        text = text.replace(self._config.url, self.display)
        text = _USERINFO.sub(r"\g<scheme>", text)
        token = None
        with suppress(SourceError):
            token = self._token()
        if token:
            text = text.replace(token, "***")
        text = text.removeprefix("stderr:").strip().strip("'").strip()
        return " ".join(text.split())[:500]


def _unsafe_member(exc: tarfile.FilterError) -> PolicyError:
    name = exc.tarinfo.name
    if isinstance(exc, tarfile.AbsoluteLinkError | tarfile.LinkOutsideDestinationError):
        what = f"is a symbolic link to `{exc.tarinfo.linkname}`, outside the policy directory"
    else:
        what = f"cannot be exported safely ({type(exc).__name__})"
    diagnostic = Diagnostic(
        name,
        0,
        0,
        Severity.ERROR,
        what,
        "policy files must be regular files or links inside the policy directory",
    )
    return PolicyError([diagnostic])


__all__ = ["GitSource"]
