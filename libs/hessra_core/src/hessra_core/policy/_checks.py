"""Shared plumbing for the validators: a per-file reporter and typed accessors.

Validators report against key paths (``("clients", 2, "identifier", "value")``); the
reporter turns them into line:column only when the diagnostics are read, so a valid
policy never pays for the position scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hessra_core.policy.diagnostics import Diagnostic, Severity, did_you_mean
from hessra_core.policy.loader import KeyPath, TomlDocument

NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
NAME_HINT = "names are 1-128 characters from letters, digits and _ . : -"


@dataclass(frozen=True)
class _Finding:
    where: KeyPath
    key: bool
    severity: Severity
    message: str
    hint: str | None


class Reporter:
    """Collects findings for one file."""

    def __init__(self, path: str, document: TomlDocument | None = None) -> None:
        self.path = path
        self.document = document
        self._findings: list[_Finding] = []
        self._fixed: list[Diagnostic] = []
        self._errors = 0

    def error(
        self, where: KeyPath, message: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        self._findings.append(_Finding(where, key, Severity.ERROR, message, hint))
        self._errors += 1

    def warning(
        self, where: KeyPath, message: str, hint: str | None = None, *, key: bool = False
    ) -> None:
        self._findings.append(_Finding(where, key, Severity.WARNING, message, hint))

    def file_level(self, severity: Severity, message: str, hint: str | None = None) -> None:
        self._fixed.append(Diagnostic(self.path, 0, 0, severity, message, hint))
        self._errors += severity is Severity.ERROR

    def add(self, diagnostic: Diagnostic) -> None:
        self._fixed.append(diagnostic)
        self._errors += diagnostic.is_error

    def where(self, path: KeyPath, *, key: bool = False) -> str:
        """``clients.toml:12:5`` for cross-references inside messages."""
        if self.document is None:
            return self.path
        line, column = self.document.position(path, key=key)
        return f"{self.path}:{line}:{column}"

    @property
    def error_count(self) -> int:
        return self._errors

    @property
    def has_errors(self) -> bool:
        return self._errors > 0

    def diagnostics(self) -> list[Diagnostic]:
        out = list(self._fixed)
        for f in self._findings:
            line, column = (0, 0)
            if self.document is not None:
                line, column = self.document.position(f.where, key=f.key)
            out.append(Diagnostic(self.path, line, column, f.severity, f.message, f.hint))
        return out


def describe(value: object) -> str:
    """A TOML-ish type name for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def check_keys(r: Reporter, table: dict[str, Any], where: KeyPath, allowed: Iterable[str]) -> None:
    """Report every key of ``table`` that is not in ``allowed``."""
    allowed = tuple(allowed)
    for name in table:
        if name not in allowed:
            hint = did_you_mean(name, allowed) or "allowed here: " + ", ".join(
                f"`{a}`" for a in allowed
            )
            r.error((*where, name), f"unknown key `{name}`", hint, key=True)


def get_str(
    r: Reporter, table: dict[str, Any], where: KeyPath, name: str, *, what: str
) -> str | None:
    """The string at ``table[name]``; reports a missing or mistyped value and returns None."""
    if name not in table:
        r.error(where, f"{what} has no `{name}`")
        return None
    value = table[name]
    if not isinstance(value, str):
        r.error((*where, name), f"`{name}` must be a string, not {describe(value)}")
        return None
    return value


def get_int(
    r: Reporter, table: dict[str, Any], where: KeyPath, name: str, low: int, high: int, hint: str
) -> int | None:
    """An optional integer within [low, high]; reports and returns None otherwise."""
    value = table.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        r.error(
            (*where, name), f"`{name}` must be a whole number of seconds, not {describe(value)}"
        )
        return None
    if not low <= value <= high:
        r.error(
            (*where, name),
            f"`{name}` must be between {low} and {high} seconds (got {value})",
            hint,
        )
        return None
    return value


def get_table_list(
    r: Reporter, table: dict[str, Any], where: KeyPath, name: str, *, what: str
) -> list[tuple[int, dict[str, Any]]]:
    """``(index, table)`` for each table in the array ``table[name]``; reports the rest."""
    value = table.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        r.error((*where, name), f"`{name}` must be an array of {what}, not {describe(value)}")
        return []
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            out.append((i, item))
        else:
            r.error((*where, name, i), f"each `{name}` entry must be a table, not {describe(item)}")
    return out


def check_name(r: Reporter, where: KeyPath, value: str, what: str, *, key: bool = False) -> bool:
    if NAME_RE.match(value):
        return True
    r.error(where, f"invalid {what} `{value}`", NAME_HINT, key=key)
    return False


__all__ = [
    "NAME_HINT",
    "NAME_RE",
    "Reporter",
    "check_keys",
    "check_name",
    "describe",
    "get_int",
    "get_str",
    "get_table_list",
]
