"""File-system failures are clear usage errors (exit 2, the path named), never tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Run

# One name longer than any file system allows (255 bytes): creating it fails with
# ENAMETOOLONG, even for root, so the test needs no permission tricks.
TOO_LONG = "k" * 300 + ".pem"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_keys_generate_into_an_unwritable_path(run: Run, tmp_path: Path, as_json: bool) -> None:
    out = tmp_path / TOO_LONG
    result = run("keys", "generate", "--out", str(out), *(["--json"] if as_json else []))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    if as_json:
        payload = json.loads(result.stdout)
        assert payload["ok"] is False
        message = payload["message"]
    else:
        message = result.stderr
    assert str(out) in message
    assert "File name too long" in message
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left behind
