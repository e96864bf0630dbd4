"""Bluesky's Jetstream, live, over either of its endpoints (chosen by the URL's path):

- v1, `wss://HOST/subscribe?wantedCollections=...&cursor=N`: the cursor committed is the highest
  `time_us` read, and beside it (`STREAM#seq`) the highest `cursor` field read, the event's sequence
  number on a Jetstream v2 server, from which it resumes when it has one (exact, where a time is not
  after Jetstream imports timestamps); the time shows a silently clamped resume;
- v2, `wss://HOST/xrpc/network.bsky.jetstream.subscribeEvents?collections=...&cursor=SEQ`: the cursor
  committed is the highest `seq` read, and beside it (`time_key`) the highest time read, which dates
  the gap when the server has forgotten the seq.

Jetstream replays from any cursor (inclusive). The connector commits its cursor together with the
posts read up to it; it reconnects from the highest it has read (what is read but not committed is
still in memory), and a restarted swell resumes from the one committed. Replayed events are stored
once, because posts are keyed by id. So a drop loses nothing and a restart stores nothing twice.

A cursor older than the server keeps (36 hours by default) is a gap, committed with the posts (the
store's `gaps` table) and shown as a warning:
- v1 moves it to the oldest event it has without a word: when the first event after a resume is
  more than `GAP_TOLERANCE_S` later than the cursor asked for, the range between is a gap;
- v2 refuses a seq cursor before the upgrade (`CursorTooOld`, with the oldest seq it has, from
  which the connector resumes), and moves a time cursor with a first `#info OutdatedCursor` frame:
  the gap runs from the time reached to the first event after the resume.
A v2 stream with nothing committed resumes from the time a v1 watch of the same server committed.

Compression (`compress`): zstd, with the legacy dictionary on v1 (`compress=true`, shipped in
`dictionaries/`), with the server's current dictionary on v2 (fetched once with `getZstdDictionary`
and kept in memory; a `UnknownZstdDictionary` refusal names the current one, fetched by id).

Frames go through the same reader as Jetstream files (`swell.readers.jetstream`). A frame that is
not JSON, not a Jetstream event, or larger than `max_frame_bytes` (compressed or not) is counted and
set aside in the rejects file; the connection stays up. A v2 error frame ends the connection:
`ConsumerTooSlow` is resumed from the cursor, any other, and any refusal but a rate limit or a
server error, stops the watch with the server's words (`StreamRefused`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import orjson
import zstandard
from websockets.asyncio.client import connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.typing import Subprotocol

from swell.errors import StreamRefused
from swell.escapes import visible
from swell.live import jetstream_wire as wire
from swell.live.connector import Connector, LiveOptions
from swell.live.writer import SEEN_SUFFIX, SEQ_SUFFIX, LiveStats, committed_cursor
from swell.ratelimits import rate_limit_wait_s
from swell.readers import jetstream
from swell.readers.base import RECORD_ERRORS, reason_for

DEFAULT_COLLECTIONS = ("app.bsky.feed.post", "app.bsky.feed.repost")
# The network sends posts and reposts many times a second: a first event a minute or more after the
# cursor asked for means the events between are not there (a shorter silence is not told apart from
# a quiet, filtered stream).
GAP_TOLERANCE_S = 60
DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
# Terminal error frames after which a reconnect from the cursor is the cure.
RESUMABLE_ERRORS = frozenset({"ConsumerTooSlow"})


@dataclass
class JetstreamOptions(LiveOptions):
    url: str = DEFAULT_URL
    collections: tuple[str, ...] = DEFAULT_COLLECTIONS
    max_frame_bytes: int = 1_000_000  # a Jetstream event is about 1 kB
    compress: bool = False  # zstd frames (a third of the bytes, more CPU)


def stream_key(url: str) -> str:
    """What the cursor is stored under: the endpoint, without its query."""
    parts = urlsplit(url)
    return f"jetstream:{parts.scheme}://{parts.netloc}{parts.path}"


def time_key(url: str) -> str:
    """What a v2 stream's time reached is stored under, beside its seq cursor."""
    return stream_key(url) + SEEN_SUFFIX


