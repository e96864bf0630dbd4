"""Mastodon's streaming API, live: server-sent events from `/api/v1/streaming/public` (or
`public/local`, or `hashtag?tag=`), with an access token where the instance asks for one.

The stream has no replay: what is published while swell is away is not sent again. So after each
connection opens, the connector catches up from the REST timeline of the same stream
(`/api/v1/timelines/public` or `/tag/:tag`) with `min_id` = the newest status id it has read, page
by page, while the stream's events wait in the socket; the newest id is committed with the posts,
so a restarted swell catches up from there too. Posts are keyed by their ActivityPub uri, so what
arrives both ways is stored once. Statuses go through the Mastodon file reader; `delete` events are
recorded as deletions of the instance's local id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import orjson
import pyarrow as pa
from httpx_sse import SSEError, aconnect_sse

from swell.errors import StreamRefused
from swell.escapes import visible
from swell.live.connector import Connector, LiveOptions
from swell.live.session import together
from swell.live.writer import LiveStats
from swell.normalise import normalize_hashtag
from swell.readers import mastodon
from swell.readers.base import RECORD_ERRORS, reason_for
from swell.times import parse_iso_time

PAGE = 40  # the most statuses a Mastodon timeline page holds
# Statuses remembered to count each once when several instances deliver it: they do so within minutes
# of each other, and this many is hours of a busy instance's public stream (tens of MB).
RECENT_IDS = 200_000


@dataclass
class MastodonOptions(LiveOptions):
    token: str | None = None
    hashtag: str | None = None  # the hashtag stream instead of the public one
    local: bool = False  # the instance's own posts only


async def watch(db: Path, options: MastodonOptions, stop: asyncio.Event) -> LiveStats:
    return await MastodonConnector(options, stop).watch(db)


async def watch_many(db: Path, options: MastodonOptions, urls: list[str], stop: asyncio.Event) -> LiveStats:
    """`watch` on several instances at once, one connector (and cursor) each, sharing `options`
    (but its url) and its stats. A status that two instances deliver is stored once (posts are keyed
    by uri) and given to `options.on_commit` once, so that trends count it once."""
    seen = RecentIds(RECENT_IDS)
    forward = options.on_commit

    def once(records: pa.RecordBatch) -> None:  # in the writers' threads, which take turns
        fresh = seen.fresh(records.column("post_id").to_pylist())
        if forward is not None:
            forward(records.filter(pa.array(fresh, pa.bool_())))

    each = [replace(options, url=url, on_commit=once) for url in dict.fromkeys(urls)]
    await together([MastodonConnector(o, stop).watch(db) for o in each])  # a refusal of one stops all
    return options.stats


class RecentIds:
    """The ids seen lately, at most `limit` of them (the oldest forgotten first), so that a watch of
    days holds bounded memory."""

    def __init__(self, limit: int):
        self.limit = limit
        self.ids: dict[str, None] = {}  # in the order first seen

    def fresh(self, ids: list[str]) -> list[bool]:
        """Whether each id is new (not among the recent ones nor earlier in `ids`); all are remembered."""
        fresh = []
        for post_id in ids:
            fresh.append(post_id not in self.ids)
            self.ids[post_id] = None
        while len(self.ids) > self.limit:
            del self.ids[next(iter(self.ids))]
        return fresh


class MastodonConnector(Connector):
    # Network failures and server errors (5xx, 429) are worth another try; a refused token is not.
    errors = (*Connector.errors, httpx.TransportError, httpx.HTTPStatusError, SSEError)
    options: MastodonOptions

    def __init__(self, options: MastodonOptions, stop: asyncio.Event):
        super().__init__(options, stop)
        options.stats.cursor_is_time = False  # the newest local status id read

    @property
    def key(self) -> str:
        """The cursor is per stream: a hashtag's newest status is not the public stream's."""
        path, params, _, _ = self._stream()
        return f"mastodon:{self.options.url.rstrip('/')}{path}" + "".join(f"?{k}={v}" for k, v in params.items())

    def _stream(self) -> tuple[str, dict, str, dict]:
        """The streaming path and parameters, and the timeline (path, parameters) with the same statuses."""
        o = self.options
        if o.hashtag:
            tag = normalize_hashtag(o.hashtag)  # one cursor for #Blast and blast
            return "/api/v1/streaming/hashtag", {"tag": tag}, f"/api/v1/timelines/tag/{tag}", {}
        if o.local:
            return "/api/v1/streaming/public/local", {}, "/api/v1/timelines/public", {"local": "true"}
        return "/api/v1/streaming/public", {}, "/api/v1/timelines/public", {}

    async def session(self) -> None:
        try:
            await self._session()
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise StreamRefused(f"{self.options.url}: {exc}") from exc

    async def _session(self) -> None:
        path, params, timeline, timeline_params = self._stream()
        headers = {"User-Agent": self.options.user_agent}
        if self.options.token:
            headers["Authorization"] = f"Bearer {self.options.token}"
        timeout = httpx.Timeout(10.0, read=None)  # the stream is quiet at times; heartbeats come every 15 s
        async with (
            httpx.AsyncClient(base_url=self.options.url, headers=headers, timeout=timeout) as client,
            aconnect_sse(client, "GET", path, params=params) as source,
        ):
            if source.response.status_code == 404:
                raise StreamRefused(f"{self.options.url}{path}: 404, not a Mastodon streaming API")
            if source.response.status_code >= 400:
                await source.response.aread()  # the refusal's body, for its error
                _refused(source.response)
            self.connected()
            ticking = asyncio.create_task(self.clock(source.response.aclose))
            try:
                await self._catch_up(client, timeline, timeline_params)
                async for event in source.aiter_sse():
                    if self.done():
                        break
                    self.received()
                    self.take(event.event, event.data, "stream")
                    if len(self.batch.posts) >= self.options.batch_posts:
                        await self.hand_off_if_due()
            except (httpx.StreamClosed, httpx.ReadError):
                pass
            finally:
                ticking.cancel()
        if not self.done():
            raise ConnectionError("the stream ended")  # reconnect

    async def _catch_up(self, client: httpx.AsyncClient, timeline: str, params: dict) -> None:
        """The statuses published since the newest one read, from the REST timeline, page by page
        until a page is empty or does not move the cursor on (so a page of bad statuses cannot loop)."""
        while self.batch.cursor is not None and not self.done():
            before = self.batch.cursor
            response = await client.get(timeline, params={**params, "min_id": str(before), "limit": PAGE})
            _refused(response)
            page = response.json()
            if not isinstance(page, list) or not page:
                return
            for status in reversed(page):  # Mastodon lists the newest first
                if self.done():
                    return
                self.received()
                self.take("update", status, "timeline")
            await self.hand_off_if_due()
            if self.batch.cursor == before:
                return

    def take(self, event: str, data, how: str) -> None:
        batch = self.batch
        where = f"{how} event {batch.stats.frames}"
        if event != "update":
            try:
                mastodon.parse({"event": event, "payload": data}, f"{batch.stream} {event}", batch)
            except RECORD_ERRORS as exc:
                batch.reject(reason_for(exc), data, where)
            return
        try:
            status = orjson.loads(data) if isinstance(data, str) else data
        except orjson.JSONDecodeError as exc:
            batch.reject(f"not JSON ({exc})", data, where)
            return
        if self.past_until(_created_us(status)):
            return
        local_id = _local_id(status)
        try:
            mastodon.parse(status, f"{batch.stream} id={local_id}", batch)
        except RECORD_ERRORS as exc:
            batch.reject(reason_for(exc), data, where)
        # Past a bad status too: it is set aside, and the catch-up must not ask for it again.
        if local_id is not None and (batch.cursor is None or local_id > batch.cursor):
            batch.cursor = local_id


def _refused(response: httpx.Response) -> None:
    """A refusal of the stream or the timeline: a rate limit or a server error is tried again (with
    backoff); anything else stops the watch with the instance's words, as no retry will change it."""
    status = response.status_code
    if status < 400:
        return
    if status == 429 or status >= 500:
        response.raise_for_status()
    try:
        said = str(orjson.loads(response.content).get("error"))[:300]
    except (orjson.JSONDecodeError, AttributeError):
        said = response.text[:300]
    hint = ", a token is needed (--token)" if status in (401, 403) else ""
    raise StreamRefused(f"{visible(str(response.url))}: {status} {visible(said)}{hint}")


def _created_us(status) -> int:
    """A status's time, or 0 when it has none that parses (the reader then says what is wrong)."""
    try:
        return parse_iso_time(status["created_at"])
    except (KeyError, TypeError, ValueError):
        return 0


def _local_id(status) -> int | None:
    try:
        return int(status["id"])
    except (KeyError, TypeError, ValueError):
        return None
