"""Readers: one per input format, each turning one parsed record into posts.

A JSON reader is anything with the `Reader` interface (`swell.readers.base`): a `NAME`, a cheap
`matches(record)` (used to detect the format of every record, so mixed files and error lines are
handled) and `parse(record, source, sink)`; swell's own are modules. Other packages add readers
through the entry-point group `swell.readers` (each entry point names an object with that
interface); they are tried after swell's own. CSV is tabular and goes through a column mapping
instead (`swell.readers.csv`), and mappings are added the same way (group `swell.mappings`).
Every registered reader must pass the conformance tests in `tests/test_conformance.py`.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from swell.readers import bluesky, jetstream, mastodon, twitter_v1, twitter_v2, x_web
from swell.readers.base import Reader

# Order matters only where shapes could overlap: the most specific checks come first.
BUILTIN: tuple[Reader, ...] = (jetstream, twitter_v1, x_web, twitter_v2, bluesky, mastodon)  # type: ignore[assignment]


@cache
def registered() -> tuple[Reader, ...]:
    """swell's readers, then those that installed packages register (entry points `swell.readers`)."""
    plugins = tuple(point.load() for point in entry_points(group="swell.readers"))
    return BUILTIN + plugins


def formats() -> dict[str, Reader]:
    """The registered readers by name (what `--input-format` takes, with "csv")."""
    return {reader.NAME: reader for reader in registered()}


def detect(record: dict) -> Reader | None:
    """The first registered reader that recognises the record, or None."""
    for reader in registered():
        if reader.matches(record):
            return reader
    return None
