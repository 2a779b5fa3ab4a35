"""A subscriber notices a policy-sync that stopped answering (a real process, SIGSTOPped).

SIGSTOP is what a silently dropped TCP path looks like from the subscriber: the kernel
keeps the connection open and nothing ever arrives. Without keepalive pings the idle
watch stream would stay "connected" for ever while the service serves an old policy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hessra_core.rpc.subscriber import SnapshotSubscriber, keepalive_options
from hessra_core.snapshot_file import read_snapshot_file
from hessra_policy_sync.testing import ADMIN_URI, eventually

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BINARY = Path(sys.executable).parent / "hessra-policy-sync"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, dev_pki, url: str, grpc_port: int) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy-sync.toml"
    path.write_text(
        f"""
[server]
grpc_listen = "127.0.0.1:{grpc_port}"
http_listen = "127.0.0.1:{free_port()}"
cert_file = "{dev_pki.server_cert}"
key_file = "{dev_pki.server_key}"
client_ca_file = "{dev_pki.ca_file}"
state_dir = "state"
resync_allowed = ["{ADMIN_URI}"]
shutdown_grace = 0.5
min_client_ping_interval = 0.1

[source]
kind = "git"
url = "{url}"
poll_interval = 30
"""
    )
    return path


def start_policy_sync(tmp_path: Path, config: Path) -> subprocess.Popen[bytes]:
    with (tmp_path / "policy-sync.log").open("ab") as log:
        return subprocess.Popen(
            [str(BINARY), "--config", str(config)],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


@pytest.fixture
def policy_sync_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait(timeout=15)


def test_keepalive_options_are_applied_by_default() -> None:
    sub = SnapshotSubscriber("127.0.0.1:1", None)
    options = dict(sub.channel_options)
    assert options["grpc.keepalive_time_ms"] == 20_000
    assert options["grpc.keepalive_timeout_ms"] == 10_000
    assert options["grpc.http2.ping_timeout_ms"] == 10_000
    assert options["grpc.http2.max_pings_without_data"] == 0
    assert options["grpc.max_receive_message_length"] == 64 << 20
    tuned = SnapshotSubscriber(
        "127.0.0.1:1", None, keepalive_time=1.5, channel_options=[("grpc.keepalive_time_ms", 900)]
    )
    # An explicit channel option replaces the default instead of repeating the key.
    assert [k for k, _ in tuned.channel_options].count("grpc.keepalive_time_ms") == 1
    assert dict(tuned.channel_options)["grpc.keepalive_time_ms"] == 900
    assert keepalive_options(0, 10) == ()


async def test_subscriber_notices_a_frozen_policy_sync_and_keeps_its_snapshot(
    tmp_path, dev_pki, remote, good_files, policy_sync_process
) -> None:
    remote.commit_and_push("v1", good_files(resources=("orders",)))
    port = free_port()
    proc = start_policy_sync(tmp_path, write_config(tmp_path, dev_pki, remote.url, port))
    policy_sync_process.append(proc)
    persist = tmp_path / "issuer.bin"
    sub = SnapshotSubscriber(
        f"127.0.0.1:{port}",
        dev_pki.channel_credentials("issuer"),
        persist,
        name="issuer",
        backoff_initial=0.05,
        backoff_max=0.5,
        keepalive_time=0.3,
        keepalive_timeout=1.0,
    )
    await sub.start()
    try:
        await eventually(lambda: sub.connected and sub.current is not None, within=30)
        digest, attempts = sub.digest, sub.reconnects  # attempts before the process listened
        # Idle for several ping intervals first: pings must go on after the first two.
        await asyncio.sleep(3.0)
        assert sub.connected
        assert sub.reconnects == attempts

        proc.send_signal(signal.SIGSTOP)
        # keepalive_time + keepalive_timeout is 1.3 s; allow for a loaded machine.
        await eventually(lambda: not sub.connected, within=10)
        await eventually(lambda: sub.reconnects > attempts, within=5)
        # Still serving the last snapshot, and its persisted copy is intact.
        assert sub.digest == digest
        payload = read_snapshot_file(persist)
        assert payload is not None
        assert digest.encode() in payload

        proc.send_signal(signal.SIGCONT)
        await eventually(lambda: sub.connected, within=30)
        assert sub.digest == digest
    finally:
        await sub.stop()
