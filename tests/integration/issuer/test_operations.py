"""Operating the issuer: canonical log lines, Prometheus metrics, reflection, config, keys."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
import structlog
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hessra.v1 import issuer_pb2
from hessra_core.errors import ConfigError
from hessra_core.keyring import Keyring
from hessra_core.keys import KeyPair
from hessra_issuer.config import load_config

ORDERS = issuer_pb2.RequestTokenRequest(resource="orders", operation="read")
# What a pod sets so its scraper can reach /metrics; the tests only connect over loopback.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


async def test_one_log_line_per_rpc_with_decision_and_no_token(issuer: Any) -> None:
    stub = issuer.stub("uri")
    with structlog.testing.capture_logs() as logs:
        reply = await stub.RequestToken(ORDERS, timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.RequestToken(
                issuer_pb2.RequestTokenRequest(resource="orders", operation="delete"), timeout=5
            )
    lines = [entry for entry in logs if entry["event"] == "rpc"]
    assert len(lines) == 2
    allowed, denied = lines
    revision = issuer.app.holder.state.revision
    assert (
        allowed.items()
        >= {
            "method": "/hessra.v1.Issuer/RequestToken",
            "code": "OK",
            "caller": "CN=gateway",
            "resource": "orders",
            "operation": "read",
            "decision": "allow",
            "revision": revision,
            "subject": "uri:urn:test:gateway",
        }.items()
    )
    assert allowed["latency_ms"] > 0
    assert allowed["token_id"] == reply.token_id
    assert len(reply.token_id) == 32
    assert (denied["code"], denied["decision"], denied["operation"]) == (
        "PERMISSION_DENIED",
        "permission_denied",
        "delete",
    )
    assert reply.token not in repr(logs)
    assert issuer.files.keypair.private_pem() not in repr(logs)


async def test_metrics_endpoint_counts_mints_denials_and_names_the_snapshot(
    make_issuer: Any,
) -> None:
    harness = await make_issuer(metrics_port=0)
    stub = harness.stub("uri")
    await stub.RequestToken(ORDERS, timeout=5)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.RequestToken(
            issuer_pb2.RequestTokenRequest(resource="queue", operation="read"), timeout=5
        )
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{harness.app.metrics_port}/metrics")).text
    digest = harness.app.holder.state.digest
    assert 'hessra_issuer_tokens_minted_total{kind="authorization",resource="orders"}' in text
    assert 'hessra_issuer_tokens_denied_total{reason="permission_denied"}' in text
    assert f'digest="{digest}"' in text
    assert (
        'hessra_grpc_request_duration_seconds_count{method="/hessra.v1.Issuer/RequestToken"}'
        in text
    )
    assert 'hessra_grpc_requests_total{code="OK",method="/hessra.v1.Issuer/RequestToken"}' in text


async def test_metrics_listen_where_configured(make_issuer: Any) -> None:
    """127.0.0.1 by default; ``server.metrics_host`` opens them to a pod's scraper."""
    default = await make_issuer(metrics_port=0)
    everywhere = await make_issuer(metrics_port=0, metrics_host=ALL_INTERFACES)
    assert default.app._metrics is not None
    assert everywhere.app._metrics is not None
    assert default.app._metrics._httpd.server_address[0] == "127.0.0.1"
    assert everywhere.app._metrics._httpd.server_address[0] == ALL_INTERFACES
    async with httpx.AsyncClient() as client:
        url = f"http://127.0.0.1:{everywhere.app.metrics_port}/metrics"
        assert "hessra_issuer_ready 1.0" in (await client.get(url)).text


def test_metrics_host_and_connection_age_are_checked(files: Any) -> None:
    base = {
        "cert_file": str(files.cert_file),
        "key_file": str(files.key_file),
        "signing_key_files": [str(files.signing_key)],
        "policy_dir": str(files.policy_dir),
    }
    cfg = load_config(
        None,
        env={
            "HESSRA_ISSUER_SERVER_METRICS_HOST": ALL_INTERFACES,
            "HESSRA_ISSUER_SERVER_MAX_CONNECTION_AGE": "300",
        },
        overrides=base,
    )
    assert (cfg.metrics_host, cfg.max_connection_age) == (ALL_INTERFACES, 300.0)
    for host in ("::", "metrics.internal", "localhost"):
        assert load_config(None, env={}, overrides={**base, "metrics_host": host}).metrics_host
    with pytest.raises(ConfigError) as info:
        load_config(
            None,
            env={
                "HESSRA_ISSUER_SERVER_METRICS_HOST": "0.0.0.0:9090",
                "HESSRA_ISSUER_SERVER_MAX_CONNECTION_AGE": "-5",
            },
            overrides=base,
        )
    assert "server.metrics_host: '0.0.0.0:9090' is not an IP address or host name (no port)" in (
        info.value.problems
    )
    assert any(p.startswith("server.max_connection_age: -5") for p in info.value.problems)


