"""Slices of time asked of one source, and how far each got: the unit `swell collect` resumes by.

A slice is (source, query, from, until) with the source's cursor inside it, the results fetched so
far, the oldest time reached and whether it is done. Its row in the store's `collect_slices` table is
committed in the same transaction as the posts of the page that moved it (`swell.collect.pages`), so
after a kill the store never holds posts past a slice's cursor without the cursor, nor the reverse.

A new run asks only for what no slice of an earlier run covers (`uncovered`), and resumes the slices
left unfinished; a run that is asked again for a range it has finished asks the sources nothing.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from pathlib import Path

from swell.store import Store


@dataclass
class Slice:
    source: str  # "bluesky-search:URL", "jetstream:URL", "mastodon:URL"
    query: str  # the normalised hashtag
    since_us: int
    until_us: int
    cursor: str | None = None  # where the source's paging goes on (searchPosts' cursor, Mastodon's max_id)
    fetched: int = 0  # results the source gave in this slice
    reached_us: int | None = None  # the oldest time of those results (the paging goes back in time)
    done: bool = False

    def row(self) -> tuple:
        return astuple(self)


def stored_slices(db: Path, query: str) -> list[Slice]:
    """The slices of earlier runs for this query (none when the store is new)."""
    if not db.exists():
        return []
    with Store(db) as store:
        return [Slice(*row) for row in store.collect_slices(query)]


def uncovered(since_us: int, until_us: int, slices: list[Slice]) -> list[tuple[int, int]]:
    """The parts of [since, until) that no slice covers, oldest first."""
    parts, at = [], since_us
    for s in sorted(slices, key=lambda s: s.since_us):
        if s.until_us <= at or s.since_us >= until_us:
            continue
        if s.since_us > at:
            parts.append((at, s.since_us))
        at = max(at, s.until_us)
    if at < until_us:
        parts.append((at, until_us))
    return parts
