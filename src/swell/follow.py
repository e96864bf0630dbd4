"""Following a store that a live connector or an ingest is filling: what `swell trends --follow` and
`swell serve` do between looks at the file.

DuckDB admits one writing process and no reader beside it, so a follower opens the store for each
look and closes it at once. Each look feeds the rows added since the last one (by row order, so posts
that arrive late are seen, and counted as late) through a `TrendStream`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from swell.selection import Selection
from swell.store import Store
from swell.times import datetime_to_us, iso
from swell.trends import TrendStream, feed_new_posts


class StoreFollower:
    """The trends of a store, brought up to date by `look()`. With `history_h`, the first look starts
    that many hours before the newest post (a live page need not replay a year); else at the
    selection's start."""

    def __init__(self, db: str | Path, stream: TrendStream, selection: Selection | None = None,
                 *, history_h: float | None = None):  # fmt: skip
        self.db = Path(db)
        self.stream = stream
        self.selection = selection or Selection()
        self.history_h = history_h
        self.last_row: int | None = None
        self.latest = self.snapshot()  # as of the last look
        self.looked = threading.Event()  # set after each look (for whoever waits for one)

    def look(self) -> bool:
        """Feed the posts stored since the last look and take a `snapshot` into `latest`; False while
        the store is not there, or empty."""
        try:
            found = self._look()
            self.latest = self.snapshot()
            return found
        finally:
            self.looked.set()

    def _look(self) -> bool:
        if not self.db.exists():
            return False
        with Store(self.db, read_only=True) as store:
            if self.last_row is None:
                if self.history_h is not None and self.selection.since_us is None:
                    (newest,) = store.engine.one("SELECT max(created_at) FROM posts") or (None,)
                    if newest is None:
                        return False
                    since = datetime_to_us(newest) - int(self.history_h * 3_600_000_000)
                    self.selection = Selection(since, self.selection.until_us, self.selection.platform)
                self.last_row = -1
            self.last_row = feed_new_posts(store, self.stream, self.last_row, self.selection)
        return True

    def snapshot(self, top: int = 20) -> dict:
        """What is trending at the last closed bucket, JSON-ready."""
        return {
            "at": iso(self.stream.last_bucket),
            "posts": self.stream.posts,
            "trending": [t.as_dict() for t in self.stream.trending_now()[:top]],
        }
