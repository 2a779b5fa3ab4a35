"""Read a policy TOML file and remember where every key and value sits.

``tomllib`` decides what the document means (it is the reference parser), but it
gives no positions. Two small additions close the gap:

* TOML 1.1 inline tables spanning several lines (with an optional trailing comma),
  as the product documentation writes service-chain nodes and signers, are folded
  onto one logical line before ``tomllib`` sees them. Folding replaces characters
  one for one (newline, comment or trailing comma -> space), so every offset in
  the folded text is the same offset in the file, and syntax errors map back to
  the user's line and column exactly.
* A locator walks the (now known-valid) text once and records the offset of each
  key and value by its path, e.g. ``("clients", 3, "resources", 0, "name")``. It
  runs lazily, only when a diagnostic needs a position, so valid policies pay
  nothing for it.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from hessra_core.policy.diagnostics import Diagnostic, Severity

KeyPath = tuple[str | int, ...]

_WS = re.compile(r"[ \t]*")
_WS_NL = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_KEY_PART = re.compile(r"""[ \t]*([A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')[ \t]*(\.)?""")
_EQUALS = re.compile(r"[ \t]*=[ \t]*")
_TABLE_SEP = re.compile(r"[ \t]*,?[ \t]*")
_ARRAY_SEP = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*,?(?:[ \t\r\n]|#[^\n]*)*")
_ML_BASIC = re.compile(r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*"{3,5}')
_BASIC = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_ML_LITERAL = re.compile(r"'''(?:[^']|'(?!''))*'{3,5}")
_LITERAL = re.compile(r"'[^'\n]*'")
_SCALAR = re.compile(r"[^,\]}#\r\n]+")
_ERROR_AT = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)
_DECLARED_TWICE = re.compile(r"^Cannot declare \((.*)\) twice$")
# Tokens the folder has to recognise; everything else passes through untouched.
_FOLD_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*(?:"{3,5}|$)'
    r"|'''(?:[^']|'(?!''))*(?:'{3,5}|$)"
    r'|"(?:[^"\\\n]|\\.)*"?'
    r"|'[^'\n]*'?"
    r"|#[^\n]*"
    r"|[{}\[\],\n]"
)


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def fold_multiline_inline_tables(text: str) -> str:
    """Rewrite TOML 1.1 multi-line inline tables as TOML 1.0, offset for offset."""
    if "{" not in text:
        return text
    chars = list(text)
    stack: list[str] = []
    last_significant = ""  # the previous tok inside the innermost bracket
    last_comma = -1
    prev_end = 0
    for match in _FOLD_TOKEN.finditer(text):
        tok, start = match.group(), match.start()
        if text[prev_end:start].strip():
            last_significant = "value"  # a bare key, number, boolean or date
        prev_end = match.end()
        inside_table = "{" in stack
        if tok in ("{", "["):
            stack.append(tok)
            last_significant = tok
        elif tok in ("}", "]"):
            if not stack or stack[-1] != {"}": "{", "]": "["}[tok]:
                return text  # unbalanced: let tomllib report it where it is
            if tok == "}" and last_significant == "," and last_comma >= 0:
                chars[last_comma] = " "
            stack.pop()
            last_significant = "value"
        elif tok == ",":
            # A trailing comma is only dropped after a value, never in `{,}`.
            last_comma = start if last_significant not in ("{", ",") else -1
            last_significant = ","
        elif tok == "\n" or tok.startswith("#"):
            if inside_table:
                for i in range(start, match.end()):
                    chars[i] = " "
                if start > 0 and chars[start - 1] == "\r":
                    chars[start - 1] = " "
        else:
            quote = tok[:3] if tok[:3] in ('"""', "'''") else tok[:1]
            if len(tok) < 2 * len(quote) or not tok.endswith(quote):
                return text  # unterminated string: tomllib reports it best on the original
            last_significant = "value"
    return "".join(chars)


@dataclass
class TomlDocument:
    """A parsed policy file: its data, and positions on demand."""

    path: str
    text: str
    data: dict[str, Any]
    _folded: str = field(repr=False, default="")
    _keys: dict[KeyPath, int] | None = field(default=None, repr=False)
    _values: dict[KeyPath, int] | None = field(default=None, repr=False)
    _starts: list[int] | None = field(default=None, repr=False)

    def _locate(self) -> None:
        if self._keys is not None:
            return
        locator = _Locator(self._folded or self.text)
        # Positions are best effort: a diagnostic without one still points at an ancestor.
        with contextlib.suppress(Exception):
            locator.document()
        self._keys, self._values = locator.keys, locator.values
        self._starts = _line_starts(self.text)

    def _line_col(self, offset: int) -> tuple[int, int]:
        assert self._starts is not None
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def position(self, path: KeyPath, *, key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at ``path`` (or of its key); nearest ancestor
        when the exact path has no position (e.g. a key that is missing)."""
        self._locate()
        assert self._keys is not None
        assert self._values is not None
        first, second = (self._keys, self._values) if key else (self._values, self._keys)
        probe = path
        while probe:
            for table in (first, second):
                if probe in table:
                    return self._line_col(table[probe])
            probe = probe[:-1]
        return 1, 1


def parse_toml(path: str, text: str) -> TomlDocument | Diagnostic:
    """Parse ``text`` (the contents of ``path``); a syntax error comes back as a Diagnostic.

    Plain TOML 1.0 is parsed as it is; only when that fails is the text folded (TOML 1.1
    multi-line inline tables) and parsed again, so large valid files pay for one parse.
    """
    try:
        return TomlDocument(path, text, tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        first_error = str(exc)
    folded = fold_multiline_inline_tables(text)
    if folded == text:
        return _syntax_error(path, text, text, first_error)
    try:
        data = tomllib.loads(folded)
    except tomllib.TOMLDecodeError as exc:
        return _syntax_error(path, text, folded, str(exc))
    return TomlDocument(path, text, data, _folded=folded)


def _syntax_error(path: str, text: str, folded: str, raw: str) -> Diagnostic:
    match = _ERROR_AT.match(raw)
    message = match.group("msg") if match else raw
    if "overwrite" in message or "twice" in message:
        # tomllib reports these at the end of the document; find the repeated key instead.
        locator = _Locator(folded)
        with contextlib.suppress(Exception):
            locator.document()
        if locator.duplicate is not None:
            path_, offset = locator.duplicate
            starts = _line_starts(text)
            line = bisect.bisect_right(starts, offset)
            dotted = ".".join(str(p) for p in path_ if isinstance(p, str))
            return Diagnostic(
                path,
                line,
                offset - starts[line - 1] + 1,
                Severity.ERROR,
                f"invalid TOML: `{dotted}` is defined twice",
                "keep one definition",
            )
    if match and match.group("line"):
        fstarts = _line_starts(folded)
        line_no = int(match.group("line"))
        offset = fstarts[min(line_no, len(fstarts)) - 1] + int(match.group("col")) - 1
    else:
        offset = len(text)
    starts = _line_starts(text)
    offset = max(0, min(offset, len(text)))
    line = bisect.bisect_right(starts, offset)
    column = offset - starts[line - 1] + 1
    declared = _DECLARED_TWICE.match(message)
    if declared:
        # tomllib points past the repeated [table] header and names it as a Python tuple.
        dotted = ".".join(re.findall(r"'((?:[^'\\]|\\.)*)'", declared.group(1)))
        message = f"table [{dotted}] is declared twice"
        line_text = text[starts[line - 1] :]
        column = len(line_text) - len(line_text.lstrip(" \t")) + 1
    message = message[:1].lower() + message[1:]
    return Diagnostic(path, line, column, Severity.ERROR, f"invalid TOML: {message}")


class _Locator:
    """Walks valid TOML text recording offsets of keys and values by path.

    Each step is one regular-expression match (a key part with the dot after it, ``=``
    with its spaces, a separator, a scalar), because this walk covers the whole file.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.keys: dict[KeyPath, int] = {}
        self.values: dict[KeyPath, int] = {}
        self._aot_counts: dict[KeyPath, int] = {}
        self.duplicate: tuple[KeyPath, int] | None = None

    def document(self) -> None:
        text = self.text
        current: KeyPath = ()
        while True:
            self.pos = _WS_NL.match(text, self.pos).end()  # type: ignore[union-attr]
            if self.pos >= len(text):
                return
            start = self.pos
            if text.startswith("[[", start):
                self.pos += 2
                current = self._header(start, array=True)
                self.pos += 2
            elif text[start] == "[":
                self.pos += 1
                current = self._header(start, array=False)
                self.pos += 1
            else:
                self._keyval(current)

    def _header(self, start: int, *, array: bool) -> KeyPath:
        parts = self._key()
        path: KeyPath = ()
        for i, (part, _offset) in enumerate(parts):
            path = (*path, part)
            last = i == len(parts) - 1
            if last and array:
                index = self._aot_counts.get(path, 0)
                self._aot_counts[path] = index + 1
                self.keys.setdefault(path, start)
                path = (*path, index)
            elif path in self._aot_counts:
                path = (*path, self._aot_counts[path] - 1)
        self.keys.setdefault(path, start)
        self.values.setdefault(path, start)
        return path

    def _key(self) -> list[tuple[str, int]]:
        """A dotted key and the spaces around it; each part with its offset."""
        parts: list[tuple[str, int]] = []
        text = self.text
        while True:
            m = _KEY_PART.match(text, self.pos)
            if m is None:
                raise ValueError("key expected")
            raw = m.group(1)
            if raw[0] == "'":
                part = raw[1:-1]
            elif raw[0] == '"':
                part = tomllib.loads(f"k = {raw}")["k"] if "\\" in raw else raw[1:-1]
            else:
                part = raw
            parts.append((part, m.start(1)))
            self.pos = m.end()
            if m.group(2) is None:
                return parts

    def _keyval(self, table: KeyPath) -> None:
        path = table
        offset = self.pos
        for part, offset in self._key():
            path = (*path, part)
            self.keys.setdefault(path, offset)
        if path in self.values and self.duplicate is None:
            self.duplicate = (path, offset)
        self.pos = _EQUALS.match(self.text, self.pos).end()  # type: ignore[union-attr]
        self._value(path)

    def _value(self, path: KeyPath) -> None:
        text, start = self.text, self.pos
        self.values[path] = start
        char = text[start]
        if char == "{":
            self.pos = _WS.match(text, start + 1).end()  # type: ignore[union-attr]
            while text[self.pos] != "}":
                self._keyval(path)
                self.pos = _TABLE_SEP.match(text, self.pos).end()  # type: ignore[union-attr]
            self.pos += 1
        elif char == "[":
            self.pos = _WS_NL.match(text, start + 1).end()  # type: ignore[union-attr]
            index = 0
            while text[self.pos] != "]":
                self._value((*path, index))
                index += 1
                self.pos = _ARRAY_SEP.match(text, self.pos).end()  # type: ignore[union-attr]
            self.pos += 1
        else:
            if char == '"':
                pattern = _ML_BASIC if text.startswith('"""', start) else _BASIC
            elif char == "'":
                pattern = _ML_LITERAL if text.startswith("'''", start) else _LITERAL
            else:
                pattern = _SCALAR
            m = pattern.match(text, start)
            if m is None:
                raise ValueError("value expected")
            self.pos = m.end()


__all__ = ["KeyPath", "TomlDocument", "fold_multiline_inline_tables", "parse_toml"]
