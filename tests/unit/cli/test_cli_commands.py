"""The rest of the CLI surface, in-process with click's CliRunner: --json, inputs, edge cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hessra import ServiceNode
from hessra.cli import main
from hessra_core.keys import Algorithm, KeyPair
from hessra_core.tokens import attest_service_chain_token, mint_token

SUBJECT = "uri:urn:user:123"
NODES = ("api_gateway", "fraud_detection", "payment_processor")

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    for name in ("HESSRA_TOKEN", "HESSRA_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def _invoke(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    return _invoke


@pytest.fixture(scope="module")
def root() -> KeyPair:
    return KeyPair.generate()


@pytest.fixture(scope="module")
def nodes() -> dict[str, KeyPair]:
    return {n: KeyPair.generate() for n in NODES}


def _token(root: KeyPair, **kw: Any) -> str:
    args: dict[str, Any] = {"subject": SUBJECT, "resource": "orders", "operation": "read"}
    args.update(kw)
    return mint_token(root, **args).token


def _verify_args(*extra: str) -> list[str]:
    return ["--subject", SUBJECT, "--resource", "orders", "--operation", "read", *extra]


def test_every_command_has_json(invoke: Invoke, tmp_path: Path, root: KeyPair) -> None:
    key = tmp_path / "k.pem"
    gen = json.loads(invoke("keys", "generate", "--out", str(key), "--json").output)
    assert gen["public_key"].startswith("ed25519/")
    assert gen["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert gen["path"] == str(key)
    pub = json.loads(invoke("keys", "public", "--key-file", str(key), "--json").output)
    assert pub["public_key"] == gen["public_key"]

    minted = json.loads(
        invoke("token", "mint", "--key-file", str(key), *_verify_args(), "--json").output
    )
    assert (minted["subject"], minted["resource"], minted["operation"]) == (
        SUBJECT,
        "orders",
        "read",
    )
    assert datetime.fromisoformat(minted["expires_at"]) > datetime.now(UTC)
    info = json.loads(
        invoke(
            "token",
            "inspect",
            "--token",
            minted["token"],
            "--public-key",
            gen["public_key"],
            "--json",
        ).output
    )
    assert info["verified"] is True
    assert info["rights"] == [[SUBJECT, "orders", "read"]]
    ok = invoke(
        "token",
        "verify",
        "--token",
        minted["token"],
        "--public-key",
        gen["public_key"],
        *_verify_args(),
        "--json",
    )
    assert ok.exit_code == 0
    assert json.loads(ok.output)["valid"] is True


@pytest.mark.parametrize(
    "key_option",
    [
        lambda k, p: ["--public-key", k.to_string()],
        lambda k, p: ["--public-key", k.to_pem()],
        lambda k, p: ["--public-key-file", str(p)],
        lambda k, p: [
            "--public-key",
            KeyPair.generate().public_key.to_string(),
            "--public-key",
            k.to_string(),
        ],
    ],
    ids=["text", "pem", "pem-file", "two-keys"],
)
def test_key_forms(
    invoke: Invoke, tmp_path: Path, root: KeyPair, key_option: Callable[..., list[str]]
) -> None:
    pem = tmp_path / "root.pub.pem"
    pem.write_text(root.public_key.to_pem())
    result = invoke(
        "token",
        "verify",
        "--token",
        _token(root),
        *key_option(root.public_key, pem),
        *_verify_args(),
    )
    assert result.exit_code == 0, result.output


def test_secp256r1_keys_work_end_to_end(invoke: Invoke, tmp_path: Path) -> None:
    key = tmp_path / "p256.pem"
    public = invoke("keys", "generate", "--algorithm", "secp256r1", "--out", str(key)).output
    assert public.startswith("secp256r1/")
    pair = KeyPair.load(key)
    assert pair.algorithm is Algorithm.SECP256R1
    token = invoke("token", "mint", "--key-file", str(key), *_verify_args()).output.strip()
    result = invoke(
        "token", "verify", "--token", token, "--public-key", public.strip(), *_verify_args()
    )
    assert result.exit_code == 0, result.output


def test_expired_token_is_refused_with_hints(invoke: Invoke, root: KeyPair) -> None:
    token = _token(root, ttl=10, now=datetime.now(UTC) - timedelta(minutes=10))
    result = invoke(
        "token",
        "verify",
        "--token",
        token,
        "--public-key",
        root.public_key.to_string(),
        *_verify_args(),
    )
    assert result.exit_code == 1
    assert "Error: Token has expired" in result.stderr
    assert "hint: Request a new token just before use" in result.stderr
    as_json = invoke(
        "token",
        "verify",
        "--token",
        token,
        "--public-key",
        root.public_key.to_string(),
        *_verify_args(),
        "--json",
    )
    body = json.loads(as_json.stdout)
    assert (as_json.exit_code, body["ok"], body["error"]) == (1, False, "expired")
    inspected = invoke("token", "inspect", "--token", token)
    assert "EXPIRED" in inspected.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["token", "verify", *_verify_args("--public-key", "ed25519/00")], None, "no token"),
        (
            ["token", "verify", "--token", "-", *_verify_args("--public-key", "ed25519/00")],
            "\n",
            "the token is empty",
        ),
        (
            ["token", "mint", "--key-file", "missing.pem", *_verify_args()],
            None,
            "cannot read private key",
        ),
        (
            ["token", "mint", "--key-file", "KEY", *_verify_args("--signer", "legal")],
            None,
            "expected NAME=KEY",
        ),
        (
            ["token", "mint", "--key-file", "KEY", *_verify_args("--signer", "legal=ed25519/zz")],
            None,
            "--signer legal: ed25519 public key is not valid hex",
        ),
        (
            ["token", "mint", "--key-file", "KEY", *_verify_args("--ttl", "601")],
            None,
            "601 is not in the range",
        ),
        (
            ["chain", "attest", "--token", "abc", "--key-file", "KEY", "--resource", "r"],
            None,
            "no public key",
        ),
        (["keys", "public", "--key-file", "PUB"], None, "invalid PEM private key"),
    ],
    ids=[
        "no-token",
        "empty-stdin",
        "missing-key-file",
        "signer-syntax",
        "signer-key",
        "ttl",
        "attest-without-root-key",
        "public-key-as-private",
    ],
)
def test_usage_errors_exit_2(
    invoke: Invoke,
    tmp_path: Path,
    root: KeyPair,
    args: list[str],
    stdin: str | None,
    message: str,
) -> None:
    key = tmp_path / "root.pem"
    root.save(key)
    pub = tmp_path / "root.pub"
    pub.write_text(root.public_key.to_pem())
    argv = [str(key) if a == "KEY" else str(pub) if a == "PUB" else a for a in args]
    result = invoke(*argv, stdin=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_env_fallbacks(invoke: Invoke, root: KeyPair) -> None:
    env = {"HESSRA_TOKEN": _token(root), "HESSRA_PUBLIC_KEY": root.public_key.to_pem()}
    assert invoke("token", "verify", *_verify_args(), env=env).exit_code == 0
    bad = invoke("token", "verify", *_verify_args(), env={**env, "HESSRA_PUBLIC_KEY": "nope"})
    assert bad.exit_code == 2
    assert "$HESSRA_PUBLIC_KEY" in bad.stderr


def _attest(token: str, root: KeyPair, nodes: dict[str, KeyPair], *names: str) -> str:
    for name in names:
        token = attest_service_chain_token(
            token, nodes[name], resource="payment_processor", root_keys=root.public_key
        )
    return token


def _resources_toml(nodes: dict[str, KeyPair], *, long_form: bool) -> str:
    entries = "".join(
        f'  {{\n    component = "{n}",\n    public_key = "{k.public_key}"\n  }},\n'
        for n, k in nodes.items()
    )
    if long_form:
        return (
            'version = "0.2.0"\n\n[resources.payment_processor]\nmechanisms = ["service_chain"]\n'
            f"\n[resources.payment_processor.service_chain]\nnodes = [\n{entries}]\n"
        )
    return (
        'version = "0.2.0"\n\n[resources.users]\n\n[resources.payment_processor]\n'
        f'type = "service_chain"\nnodes = [\n{entries}]\n'
    )


@pytest.mark.parametrize("long_form", [False, True], ids=["short-form", "mechanisms-form"])
def test_chain_verify_reads_a_resources_toml(
    invoke: Invoke, tmp_path: Path, root: KeyPair, nodes: dict[str, KeyPair], long_form: bool
) -> None:
    config = tmp_path / "resources.toml"
    config.write_text(_resources_toml(nodes, long_form=long_form))
    chain_nodes = tuple(ServiceNode(n, k.public_key) for n, k in nodes.items())
    token = _token(
        root, resource="payment_processor", operation="charge", service_chain=chain_nodes
    )
    token = _attest(token, root, nodes, "api_gateway", "fraud_detection")
    args = [
        "chain",
        "verify",
        "--token",
        token,
        "--public-key",
        str(root.public_key),
        "--subject",
        SUBJECT,
        "--resource",
        "payment_processor",
        "--operation",
        "charge",
        "--chain-config",
        str(config),
    ]
    ok = invoke(*args, "--component", "payment_processor", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["attested"] == ["api_gateway", "fraud_detection"]
    refused = invoke(*args)  # as the final service: payment_processor has not attested
    assert refused.exit_code == 1
    assert "Missing attestation from: payment_processor" in refused.stderr

    inspected = invoke(
        "token",
        "inspect",
        "--token",
        token,
        "--public-key",
        str(root.public_key),
        "--chain-config",
        str(config),
        "--resource",
        "payment_processor",
    )
    assert inspected.exit_code == 0, inspected.output
    assert "fraud_detection    attested #2" in inspected.output
    assert "payment_processor  not attested" in inspected.output


def test_out_of_order_attestations_are_refused(
    invoke: Invoke, tmp_path: Path, root: KeyPair, nodes: dict[str, KeyPair]
) -> None:
    config = tmp_path / "chain.json"
    config.write_text(
        json.dumps([{"component": n, "public_key": str(k.public_key)} for n, k in nodes.items()])
    )
    chain_nodes = tuple(ServiceNode(n, k.public_key) for n, k in nodes.items())
    token = _token(
        root, resource="payment_processor", operation="charge", service_chain=chain_nodes
    )
    swapped = _attest(token, root, nodes, "fraud_detection", "api_gateway")
    result = invoke(
        "chain",
        "verify",
        "--token",
        swapped,
        "--public-key",
        str(root.public_key),
        "--subject",
        SUBJECT,
        "--resource",
        "payment_processor",
        "--operation",
        "charge",
        "--chain-config",
        str(config),
        "--component",
        "payment_processor",
        "--json",
    )
    assert result.exit_code == 1
    assert json.loads(result.output)["error"] == "attestation_out_of_order"


def test_bad_chain_config_names_the_spot(invoke: Invoke, tmp_path: Path, root: KeyPair) -> None:
    config = tmp_path / "chain.toml"
    config.write_text('[[nodes]]\ncomponent = "a"\npublic_key = "ed25519/abc"\n')
    result = invoke(
        "chain",
        "verify",
        "--token",
        "abc",
        "--public-key",
        str(root.public_key),
        *_verify_args("--chain-config", str(config)),
    )
    assert result.exit_code == 2
    assert "chain.toml:3:14: nodes[0].public_key: ed25519 public key is not valid hex" in (
        result.stderr
    )


def test_mint_with_signers_needs_their_signoff(
    invoke: Invoke, tmp_path: Path, root: KeyPair
) -> None:
    key = tmp_path / "root.pem"
    root.save(key)
    legal = KeyPair.generate().public_key
    token = invoke(
        "token", "mint", "--key-file", str(key), *_verify_args("--signer", f"legal_dept={legal}")
    ).output.strip()
    result = invoke(
        "token", "verify", "--token", token, "--public-key", str(root.public_key), *_verify_args()
    )
    assert result.exit_code == 1
    assert "Required signature from legal_dept not found" in result.stderr
    info = json.loads(invoke("token", "inspect", "--token", token, "--json").output)
    assert info["verified"] is False
    assert info["required_signoffs"] == ["legal_dept"]


def test_unverified_inspect_says_so(invoke: Invoke, root: KeyPair) -> None:
    result = invoke("token", "inspect", "--token", _token(root))
    assert result.exit_code == 0
    assert "NO (signatures not checked)" in result.output
    garbage = invoke("token", "inspect", "--token", "not-a-token")
    assert garbage.exit_code == 1


def test_inspect_shows_who_a_delegated_identity_token_acts_as(
    invoke: Invoke, root: KeyPair
) -> None:
    from hessra_core.tokens import delegate_identity_token, mint_identity_token

    token = mint_identity_token(root, subject="urn:alice", ttl=600).token
    token = delegate_identity_token(token, child="bot", ttl=60, root_keys=root.public_key)
    key = ["--public-key", root.public_key.to_string()]
    table = invoke("token", "inspect", "--token", token, *key)
    assert table.exit_code == 0, table.output
    rows = {
        words[0]: words[1]
        for words in (line.split() for line in table.output.splitlines())
        if len(words) >= 2
    }
    assert rows["subject"] == "urn:alice"
    assert rows["acts_as"] == "urn:alice:bot"
    info = json.loads(invoke("token", "inspect", "--token", token, *key, "--json").output)
    assert info["acts_as"] == "urn:alice:bot"
