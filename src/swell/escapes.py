"""Data, made safe to show: post text, handles, hashtags, JSON keys and file names come from anyone,
and some characters act on the terminal that shows them (escape sequences, bells, carriage returns,
right-to-left overrides). `visible` writes them as escapes (`\\x1b`, `\\u202e`) for the terminal;
`json_dumps` writes JSON in which they are \\u escapes (still the same JSON: orjson itself escapes only
C0 controls). Light to import: no rich, only orjson."""

from __future__ import annotations

import orjson

# The Unicode bidirectional controls (marks, embeddings, overrides, isolates): they reorder what follows.
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_C1 = range(0x7F, 0xA0)
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_VISIBLE = str.maketrans(
    {c: _NAMED.get(c, f"\\x{c:02x}") for c in (*range(0x00, 0x20), *_C1)} | {c: f"\\u{c:04x}" for c in _BIDI}
)
_VISIBLE_LINES = {c: v for c, v in _VISIBLE.items() if c not in (0x09, 0x0A)}
_JSON = str.maketrans({c: f"\\u{c:04x}" for c in (*_C1, *_BIDI)})


def visible(text: str, *, lines: bool = False) -> str:
    """`text` with every character that would act on the terminal replaced by its escape; newlines
    and tabs too, unless `lines` (for whole outputs such as CSV, whose lines are lines), so that a
    handle or a file name cannot fake a line of swell's own."""
    return text.translate(_VISIBLE_LINES if lines else _VISIBLE)


def json_dumps(value, *, indent: bool = False, naive_utc: bool = False) -> bytes:
    """`value` as JSON (indented, and naive datetimes taken as UTC, if asked), with the characters
    that act on a terminal as \\u escapes."""
    option = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_NAIVE_UTC if naive_utc else 0)
    text = orjson.dumps(value, option=option)
    return text if text.isascii() else text.decode().translate(_JSON).encode()