def subscribe_url(url: str, collections: tuple[str, ...], cursor: int | None, *, compress: bool | int = False) -> str:
    """The URL of one connection: v1's or v2's filter and cursor parameters (replacing those in `url`);
    `compress` is True for v1 and the dictionary id for v2."""
    v2 = wire.is_v2(url)
    names = ("collections", "cursor", "zstdDictionary", "kinds") if v2 else ("wantedCollections", "cursor", "compress")
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in names]
    query += [(names[0], c) for c in collections]
    if v2:  # commits only: identity, account and sync events of the whole network are not read
        query.append(("kinds", "commit"))
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    if compress:
        query.append(("zstdDictionary", str(compress)) if v2 else ("compress", "true"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or wire.V1_PATH, urlencode(query), ""))


async def watch(db: Path, options: JetstreamOptions, stop: asyncio.Event) -> LiveStats:
    """Read the stream into the store until `stop` is set (or the stream has been idle for
    `exit_when_idle_s`); everything read is committed before this returns."""
    return await JetstreamConnector(options, stop).watch(db)


class JetstreamConnector(Connector):
    errors = (*Connector.errors, InvalidHandshake, WebSocketException, httpx.HTTPError)
    options: JetstreamOptions

    def __init__(self, options: JetstreamOptions, stop: asyncio.Event):
        super().__init__(options, stop)
        self.v2 = wire.is_v2(options.url)
        options.stats.cursor_is_time = not self.v2
        # A gap to check against the first event of this connection: (from µs, reason, tolerance µs).
        self.suspect: tuple[int, str, int] | None = None
        self.decompressor: zstandard.ZstdDecompressor | None = None  # this connection's, if compressed
        # v2's dictionaries, by id, ready to decompress with: those fetched, and the one swell ships,
        # should the server name it
        self.decompressors: dict[int, zstandard.ZstdDecompressor] = {}
        if self.v2 and options.compress:
            packaged = wire.packaged_dictionary(wire.V2_DICTIONARY)
            self.decompressors[packaged.dict_id()] = zstandard.ZstdDecompressor(dict_data=packaged)
        self.dictionary_id: int | None = None  # v2: the server's current one, once known
        # v2: the oldest seq the server has, named by a CursorTooOld refusal; the next connections
        # start there, but it is not the cursor (committed, it would skip the gap's events unsaid).
        self.floor: int | None = None

    @property
    def key(self) -> str:
        return stream_key(self.options.url)

    async def watch(self, db: Path) -> LiveStats:
        if self.v2:  # the time reached, committed beside the seq, or else where a v1 watch got to
            v1 = urlunsplit(urlsplit(self.options.url)._replace(path=wire.V1_PATH, query=""))
            self.batch.seen_us = await asyncio.to_thread(committed_cursor, db, self.key + SEEN_SUFFIX)
            if self.batch.seen_us is None:
                self.batch.seen_us = await asyncio.to_thread(committed_cursor, db, stream_key(v1))
        else:  # the seq reached, committed beside the time
            self.batch.seq = await asyncio.to_thread(committed_cursor, db, self.key + SEQ_SUFFIX)
        return await super().watch(db)

    def _resume_from(self) -> int | None:
        """This connection's cursor; notes what the first event must be checked against."""
        cursor = self.batch.cursor
        if not self.v2:
            reason = "the stream resumed later than the cursor asked for (older than the server keeps)"
            self.suspect = None if cursor is None else (cursor, reason, GAP_TOLERANCE_S * 1_000_000)
            return self.batch.seq if self.batch.seq is not None else cursor
        # v2 says when it moves a cursor (a refusal, or an #info frame), and `suspect` is set then.
        if self.floor is not None and (cursor is None or cursor < self.floor):
            return self.floor
        return cursor if cursor is not None else self.batch.seen_us

    async def session(self) -> None:
        compress: bool | int = self.options.compress
        if compress and self.v2:
            compress = await self._current_dictionary()
        url = subscribe_url(self.options.url, self.options.collections, self._resume_from(), compress=compress)
        if compress:
            self.decompressor = (
                self.decompressors[compress]
                if self.v2
                else zstandard.ZstdDecompressor(dict_data=wire.packaged_dictionary(wire.LEGACY_DICTIONARY))
            )
        protocols = [Subprotocol(wire.SUBPROTOCOL)] if self.v2 else None
        try:
            # No permessage-deflate: Jetstream does not offer it, and on a local replay it only costs CPU.
            async with connect(url, max_size=None, open_timeout=10, ping_interval=20, compression=None,
                               subprotocols=protocols, user_agent_header=self.options.user_agent) as ws:  # fmt: skip
                self.connected()
                ticking = asyncio.create_task(self.clock(ws.close))
                try:
                    while True:  # until the connection closes: when done, the clock closes it
                        frame = await ws.recv(decode=False)
                        if self.done():
                            # Closing: what still comes is read and dropped (the cursor resumes it), or
                            # the server's close frame waits behind it until close() times out.
                            continue
                        self.received()
                        self.take(frame)
                        if len(self.batch.posts) >= self.options.batch_posts:
                            await self.hand_off_if_due()
                except ConnectionClosed:
                    if not self.done():
                        raise  # the server closed: reconnect
                except BaseException:
                    # Failing (the store, an error frame): no closing handshake, whose answer would wait
                    # behind the frames still coming until close() timed out.
                    ws.transport.abort()
                    raise
                finally:
                    ticking.cancel()
        except InvalidURI as exc:
            raise StreamRefused(str(exc)) from exc
        except InvalidStatus as exc:
            response = exc.response
            self._refused(url, response.status_code, bytes(response.body or b""), response.headers)

    def _refused(self, url: str, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        """A connection refused before the upgrade: a rate limit or a server error is tried again
        (with backoff, or after as long as a 429 says); the two refusals v2 names a way out of are
        taken; anything else stops."""
        if status == 429:
            self.retry_after_s = rate_limit_wait_s(headers, time.time())
        if status == 429 or status >= 500:
            raise ConnectionError(f"HTTP {status}")
        error, message = wire.xrpc_error(body)
        if self.v2 and error == "CursorTooOld":
            named = wire.named_number(message, "oldest")
            # The oldest seq it has: resume there, unless it was refused already (then by time, below).
            if named is not None and named > max(self.batch.cursor or 0, self.floor or 0):
                if self.batch.seen_us is not None:
                    reason = f"the server no longer has the events after the cursor (CursorTooOld: {visible(message)})"
                    self.suspect = (self.batch.seen_us, reason, 0)
                self.floor = named
            else:  # a message without the floor: resume from the time reached, which the server moves (#info)
                self.batch.cursor = self.floor = None
            raise ConnectionError("CursorTooOld")
        if self.v2 and error == "UnknownZstdDictionary":
            named = wire.named_number(message, "current")
            if named is not None and named != self.dictionary_id:
                self.dictionary_id = named  # retrained: the current one, fetched on the way back
                raise ConnectionError("UnknownZstdDictionary")
        raise StreamRefused(f"{visible(url)} refused the connection: HTTP {status} {visible(error)} {visible(message)}")

    async def _current_dictionary(self) -> int:
        """The id of the server's current v2 dictionary, fetched (once: an id never changes its bytes)."""
        if self.dictionary_id is not None and self.dictionary_id in self.decompressors:
            return self.dictionary_id
        async with httpx.AsyncClient(timeout=30, headers={"User-Agent": self.options.user_agent}) as client:
            response = await client.get(wire.dictionary_url(self.options.url, self.dictionary_id))
        if response.status_code == 429 or response.status_code >= 500:
            raise ConnectionError(f"{response.url}: HTTP {response.status_code}")
        if response.status_code != 200:
            error, message = wire.xrpc_error(response.content)
            raise StreamRefused(f"{response.url}: HTTP {response.status_code} {visible(error)} {visible(message)}")
        dictionary = zstandard.ZstdCompressionDict(response.content, dict_type=zstandard.DICT_TYPE_FULLDICT)
        if not dictionary.dict_id():  # no zstd dictionary header
            raise StreamRefused(f"{response.url} did not send a zstd dictionary")
        try:  # a dictionary header before contents zstd cannot load is the server's fault, said as such
            decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
        except zstandard.ZstdError as exc:
            raise StreamRefused(f"{response.url} sent a zstd dictionary that cannot be loaded ({exc})") from exc
        self.dictionary_id = dictionary.dict_id()
        self.decompressors[self.dictionary_id] = decompressor
        return self.dictionary_id

    def take(self, frame: bytes) -> None:
        batch = self.batch
        where = f"frame {batch.stats.frames}"
        try:
            if self.decompressor is not None and frame.startswith(wire.ZSTD_MAGIC):
                frame = wire.decompress(frame, self.decompressor, self.options.max_frame_bytes)
        except (ValueError, zstandard.ZstdError) as exc:
            batch.reject(f"not a zstd frame of this stream's dictionary: {exc}", frame, where)
            return
        if len(frame) > self.options.max_frame_bytes:
            limit = self.options.max_frame_bytes
            batch.reject(f"frame of {len(frame):,} bytes, over the {limit:,} limit", frame, where)
            return
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            batch.reject(f"not JSON ({exc})", frame, where)
            return
        if self.v2:
            self._take_v2(event, frame, where)
        elif not isinstance(event, dict) or not jetstream.matches(event):
            batch.reject("not a Jetstream event (no did, time_us and kind)", frame, where)
        elif self._read(event, frame, where):
            batch.cursor = max(event["time_us"], batch.cursor or 0)
            if type(seq := event.get("cursor")) is int and 0 <= seq < wire.TIME_CURSOR_FROM:
                batch.seq = max(seq, batch.seq or 0)

    def _take_v2(self, frame_object, frame: bytes, where: str) -> None:
        batch = self.batch
        kind = frame_object.get("$type") if isinstance(frame_object, dict) else None
        if kind == "error":
            error, message = str(frame_object.get("error")), str(frame_object.get("message"))[:300]
            if error in RESUMABLE_ERRORS:
                raise ConnectionError(error)
            raise StreamRefused(f"{visible(self.options.url)} ended the stream: {visible(error)} {visible(message)}")
        payload = frame_object.get("payload") if kind == "message" else None
        if not isinstance(payload, dict):
            batch.reject("not an xrpc.v1.json message or error frame", frame, where)
            return
        if payload.get("$type") == wire.MESSAGE_PREFIX + "info":
            self._info(payload)
            return
        try:
            seq, event = wire.v1_event(payload)
        except RECORD_ERRORS as exc:
            batch.reject(reason_for(exc), frame, where)
            return
        if self._read(event, frame, where, f"seq={seq}"):
            batch.cursor = max(seq, batch.cursor or 0)
            batch.seen_us = max(event["time_us"], batch.seen_us or 0)

    def _info(self, payload: dict) -> None:
        name, message = str(payload.get("name")), str(payload.get("message"))[:300]
        cursor = self.batch.seen_us
        if name == "OutdatedCursor" and self.batch.cursor is None and cursor is not None:
            reason = f"the server moved the time cursor to the oldest event it has (OutdatedCursor: {visible(message)})"
            self.suspect = (cursor, reason, 0)
        else:
            self.batch.ignore(f"{jetstream.NAME} info {name}")

    def _read(self, event: dict, frame: bytes, where: str, position: str | None = None) -> bool:
        """Read one event (v1 shape) into the batch; whether it counts as read (so moves the cursor)."""
        batch = self.batch
        time_us = event["time_us"]
        if type(time_us) is int:
            if self.suspect is not None:
                asked, reason, tolerance = self.suspect
                if time_us - asked > tolerance:
                    batch.gaps.append((batch.stream, asked, time_us, reason))
                    batch.stats.gaps.append((asked, time_us))
                self.suspect = None
            if self.past_until(time_us):
                return False
        try:
            jetstream.parse(event, f"{batch.stream} {position or f'time_us={time_us}'}", batch)
        except RECORD_ERRORS as exc:
            batch.reject(reason_for(exc), frame, where)
            return False
        return type(time_us) is int
