"""Keepalive on the watch stream: policy-sync accepts its subscribers' pings.

gRPC servers answer pings more frequent than once in 5 minutes on a connection that
sends no data with GOAWAY ``too_many_pings``. An idle ``WatchSnapshots`` stream sends
no data, so without ``server.min_client_ping_interval`` every subscriber that pings to
detect dead connections would be cut off and reconnect over and over.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from hessra_core.errors import ConfigError
from hessra_core.rpc.subscriber import SnapshotSubscriber
from hessra_policy_sync.app import grpc_server_options
from hessra_policy_sync.config import ServerConfig, load_config
from hessra_policy_sync.testing import eventually, make_config

pytestmark = pytest.mark.slow


def test_server_options_accept_pings_and_never_recycle_streams(tmp_path: Path) -> None:
    server = ServerConfig(state_dir=tmp_path, min_client_ping_interval=2.5, keepalive_time=30)
    options = dict(grpc_server_options(server))
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == 2500
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_timeout_ms"] == options["grpc.http2.ping_timeout_ms"] == 20_000
    assert options["grpc.keepalive_permit_without_calls"] == 1
    # Watch streams live for ever: a maximum connection age would cut them all at once.
    assert not any("max_connection_age" in key for key in options)


async def test_subscriber_pinging_an_idle_stream_stays_subscribed(
    tmp_path, dev_pki, remote, good_files, start_app
) -> None:
    remote.commit_and_push("v1", good_files())
    base = make_config(dev_pki, tmp_path / "state", remote.url)
    app = await start_app(server=replace(base.server, min_client_ping_interval=0.1))
    await eventually(lambda: app.hub.current is not None, within=15)
    sub = SnapshotSubscriber(
        f"127.0.0.1:{app.grpc_port}",
        dev_pki.channel_credentials("issuer"),
        name="issuer",
        backoff_initial=0.05,
        backoff_max=0.2,
        channel_options=(
            ("grpc.keepalive_time_ms", 200),
            ("grpc.keepalive_timeout_ms", 2000),
            ("grpc.http2.max_pings_without_data", 0),
        ),
    )
    await sub.start()
    try:
        await eventually(lambda: sub.connected and sub.current is not None, within=10)
        # ~15 pings on a stream that sends nothing after the first snapshot.
        await asyncio.sleep(3.0)
        assert sub.connected
        assert sub.reconnects == 0
        assert app.servicer.subscribers == 1
    finally:
        await sub.stop()


def _config_env(tmp_path: Path, **server: str) -> dict[str, str]:
    env = {
        "HESSRA_POLICY_SYNC_SERVER_STATE_DIR": str(tmp_path),
        "HESSRA_POLICY_SYNC_SERVER_PLAINTEXT_GRPC": "true",
        "HESSRA_POLICY_SYNC_SOURCE_KIND": "dir",
        "HESSRA_POLICY_SYNC_SOURCE_PATH": str(tmp_path),
    }
    env.update({f"HESSRA_POLICY_SYNC_SERVER_{k.upper()}": v for k, v in server.items()})
    return env


def test_keepalive_settings_load_with_defaults(tmp_path: Path) -> None:
    server = load_config(env=_config_env(tmp_path)).server
    assert (server.keepalive_time, server.keepalive_timeout) == (60.0, 20.0)
    # Below the subscribers' default ping interval (20 s), so their pings are welcome.
    assert server.min_client_ping_interval == 10.0
    tuned = load_config(env=_config_env(tmp_path, min_client_ping_interval="5")).server
    assert tuned.min_client_ping_interval == 5.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("keepalive_time", "0"),
        ("keepalive_timeout", "-1"),
        ("keepalive_time", "nan"),
        ("min_client_ping_interval", "-0.5"),
    ],
    ids=["time-zero", "timeout-negative", "time-nan", "min-ping-negative"],
)
def test_bad_keepalive_setting_is_named(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"server.{key}"):
        load_config(env=_config_env(tmp_path, **{key: value}))


_FROZEN_SUBSCRIBER = """
import asyncio, sys
import grpc
from hessra.v1 import policy_pb2, policy_pb2_grpc

async def main():
    ca, cert, key = (open(path, "rb").read() for path in sys.argv[1:4])
    target = sys.argv[4]
    creds = grpc.ssl_channel_credentials(ca, key, cert)
    async with grpc.aio.secure_channel(target, creds) as channel:
        call = policy_pb2_grpc.PolicySyncStub(channel).WatchSnapshots(
            policy_pb2.WatchSnapshotsRequest(subscriber="frozen")
        )
        async for _ in call:
            pass

asyncio.run(main())
"""


def start_subscriber_process(dev_pki, port: int) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    client = dev_pki.clients["issuer"]
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            _FROZEN_SUBSCRIBER,
            str(dev_pki.ca_file),
            str(client.cert_file),
            str(client.key_file),
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
    )


async def test_server_drops_a_subscriber_that_stopped_answering(
    tmp_path, dev_pki, remote, good_files, start_app
) -> None:
    remote.commit_and_push("v1", good_files())
    base = make_config(dev_pki, tmp_path / "state", remote.url)
    server = replace(base.server, keepalive_time=0.3, keepalive_timeout=1.0)
    app = await start_app(server=server)
    await eventually(lambda: app.hub.current is not None, within=15)
    proc = start_subscriber_process(dev_pki, app.grpc_port)
    try:
        await eventually(lambda: app.servicer.subscribers == 1, within=30)
        proc.send_signal(signal.SIGSTOP)
        # A vanished subscriber stops holding a stream and counting as one.
        await eventually(lambda: app.servicer.subscribers == 0, within=10)
        assert b"hessra_policy_sync_subscribers 0.0" in app.metrics.render()
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=15)
