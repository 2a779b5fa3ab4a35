"""``server.health_listen``: policy-sync's plaintext health-only port for kubelet probes.

In-process against a real git remote: NOT_SERVING (but alive) while the only commit does
not validate, SERVING once a good commit is published, gone after stop. Config: file,
env and flag layer, and a bad or clashing address is reported.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra_core.errors import ConfigError
from hessra_core.rpc import LIVENESS
from hessra_policy_sync.__main__ import _overrides, _parser
from hessra_policy_sync.config import load_config
from hessra_policy_sync.testing import make_config

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _check(port: int, service: str = "") -> int:
    """One plaintext Check on a new connection, as the kubelet's grpc probe does; -1 if none."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.aio.AioRpcError:
            return -1
        return int(reply.status)


@pytest.mark.slow
async def test_health_port_turns_serving_when_a_good_commit_is_published(
    remote: Any, good_files: Any, start_app: Any, dev_pki: Any, tmp_path: Path
) -> None:
    remote.commit_and_push("typo", good_files(resources=("orders",), typo=True))
    base = make_config(dev_pki, tmp_path / "state", remote.url)
    app = await start_app(server=replace(base.server, health_listen="127.0.0.1:0"))
    health = app.health_port
    assert isinstance(health, int)
    assert health not in (0, app.grpc_port, app.http_port)
    outcome = await app.resync()
    assert not outcome.changed
    assert app.hub.current is None
    assert await _check(health) == NOT_SERVING
    assert await _check(health, "hessra.v1.PolicySync") == NOT_SERVING
    assert await _check(health, LIVENESS) == SERVING

    remote.commit_and_push("fixed", good_files(resources=("orders",)))
    assert (await app.resync()).changed

    for _ in range(100):  # publishing flips health on the event loop, just after
        if await _check(health) == SERVING:
            break
        await asyncio.sleep(0.05)
    assert await _check(health) == SERVING
    assert await _check(health, "hessra.v1.PolicySync") == SERVING

    await app.stop(grace=0.1)
    assert await _check(health) == -1


def _config_file(tmp_path: Path, dev_pki: Any, **server: str) -> Path:
    (tmp_path / "policy").mkdir(exist_ok=True)
    lines = "".join(f'{key} = "{value}"\n' for key, value in server.items())
    path = tmp_path / "policy-sync.toml"
    path.write_text(
        '[server]\ngrpc_listen = "0.0.0.0:50053"\n'
        f'state_dir = "{tmp_path / "state"}"\ncert_file = "{dev_pki.server_cert}"\n'
        f'key_file = "{dev_pki.server_key}"\nclient_ca_file = "{dev_pki.ca_file}"\n'
        + lines
        + '[source]\nkind = "dir"\npath = "policy"\n'
    )
    return path


def test_health_listen_is_off_by_default_and_layers_file_env_flag(
    tmp_path: Path, dev_pki: Any
) -> None:
    assert load_config(_config_file(tmp_path, dev_pki), env={}).server.health_listen is None
    path = _config_file(tmp_path, dev_pki, health_listen="0.0.0.0:8081")
    assert load_config(path, env={}).server.health_listen == "0.0.0.0:8081"
    env = {"HESSRA_POLICY_SYNC_SERVER_HEALTH_LISTEN": "127.0.0.1:8082"}
    assert load_config(path, env=env).server.health_listen == "127.0.0.1:8082"
    args = _parser().parse_args(["--health-listen", "127.0.0.1:8084"])
    flagged = load_config(path, env=env, overrides=_overrides(args))
    assert flagged.server.health_listen == "127.0.0.1:8084"
    off = load_config(path, env={"HESSRA_POLICY_SYNC_SERVER_HEALTH_LISTEN": ""})
    assert off.server.health_listen is None


BAD = [
    ("not_host_port", "8081", "server.health_listen: expected host:port, got '8081'"),
    (
        "port_out_of_range",
        "0.0.0.0:70000",
        "server.health_listen: expected host:port, got '0.0.0.0:70000'",
    ),
    (
        "same_as_grpc_listen",
        "0.0.0.0:50053",
        "server.health_listen: port 50053 is also server.grpc_listen's port",
    ),
    (
        "same_as_default_http_listen",
        "0.0.0.0:8083",
        "server.health_listen: port 8083 is also server.http_listen's port",
    ),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_health_listen_is_reported(
    tmp_path: Path, dev_pki: Any, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config_file(tmp_path, dev_pki, health_listen=value), env={})
    assert message in info.value.problems, (name, info.value.problems)
