"""What a live connector collects, and the bounded road from it to the store.

A connector fills a `LiveBatch` through the same `Sink` interface the file readers write to, hands
it to the `BatchWriter` when it holds enough posts or is old enough, and goes on reading. The writer
commits each batch in one transaction together with the stream's cursor, so the store never holds
posts whose cursor is not stored (or the reverse). Its queue is bounded: when the store falls
behind, `put` waits and the connector stops reading, which the socket turns into backpressure on
the server. Nothing is dropped: a server that gives up on a slow client is resumed from the cursor.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from swell.model import Post, implausible, posts_to_batch_or_reject
from swell.rejects import reject_line
from swell.store import Store, rejects_path

RAW_KEPT_BYTES = 10_000  # of a rejected frame, kept in the rejects file
# Positions a stream commits beside its cursor, under its key + these: the time reached by a stream
# whose cursor is a seq (Jetstream v2), the seq reached by one whose cursor is a time (Jetstream v1,
# on a server that numbers its events).
SEEN_SUFFIX, SEQ_SUFFIX = "#time_us", "#seq"


@dataclass
class LiveStats:
    frames: int = 0
    posts: int = 0  # read from the stream and kept by the filters
    new: int = 0  # stored for the first time
    filtered: int = 0  # posts the hashtag and language filters left out
    deletions: int = 0
    rejected: int = 0
    ignored: Counter = field(default_factory=Counter)
    connections: int = 0
    waits: int = 0  # times the connector paused because the store was behind
    batches: int = 0
    cursor: int | None = None  # the last cursor committed
    cursor_is_time: bool = True  # Jetstream's cursor is a time (µs); Mastodon's a status id
    gaps: list[tuple[int, int]] = field(default_factory=list)  # time ranges the stream did not deliver


@dataclass
class LiveBatch:
    """Posts, deletions and rejects since the last hand-off, and the cursor they reach."""

    stream: str
    hashtags: frozenset[str] = frozenset()
    langs: frozenset[str] = frozenset()
    stats: LiveStats = field(default_factory=LiveStats)
    posts: list[Post] = field(default_factory=list)
    deletions: list[tuple[str, int | None, str]] = field(default_factory=list)
    rejects: list[bytes] = field(default_factory=list)
    cursor: int | None = None
    # A stream whose cursor is not a time (Jetstream v2's seq): the newest event's time read, which
    # dates a gap when the server no longer has the cursor; committed beside it.
    seen_us: int | None = None
    seq: int | None = None  # and of a stream whose cursor is a time: the seq read, where events carry one
    gaps: list[tuple[str, int, int, str]] = field(default_factory=list)  # committed with the posts
    slices: list[tuple] = field(default_factory=list)  # `swell collect`'s progress, committed with the posts
    # Posts the filters kept, so that their reposts are kept too: those of this connector and, read
    # from the store when it starts (`kept_posts`), those of the runs and `swell collect` slices before it.
    kept: set[str] = field(default_factory=set)

    # the Sink interface of swell.readers.base
    def post(self, post: Post) -> None:
        if (problem := implausible(post)) is not None:
            self.reject_post(problem, post)
            return
        if self.hashtags or self.langs:
            if post.kind == "repost" and not post.hashtags:  # a Jetstream repost carries nothing of its original
                wanted = post.ref_post_id in self.kept
            else:
                wanted = (not self.hashtags or bool(self.hashtags.intersection(post.hashtags))) and (
                    not self.langs or post.lang in self.langs
                )
            if not wanted:
                self.stats.filtered += 1
                return
            self.kept.add(post.post_id)
        self.posts.append(post)

    def deletion(self, post_id: str, deleted_at: int | None, source: str) -> None:
        self.deletions.append((post_id, deleted_at, source))

    def ignore(self, reason: str) -> None:
        self.stats.ignored[reason] += 1

    def reject(self, reason: str, raw: Any, source: str) -> None:
        if isinstance(raw, bytes | str):
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            raw = text[:RAW_KEPT_BYTES] + (" ..." if len(text) > RAW_KEPT_BYTES else "")
        self.rejects.append(reject_line(raw, stream=self.stream, at=source, reason=reason))
        self.stats.rejected += 1

    def reject_post(self, reason: str, post: Post) -> None:
        self.reject(reason, post._asdict(), post.source)

    def handed_off(self) -> LiveBatch:
        """This batch's content, leaving this object empty for the next."""
        taken = LiveBatch(self.stream, self.hashtags, self.langs, self.stats, self.posts, self.deletions, self.rejects)
        taken.cursor, taken.seen_us, taken.seq = self.cursor, self.seen_us, self.seq
        taken.gaps, taken.slices = self.gaps, self.slices
        self.posts, self.deletions, self.rejects, self.gaps, self.slices = [], [], [], [], []
        return taken


