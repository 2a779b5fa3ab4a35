"""``server.health_listen``: the issuer's plaintext health-only port for kubelet probes.

In-process: the port says NOT_SERVING (but alive) while the issuer waits for policy-sync,
and SERVING once the snapshot arrives. As OS processes: two workers share the port, the
port file names it, and it goes away with the issuer. Config: file, env and flag layer,
and a bad or clashing address is reported.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import tomli_w
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra.v1 import issuer_pb2
from hessra_core.errors import ConfigError
from hessra_core.rpc import LIVENESS
from hessra_issuer.config import load_config
from hessra_policy_sync.app import PolicySyncApp
from hessra_policy_sync.config import DirSourceConfig, PolicySyncConfig, ServerConfig

from .test_policy_sync import _sync_overrides
from .test_workers import ISSUER, _read_port_file, _wait_for

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check(port: int, service: str = "") -> int:
    """One plaintext Check on a NEW connection, as the kubelet's grpc probe does; -1 if none."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.RpcError:
            return -1
        return int(reply.status)


async def _acheck(port: int, service: str = "") -> int:
    return await asyncio.to_thread(_check, port, service)


async def test_health_port_serves_once_the_snapshot_arrives_from_policy_sync(
    make_issuer: Any, files: Any, ids: Any
) -> None:
    sync_port = _free_port()  # nothing listens here yet
    issuer = await make_issuer(
        health_listen="127.0.0.1:0", **_sync_overrides(files, ids, sync_port)
    )
    health = issuer.app.health_port
    assert health is not None
    assert health not in (issuer.app.port, issuer.app.identity_port)
    await asyncio.sleep(0.3)
    assert issuer.app.holder.state is None
    assert await _acheck(health) == NOT_SERVING
    assert await _acheck(health, "hessra.v1.Issuer") == NOT_SERVING
    assert await _acheck(health, LIVENESS) == SERVING  # alive: a liveness probe passes

    (files.root / "ca.pem").write_bytes(ids.ca.cert_pem)
    sync = PolicySyncApp(
        PolicySyncConfig(
            server=ServerConfig(
                state_dir=files.root / "policy-sync-state",
                grpc_listen=f"127.0.0.1:{sync_port}",
                http_listen="127.0.0.1:0",
                cert_file=files.cert_file,
                key_file=files.key_file,
                client_ca_file=files.root / "ca.pem",
                shutdown_grace=0.2,
            ),
            source=DirSourceConfig(path=files.policy_dir, poll_interval=0.3, debounce=0.05),
        )
    )
    await sync.start()
    try:
        await asyncio.to_thread(_wait_for, lambda: _check(health) == SERVING, 30, "SERVING")
        assert issuer.app.holder.state is not None
        assert await _acheck(health, "hessra.v1.Issuer") == SERVING
        # The main port, over mTLS, serves tokens now.
        reply = await issuer.stub("uri").RequestToken(
            issuer_pb2.RequestTokenRequest(resource="orders", operation="read"), timeout=5
        )
        assert reply.token
    finally:
        await issuer.app.stop(0)
        await sync.stop()
    assert await _acheck(health) == -1  # stopped with the issuer


def _config_file(files: Any, port_file: Path, health_listen: str) -> Path:
    path = files.root / "issuer-health.toml"
    path.write_text(
        tomli_w.dumps(
            {
                "server": {
                    "listen": "127.0.0.1:0",
                    "health_listen": health_listen,
                    "cert_file": str(files.cert_file),
                    "key_file": str(files.key_file),
                    "processes": 2,
                    "port_file": str(port_file),
                    "shutdown_grace": 1.0,
                },
                "keys": {"signing_key_files": [str(files.signing_key)]},
                "policy": {"dir": str(files.policy_dir), "poll_interval": 0.2},
            }
        )
    )
    return path


@pytest.mark.e2e
@pytest.mark.slow
def test_two_worker_processes_share_the_health_port(files: Any) -> None:
    port_file = files.root / "health-port.json"
    config = _config_file(files, port_file, "127.0.0.1:0")
    with (files.root / "issuer-health.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(ISSUER), "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("HESSRA_ISSUER_")},
        )
        try:
            info = _wait_for(lambda: _read_port_file(port_file), 60, "the port file")
            assert len(info["pids"]) == 2
            health = info["health_port"]
            assert isinstance(health, int)
            assert health not in (0, info["port"])
            # Every new connection may land on either worker: all must be SERVING once
            # each worker compiled the policy directory.
            _wait_for(lambda: _check(health) == SERVING, 30, "health SERVING")
            _wait_for(
                lambda: all(_check(health) == SERVING for _ in range(10)),
                30,
                "every worker SERVING",
            )
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            assert _check(health) == -1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _base_toml(files: Any, **server: Any) -> Path:
    path = files.root / "layered.toml"
    path.write_text(
        tomli_w.dumps(
            {
                "server": {
                    "listen": "127.0.0.1:7001",
                    "cert_file": str(files.cert_file),
                    "key_file": str(files.key_file),
                    **server,
                },
                "keys": {"signing_key_files": [str(files.signing_key)]},
                "policy": {"dir": str(files.policy_dir)},
            }
        )
    )
    return path


def test_health_listen_is_off_by_default_and_layers_file_env_flag(files: Any) -> None:
    assert load_config(_base_toml(files), env={}).health_listen is None
    path = _base_toml(files, health_listen="0.0.0.0:8081")
    assert load_config(path, env={}).health_listen == "0.0.0.0:8081"
    env = {"HESSRA_ISSUER_SERVER_HEALTH_LISTEN": "127.0.0.1:8082"}
    assert load_config(path, env=env).health_listen == "127.0.0.1:8082"
    flagged = load_config(path, env=env, overrides={"health_listen": "127.0.0.1:8083"})
    assert flagged.health_listen == "127.0.0.1:8083"
    # An empty value switches it off again.
    assert load_config(path, env={"HESSRA_ISSUER_SERVER_HEALTH_LISTEN": ""}).health_listen is None


BAD = [
    ("not_host_port", "8081", "server.health_listen: '8081' is not host:port"),
    ("port_out_of_range", "0.0.0.0:70000", "server.health_listen: '0.0.0.0:70000' is not"),
    ("same_as_listen", "0.0.0.0:7001", "server.health_listen: port 7001 is also server.listen"),
    (
        "same_as_identity_listen",
        "0.0.0.0:7002",
        "server.health_listen: port 7002 is also server.identity_listen",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_health_listen_is_reported(files: Any, name: str, value: str, message: str) -> None:
    path = _base_toml(files, identity_listen="127.0.0.1:7002", health_listen=value)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert any(p.startswith(message) for p in info.value.problems), (name, info.value.problems)


def test_the_cli_flag_sets_the_health_port(files: Any) -> None:
    from hessra_issuer.__main__ import config_from_args

    config, _ = config_from_args(
        [
            "--config",
            str(_base_toml(files)),
            "--health-listen",
            "127.0.0.1:0",
        ]
    )
    assert config.health_listen == "127.0.0.1:0"
