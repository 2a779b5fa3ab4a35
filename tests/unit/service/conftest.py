"""Real policy directories for the shared service plumbing's tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hessra_core import pki
from hessra_core.testing import client_entry, policy_files

WritePolicy = Callable[..., Path]


@pytest.fixture(scope="session")
def ca_pems() -> tuple[bytes, bytes]:
    return pki.create_ca("Service Test CA A").cert_pem, pki.create_ca("Service Test CA B").cert_pem


@pytest.fixture
def write_policy(tmp_path: Path, ca_pems: tuple[bytes, bytes]) -> WritePolicy:
    """Write a valid policy into ``tmp_path/policy``; each call can change what it says."""
    directory = tmp_path / "policy"
    directory.mkdir()
    generation = [0]

    def write(*, resources: tuple[str, ...] = ("orders",), cas: int = 1) -> Path:
        files = policy_files(
            ca_pems[:cas],
            [client_entry("uri:urn:test:app", {name: ["read"] for name in resources})],
            {name: {} for name in resources},
        )
        generation[0] += 1
        for name, text in files.items():
            path = directory / name
            path.write_text(text)
            # Distinct mtimes even on coarse-grained file systems: sources poll file stamps.
            os.utime(path, ns=(generation[0] * 10**9, generation[0] * 10**9))
        return directory

    return write
