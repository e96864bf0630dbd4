"""Bluesky's Jetstream, live: `wss://HOST/subscribe?wantedCollections=...&cursor=TIME_US`.

Every event carries `time_us`, and Jetstream replays from any `cursor` (inclusive). The connector
commits the highest `time_us` it has read together with the posts read up to it; it reconnects
from the highest it has read (what is read but not committed is still in memory), and a restarted
swell resumes from the one committed. Replayed events are stored once, because posts are keyed by
id. So a drop loses nothing and a restart stores nothing twice.

Frames go through the same reader as Jetstream files (`swell.readers.jetstream`). A frame that is
not JSON, not a Jetstream event, or larger than `max_frame_bytes` is counted and set aside in the
rejects file; the connection stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, WebSocketException

from swell.live.writer import BatchWriter, LiveBatch, LiveStats, committed_cursor
from swell.readers import jetstream
from swell.readers.base import RECORD_ERRORS, reason_for

DEFAULT_COLLECTIONS = ("app.bsky.feed.post", "app.bsky.feed.repost")
DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"


@dataclass
class JetstreamOptions:
    url: str = DEFAULT_URL
    collections: tuple[str, ...] = DEFAULT_COLLECTIONS
    hashtags: frozenset[str] = frozenset()  # keep only posts with one of these (normalised) hashtags
    langs: frozenset[str] = frozenset()  # keep only posts in one of these languages
    batch_posts: int = 20_000  # hand a batch to the store at this many posts ...
    batch_seconds: float = 2.0  # ... or when its first event is this old (fewer, larger commits go faster)
    queue_batches: int = 4  # batches waiting for the store before reading pauses
    max_frame_bytes: int = 1_000_000  # a Jetstream event is about 1 kB
    backoff_s: tuple[float, float] = (0.5, 30.0)  # first and longest wait before reconnecting
    exit_when_idle_s: float | None = None  # stop after this long without an event (replays, tests)
    on_commit: Callable | None = None  # called in the writer thread with each committed Arrow batch
    stats: LiveStats = field(default_factory=LiveStats)


def stream_key(url: str) -> str:
    """What the cursor is stored under: the endpoint, without its query."""
    parts = urlsplit(url)
    return f"jetstream:{parts.scheme}://{parts.netloc}{parts.path}"


def subscribe_url(url: str, collections: tuple[str, ...], cursor: int | None) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("wantedCollections", "cursor")]
    query += [("wantedCollections", c) for c in collections]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/subscribe", urlencode(query), ""))


async def watch(db: Path, options: JetstreamOptions, stop: asyncio.Event) -> LiveStats:
    """Read the stream into the store until `stop` is set (or the stream has been idle for
    `exit_when_idle_s`); everything read is committed before this returns."""
    key = stream_key(options.url)
    stats = options.stats
    batch = LiveBatch(key, options.hashtags, options.langs, stats)
    batch.cursor = stats.cursor = await asyncio.to_thread(committed_cursor, db, key)
    writer = BatchWriter(db, queue_size=options.queue_batches, on_commit=options.on_commit)
    writing = asyncio.create_task(writer.run())
    reader = _Reader(options, batch, writer, stop)
    try:
        await reader.run()
    finally:
        await writer.put(batch.handed_off())  # what is read, however little, and the cursor it reached
        await writer.close()
        await writing
    return stats


class _Reader:
    def __init__(self, options: JetstreamOptions, batch: LiveBatch, writer: BatchWriter, stop: asyncio.Event):
        self.options, self.batch, self.writer, self.stop = options, batch, writer, stop
        self.batch_started: float | None = None
        self.last_event = time.monotonic()

    async def run(self) -> None:
        wait, longest = self.options.backoff_s
        while not self.stop.is_set() and not self._idle():
            url = subscribe_url(self.options.url, self.options.collections, self.batch.cursor)
            try:
                # No permessage-deflate: Jetstream does not offer it, and on a local replay it only costs CPU.
                async with connect(url, max_size=None, open_timeout=10, ping_interval=20, compression=None) as ws:
                    self.batch.stats.connections += 1
                    wait = self.options.backoff_s[0]
                    await self._read(ws)
                    return  # stopped or idle
            except InvalidURI:
                raise
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException):
                pass
            # A drop or a refused connection: wait (with jitter, so many clients do not return at
            # once), then resume from the cursor.
            await self._flush_if_due()
            await self._sleep(wait * random.uniform(0.5, 1.0))
            wait = min(wait * 2, longest)

    async def _read(self, ws) -> None:
        """Frames until stopped or idle. A clock beside the reading hands off the batches that are
        due and, when it is time to stop, closes the connection, which ends the reading; a timeout
        on each frame would cost more than the frame."""

        async def clock() -> None:
            while not (self.stop.is_set() or self._idle()):
                await self._sleep(min(self.options.batch_seconds, 0.25))
                await self._flush_if_due()
            await ws.close()

        ticking = asyncio.create_task(clock())
        try:
            while True:
                frame = await ws.recv(decode=False)
                self.last_event = time.monotonic()
                self._take(frame)
                if len(self.batch.posts) >= self.options.batch_posts:
                    await self._flush_if_due()
        except ConnectionClosed:
            if not (self.stop.is_set() or self._idle()):
                raise  # the server closed: reconnect
        finally:
            ticking.cancel()

    def _take(self, frame: bytes) -> None:
        batch, stats = self.batch, self.batch.stats
        stats.frames += 1
        if self.batch_started is None:
            self.batch_started = time.monotonic()
        where = f"frame {stats.frames}"
        if len(frame) > self.options.max_frame_bytes:
            limit = self.options.max_frame_bytes
            batch.reject(f"frame of {len(frame):,} bytes, over the {limit:,} limit", frame, where)
            return
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            batch.reject(f"not JSON ({exc})", frame, where)
            return
        if not isinstance(event, dict) or not jetstream.matches(event):
            batch.reject("not a Jetstream event (no did, time_us and kind)", frame, where)
            return
        time_us = event["time_us"]
        source = f"{batch.stream} time_us={time_us}"
        try:
            jetstream.parse(event, source, batch)
        except RECORD_ERRORS as exc:
            batch.reject(reason_for(exc), frame, where)
            return
        if type(time_us) is int and (batch.cursor is None or time_us > batch.cursor):
            batch.cursor = time_us

    async def _flush_if_due(self) -> None:
        if self.batch_started is None:
            return
        full = len(self.batch.posts) >= self.options.batch_posts
        if full or time.monotonic() - self.batch_started >= self.options.batch_seconds:
            await self.writer.put(self.batch.handed_off())  # waits while the store is behind
            self.batch_started = None

    def _idle(self) -> bool:
        limit = self.options.exit_when_idle_s
        return limit is not None and time.monotonic() - self.last_event > limit

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):  # woken early by stop
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
