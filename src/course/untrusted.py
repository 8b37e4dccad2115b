"""Text that came from student code, made safe to show: the one place that decides what that means.

Exception messages and class names, the type names of returned objects, printed output, file and
entry names all reach the instructor's terminal, the gradebook, feedback files, HTML pages and JSON
exports. Any of them can hold a lone surrogate (which no UTF-8 file can store), control characters
and terminal escape sequences (cursor movement, an OSC 52 clipboard write, a fake score line after a
carriage return), bidi overrides and zero-width characters (text that reads differently than it is),
or megabytes. Every function here returns text that:

- encodes as UTF-8: a lone surrogate is shown as ``\\udNNN``, one that stands for an undecodable byte
  (Python's surrogateescape, as in a file name that is not UTF-8) as that byte, ``\\xNN``;
- holds no control character: C0 and C1 controls (ESC among them, so no escape sequence survives),
  DEL, line and paragraph separators are shown as escapes (``\\x1b``, ``\\r``, ``\\u2028``);
  ``text`` keeps newlines and tabs, ``line`` shows them as ``\\n`` and ``\\t``;
- holds no invisible format character: bidi embeddings, overrides and isolates, zero-width spaces and
  joiners, the byte order mark, soft hyphens, Hangul fillers and the other format characters of Unicode
  are shown as ``\\uNNNN``;
- is at most ``limit`` characters plus a marker saying how many were cut.

The escapes are for reading, not for decoding: a backslash in the text is left as it is.
"""
from __future__ import annotations

import re
from typing import Any

from course.limits import LIMITS

LINE_LIMIT = LIMITS.line_chars
TEXT_LIMIT = LIMITS.text_chars

# Unicode's control (Cc), format (Cf), surrogate (Cs), line (Zl) and paragraph (Zp) separator
# characters, and the invisible Hangul fillers; tests/test_hostile_text.py checks this covers
# every such character the running Python knows.
_RANGES = [(0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD),
           (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x115F, 0x1160), (0x180E, 0x180E),
           (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0x3164, 0x3164),
           (0xD800, 0xDFFF), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
           (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
           (0xE0001, 0xE0001), (0xE0020, 0xE007F)]
_KEPT_IN_TEXT = "\n\t"
_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _pattern(kept: str) -> re.Pattern:
    """A run of the characters in _RANGES except those in kept (a character class, one or more times)."""
    parts = []
    for low, high in _RANGES:
        start = low
        for char in sorted(ord(c) for c in kept if low <= ord(c) <= high):
            if start < char:
                parts.append((start, char - 1))
            start = char + 1
        if start <= high:
            parts.append((start, high))
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in parts) + "]+")


_IN_LINE = _pattern("")
_IN_TEXT = _pattern(_KEPT_IN_TEXT)


def _escape(match: re.Match) -> str:
    """A run of characters to escape, each escaped through one table: a run of thousands (a file name of control
    bytes) costs one call, not one a character."""
    run = match[0]
    return run.translate({ord(char): _escaped(char) for char in set(run)})


def _escaped(char: str) -> str:
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte it stands for
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    try:
        return str(value)
    except Exception:  # an object whose __str__ raises: say so rather than fail
        return f"<{type(value).__name__} that cannot be shown>"


def _bounded(raw: str, pattern: re.Pattern, limit: int | None) -> str:
    """raw with pattern's characters escaped, cut to limit characters (escapes counted) plus a marker."""
    if (limit is None or len(raw) <= limit) and raw.isascii() and raw.isprintable():
        return raw  # printable ASCII holds nothing to escape (most names, statuses and numbers): no regex
    if limit is None:
        return pattern.sub(_escape, raw)
    keep = min(len(raw), limit)
    out = pattern.sub(_escape, raw[:keep])
    while len(out) > limit:  # escapes made it longer: keep fewer characters of raw
        keep = min(keep - 1, keep * limit // len(out))
        out = pattern.sub(_escape, raw[:keep])
    cut = len(raw) - keep
    return f"{out}… [{cut} more characters]" if cut else out


def text(value: Any, limit: int | None = TEXT_LIMIT) -> str:
    """Untrusted text of several lines, safe to show anywhere: newlines and tabs kept, every other
    control or format character escaped, at most limit characters (None: no cap) plus a marker."""
    return _bounded(_as_str(value), _IN_TEXT, limit)


def line(value: Any, limit: int | None = LINE_LIMIT) -> str:
    """Untrusted text as one line, safe to show anywhere: newlines and tabs escaped as well."""
    return _bounded(_as_str(value), _IN_LINE, limit)


def cell(value: Any, limit: int | None = LINE_LIMIT) -> str:
    """One line for a spreadsheet cell: as line(), and one that a spreadsheet would take for a formula
    (it starts with =, +, -, @, or their full-width forms) starts with an apostrophe."""
    shown = line(value, limit)
    return f"'{shown}" if shown.lstrip()[:1] in ("=", "+", "-", "@", "＝", "＋", "－", "＠") else shown


class _Safe(dict):
    """A dict tree() made: its text is safe to the limit it was made with, so tree() returns it as it is
    (every renderer of a result makes it safe; only the first one pays)."""

    limit: int | None = TEXT_LIMIT


def tree(value: Any, limit: int | None = TEXT_LIMIT) -> Any:
    """Plain data (dicts, lists, tuples, strings, numbers) with every string made safe: dict keys as one
    line, string values with text(). Other values are returned as they are. The dict it returns is
    marked safe: given back to tree() with the same limit, it is returned without a second pass."""
    if type(value) is _Safe and value.limit == limit:
        return value
    if isinstance(value, dict):
        safe = _Safe(_tree(value, limit))
        safe.limit = limit
        return safe
    return _tree(value, limit)


def _tree(value: Any, limit: int | None) -> Any:
    if isinstance(value, str):
        return text(value, limit)
    if isinstance(value, dict):
        return {line(k, limit) if isinstance(k, str) else k: _tree(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_tree(v, limit) for v in value]
    if isinstance(value, tuple):
        return tuple(_tree(v, limit) for v in value)
    return value


def is_safe(value: str, lines: bool = True) -> bool:
    """Whether value holds no character that text() (lines) or line() would escape."""
    return (_IN_TEXT if lines else _IN_LINE).search(value) is None
