"""The past of a Bluesky hashtag, from public services that need no account.

- Within Jetstream's lookback (36 hours; `lookback_s`): Jetstream replayed from a timestamp cursor
  by the live connector (`swell.live.jetstream`), posts and reposts (so co-reposts are seen), no
  result cap, stopped at the first event at or after `until`. Its cursor is committed with the
  posts under the slice's own key, so a resumed collection goes on from there.
- Before it: `app.bsky.feed.searchPosts` on the AppView (`q`, `tag`, `since`, `until`,
  `sort=latest`, `limit=100`, `cursor`). Search gives at most about 10,000 results for one query;
  a slice is followed by the slice from its start to the oldest post it reached (as medialab/minet
  does, PR 1018), until one finds nothing older: a capped slice cannot be told by its count, as
  the AppView leaves moderated posts out of its pages. Search gives no reposts: co-reposts before
  the lookback are not seen (said in `stats.notes`).

Both go through the file readers (`swell.readers.bluesky`, `swell.readers.jetstream`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from swell.collect.pages import CollectOptions, Collector, CollectStats, run, until_stopped
from swell.collect.polite import CollectRefused, checked_url
from swell.collect.slices import Slice, stored_slices, uncovered
from swell.escapes import visible
from swell.live import jetstream_wire as wire
from swell.live.jetstream import DEFAULT_URL as JETSTREAM_URL
from swell.live.jetstream import JetstreamConnector, JetstreamOptions, stream_key
from swell.live.writer import SEEN_SUFFIX, LiveBatch
from swell.model import Post, posts_to_batch
from swell.readers import bluesky
from swell.store import Store
from swell.times import shown, us_to_datetime

DEFAULT_SERVICE = "https://public.api.bsky.app"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
SEARCH_CAP = 10_000  # results searchPosts pages through for one query
LOOKBACK_S = 36 * 3_600  # what Jetstream keeps
# Of the lookback, this much is left to search: a cursor at its very edge could be moved forward
# by the time the connection is made.
LOOKBACK_MARGIN_S = 3_600


@dataclass
class BlueskyCollect(CollectOptions):
    service: str = DEFAULT_SERVICE
    jetstream: str = JETSTREAM_URL
    cap: int = SEARCH_CAP
    lookback_s: float = LOOKBACK_S
    page_size: int = 100
    idle_s: float = 120.0  # Jetstream silent this long before `until`: the collection stops (exit 1)


def collect_bluesky(options: BlueskyCollect) -> CollectStats:
    """Collect the hashtag's posts from `since_us` to `until_us` (now, if None) into `options.db`:
    what an earlier run left unfinished first, then what no earlier run covers. Raises
    `CollectRefused` when a service refuses (the posts read until then are committed); a refusing
    search does not stop Jetstream's part, which is collected before the refusal is raised.
    `UsageError` when a URL is not one."""
    options.service = checked_url(options.service, "the service")
    options.jetstream = checked_url(options.jetstream, "the Jetstream", ("ws", "wss"))
    return run(lambda stop: collect_bluesky_async(options, stop), options)


async def collect_bluesky_async(options: BlueskyCollect, stop: asyncio.Event) -> None:
    until = options.fix_until()
    search_source, jetstream_source = f"bluesky-search:{options.service}", stream_key(options.jetstream)
    boundary = int((time.time() - options.lookback_s + LOOKBACK_MARGIN_S) * 1_000_000)
    earlier = [s for s in stored_slices(options.db, options.hashtag) if s.source in (search_source, jetstream_source)]
    todo = [s for s in earlier if not s.done]
    for start, end in uncovered(options.since_us, until, earlier):
        if start < boundary:
            todo.append(Slice(search_source, options.hashtag, start, min(end, boundary)))
        if end > boundary:
            todo.append(Slice(jetstream_source, options.hashtag, max(start, boundary), end))
    searching = [s for s in todo if s.source == search_source]
    if searching:
        options.stats.notes.append(
            f"searchPosts gives no reposts: before {us_to_datetime(boundary):%Y-%m-%d %H:%M} UTC "
            "(Jetstream's lookback) co-reposts are not seen"
        )
    refused = await _searched(options, searching, search_source, stop)
    gaps = len(options.stats.gaps)
    for s in todo:
        if s.source == jetstream_source and not stop.is_set():
            await _replay(options, s, stop)
    # What Jetstream no longer had (its lookback moved on since the boundary was drawn, or a slice
    # resumed days later), asked of search; the gap stays recorded, and said.
    clamped = [Slice(search_source, options.hashtag, a, b) for a, b in options.stats.gaps[gaps:]]
    if clamped and refused is None and not stop.is_set():
        options.stats.notes.append(
            "what Jetstream no longer had was asked of searchPosts instead (posts, but no reposts)"
        )
        refused = await _searched(options, clamped, search_source, stop)
    if refused is not None:
        raise refused


async def _searched(options: BlueskyCollect, slices: list[Slice], source: str,
                    stop: asyncio.Event) -> CollectRefused | None:  # fmt: skip
    """Search's slices; its refusal, returned: Jetstream's part does not depend on search's."""
    if not slices:
        return None
    try:
        async with Collector(options) as collector:
            await until_stopped(_search(options, collector, slices, source), stop)
    except CollectRefused as exc:
        return exc
    return None


