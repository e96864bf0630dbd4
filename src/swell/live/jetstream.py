"""Bluesky's Jetstream, live: `wss://HOST/subscribe?wantedCollections=...&cursor=TIME_US`.

Every event carries `time_us`, and Jetstream replays from any `cursor` (inclusive). The connector
commits the highest `time_us` it has read together with the posts read up to it; it reconnects
from the highest it has read (what is read but not committed is still in memory), and a restarted
swell resumes from the one committed. Replayed events are stored once, because posts are keyed by
id. So a drop loses nothing and a restart stores nothing twice.

A cursor older than the server keeps (36 hours by default) is moved forward to the oldest event it
has, without a word: when the first event after a resume is more than `GAP_TOLERANCE_S` later than
the cursor asked for, the range between is a gap, committed with the posts (the store's `gaps`
table) and shown as a warning.

Frames go through the same reader as Jetstream files (`swell.readers.jetstream`). A frame that is
not JSON, not a Jetstream event, or larger than `max_frame_bytes` is counted and set aside in the
rejects file; the connection stays up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, WebSocketException

from swell.errors import StreamRefused
from swell.live.connector import Connector, LiveOptions
from swell.live.writer import LiveStats
from swell.readers import jetstream
from swell.readers.base import RECORD_ERRORS, reason_for

DEFAULT_COLLECTIONS = ("app.bsky.feed.post", "app.bsky.feed.repost")
# The network sends posts and reposts many times a second: a first event a minute or more after the
# cursor asked for means the events between are not there (a shorter silence is not told apart from
# a quiet, filtered stream).
GAP_TOLERANCE_S = 60
DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"


@dataclass
class JetstreamOptions(LiveOptions):
    url: str = DEFAULT_URL
    collections: tuple[str, ...] = DEFAULT_COLLECTIONS
    max_frame_bytes: int = 1_000_000  # a Jetstream event is about 1 kB


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
    return await JetstreamConnector(options, stop).watch(db)


class JetstreamConnector(Connector):
    errors = (*Connector.errors, InvalidHandshake, WebSocketException)
    options: JetstreamOptions
    asked_from: int | None = None  # the cursor of this connection, until its first event

    def _check_gap(self, asked_us: int, first_us: int) -> None:
        if first_us - asked_us > GAP_TOLERANCE_S * 1_000_000:
            reason = "the stream resumed later than the cursor asked for (older than the server keeps)"
            self.batch.gaps.append((self.batch.stream, asked_us, first_us, reason))
            self.batch.stats.gaps.append((asked_us, first_us))

    @property
    def key(self) -> str:
        return stream_key(self.options.url)

    async def session(self) -> None:
        url = subscribe_url(self.options.url, self.options.collections, self.batch.cursor)
        self.asked_from = self.batch.cursor  # checked against the first event (`_check_gap`)
        try:
            # No permessage-deflate: Jetstream does not offer it, and on a local replay it only costs CPU.
            async with connect(url, max_size=None, open_timeout=10, ping_interval=20, compression=None) as ws:
                self.connected()
                ticking = asyncio.create_task(self.clock(ws.close))
                try:
                    while not self.done():
                        frame = await ws.recv(decode=False)
                        self.received()
                        self.take(frame)
                        if len(self.batch.posts) >= self.options.batch_posts:
                            await self.hand_off_if_due()
                except ConnectionClosed:
                    if not self.done():
                        raise  # the server closed: reconnect
                finally:
                    ticking.cancel()
        except InvalidURI as exc:
            raise StreamRefused(str(exc)) from exc

    def take(self, frame: bytes) -> None:
        batch = self.batch
        where = f"frame {batch.stats.frames}"
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
        if type(time_us) is int and self.asked_from is not None:
            self._check_gap(self.asked_from, time_us)
            self.asked_from = None
        if type(time_us) is int and self.past_until(time_us):
            return
        try:
            jetstream.parse(event, f"{batch.stream} time_us={time_us}", batch)
        except RECORD_ERRORS as exc:
            batch.reject(reason_for(exc), frame, where)
            return
        if type(time_us) is int and (batch.cursor is None or time_us > batch.cursor):
            batch.cursor = time_us
