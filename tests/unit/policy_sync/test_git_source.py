"""The git source's credential handling and its fetch/export against a real repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core.errors import SourceError
from hessra_core.testing import GitRemote
from hessra_policy_sync.config import GitSourceConfig
from hessra_policy_sync.git_source import GitSource


def test_ssh_key_goes_to_git_ssh_command(tmp_path: Path) -> None:
    key = tmp_path / "id ed25519"
    key.write_text("PRIVATE")
    source = GitSource(GitSourceConfig(url="ssh://git@host/r.git", ssh_key_file=key), tmp_path)
    env = source._env()
    assert env["GIT_SSH_COMMAND"].startswith("ssh -i ")
    assert f"'{key}'" in env["GIT_SSH_COMMAND"]  # quoted: the path has a space
    assert "PRIVATE" not in str(env)


def test_token_goes_to_an_extra_header_never_the_url(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_supersecret\n")
    source = GitSource(GitSourceConfig(url="https://host/r.git", token_file=token), tmp_path)
    env = source._env()
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert source.display == "https://host/r.git"


async def test_errors_are_scrubbed_of_credentials(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("ghp_supersecret")
    url = "https://someone:pa55word@127.0.0.1:9/repo.git"
    source = GitSource(
        GitSourceConfig(url=url, token_file=token, fetch_timeout=10), tmp_path / "work"
    )
    with pytest.raises(SourceError) as info:
        await source.fetch()
    message = str(info.value)
    assert "https://127.0.0.1:9/repo.git" in message
    for secret in ("pa55word", "someone", "ghp_supersecret"):
        assert secret not in message
    await source.close()


async def test_fetch_export_and_contains(tmp_path: Path) -> None:
    remote = GitRemote(tmp_path / "repo")
    sha = remote.commit_and_push("one", {"p/clients.toml": "a", "p/resources.toml": "b", "x": "y"})
    later = remote.commit("not pushed yet", {"p/clients.toml": "changed"})
    source = GitSource(GitSourceConfig(url=remote.url, subpath="p"), tmp_path / "work")
    fetched = await source.fetch()
    assert (fetched.key, fetched.revision) == (sha, f"main@sha1:{sha}")
    assert fetched.commit is not None
    assert fetched.commit.author == "Policy Author <author@example.com>"
    assert await source.contains(sha)
    assert not await source.contains(later)
    assert not await source.contains("not-a-sha")
    async with source.checkout(fetched) as tree:
        assert sorted(p.name for p in tree.iterdir()) == ["clients.toml", "resources.toml"]
        assert (tree / "clients.toml").read_text() == "a"
    assert not tree.exists()  # cleaned up after use
    await source.close()


@pytest.mark.parametrize(
    ("subpath", "stored"),
    [
        ("./p/q", "p/q"),
        ("p/./q", "p/q"),
        ("p//q/", "p/q"),
        ("./", ""),
        ("/p/q/.", "p/q"),
        ("./.p", ".p"),
    ],
    ids=["dot-prefix", "dot-inside", "double-slash", "just-dot", "slash-and-dot", "hidden-dir"],
)
async def test_configured_subpath_spellings_reach_the_same_directory(
    tmp_path: Path, subpath: str, stored: str
) -> None:
    # git reads `<sha>:./p` relative to a work tree (a bare mirror has none) and finds nothing,
    # so an unnormalised spelling made every revision fail with "clients.toml not found".
    from hessra_policy_sync.config import load_config

    remote = GitRemote(tmp_path / "repo")
    files = {"p/q/clients.toml": "a", ".p/clients.toml": "a", "clients.toml": "root"}
    remote.commit_and_push("one", files)
    config_file = tmp_path / "policy-sync.toml"
    config_file.write_text(
        '[server]\nstate_dir = "state"\nplaintext_grpc = true\n'
        f'[source]\nurl = "{remote.url}"\nsubpath = "{subpath}"\n'
    )
    config = load_config(config_file, env={})
    assert isinstance(config.source, GitSourceConfig)
    assert config.source.subpath == stored
    source = GitSource(config.source, tmp_path / "work")
    fetched = await source.fetch()
    async with source.checkout(fetched) as tree:
        expected = "a" if stored else "root"
        assert (tree / "clients.toml").read_text() == expected
    await source.close()
