"""Run the installed ``hessra`` console script as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HESSRA = Path(sys.prefix) / "bin" / "hessra"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def hessra_bin() -> Path:
    if not HESSRA.exists():
        pytest.fail(f"{HESSRA} is not installed: run `make setup`")
    return HESSRA


@pytest.fixture
def run(hessra_bin: Path, tmp_path: Path) -> Run:
    def _run(
        *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")}
        clean.update(env or {})
        return subprocess.run(
            [str(hessra_bin), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=clean,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )

    return _run
