"""How fast a pushed commit reaches every subscriber: webhook vs polling.

Runs policy-sync in this process against a real git remote (a bare repository as
``file://``), with 10 real ``SnapshotSubscriber`` clients over mTLS on loopback.

* webhook run: for each of 20 commits, push, POST a signed webhook, and time until
  each subscriber holds the new digest (polling is set to 60 s so it cannot help);
* baseline run: polling only, at ``POLL_INTERVAL`` seconds, for a few commits: what
  a deployment without webhooks waits.

Prints p50/p95 of "all 10 subscribers updated" for both, the ratios webhook/baseline
and webhook/poll-interval, and whether webhook p95 <= 1 s. Bounded well under a
minute. Run: ``.venv/bin/python bench/propagation.py`` (or ``make bench``).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import aiohttp

from hessra_core.policy.snapshot import compile_policy_dir
from hessra_core.rpc import configure_logging
from hessra_core.rpc.subscriber import SnapshotSubscriber
from hessra_core.testing import GitRemote
from hessra_policy_sync.app import PolicySyncApp
from hessra_policy_sync.config import WebhookConfig
from hessra_policy_sync.testing import (
    ADMIN_URI,
    ISSUER_URI,
    SECRETS,
    DevPki,
    make_config,
    policy_files,
)
from hessra_policy_sync.webhook import sign

SUBSCRIBERS = 10
WEBHOOK_COMMITS = 20
BASELINE_COMMITS = 6
POLL_INTERVAL = 1.0
TIMEOUT = 10.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


class Fleet:
    """10 subscribers; records when each one first holds each digest."""

    def __init__(self, pki: DevPki, port: int, state: Path) -> None:
        self.arrivals: dict[str, dict[int, float]] = defaultdict(dict)
        self.changed = asyncio.Event()
        self.subs = []
        for i in range(SUBSCRIBERS):
            sub = SnapshotSubscriber(
                f"127.0.0.1:{port}",
                pki.channel_credentials("issuer"),
                state / f"sub-{i}.bin",
                name=f"bench-{i}",
                backoff_initial=0.05,
                backoff_max=0.5,
            )
            sub.add_listener(lambda snap, i=i: self._arrived(snap.digest, i))
            self.subs.append(sub)

    def _arrived(self, digest: str, index: int) -> None:
        self.arrivals[digest].setdefault(index, time.perf_counter())
        self.changed.set()

    async def start(self) -> None:
        for sub in self.subs:
            await sub.start()

    async def stop(self) -> None:
        for sub in self.subs:
            await sub.stop()

    async def wait_all(self, digest: str) -> dict[int, float]:
        async with asyncio.timeout(TIMEOUT):
            while len(self.arrivals[digest]) < SUBSCRIBERS:
                self.changed.clear()
                await self.changed.wait()
        return self.arrivals[digest]


def expected_digest(work: Path, files: dict[str, str]) -> str:
    d = Path(tempfile.mkdtemp(dir=work))
    for name, text in files.items():
        (d / name).write_text(text)
    return compile_policy_dir(d).digest


def version(pki: DevPki, n: int) -> dict[str, str]:
    return policy_files(pki.ca_pem, resources=("orders", f"resource_{n}"))


async def run_phase(
    work: Path,
    pki: DevPki,
    remote: GitRemote,
    *,
    name: str,
    commits: int,
    poll_interval: float,
    webhook: bool,
    start_at: int,
) -> tuple[list[float], list[float], int]:
    config = make_config(
        pki,
        work / f"state-{name}",
        remote.url,
        poll_interval=poll_interval,
        webhook=WebhookConfig(secrets=SECRETS, pushed_commit_attempts=8),
    )
    config = replace(config, source=replace(config.source, poll_jitter=0.0))
    app = PolicySyncApp(config, retry_delay=0.05)
    await app.start()
    fleet = Fleet(pki, app.grpc_port, work / f"subs-{name}")
    await fleet.start()
    await fleet.wait_all(expected_digest(work, version(pki, start_at - 1)))
    reconciles_before = app.reconciler.count
    all_ten: list[float] = []
    each: list[float] = []
    async with aiohttp.ClientSession() as session:
        for n in range(start_at, start_at + commits):
            files = version(pki, n)
            digest = expected_digest(work, files)
            sha = remote.commit("bench", files)
            remote.push()
            t0 = time.perf_counter()
            if webhook:
                body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
                headers = {
                    "X-Hessra-Signature": sign(SECRETS.generic or b"", body),
                    "X-Hessra-Delivery": sha,
                    "Content-Type": "application/json",
                }
                url = f"http://127.0.0.1:{app.http_port}/webhook/generic"
                async with session.post(url, data=body, headers=headers) as response:
                    assert response.status == 202, response.status
            arrivals = await fleet.wait_all(digest)
            latencies = [t - t0 for t in arrivals.values()]
            each.extend(latencies)
            all_ten.append(max(latencies))
    reconciles = app.reconciler.count - reconciles_before
    await fleet.stop()
    await app.stop(grace=0.1)
    return all_ten, each, reconciles


async def main() -> int:
    configure_logging("error")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hessra-bench-propagation-") as tmp:
        work = Path(tmp)
        pki = DevPki.create(work / "pki", {"admin": ADMIN_URI, "issuer": ISSUER_URI})
        remote = GitRemote(work / "repo")
        remote.commit("v0", version(pki, 0))
        remote.push()
        hook_all, hook_each, hook_reconciles = await run_phase(
            work,
            pki,
            remote,
            name="webhook",
            commits=WEBHOOK_COMMITS,
            poll_interval=60.0,
            webhook=True,
            start_at=1,
        )
        base_all, _, _ = await run_phase(
            work,
            pki,
            remote,
            name="poll",
            commits=BASELINE_COMMITS,
            poll_interval=POLL_INTERVAL,
            webhook=False,
            start_at=WEBHOOK_COMMITS + 1,
        )
    ms = 1000.0
    h50, h95 = statistics.median(hook_all), percentile(hook_all, 95)
    b50, b95 = statistics.median(base_all), percentile(base_all, 95)
    print(f"propagation to {SUBSCRIBERS} subscribers over mTLS (real git remote, loopback)")
    print(
        f"  webhook      {WEBHOOK_COMMITS} commits: all-{SUBSCRIBERS} p50 {h50 * ms:7.1f} ms"
        f"  p95 {h95 * ms:7.1f} ms  max {max(hook_all) * ms:7.1f} ms"
        f"  (per subscriber p50 {statistics.median(hook_each) * ms:.1f} ms;"
        f" {hook_reconciles} reconciles)"
    )
    print(
        f"  baseline     {BASELINE_COMMITS} commits, polling every {POLL_INTERVAL:g} s:"
        f" all-{SUBSCRIBERS} p50 {b50 * ms:7.1f} ms  p95 {b95 * ms:7.1f} ms"
    )
    print(f"  ratio webhook/baseline   p50 {h50 / b50:.3f}  p95 {h95 / b95:.3f}")
    print(f"  ratio webhook p95 / poll interval {h95 / POLL_INTERVAL:.3f}")
    verdict = "met" if h95 <= 1.0 else "MISSED"
    elapsed = time.perf_counter() - started
    print(f"  target webhook p95 <= 1 s: {verdict}; total bench time {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