async def _search(options: BlueskyCollect, collector: Collector, slices: list[Slice], source: str) -> None:
    politeness = options.politeness
    async with politeness.client(options.service) as client:
        while slices:
            s = slices.pop(0)
            while not s.done:
                params: dict[str, str | int] = {"q": f"#{options.hashtag}", "tag": options.hashtag, "sort": "latest"}
                params |= {"limit": options.page_size, "since": _iso_ms(s.since_us), "until": _iso_ms(s.until_us)}
                before = s.cursor
                if before:
                    params["cursor"] = before
                body = await politeness.get_json(client, SEARCH, params)
                posts = body.get("posts") if isinstance(body, dict) else None
                if not isinstance(posts, list):
                    raise CollectRefused(f"{options.service}{SEARCH}: the answer is not a searchPosts page (no posts)")
                page = collector.page()
                if posts:
                    bluesky.parse({"posts": posts}, f"{source} #{options.hashtag}", page)
                cursor = body.get("cursor")
                s.cursor = cursor if isinstance(cursor, str) and cursor else None
                s.fetched += len(posts)
                s.reached_us = min([p.created_at for p in page.posts] + ([s.reached_us] if s.reached_us else []),
                                   default=None)  # fmt: skip
                follow = []
                # An empty page with a new cursor goes on: the AppView leaves moderated posts out.
                if s.cursor is None or (not posts and s.cursor == before):
                    s.done = True
                    hits = body.get("hitsTotal")
                    follow = _after_cap(options, s, hits if type(hits) is int else None)
                await collector.add(page, [s, *follow], source)
                slices[:0] = follow


