"""``server.health_listen``: the signer's plaintext health-only port for kubelet probes.

As a real process: NOT_SERVING (but alive) while its policy directory does not compile,
SERVING once a snapshot is loaded, gone after SIGTERM. Config: file, env and flag layer,
and a bad or clashing address is reported.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hessra_core.errors import ConfigError
from hessra_core.keys import KeyPair
from hessra_core.rpc import LIVENESS
from hessra_core.testing import ServiceProcess, console_script, wait_for
from hessra_signer.config import SignerConfig, load_config

from .conftest import SIGNER, World, base_clients, write_policy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _check(port: int, service: str = "") -> int:
    """One plaintext Check on a new connection, as the kubelet's grpc probe does; -1 if none."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.RpcError:
            return -1
        return int(reply.status)


@pytest.mark.e2e
@pytest.mark.slow
def test_process_health_port_turns_serving_when_the_policy_loads(
    config: SignerConfig, world: World, tmp_path: Path
) -> None:
    policy = tmp_path / "pending-policy"
    policy.mkdir()
    (policy / "clients.toml").write_text("this is not [valid toml")
    port_file = tmp_path / "signer-health.port.json"
    proc = ServiceProcess(
        "signer",
        [
            console_script("hessra-signer"),
            "--name", SIGNER,
            "--signing-key", config.signing_key_file,
            "--issuer-public-key", world.issuer.public_key.to_string(),
            "--listen", "127.0.0.1:0",
            "--health-listen", "127.0.0.1:0",
            "--cert-file", config.cert_file,
            "--key-file", config.key_file,
            "--policy-dir", policy,
            "--policy-poll-interval", "0.1",
            "--port-file", port_file,
        ],
        tmp_path / "signer-health.log",
    )  # fmt: skip
    try:
        info = proc.wait_port_file(port_file, 60)
        health = info["health_port"]
        assert isinstance(health, int)
        assert health not in (0, info["port"])
        proc.wait_event("policy_rejected", 10)
        assert _check(health) == NOT_SERVING
        assert _check(health, "hessra.v1.Signer") == NOT_SERVING
        assert _check(health, LIVENESS) == SERVING

        write_policy(policy, world.ca.cert_pem, base_clients())
        wait_for(lambda: _check(health) == SERVING, 30, "the health port to say SERVING")
        assert _check(health, "hessra.v1.Signer") == SERVING
        assert proc.events("health_listener")[0]["port"] == health
    finally:
        code = proc.stop()
    assert code == 0
    assert _check(health) == -1


def _files(tmp_path: Path, **server: str) -> Path:
    (tmp_path / "signer.crt").write_text("x")
    (tmp_path / "signer.key").write_text("x")
    KeyPair.generate().save(tmp_path / "legal.pem")
    (tmp_path / "policy").mkdir(exist_ok=True)
    lines = "".join(f'{key} = "{value}"\n' for key, value in server.items())
    path = tmp_path / "signer.toml"
    path.write_text(
        '[server]\nlisten = "0.0.0.0:50052"\ncert_file = "signer.crt"\nkey_file = "signer.key"\n'
        + lines
        + '[signer]\nname = "legal_dept"\nkey_file = "legal.pem"\n'
        + f'issuer_public_keys = ["{KeyPair.generate().public_key.to_string()}"]\n'
        + '[policy]\ndir = "policy"\n'
    )
    return path


def test_health_listen_is_off_by_default_and_layers_file_env_flag(tmp_path: Path) -> None:
    assert load_config(_files(tmp_path), env={}).health_listen is None
    path = _files(tmp_path, health_listen="0.0.0.0:8081")
    assert load_config(path, env={}).health_listen == "0.0.0.0:8081"
    env = {"HESSRA_SIGNER_SERVER_HEALTH_LISTEN": "127.0.0.1:8082"}
    assert load_config(path, env=env).health_listen == "127.0.0.1:8082"
    flagged = load_config(path, env=env, overrides={"health_listen": "127.0.0.1:8083"})
    assert flagged.health_listen == "127.0.0.1:8083"
    assert load_config(path, env={"HESSRA_SIGNER_SERVER_HEALTH_LISTEN": ""}).health_listen is None


BAD = [
    ("not_host_port", "8081", "server.health_listen: '8081' is not host:port"),
    ("port_out_of_range", "0.0.0.0:70000", "server.health_listen: '0.0.0.0:70000' is not"),
    ("same_as_listen", "127.0.0.1:50052", "server.health_listen: port 50052 is also server.listen"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_health_listen_is_reported(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_files(tmp_path, health_listen=value), env={})
    assert any(p.startswith(message) for p in info.value.problems), (name, info.value.problems)
