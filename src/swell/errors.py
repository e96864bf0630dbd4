"""The errors swell's library raises for what its user can fix: a store that is not there, an input
file that is not there, an analysis the chosen engine cannot run, an extra that is not installed, a
live stream that refuses the connection. The command line prints each as one line on standard error,
with what to do, and exits with the error's `exit_status`: 1 when something failed, 2 when what was
asked for cannot be done as asked (as for a mistyped option). Anything else is a bug in swell, and
shows its traceback.
"""

from __future__ import annotations


class SwellError(Exception):
    """Something the user can fix; the message says what and how."""

    exit_status = 1


class UsageError(SwellError):
    """What was asked for cannot be done as asked: a file that is not there, a time that is not a time."""

    exit_status = 2


class StoreNotFound(SwellError, FileNotFoundError):
    """No store (or Spark dataset) where one was named."""


class NotAStore(SwellError):
    """A file named as a store that is not one (not DuckDB, or DuckDB without swell's tables)."""


class StoreBusy(SwellError):
    """Another process has held the store for longer than swell waits for its turn."""


class InputNotFound(UsageError, FileNotFoundError):
    """Input files or folders that are not there."""


class NotPosts(SwellError, ValueError):
    """An input file in a format that holds no posts swell reads (Parquet, an archive, a database):
    the file is not read, and the message says what it is and what to do with it."""


class MissingExtra(SwellError, ImportError):
    """A feature needs an optional part of swell that is not installed (`pip install 'swell[spark]'`)."""


class NotOnThisEngine(UsageError):
    """An analysis the chosen engine does not run (near-duplicate text on Spark, following a store)."""


class StreamRefused(SwellError):
    """A live stream that no reconnect will bring back: a malformed URL, a refused token, a server
    that is not what it was said to be."""
