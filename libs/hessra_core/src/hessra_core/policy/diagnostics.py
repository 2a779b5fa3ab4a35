"""Diagnostics: one problem (or warning) in a policy tree, with its location.

Rendered like a compiler message, ``clients.toml:12:5: error: unknown resource
`ordrs` (did you mean `orders`?)``, so editors and CI annotate the exact spot.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding. ``line``/``column`` are 1-based; 0 means the whole file."""

    path: str
    line: int
    column: int
    severity: Severity
    message: str
    hint: str | None = None

    def __post_init__(self) -> None:
        # Accept "error"/"warning" strings from callers, but always store the enum.
        object.__setattr__(self, "severity", Severity(self.severity))

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.severity.value}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, shaped for CI annotations."""
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean `x`?`` hint when one candidate is close enough, else None."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.7)
    return f"did you mean `{matches[0]}`?" if matches else None


__all__ = ["Diagnostic", "Severity", "did_you_mean", "has_errors"]
