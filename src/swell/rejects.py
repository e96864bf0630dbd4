"""The rejects file: every record set aside, one JSON object a line, with where it came from, why,
and the record itself (`raw`), so that nothing is lost and each can be looked at or read again.

`raw` is the record as it came: a line that is not JSON as text, a parsed record as JSON. Some
records cannot be written back as JSON by orjson (nested deeper than 254 levels, integers beyond
64 bits); those are written with their deep parts shortened and their huge integers as strings,
never dropped, and never crashing the ingest.
"""

from __future__ import annotations

import reprlib
from typing import Any

import orjson

_DEPTH = 200  # nesting kept in `raw`; below it a value is kept as its shortened repr
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 200, 200


def reject_line(raw: Any, **where: Any) -> bytes:
    """One line of the rejects file: the fields of `where` (file, line, reason...) and `raw`."""
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode("utf-8", errors="replace").rstrip("\r\n")
    try:
        return orjson.dumps({**where, "raw": raw}, default=str)
    except (TypeError, RecursionError):
        return orjson.dumps({**where, "raw": _writable(raw, 0)}, default=str)


def _writable(value: Any, depth: int) -> Any:
    """`value` with what orjson cannot write replaced: integers beyond 64 bits by their digits,
    anything nested deeper than `_DEPTH` by its shortened repr."""
    if depth >= _DEPTH:
        return _REPR.repr(value)
    if isinstance(value, dict):
        return {str(k): _writable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_writable(v, depth + 1) for v in value]
    if type(value) is int and not -(2**63) <= value < 2**64:
        return str(value)
    return value
