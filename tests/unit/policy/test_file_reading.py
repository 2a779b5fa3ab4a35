"""How the validator reads policy files that are not plain, small, UTF-8 text files."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from hessra_core.policy import validate
from hessra_core.policy.validate import read_policy_dir

RESOURCES = 'version = "0.2.0"\n[resources.users]\n'


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _char_device(path: Path) -> None:
    # A link to a device that never ends (/dev/zero would fill memory, so use one with no
    # data: what matters is that it is refused before anything is read).
    path.symlink_to("/dev/null")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_fifo, "is not a regular file (it is a FIFO)"),
        (_directory, "is not a regular file (it is a directory)"),
        (_char_device, "is not a regular file (it is a character device)"),
    ],
    ids=["fifo", "directory", "device"],
)
def test_a_clients_toml_that_is_not_a_regular_file_is_refused_promptly(
    tmp_path: Path, make: Callable[[Path], None], fragment: str
) -> None:
    (tmp_path / "resources.toml").write_text(RESOURCES)
    clients = tmp_path / "clients.toml"
    make(clients)
    done = threading.Event()
    result: list[object] = []

    def run() -> None:
        result.append(read_policy_dir(tmp_path))
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    finished = done.wait(10)
    if not finished and clients.is_fifo():
        # Release the blocked reader so the thread ends, then report the hang.
        os.close(os.open(clients, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
    assert finished, "reading a FIFO named clients.toml blocked the compiler"
    (outcome,) = result
    assert isinstance(outcome, validate.ReadResult)
    assert outcome.policy is None
    messages = [str(d) for d in outcome.diagnostics if d.is_error]
    assert any(m.startswith("clients.toml:0:0: error: ") and fragment in m for m in messages), (
        messages
    )


def test_a_file_growing_past_the_bound_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "resources.toml").write_text(RESOURCES)
    (tmp_path / "clients.toml").write_text('version = "0.2.0"\n' + "# padding\n" * 100)
    monkeypatch.setattr(validate, "MAX_FILE_BYTES", 64)
    outcome = read_policy_dir(tmp_path)
    assert outcome.policy is None
    assert [str(d) for d in outcome.diagnostics if d.is_error] == [
        "clients.toml:0:0: error: clients.toml is larger than 64 bytes"
    ]


def test_a_file_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    (tmp_path / "resources.toml").write_text(RESOURCES)
    (tmp_path / "clients.toml").write_bytes(b'version = "0.2.0"\n# caf\xe9\n')
    outcome = read_policy_dir(tmp_path)
    assert [str(d) for d in outcome.diagnostics if d.is_error] == [
        "clients.toml:2:6: error: invalid TOML: file is not UTF-8"
    ]


def test_a_git_lfs_pointer_is_named_as_such(tmp_path: Path) -> None:
    # A .gitattributes rule sending *.toml to LFS leaves a pointer where the policy should be.
    (tmp_path / "resources.toml").write_text(RESOURCES)
    (tmp_path / "clients.toml").write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345\n"
    )
    outcome = read_policy_dir(tmp_path)
    assert outcome.policy is None
    (error,) = [d for d in outcome.diagnostics if d.is_error]
    assert (error.path, error.line, error.column) == ("clients.toml", 1, 1)
    assert error.message == "clients.toml is a Git LFS pointer, not a policy file"
    assert error.hint is not None
    assert ".gitattributes" in error.hint
