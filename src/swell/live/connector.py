"""What every live connector does the same way: reconnect with backoff, batch by size and age, hand
batches to the store's writer, stop cleanly. A connector says how to hold one session with its
server (`session`) and turns what arrives into posts through a file reader (`take`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swell import __version__
from swell.errors import StreamRefused
from swell.live.writer import BatchWriter, LiveBatch, LiveStats, committed_cursor, kept_posts

# What swell says it is to every service it connects to (`swell collect` adds what it does).
USER_AGENT = f"swell/{__version__} (hashtag campaign research)"


@dataclass
class LiveOptions:
    url: str
    hashtags: frozenset[str] = frozenset()  # keep only posts with one of these (normalised) hashtags
    langs: frozenset[str] = frozenset()  # keep only posts in one of these languages
    batch_posts: int = 20_000  # hand a batch to the store at this many posts ...
    batch_seconds: float = 2.0  # ... or when its first event is this old (fewer, larger commits go faster)
    queue_batches: int = 4  # batches waiting for the store before reading pauses
    backoff_s: tuple[float, float] = (0.5, 30.0)  # first and longest wait before reconnecting
    exit_when_idle_s: float | None = None  # stop after this long without an event (replays, tests)
    until_us: int | None = None  # stop at the first event at or after this time (µs); it is not stored
    on_commit: Callable | None = None  # called in the writer thread with each committed Arrow batch
    user_agent: str = USER_AGENT
    stats: LiveStats = field(default_factory=LiveStats)


class Connector:
    """One live stream into the store. Subclasses define `key` (what the cursor is stored under),
    `session()` (connect, read until stopped or idle, raise `ConnectionError` on a drop) and call
    `received()` then `hand_off_if_due()` as events arrive."""

    errors: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)

    def __init__(self, options: LiveOptions, stop: asyncio.Event):
        self.options, self.stop = options, stop
        self.batch = LiveBatch(self.key, options.hashtags, options.langs, options.stats)
        self.writer: BatchWriter | None = None
        self.handing = asyncio.Lock()
        self.batch_started: float | None = None
        self.last_event = time.monotonic()
        self.reached_until = False  # an event at or after `until_us` has arrived
        self.retry_after_s: float | None = None  # how long a server that refused with 429 asked to wait

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def _writer(self) -> BatchWriter:
        if self.writer is None:
            raise RuntimeError("a connector's writer is made by watch()")
        return self.writer

    async def session(self) -> None:
        raise NotImplementedError

    async def watch(self, db: Path) -> LiveStats:
        """Read the stream into the store until `stop` is set (or the stream has been idle for
        `exit_when_idle_s`); everything read is committed before this returns."""
        stats = self.options.stats
        self.batch.cursor = stats.cursor = await asyncio.to_thread(committed_cursor, db, self.key)
        if self.batch.hashtags or self.batch.langs:  # reposts of the posts kept before this connector
            self.batch.kept = await asyncio.to_thread(kept_posts, db, self.batch.hashtags, self.batch.langs)
        self.writer = BatchWriter(db, queue_size=self.options.queue_batches, on_commit=self.options.on_commit)
        try:
            await self._run()
        finally:
            if not self.writer.task.done():
                await self.hand_off()  # what is read, however little, and its cursor
            await self.writer.close()  # raises the writer's error, if it failed
        return stats

    async def _run(self) -> None:
        first, longest = self.options.backoff_s
        wait = first
        while not self.done():
            self._writer.check()  # a failed writer is not a dropped connection: no reconnecting past it
            connected = self.options.stats.connections
            try:
                await self.session()
                if self.done():
                    return
            except StreamRefused:
                raise
            except self.errors:
                pass
            if self.options.stats.connections > connected:  # it was up: the next failure starts afresh
                wait = first
            # A drop or a refused connection: wait (with jitter, so that many clients do not come
            # back at once), then resume.
            await self.hand_off_if_due()
            asked, self.retry_after_s = self.retry_after_s or 0.0, None
            await self.back_off(max(wait * random.uniform(0.5, 1.0), asked))
            wait = min(wait * 2, longest)

    def connected(self) -> None:
        self.options.stats.connections += 1

    def received(self) -> None:
        self.last_event = time.monotonic()
        self.options.stats.frames += 1
        if self.batch_started is None:
            self.batch_started = self.last_event

    async def hand_off_if_due(self) -> None:
        if self.batch_started is None:
            return
        full = len(self.batch.posts) >= self.options.batch_posts
        if full or time.monotonic() - self.batch_started >= self.options.batch_seconds:
            await self.hand_off()

    async def hand_off(self) -> None:
        """The batch so far to the writer, in order: the reading and the clock both hand off, and a
        later cursor committed before an earlier batch would skip that batch's posts on a restart."""
        async with self.handing:
            taken = self.batch.handed_off()
            self.batch_started = None  # posts read while the put waits start the next batch's clock
            await self._writer.put(taken)  # waits while the store is behind

    async def clock(self, close: Callable) -> None:
        """Beside a session's reading: hands off the batches that are due and, when it is time to
        stop, closes the connection, which ends the reading (a timeout on each read would cost more
        than the read)."""
        while not self.done():
            await self.sleep(min(self.options.batch_seconds, 0.25))
            await self.hand_off_if_due()
        await close()

    def past_until(self, time_us: int) -> bool:
        """Whether an event of this time is at or after `until_us`; if so, the connector is done."""
        if self.options.until_us is not None and time_us >= self.options.until_us:
            self.reached_until = True
        return self.reached_until

    def done(self) -> bool:
        limit = self.options.exit_when_idle_s
        return (
            self.stop.is_set()
            or self.reached_until
            or (limit is not None and time.monotonic() - self.last_event > limit)
        )

    async def back_off(self, seconds: float) -> None:
        """The wait before connecting again."""
        await self.sleep(seconds)

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # woken early by stop
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
