"""The reconcile steps with a real git source and the real policy compiler."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hessra_core import pki
from hessra_core.testing import GitRemote
from hessra_policy_sync.config import GitSourceConfig
from hessra_policy_sync.git_source import GitSource
from hessra_policy_sync.hub import SnapshotHub
from hessra_policy_sync.metrics import PolicySyncMetrics
from hessra_policy_sync.policy_adapter import compile_snapshot
from hessra_policy_sync.reconcile import Reconciler
from hessra_policy_sync.status import Step, SyncStatus
from hessra_policy_sync.testing import policy_files

CA = pki.create_ca().cert_pem


@pytest.fixture
def remote(tmp_path: Path) -> GitRemote:
    return GitRemote(tmp_path / "repo")


def reconciler(tmp_path: Path, remote: GitRemote, persist=None) -> Reconciler:  # type: ignore[no-untyped-def]
    source = GitSource(GitSourceConfig(url=remote.url), tmp_path / "work")
    saved: list[str] = []
    return Reconciler(
        source=source,
        compiler=compile_snapshot,
        hub=SnapshotHub(),
        persist=persist or (lambda snap: saved.append(snap.digest)),
        status=SyncStatus(source=source.display, branch="main"),
        metrics=PolicySyncMetrics(),
        pushed_commit_attempts=3,
        retry_delay=0.01,
    )


async def test_pushed_commit_never_seen_falls_back_to_the_tip(tmp_path, remote) -> None:
    tip = remote.commit_and_push("v1", policy_files(CA))
    r = reconciler(tmp_path, remote)
    outcome = await r.reconcile(want="f" * 40, trigger="webhook")
    assert (outcome.result, outcome.revision) == ("applied", f"main@sha1:{tip}")


async def test_unchanged_revision_does_nothing(tmp_path, remote) -> None:
    remote.commit_and_push("v1", policy_files(CA))
    r = reconciler(tmp_path, remote)
    first = await r.reconcile()
    second = await r.reconcile()
    assert (first.result, second.result) == ("applied", "unchanged")
    assert second.digest == first.digest
    metrics = r._metrics.render().decode()
    assert 'hessra_policy_sync_reconciles_total{result="unchanged"} 1.0' in metrics
    assert "hessra_policy_sync_last_success_timestamp_seconds" in metrics


async def test_persist_failure_is_a_publish_failure_and_is_retried(tmp_path, remote) -> None:
    remote.commit_and_push("v1", policy_files(CA))
    calls: list[int] = []

    def flaky_disk(snapshot) -> None:  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")

    r = reconciler(tmp_path, remote, persist=flaky_disk)
    failed = await r.reconcile()
    assert failed.result == "failed"
    assert failed.error is not None
    assert failed.error.step is Step.PUBLISH
    assert "No space left" in failed.error.message
    assert r._hub.current is None  # never served without being persisted
    retried = await r.reconcile()  # same revision, but it was never applied: try again
    assert retried.result == "applied"
    assert r._hub.current is not None


async def test_branch_missing_on_remote_is_fetch_failed(tmp_path, remote) -> None:
    r = reconciler(tmp_path, remote)  # nothing pushed yet
    outcome = await r.reconcile()
    assert outcome.error is not None
    assert outcome.error.step is Step.FETCH
    assert "main" in outcome.error.message


async def test_damaged_mirror_is_rebuilt(tmp_path, remote) -> None:
    remote.commit_and_push("v1", policy_files(CA))
    mirror = tmp_path / "work" / "mirror.git"
    mirror.mkdir(parents=True)
    (mirror / "HEAD").write_text("garbage")
    outcome = await reconciler(tmp_path, remote).reconcile()
    assert outcome.result == "applied"
    assert (mirror / "HEAD").read_text() != "garbage"


async def test_a_crashing_compiler_is_a_compile_failure(tmp_path, remote) -> None:
    remote.commit_and_push("v1", policy_files(CA))
    r = reconciler(tmp_path, remote)

    def broken(tree, revision, commit):  # type: ignore[no-untyped-def]
        raise KeyError("bug")

    r._compiler = broken
    outcome = await r.reconcile()
    assert outcome.error is not None
    assert (outcome.error.step, outcome.error.reason) == (Step.COMPILE, "CompileFailed")
    assert outcome.error.message == "internal error while compiling (KeyError)"
    view = r._status.view()
    reconciling = view.condition("Reconciling")
    assert reconciling is not None
    assert reconciling.status is False


def _commit_symlink(remote: GitRemote, name: str, target: str, files: dict[str, str]) -> str:
    remote.write(files)
    link = remote.work / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(target)
    sha = remote.commit("symlinked policy file")
    remote.push()
    return sha


@pytest.mark.parametrize(
    ("subpath", "link", "target"),
    [
        ("", "clients.toml", "/etc/passwd"),
        ("policy", "policy/clients.toml", "../elsewhere/clients.toml"),
    ],
    ids=["absolute-target", "target-outside-the-subpath"],
)
async def test_a_symlink_leaving_the_policy_tree_is_a_validation_error(
    tmp_path: Path, remote: GitRemote, subpath: str, link: str, target: str
) -> None:
    files = {f"{subpath}/{k}".lstrip("/"): v for k, v in policy_files(CA).items()}
    files["elsewhere/clients.toml"] = files.pop(link)
    _commit_symlink(remote, link, target, files)
    source = GitSource(GitSourceConfig(url=remote.url, subpath=subpath), tmp_path / "work")
    r = reconciler(tmp_path, remote)
    r._source = source
    outcome = await r.reconcile()
    assert outcome.error is not None
    # The revision is refused as bad policy (not retried, not "internal error"), naming the file.
    assert (outcome.error.step, outcome.error.reason) == (Step.VALIDATE, "ValidationFailed")
    assert outcome.error.message == "1 error in clients.toml"
    (diagnostic,) = outcome.error.diagnostics
    assert diagnostic.path == "clients.toml"
    assert f"symbolic link to `{target}`" in diagnostic.message
    assert r._hub.current is None
    # The half-extracted tree is not left behind in the state directory.
    assert list((tmp_path / "work" / "trees").iterdir()) == []
    await source.close()


async def test_a_bad_revision_stays_the_reported_cause_after_a_passing_fetch_failure(
    tmp_path: Path, remote: GitRemote
) -> None:
    remote.commit_and_push("v1", policy_files(CA))
    r = reconciler(tmp_path, remote)
    assert (await r.reconcile()).result == "applied"
    remote.commit_and_push("typo", policy_files(CA, typo=True))
    bad = await r.reconcile()
    assert bad.error is not None
    assert bad.error.step is Step.VALIDATE

    moved = remote.bare.with_name("away.git")
    remote.bare.rename(moved)  # the git host is unreachable for one poll
    unreachable = await r.reconcile()
    assert unreachable.error is not None
    assert unreachable.error.step is Step.FETCH
    moved.rename(remote.bare)

    # Reachable again, and the tip is still the bad revision: that is the problem to report.
    again = await r.reconcile()
    assert again.result == "unchanged"
    assert again.error is not None
    assert again.error.step is Step.VALIDATE
    view = r._status.view()
    assert view.last_error is not None
    assert view.last_error.step is Step.VALIDATE
    assert view.last_error.diagnostics == bad.error.diagnostics
    ready, stalled = view.condition("Ready"), view.condition("Stalled")
    assert ready is not None
    assert (ready.status, ready.reason) == (False, "ValidationFailed")
    assert stalled is not None
    assert stalled.status is True


async def test_waiting_for_a_pushed_commit_backs_off_to_a_bounded_delay(
    tmp_path: Path, remote: GitRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator may raise pushed_commit_attempts; the reconcile lock is held while waiting,
    # so an uncapped doubling (0.1 s * 2**29 with 30 attempts) would stop every later poll.
    import hessra_policy_sync.reconcile as reconcile_module

    tip = remote.commit_and_push("v1", policy_files(CA))
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(reconcile_module.asyncio, "sleep", no_wait)
    r = reconciler(tmp_path, remote)
    r._attempts, r._retry_delay = 30, 0.1
    outcome = await r.reconcile(want="f" * 40, trigger="webhook")
    assert (outcome.result, outcome.revision) == ("applied", f"main@sha1:{tip}")
    assert len(waits) == 29
    assert waits[:3] == [0.1, 0.2, 0.4]  # still doubling at first
    assert max(waits) <= 10.0, waits
    assert sum(waits) < 300.0


async def test_a_revision_too_large_to_export_is_refused_before_it_is_read(
    tmp_path: Path, remote: GitRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `git archive` output is held in memory, so a huge blob committed next to the policy
    # must be refused by its size in the tree, not after reading it.
    import hessra_policy_sync.git_source as git_source_module

    monkeypatch.setattr(git_source_module, "MAX_EXPORT_BYTES", 50_000, raising=False)
    files = policy_files(CA)
    files["assets/video.bin"] = "x" * 60_000
    remote.write(files)
    (remote.work / "assets" / os.fsdecode(b"caf\xe9.bin")).write_bytes(b"y")
    remote.commit_and_push("big file, and a file name that is not UTF-8", {})
    r = reconciler(tmp_path, remote)
    outcome = await r.reconcile()
    assert outcome.error is not None
    assert outcome.error.step is Step.VALIDATE
    (diagnostic,) = outcome.error.diagnostics
    assert diagnostic.path == "assets/video.bin"
    assert "more than 50000 bytes" in diagnostic.message
    assert diagnostic.hint is not None
    assert "source.subpath" in diagnostic.hint
    assert r._hub.current is None
    assert list((tmp_path / "work" / "trees").iterdir()) == []

    del files["assets/video.bin"]
    remote.commit_and_push("move the file out", {**files, "assets/video.bin": None})
    assert (await r.reconcile()).result == "applied"


async def test_a_crashing_source_is_a_fetch_failure_in_status(tmp_path: Path, remote) -> None:
    # Like a crashing compiler: a bug in a source must be reported, not leave the status
    # saying "Reconciling" for ever while the queue logs a traceback on every poll.
    remote.commit_and_push("v1", policy_files(CA))
    r = reconciler(tmp_path, remote)
    assert (await r.reconcile()).result == "applied"

    async def broken_fetch():  # type: ignore[no-untyped-def]
        raise UnicodeEncodeError("utf-8", "caf\udce9", 3, 4, "surrogates not allowed")

    r._source.fetch = broken_fetch  # type: ignore[method-assign]
    outcome = await r.reconcile()
    assert outcome.result == "failed"
    assert outcome.error is not None
    assert (outcome.error.step, outcome.error.reason) == (Step.FETCH, "FetchFailed")
    assert outcome.error.message == "internal error while fetching (UnicodeEncodeError)"
    assert r._hub.current is not None  # the last good snapshot keeps serving
    reconciling = r._status.view().condition("Reconciling")
    assert reconciling is not None
    assert reconciling.status is False
