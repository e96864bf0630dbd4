"""Readers: one module per input format, each turning one parsed record into posts.

Each JSON reader module has `NAME`, `matches(record) -> bool` (cheap key checks, used to detect the
format of every record, so mixed files and error lines are handled) and `parse(record, source, sink)`.
CSV is tabular and goes through a column mapping instead (`swell.readers.csv`).
"""

from __future__ import annotations

from types import ModuleType

from swell.readers import bluesky, jetstream, mastodon, twitter_v1, twitter_v2

# Order matters only where shapes could overlap: the most specific checks come first.
JSON_READERS: tuple[ModuleType, ...] = (jetstream, twitter_v1, twitter_v2, bluesky, mastodon)
FORMATS = {r.NAME: r for r in JSON_READERS}


def detect(record: dict) -> ModuleType | None:
    for reader in JSON_READERS:
        if reader.matches(record):
            return reader
    return None
