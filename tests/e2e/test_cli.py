"""The installed ``hessra`` console script against the real issuer and signers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hessra import Hessra

from .conftest import ALICE, GATEWAY, Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HESSRA = Path(sys.executable).with_name("hessra")


def hessra(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")}
    clean.update(env or {})
    return subprocess.run(
        [str(HESSRA), *args],
        capture_output=True,
        text=True,
        env=clean,
        input=stdin,
        timeout=60,
        check=False,
    )


def connection(deployment: Deployment, who: str) -> list[str]:
    files = deployment.certs[who]
    return [
        "--server", deployment.issuer,
        "--cert", str(files.cert),
        "--key", str(files.key),
        "--ca", str(deployment.ca_file),
    ]  # fmt: skip


def test_simple_token_verified_locally_and_remotely(deployment: Deployment) -> None:
    done = hessra(
        "auth", "request", *connection(deployment, "alice"),
        "--resource", "orders", "--operation", "read",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    key = deployment.issuer_key.public_key.to_string()
    verified = hessra(
        "token", "verify", "--token", token, "--public-key", key,
        "--subject", ALICE, "--resource", "orders", "--operation", "read",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    with Hessra(deployment.issuer, **_tls(deployment, "alice")) as client:
        client.setup()
        client.verify_token_local(token, ALICE, "orders", "read")
        client.verify_token_remote(token, ALICE, "orders", "read")


def _tls(deployment: Deployment, who: str) -> dict[str, Path]:
    files = deployment.certs[who]
    return {"cert": files.cert, "key": files.key, "ca": deployment.ca_file}


def test_environment_fallbacks_and_json(deployment: Deployment) -> None:
    files = deployment.certs["alice"]
    env = {
        "HESSRA_SERVER": deployment.issuer,
        "HESSRA_CERT": str(files.cert),
        "HESSRA_KEY": str(files.key),
        "HESSRA_CA": str(deployment.ca_file),
    }
    done = hessra(
        "auth", "request", "--resource", "orders", "--operation", "read", "--json", env=env
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True
    assert data["subject"] == ALICE
    assert data["pending_signoffs"] == []
    assert data["policy_revision"].startswith("main@sha1:")
    keys = hessra("auth", "public-keys", "--json", env=env)
    assert keys.returncode == 0, keys.stderr
    listed = [k["public_key"] for k in json.loads(keys.stdout)["keys"]]
    assert listed == [deployment.issuer_key.public_key.to_string()]


def test_collect_signoffs(deployment: Deployment) -> None:
    base = [
        "auth", "request", *connection(deployment, "api_gateway"),
        "--resource", "sensitive_data", "--operation", "export",
    ]  # fmt: skip
    partial = hessra(*base)
    assert partial.returncode == 0, partial.stderr
    assert "needs sign-offs from legal_dept, partner_company" in partial.stderr
    key = deployment.issuer_key.public_key.to_string()
    verify = [
        "token", "verify", "--public-key", key, "--subject", GATEWAY,
        "--resource", "sensitive_data", "--operation", "export", "--token", "-",
    ]  # fmt: skip
    refused = hessra(*verify, stdin=partial.stdout)
    assert refused.returncode == 1
    assert "Required signature from legal_dept not found" in refused.stderr

    full = hessra(
        *base, "--collect-signoffs", "--json",
        "--signer-ca", f"partner_company={deployment.partner_ca_file}",
    )  # fmt: skip
    assert full.returncode == 0, full.stdout + full.stderr
    data = json.loads(full.stdout)
    assert data["collected_signoffs"] == ["legal_dept", "partner_company"]
    assert hessra(*verify, stdin=data["token"]).returncode == 0


def test_refusals_and_usage_errors(deployment: Deployment) -> None:
    denied = hessra(
        "auth", "request", *connection(deployment, "alice"),
        "--resource", "payment_processor", "--operation", "charge", "--json",
    )  # fmt: skip
    assert denied.returncode == 1
    data = json.loads(denied.stdout)
    assert data["error"] == "permission_denied"
    assert "may not `charge` on `payment_processor`" in data["message"]

    missing_ca = hessra(
        "auth", "request", *connection(deployment, "api_gateway"),
        "--resource", "sensitive_data", "--operation", "export", "--collect-signoffs",
    )  # fmt: skip
    assert missing_ca.returncode == 1
    assert "Required signature from partner_company not found" in missing_ca.stderr
    assert "hint: Ensure all required signing services are reachable" in missing_ca.stderr

    no_server = hessra("auth", "request", "--resource", "orders", "--operation", "read")
    assert no_server.returncode == 2
    assert "no issuer address" in no_server.stderr
    bad_signer_ca = hessra(
        "auth", "request", *connection(deployment, "alice"),
        "--resource", "orders", "--operation", "read", "--signer-ca", "nonsense",
    )  # fmt: skip
    assert bad_signer_ca.returncode == 2
    assert "expected NAME=FILE" in bad_signer_ca.stderr


def test_identity_commands(deployment: Deployment) -> None:
    issued = hessra("identity", "request", *connection(deployment, "api_gateway"), "--json")
    assert issued.returncode == 0, issued.stderr
    data = json.loads(issued.stdout)
    assert data["subject"] == GATEWAY
    key = deployment.issuer_key.public_key.to_string()
    delegated = hessra(
        "identity", "delegate", "--child", "nightly", "--ttl", "60", "--public-key", key,
        env={"HESSRA_IDENTITY_TOKEN": data["token"]},
    )  # fmt: skip
    assert delegated.returncode == 0, delegated.stderr
    # Refresh over the identity port: no client certificate, only the token.
    refreshed = hessra(
        "identity", "refresh", "--server", deployment.identity_server,
        "--ca", str(deployment.ca_file), "--token", "-", "--json",
        stdin=data["token"],
    )  # fmt: skip
    assert refreshed.returncode == 0, refreshed.stderr
    assert json.loads(refreshed.stdout)["subject"] == GATEWAY
    bogus = hessra(
        "identity", "refresh", "--server", deployment.identity_server,
        "--ca", str(deployment.ca_file), "--token", "not-a-token",
    )  # fmt: skip
    assert bogus.returncode == 1
    assert "Error:" in bogus.stderr
