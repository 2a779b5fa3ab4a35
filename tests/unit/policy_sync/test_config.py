"""policy-sync configuration: file + environment + flags, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core.errors import ConfigError
from hessra_policy_sync.config import (
    DirSourceConfig,
    GitSourceConfig,
    load_config,
    scrub_url,
)


@pytest.fixture
def tls(tmp_path: Path) -> Path:
    for name in ("server.crt", "server.key", "ca.crt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "gh.secret").write_text("s3cr3t-value\n")
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy-sync.toml"
    path.write_text(text)
    return path


GOOD = """
[server]
cert_file = "server.crt"
key_file = "server.key"
client_ca_file = "ca.crt"
state_dir = "state"
resync_allowed = ["spiffe://ops/admin"]

[source]
url = "https://git.example.com/acme/policy.git"
subpath = "/policy/prod/"
poll_interval = 15

[webhook]
github_secret_file = "gh.secret"
"""


def test_good_file_with_relative_paths(tls: Path) -> None:
    config = load_config(write(tls, GOOD), env={})
    assert config.server.state_dir == tls / "state"
    assert config.server.cert_file == tls / "server.crt"
    assert config.server.resync_allowed == ("spiffe://ops/admin",)
    assert isinstance(config.source, GitSourceConfig)
    assert config.source.subpath == "policy/prod"
    assert config.source.poll_interval == 15.0
    assert config.webhook.secrets.github == b"s3cr3t-value"
    assert "s3cr3t" not in repr(config)


def test_environment_overrides_file_and_flags_override_environment(tls: Path) -> None:
    env = {
        "HESSRA_POLICY_SYNC_SOURCE_BRANCH": "release",
        "HESSRA_POLICY_SYNC_SOURCE_POLL_INTERVAL": "5",
        "HESSRA_POLICY_SYNC_SERVER_RESYNC_ALLOWED": "a, b",
        "HESSRA_POLICY_SYNC_WEBHOOK_INSECURE": "true",
    }
    config = load_config(
        write(tls, GOOD), env=env, overrides={"source.poll_interval": 2.5, "source.url": None}
    )
    assert isinstance(config.source, GitSourceConfig)
    assert config.source.branch == "release"
    assert config.source.poll_interval == 2.5
    assert config.source.url == "https://git.example.com/acme/policy.git"
    assert config.server.resync_allowed == ("a", "b")
    assert config.webhook.insecure is True


def test_every_problem_is_reported_at_once(tls: Path) -> None:
    text = """
[server]
grpc_listen = "nowhere"
state_dir = "state"
colour = "blue"

[source]
url = "https://bob:hunter2@git.example.com/policy.git"
poll_interval = -1
poll_jitter = 3
subpath = "../outside"
token_file = "missing.token"

[webhook]
max_body_bytes = "big"
gitlab_secret_file = "absent.secret"

[extras]
"""
    env = {"HESSRA_POLICY_SYNC_SOURCE_BRANCHH": "typo"}
    with pytest.raises(ConfigError) as info:
        load_config(write(tls, text), env=env)
    problems = "\n".join(info.value.problems)
    expected = [
        "server.grpc_listen: expected host:port",
        "unknown key `colour`",
        "server.cert_file: required for mTLS",
        "source.url: must not contain credentials (https://git.example.com/policy.git)",
        "source.poll_interval: must be greater than 0",
        "source.poll_jitter: must be a fraction",
        "source.subpath: must be a relative path",
        "source.token_file:",
        "max_body_bytes: expected an integer",
        "webhook.gitlab_secret_file: cannot read",
        "unknown section [extras]",
        "HESSRA_POLICY_SYNC_SOURCE_BRANCHH: unknown setting",
    ]
    for fragment in expected:
        assert fragment in problems
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[server]\nstate_dir='s'\nplaintext_grpc=true\n[source]\n", "source.url: required"),
        (
            "[server]\nplaintext_grpc=true\n[source]\nurl='file:///r'\n",
            "server.state_dir: required",
        ),
        (
            "[server]\nstate_dir='s'\nplaintext_grpc=true\n[source]\nkind='svn'\n",
            "source.kind: expected",
        ),
        (
            "[server]\nstate_dir='s'\nplaintext_grpc=true\n[source]\nkind='dir'\npath='nope'\n",
            "is not a directory",
        ),
        (
            "[server]\nstate_dir='s'\nplaintext_grpc=true\n[source]\nkind='dir'\npath='.'\n"
            "url='file:///x'\n",
            'source.url: only applies to kind = "git"',
        ),
        ("[server\n", "policy-sync.toml"),
        (
            "[server]\nstate_dir='s'\nplaintext_grpc='maybe'\n[source]\nurl='file:///r'\n",
            "expected true or false",
        ),
    ],
    ids=["no-url", "no-state-dir", "bad-kind", "missing-dir", "git-key-on-dir", "toml", "bool"],
)
def test_single_problems(tls: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="policy-sync config") as info:
        load_config(write(tls, text), env={})
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_dir_source_and_plaintext(tls: Path) -> None:
    (tls / "policy").mkdir()
    text = "[server]\nstate_dir='s'\nplaintext_grpc=true\n[source]\nkind='dir'\npath='policy'\n"
    config = load_config(write(tls, text), env={})
    assert isinstance(config.source, DirSourceConfig)
    assert config.source.path == tls / "policy"
    assert config.server.plaintext_grpc is True


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@host/repo.git", "https://host/repo.git"),
        ("https://token@host:8443/r", "https://host:8443/r"),
        ("ssh://git@host/r.git", "ssh://host/r.git"),
        ("git@host:org/r.git", "git@host:org/r.git"),
        ("file:///srv/r.git", "file:///srv/r.git"),
    ],
    ids=["user-password", "token-only", "ssh-user", "scp-form", "file"],
)
def test_scrub_url(url: str, shown: str) -> None:
    assert scrub_url(url) == shown