class BatchWriter:
    """Commits batches in order from a bounded queue, in a thread so the connector keeps reading.
    The store is opened for each batch and closed after it, so that `swell trends`, `swell serve` and
    other readers can take their turn at the file (DuckDB admits one writing process and no reader
    beside it)."""

    def __init__(self, db: Path, *, queue_size: int = 4, on_commit: Callable[[pa.RecordBatch], None] | None = None):
        self.db = db
        self.queue: asyncio.Queue[LiveBatch | None] = asyncio.Queue(maxsize=queue_size)
        self.on_commit = on_commit
        self.task = asyncio.create_task(self._run())

    async def put(self, batch: LiveBatch | None) -> None:
        """Queue a batch (None: the end), waiting while the queue is full. If the writer has failed
        (the store could not be opened, the disk is full), its error is raised here: a connector must
        not go on reading into a queue that nobody empties."""
        if batch is not None and self.queue.full():
            batch.stats.waits += 1
        putting = asyncio.ensure_future(self.queue.put(batch))
        await asyncio.wait({putting, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not putting.done():
            putting.cancel()
        self.check()

    def check(self) -> None:
        """Raise the writer's error, if it has stopped on one."""
        if self.task.done() and not self.task.cancelled() and (error := self.task.exception()) is not None:
            raise error

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        await self.put(None)
        await self.task

    async def _run(self) -> None:
        while (batch := await self.queue.get()) is not None:
            await asyncio.to_thread(self._commit, batch)

    def _commit(self, batch: LiveBatch) -> None:
        # Several writers of one process (`swell watch mastodon` on several instances) take turns at
        # the store, as DuckDB admits one writer: two transactions storing one status would conflict.
        with _store_lock(self.db):
            self._commit_now(batch)

    def _commit_now(self, batch: LiveBatch) -> None:
        records = posts_to_batch_or_reject(batch.posts, batch.reject_post)
        if batch.rejects:  # before the commit: a crash in between repeats a reject, never loses one
            with rejects_path(self.db).open("ab") as out:
                out.write(b"\n".join(batch.rejects) + b"\n")
        with Store(self.db) as store:
            cursors = [(batch.stream, batch.cursor)] if batch.cursor is not None else []
            for suffix, position in ((SEEN_SUFFIX, batch.seen_us), (SEQ_SUFFIX, batch.seq)):
                if position is not None:
                    cursors.append((batch.stream + suffix, position))
            batch.stats.new += store.append(
                records, batch.deletions, cursor=cursors, gaps=batch.gaps, slices=batch.slices
            )
        stats = batch.stats
        stats.posts += records.num_rows
        stats.deletions += len(batch.deletions)
        stats.batches += 1
        stats.cursor = batch.cursor
        if self.on_commit:
            self.on_commit(records)


_STORE_LOCKS: dict[Path, threading.Lock] = {}
_STORE_LOCKS_LOCK = threading.Lock()


def _store_lock(db: Path) -> threading.Lock:
    with _STORE_LOCKS_LOCK:
        return _STORE_LOCKS.setdefault(db.resolve(), threading.Lock())


def kept_posts(db: Path, hashtags: frozenset[str], langs: frozenset[str]) -> set[str]:
    """The ids of the stored posts that `LiveBatch.post`'s filters keep, whose reposts it keeps too."""
    if not db.exists():
        return set()
    conditions, params = [], []
    if hashtags:
        conditions.append("list_has_any(hashtags, ?::VARCHAR[])")
        params.append(sorted(hashtags))
    if langs:
        conditions.append("list_contains(?::VARCHAR[], lang)")
        params.append(sorted(langs))
    with Store(db) as store:
        batches = store.iter_posts(["post_id"], " AND ".join(conditions) or "TRUE", params)
        return {post_id for batch in batches for post_id in batch.column("post_id").to_pylist()}


def committed_cursor(db: Path, stream: str) -> int | None:
    if not db.exists():
        return None
    with Store(db) as store:
        return store.live_cursor(stream)