async def test_reflection_lists_the_issuer_service(issuer: Any) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(issuer.channel("uri"))

    async def requests() -> Any:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    async for response in stub.ServerReflectionInfo(requests(), timeout=5):
        names = {s.name for s in response.list_services_response.service}
        assert {"hessra.v1.Issuer", "grpc.health.v1.Health"} <= names
        break


def test_config_file_env_and_flags_layer_in_order(files: Any, tmp_path: Path) -> None:
    config_file = tmp_path / "issuer.toml"
    config_file.write_text(
        f"""
[server]
listen = "127.0.0.1:7001"
cert_file = "{files.cert_file}"
key_file = "{files.key_file}"
processes = 2

[keys]
signing_key_files = ["signing.pem"]

[policy]
dir = "policy"
"""
    )
    env = {"HESSRA_ISSUER_SERVER_LISTEN": "127.0.0.1:7002", "HESSRA_ISSUER_SERVER_PROCESSES": "3"}
    config = load_config(config_file, env=env, overrides={"processes": "4"})
    assert config.listen == "127.0.0.1:7002"
    assert config.processes == 4
    assert config.signing_key_files == (tmp_path / "signing.pem",)
    assert config.policy_dir == tmp_path / "policy"


def test_config_reports_every_problem_at_once(tmp_path: Path) -> None:
    config_file = tmp_path / "bad.toml"
    config_file.write_text('[server]\nlisten = 5\nwat = 1\n[policy]\ndir = "/nonexistent"\n')
    with pytest.raises(ConfigError) as info:
        load_config(config_file, env={"HESSRA_ISSUER_SERVER_PROCESSES": "many"})
    problems = "\n".join(info.value.problems)
    for expected in (
        "server.listen: expected a string",
        "unknown key `server.wat`",
        "HESSRA_ISSUER_SERVER_PROCESSES: 'many' is not a valid int",
        "server.cert_file is required",
        "keys.signing_key_files is required",
        "policy.dir: /nonexistent is not a directory",
    ):
        assert expected in problems
    with pytest.raises(ConfigError, match="unknown variable HESSRA_ISSUER_NOPE"):
        load_config(None, env={"HESSRA_ISSUER_NOPE": "1"})


def test_config_parses_keys_and_tls_pair_in_the_same_report(files: Any, tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(ConfigError) as info:
        load_config(
            None,
            env={},
            overrides={
                "cert_file": str(files.cert_file),
                "key_file": str(files.signing_key),  # the wrong key for this certificate
                "signing_key_files": [str(tmp_path / "junk.pem")],
                "policy_dir": str(files.policy_dir),
            },
        )
    problems = "\n".join(info.value.problems)
    assert "junk.pem" in problems
    assert "does not match the private key" in problems


def test_keyring_picks_the_active_key_and_publishes_the_rest(files: Any, tmp_path: Path) -> None:
    second = KeyPair.generate()
    second.save(tmp_path / "second.pem")
    ring = Keyring.load(
        [files.signing_key, tmp_path / "second.pem"],
        [files.old_key_pub],
        active_key_id=second.public_key.key_id,
    )
    assert ring.active_key_id == second.public_key.key_id
    assert ring.published == (
        second.public_key,
        files.keypair.public_key,
        files.old_keypair.public_key,
    )
    assert "PRIVATE" not in repr(ring)
    (tmp_path / "junk.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(ConfigError) as info:
        Keyring.load([tmp_path / "junk.pem", tmp_path / "missing.pem"], active_key_id=7)
    text = str(info.value)
    assert "junk.pem" in text
    assert "missing.pem" in text
    assert "nope" not in text


def test_worker_pid_is_this_process_in_process(issuer: Any) -> None:
    assert issuer.app.info().pid == os.getpid()
