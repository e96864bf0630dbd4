"""One collection's road to the store: pages from one or several sources at once are read through the
file readers into a page, whose posts (those of the hashtag, within the time asked for) join one
batch together with the progress of the slice the page came from; the batch goes to the live
connectors' `BatchWriter`, which commits posts and slice rows in one transaction, so that a
collection stopped anywhere (Ctrl-C, a kill, a refusal) resumes with nothing stored twice.

`run` is a collection from start to stop: Ctrl-C and SIGTERM stop it cleanly (what is read is
committed first, and `stats.stopped` says the store holds part of what was asked), and
`on_progress` sees the counts every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swell.collect.polite import Politeness
from swell.collect.slices import Slice
from swell.live.session import until_signalled
from swell.live.writer import BatchWriter, LiveBatch, LiveStats


@dataclass
class CollectStats(LiveStats):
    """A live stream's counts (`frames`: Jetstream events; `posts`/`new`: committed), and pages."""

    pages: int = 0
    outside: int = 0  # posts of the hashtag the sources gave outside the time asked for
    slices_done: int = 0
    reached_us: dict[str, int] = field(default_factory=dict)  # per source: the time its paging has reached
    notes: list[str] = field(default_factory=list)  # what the user should know about the result
    stopped: bool = False  # by Ctrl-C or SIGTERM, before the end: what is stored is partial


@dataclass
class CollectOptions:
    """What every collection takes. `until_us` None: up to the moment the collection starts."""

    db: Path
    hashtag: str  # normalised, without '#'
    since_us: int
    until_us: int | None = None
    politeness: Politeness = field(default_factory=Politeness)
    batch_posts: int = 5_000  # commit at this many posts ...
    batch_seconds: float = 2.0  # ... or when the batch's first page is this old
    on_progress: Callable[[CollectStats], None] | None = None
    stats: CollectStats = field(default_factory=CollectStats)

    def fix_until(self) -> int:
        """`until_us`, set to now if it is None: one end for the whole run."""
        if self.until_us is None:
            self.until_us = int(time.time() * 1_000_000)
        return self.until_us


class Collector:
    """The batch pages join and the writer it goes to; `async with` opens and closes the writer."""

    def __init__(self, options: CollectOptions):
        self.options = options
        self.batch = LiveBatch("collect", frozenset({options.hashtag}), stats=options.stats)
        self.writer: BatchWriter | None = None
        self.started: float | None = None

    async def __aenter__(self) -> Collector:
        self.writer = BatchWriter(self.options.db)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.writer is not None
        if not self.writer.task.done():
            await self.hand_off()  # what is read, however little, with its slices' progress
        await self.writer.close()  # raises the writer's error, if it failed

    def page(self) -> LiveBatch:
        """A sink for one page's records: its rejects are counted in the collection's stats."""
        return LiveBatch("collect", stats=self.options.stats)

    async def add(self, page: LiveBatch, slices: list[Slice], source: str) -> None:
        """A page's posts and its slices' progress, to be committed together."""
        stats, since, until = self.options.stats, self.options.since_us, self.options.fix_until()
        for post in page.posts:
            if since <= post.created_at < until:
                self.batch.post(post)
            else:
                stats.outside += 1
        self.batch.rejects.extend(page.rejects)
        self.batch.slices.extend(s.row() for s in slices)  # in order: a later row of a slice replaces an earlier
        stats.pages += 1
        stats.slices_done += sum(s.done for s in slices)
        reached = [s.reached_us for s in slices if s.reached_us is not None]
        if reached:
            stats.reached_us[source] = min(reached)
        if self.started is None:
            self.started = time.monotonic()
        full = len(self.batch.posts) >= self.options.batch_posts
        if full or time.monotonic() - self.started >= self.options.batch_seconds:
            await self.hand_off()

    async def hand_off(self) -> None:
        assert self.writer is not None
        self.started = None
        await self.writer.put(self.batch.handed_off())


Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def run(work: Work, options: CollectOptions, every_s: float = 1.0) -> CollectStats:
    """Run a collection (`work(stop)`) to its end, or until Ctrl-C or SIGTERM sets `stop`;
    `options.on_progress` is called every `every_s` seconds and once at the end."""

    def progress() -> None:
        if options.on_progress is not None:
            options.on_progress(options.stats)

    async def noted(stop: asyncio.Event) -> None:
        await work(stop)
        options.stats.stopped = stop.is_set()

    until_signalled(noted, progress, every_s)
    return options.stats


async def until_stopped(job: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run `job` until it ends or `stop` is set; then it is cancelled between two awaits, which
    leaves no page half added (a page joins the batch without awaiting)."""
    task = asyncio.ensure_future(job)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
