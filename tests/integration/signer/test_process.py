"""``hessra-signer`` as a real process: readiness, metrics, one log line per call, SIGTERM."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import grpc
import pytest

from hessra.v1 import signer_pb2, signer_pb2_grpc
from hessra_core import tokens
from hessra_core.testing import ServiceProcess, console_script, wait_for_health
from hessra_signer.config import SignerConfig

from .conftest import CALLER, SIGNER, World

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_process_serves_logs_exports_metrics_and_stops_gracefully(
    config: SignerConfig, world: World, tmp_path: Path
) -> None:
    port_file = tmp_path / "signer.port.json"
    proc = ServiceProcess(
        "signer",
        [
            console_script("hessra-signer"),
            "--name", SIGNER,
            "--signing-key", config.signing_key_file,
            "--issuer-public-key", world.issuer.public_key.to_string(),
            "--listen", "127.0.0.1:0",
            "--cert-file", config.cert_file,
            "--key-file", config.key_file,
            "--policy-dir", config.policy_dir,
            "--port-file", port_file,
            "--metrics-port", "0",
        ],
        tmp_path / "signer.log",
    )  # fmt: skip
    try:
        info = proc.wait_port_file(port_file, 60)
        gateway = world.certs["gateway"]
        creds = grpc.ssl_channel_credentials(world.ca.cert_pem, gateway.key_pem, gateway.cert_pem)
        wait_for_health(
            info["port"], creds, "hessra.v1.Signer", timeout=30, server_name="localhost"
        )
        minted = tokens.mint_token(
            world.issuer,
            subject=CALLER,
            resource="sensitive",
            operation="export",
            signers=[tokens.SignerRef(SIGNER, world.signer.public_key)],
        )
        with grpc.secure_channel(
            f"127.0.0.1:{info['port']}",
            creds,
            options=[("grpc.ssl_target_name_override", "localhost")],
        ) as channel:
            reply = signer_pb2_grpc.SignerStub(channel).SignToken(
                signer_pb2.SignTokenRequest(
                    token=minted.token, resource="sensitive", operation="export"
                ),
                timeout=10,
            )
        assert list(reply.pending_signoffs) == []

        line = proc.wait_event("rpc", 10)
        assert line["method"] == "/hessra.v1.Signer/SignToken"
        assert line["code"] == "OK"
        assert line["decision"] == "allow"
        assert (line["resource"], line["operation"], line["subject"]) == (
            "sensitive",
            "export",
            CALLER,
        )
        assert line["revision"].startswith("dir:")
        assert line["service"] == "signer"
        log_text = (tmp_path / "signer.log").read_text()
        assert minted.token not in log_text
        assert reply.token not in log_text

        metrics = (
            urllib.request.urlopen(f"http://127.0.0.1:{info['metrics_port']}/metrics", timeout=10)
            .read()
            .decode()
        )
        assert 'hessra_signer_signoffs_total{resource="sensitive"} 1.0' in metrics
        assert "hessra_signer_ready 1.0" in metrics
    finally:
        code = proc.stop()
    assert code == 0
    assert proc.events("shutdown_requested"), (tmp_path / "signer.log").read_text()[-2000:]
    json.loads(port_file.read_text())  # the port file stays parseable after shutdown
