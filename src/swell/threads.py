"""SWELL_THREADS: how many threads swell's engines may use, for several swells sharing a machine.

Unset, DuckDB and polars each use one thread a core. Set, it bounds DuckDB's threads on every store
swell opens (`swell.store`) and polars' (passed on as POLARS_MAX_THREADS when swell is imported:
polars reads it once, when it is first imported, so swell must be imported before polars). Spark
takes its own (`--master local[N]`).
"""

from __future__ import annotations

import os

from swell.errors import UsageError

# The most threads SWELL_THREADS may ask for: polars cannot start 100,000, DuckDB refuses far more.
MAX_THREADS = 1024


def threads() -> int | None:
    """The threads set by SWELL_THREADS, or None when it is not set."""
    value = os.environ.get("SWELL_THREADS", "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_THREADS):
        raise UsageError(f"SWELL_THREADS must be a whole number of threads from 1 to {MAX_THREADS}, not {value!r}")
    return int(value)


def bound_polars() -> None:
    """Pass SWELL_THREADS on to polars, unless POLARS_MAX_THREADS is set or SWELL_THREADS is not a
    number of threads (which the command line says when it starts, and a store when it is opened)."""
    try:
        n = threads()
    except UsageError:
        return
    if n is not None:
        os.environ.setdefault("POLARS_MAX_THREADS", str(n))
