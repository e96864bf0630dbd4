"""SWELL_THREADS: how many threads swell's engines may use, for several swells sharing a machine.

Unset, DuckDB and polars each use one thread a core. Set, it bounds DuckDB's threads on every store
swell opens (`swell.store`) and polars' (passed on as POLARS_MAX_THREADS when swell is imported, as
polars reads it once, when it is first imported).
"""

from __future__ import annotations

import os

from swell.errors import UsageError


def threads() -> int | None:
    """The threads set by SWELL_THREADS, or None when it is not set."""
    value = os.environ.get("SWELL_THREADS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"SWELL_THREADS must be a whole number of threads, 1 or more, not {value!r}")
    return int(value)


def bound_polars() -> None:
    """Pass SWELL_THREADS on to polars, unless POLARS_MAX_THREADS is set or SWELL_THREADS is not a
    number of threads (a store opened says so)."""
    try:
        n = threads()
    except UsageError:
        return
    if n is not None:
        os.environ.setdefault("POLARS_MAX_THREADS", str(n))
