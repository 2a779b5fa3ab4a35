"""The installed ``hessra`` script, run as a real process: outputs and exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from .conftest import Run

SUBJECT = "uri:urn:user:123"
NODES = ("api_gateway", "fraud_detection", "payment_processor")


def generate(run: Run, path: Path, *extra: str) -> str:
    result = run("keys", "generate", "--out", str(path), *extra)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_mint_inspect_verify(run: Run, tmp_path: Path) -> None:
    key_file = tmp_path / "root.pem"
    public = generate(run, key_file)
    assert public.startswith("ed25519/")
    assert len(public) == len("ed25519/") + 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    minted = run(
        "token",
        "mint",
        "--key-file",
        str(key_file),
        "--subject",
        SUBJECT,
        "--resource",
        "orders",
        "--operation",
        "read",
        "--ttl",
        "120",
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    assert "\n" not in token
    assert len(token) > 100

    inspected = run("token", "inspect", "--token", token)
    assert inspected.returncode == 0, inspected.stderr
    assert SUBJECT in inspected.stdout
    assert "orders" in inspected.stdout

    as_json = run("token", "inspect", "--token", "-", "--json", stdin=token + "\n")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["ok"] is True

    ok = run(
        "token",
        "verify",
        "--token",
        token,
        "--public-key",
        public,
        "--subject",
        SUBJECT,
        "--resource",
        "orders",
        "--operation",
        "read",
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("valid:")

    from_env = run(
        "token",
        "verify",
        "--subject",
        SUBJECT,
        "--resource",
        "orders",
        "--operation",
        "read",
        env={"HESSRA_TOKEN": token, "HESSRA_PUBLIC_KEY": public},
    )
    assert from_env.returncode == 0, from_env.stderr

    wrong = run(
        "token",
        "verify",
        "--token",
        "-",
        "--public-key",
        public,
        "--subject",
        "uri:urn:user:999",
        "--resource",
        "orders",
        "--operation",
        "read",
        stdin=token,
    )
    assert wrong.returncode == 1
    assert wrong.stdout == ""
    assert "Error:" in wrong.stderr
    assert "uri:urn:user:999" in wrong.stderr
    assert token not in wrong.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--public-key", "ed25519/nothex"],
            2,
            "--public-key #1: ed25519 public key is not valid hex",
        ),
        (["--public-key", "rsa/00"], 2, "unknown key algorithm 'rsa'"),
        (["--public-key", "garbage"], 2, "public key must look like"),
        ([], 2, "no public key"),
    ],
    ids=["bad-hex", "unknown-algorithm", "garbage", "no-key"],
)
def test_bad_keys_are_usage_errors(run: Run, args: list[str], code: int, message: str) -> None:
    result = run(
        "token",
        "verify",
        "--token",
        "abc",
        *args,
        "--subject",
        SUBJECT,
        "--resource",
        "orders",
        "--operation",
        "read",
    )
    assert result.returncode == code
    assert message in result.stderr


def test_garbage_token_is_invalid_not_usage(run: Run, tmp_path: Path) -> None:
    public = generate(run, tmp_path / "k.pem")
    result = run(
        "token",
        "verify",
        "--token",
        "definitely-not-a-biscuit",
        "--public-key",
        public,
        "--subject",
        SUBJECT,
        "--resource",
        "orders",
        "--operation",
        "read",
    )
    assert result.returncode == 1
    assert "Error:" in result.stderr


def test_missing_option_is_exit_2(run: Run) -> None:
    result = run("token", "verify", "--token", "abc", "--public-key", "ed25519/00")
    assert result.returncode == 2
    assert "--subject" in result.stderr


def test_keys_generate_refuses_to_overwrite(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    first = generate(run, path)
    again = run("keys", "generate", "--out", str(path))
    assert again.returncode == 2
    assert "exists; pass --force" in again.stderr
    assert run("keys", "public", "--key-file", str(path)).stdout.strip() == first
    second = generate(run, path, "--force", "--algorithm", "secp256r1")
    assert second.startswith("secp256r1/")
    assert second != first


def test_three_node_chain(run: Run, tmp_path: Path) -> None:
    root_public = generate(run, tmp_path / "root.pem")
    node_keys = {n: generate(run, tmp_path / f"{n}.pem") for n in NODES}
    chain = tmp_path / "chain.toml"
    chain.write_text(
        "\n".join(
            f'[[nodes]]\ncomponent = "{n}"\npublic_key = "{k}"\n' for n, k in node_keys.items()
        )
    )
    minted = run(
        "token",
        "mint",
        "--key-file",
        str(tmp_path / "root.pem"),
        "--subject",
        SUBJECT,
        "--resource",
        "payment_processor",
        "--operation",
        "charge",
        "--chain-config",
        str(chain),
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()

    def verify(tok: str, component: str | None) -> tuple[int, str, str]:
        extra = ["--component", component] if component else []
        r = run(
            "chain",
            "verify",
            "--token",
            "-",
            "--public-key",
            root_public,
            "--subject",
            SUBJECT,
            "--resource",
            "payment_processor",
            "--operation",
            "charge",
            "--chain-config",
            str(chain),
            *extra,
            stdin=tok,
        )
        return r.returncode, r.stdout, r.stderr

    def attest(tok: str, node: str) -> str:
        r = run(
            "chain",
            "attest",
            "--token",
            tok,
            "--key-file",
            str(tmp_path / f"{node}.pem"),
            "--resource",
            "payment_processor",
            "--public-key",
            root_public,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    plain = run(
        "token",
        "verify",
        "--token",
        token,
        "--public-key",
        root_public,
        "--subject",
        SUBJECT,
        "--resource",
        "payment_processor",
        "--operation",
        "charge",
    )
    assert plain.returncode == 0, plain.stderr
    assert "its attestations were not checked: use `hessra chain verify`" in plain.stderr

    for node in NODES:
        code, out, err = verify(token, node)
        assert code == 0, err
        token = attest(token, node)
    code, out, err = verify(token, None)
    assert code == 0, err
    assert "attested by api_gateway, fraud_detection, payment_processor" in out

    # A token that skipped fraud_detection, checked by the processor.
    skipped = attest(minted.stdout.strip(), "api_gateway")
    code, out, err = verify(skipped, "payment_processor")
    assert code == 1
    assert "Error: Missing attestation from: fraud_detection" in err
    assert "hint: Ensure services attest in the correct order" in err