def _after_cap(options: BlueskyCollect, s: Slice, hits: int | None) -> list[Slice]:
    """The slice that goes on where one stopped: from its start to the oldest post reached (its
    millisecond included: `until` is exclusive, and a post of that millisecond may be left). It is
    asked whenever the oldest post is after the slice's start, not only when the paging ended at the
    cap: the AppView leaves moderated posts out of its pages, so a capped slice may hold fewer, and
    its `hitsTotal` may be missing. A slice that was not capped is followed by one that finds
    nothing older (one more request), which ends the chain."""
    if s.reached_us is None or s.reached_us <= s.since_us:
        return []
    until = (s.reached_us // 1_000 + 1) * 1_000
    if until >= s.until_us:  # all within one millisecond: slicing cannot go on
        capped = s.fetched >= options.cap or (hits is not None and hits > s.fetched)
        if capped:
            options.stats.notes.append(
                f"more than {options.cap:,} results within the millisecond {_iso_ms(s.reached_us)}: some may be missing"
            )
        return []
    return [Slice(s.source, s.query, s.since_us, until)]


def _iso_ms(us: int) -> str:
    return us_to_datetime(us).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _SliceConnector(JetstreamConnector):
    """The Jetstream connector with its cursor stored under the slice's key, not the stream's, and
    polite as search is: it gives up after `attempts` connections in a row that failed (an
    unreachable host is retried forever by `swell watch`), and its progress shows the time reached."""

    def __init__(self, options: JetstreamOptions, stop: asyncio.Event, key: str, attempts: int,
                 collect: BlueskyCollect, source: str):  # fmt: skip
        self.slice_key, self.attempts, self.collect, self.source = key, attempts, collect, source
        self.failed = 0  # connections in a row that failed before their first event
        super().__init__(options, stop)
        self.batch = _Within(self.key, options.hashtags, options.langs, options.stats, collect=collect)

    @property
    def key(self) -> str:
        return self.slice_key

    async def session(self) -> None:
        connections, frames = self.options.stats.connections, self.options.stats.frames
        try:
            await super().session()
        except self.errors as exc:
            self.failed = 0 if self.options.stats.frames > frames else self.failed + 1
            if self.failed >= self.attempts:
                tried = "connected but gave no event" if self.options.stats.connections > connections else "failed"
                raise CollectRefused(
                    f"{visible(self.options.url)}: gave up after {self.attempts} connections in a row that {tried} "
                    f"({visible(str(exc)) or type(exc).__name__})"
                ) from exc
            raise

    def received(self) -> None:
        super().received()
        reached = self.batch.seen_us if self.v2 else self.batch.cursor
        if reached is not None:
            self.collect.stats.reached_us[self.source] = reached


@dataclass
class _Within(LiveBatch):
    """A Jetstream slice's batch: posts written within the time asked for, as search's are (Jetstream
    replays by the time an event was indexed, which can be well after the post says it was written)."""

    collect: BlueskyCollect | None = None

    def post(self, post: Post) -> None:
        assert self.collect is not None
        if self.collect.since_us <= post.created_at < self.collect.fix_until():
            super().post(post)
        else:
            self.collect.stats.outside += 1


async def _replay(options: BlueskyCollect, s: Slice, stop: asyncio.Event) -> None:
    """One Jetstream slice: its cursor starts at its `since` (stored with the slice, unless a run
    before has gone further) and the connector stops at its `until`, or, when no event comes for
    `idle_s` (a Jetstream that has nothing up to `until`), with `CollectRefused`."""
    key = f"collect:{s.source}#{s.query}@{s.since_us}-{s.until_us}"
    # v1's cursor is a time; v2's is a seq, with the time reached beside it, where a v2 connection
    # without a seq starts from.
    start = key + SEEN_SUFFIX if wire.is_v2(options.jetstream) else key
    with Store(options.db) as store:  # a cursor is never moved back: a resumed slice keeps its own
        store.append(posts_to_batch([]), cursor=(start, s.since_us), slices=[s.row()])
    politeness = options.politeness
    live = JetstreamOptions(url=options.jetstream, hashtags=frozenset({options.hashtag}), until_us=s.until_us,
                            batch_posts=options.batch_posts, batch_seconds=options.batch_seconds,
                            stats=options.stats, user_agent=politeness.user_agent, backoff_s=politeness.backoff_s,
                            exit_when_idle_s=options.idle_s)  # fmt: skip
    connector = _SliceConnector(live, stop, key, politeness.attempts, options, s.source)
    await connector.watch(options.db)
    if connector.reached_until:
        s.done = True
        options.stats.slices_done += 1
        with Store(options.db) as store:
            store.append(posts_to_batch([]), slices=[s.row()])
    elif not stop.is_set():
        raise CollectRefused(
            f"{visible(options.jetstream)}: no event for {options.idle_s:g} s before {shown(s.until_us)} "
            "(a Jetstream that has nothing more, or a stalled one); the same command goes on from there"
        )
