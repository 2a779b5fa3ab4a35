"""The demo's tools: run the ``hessra`` CLI visibly, deliver signed webhooks, read /status.

``Walkthrough`` prints every command it runs (``$ hessra ...``) and its output, shortened
where a token would fill the screen, and raises :class:`StepFailed` when a command does
not end the way the step expects. The six steps themselves are in ``steps.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from stack import Stack

T = TypeVar("T")


class StepFailed(Exception):
    """A step did not show what it should; the message says what happened instead."""


def _short(line: str, width: int = 72) -> str:
    # Tokens and keys are one long word: show the start and the length, not 1 KB of base64.
    if len(line) > width and " " not in line.strip():
        return f"{line[:48]}... ({len(line)} chars)"
    return line


class Walkthrough:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.hessra = Path(sys.executable).with_name("hessra")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HESSRA_")}
        self.env.update(stack.cli_env())

    # --- output ---------------------------------------------------------------------

    def rel(self, path: Path | str) -> str:
        try:
            return str(Path(path).relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    def say(self, text: str) -> None:
        print(f"  {text}", flush=True)

    # --- the CLI --------------------------------------------------------------------

    def cli(
        self,
        *args: str | Path,
        stdin: str | None = None,
        expect: int = 0,
        show: Callable[[str], list[str]] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``hessra ARGS``; fail the step unless it exits ``expect``."""
        shown = " ".join(self.rel(a) if isinstance(a, Path) else a for a in args)
        print(f"  $ hessra {shown}{'  < token' if stdin is not None else ''}", flush=True)
        done = subprocess.run(
            [str(self.hessra), *(str(a) for a in args)],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        lines = show(done.stdout) if show and done.returncode == 0 else done.stdout.splitlines()
        for line in [*lines, *done.stderr.splitlines()]:
            print(f"      {_short(line)}", flush=True)
        if done.returncode != expect:
            raise StepFailed(
                f"`hessra {shown}` exited {done.returncode}, expected {expect}: "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        return done

    # --- policy-sync over HTTP ------------------------------------------------------

    def status(self, org: str = "ours") -> dict[str, Any]:
        url = self.stack.http(f"{org}_sync_http", "/status")
        with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 (loopback http)
            return dict(json.loads(reply.read()))

    def push_webhook(
        self, org: str, after: str, *, secret: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST a GitHub push event for ``after``, signed as GitHub does (HMAC-SHA256)."""
        body = json.dumps(
            {
                "ref": "refs/heads/main",
                "after": after,
                "repository": {"full_name": f"demo/{org}-policy"},
                "pusher": {"name": "policy-author"},
            }
        ).encode()
        key = self.stack.webhook_secret(org) if secret is None else secret
        signature = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(  # noqa: S310 (loopback http)
            self.stack.http(f"{org}_sync_http", "/webhook/github"),
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
                return reply.status, dict(json.loads(reply.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            try:
                detail = dict(json.loads(exc.read() or b"{}"))
            except ValueError:
                detail = {}
            return exc.code, detail


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> tuple[T, float]:
    """Poll ``check`` every 20 ms; return its first truthy value and the seconds it took."""
    start = time.monotonic()
    while True:
        value = check()
        if value:
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise StepFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


def json_fields(*names: str) -> Callable[[str], list[str]]:
    """A ``show`` for ``--json`` output: only the named fields, one per line."""

    def show(stdout: str) -> list[str]:
        data = json.loads(stdout)
        return [f"{name}: {data.get(name)}" for name in names]

    return show


def revision_of(sha: str) -> str:
    return f"main@sha1:{sha}"


__all__: Sequence[str] = [
    "StepFailed",
    "Walkthrough",
    "json_fields",
    "revision_of",
    "wait_until",
]
