"""The errors swell's library raises for what its user can fix: a store that is not there, an
analysis the chosen engine cannot run, an extra that is not installed. The command line prints
each as one line, with what to do, and exits with status 1; anything else is a bug in swell."""

from __future__ import annotations


class SwellError(Exception):
    """Something the user can fix; the message says what and how."""


class StoreNotFound(SwellError, FileNotFoundError):
    """No store (or Spark dataset) where one was named."""


class NotAStore(SwellError):
    """A file named as a store that is not one (not DuckDB, or DuckDB without swell's tables)."""


class StoreBusy(SwellError):
    """Another process has held the store for longer than swell waits for its turn."""
