"""What the reconcile loop needs from a policy source, whatever kind it is.

A source answers three questions: what revision is there now (``fetch``), does it
hold a given commit yet (``contains``, for webhooks that name the pushed sha), and
where can the files of a fetched revision be read (``checkout``, a context manager
that cleans up after itself).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class CommitMeta:
    """The git commit a revision comes from."""

    sha: str
    author: str
    committed_at: datetime
    message: str


@dataclass(frozen=True)
class Fetched:
    """A revision the source holds now.

    ``key`` is what the loop compares to decide "unchanged": the commit sha for git, a
    fingerprint of the files for a directory. ``revision`` is the name a snapshot gets
    (``main@sha1:<sha>``); ``None`` lets the compiler name it (``dir:<path>``).
    """

    key: str
    revision: str | None
    commit: CommitMeta | None = None


class Source(Protocol):
    kind: str

    @property
    def display(self) -> str:
        """Where policy comes from, safe to log (no credentials)."""
        ...

    @property
    def branch(self) -> str | None: ...

    async def fetch(self) -> Fetched:
        """Reach the source and report its current revision; raises ``SourceError``."""
        ...

    async def contains(self, sha: str) -> bool:
        """Whether the commit ``sha`` has been fetched (always True for a directory)."""
        ...

    def checkout(self, fetched: Fetched) -> AbstractAsyncContextManager[Path]:
        """The policy files of ``fetched`` in a directory that lives for the ``async with``."""
        ...

    async def close(self) -> None: ...


__all__ = ["CommitMeta", "Fetched", "Source"]
