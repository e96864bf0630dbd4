"""Local stand-ins for the services `swell collect` pages through, for tests and benchmarks (served by
`swell.live.replay.serving`, as the live replays are):

- `SearchAppView`: Bluesky's `app.bsky.feed.searchPosts` over a file of PostViews, newest first,
  with `q` (required, as on the AppView), `tag`, `since`, `until`, `limit` (at most 100) and an
  offset `cursor`, and the AppView's cap: no cursor past `cap` results of one query; moderated
  posts left out of the pages, if asked (so that a page may be short, or empty with a cursor);
- `MastodonInstance`: `/api/v1/timelines/tag/:hashtag` (`max_id`, `min_id`, `limit` at most 40)
  over statuses with this instance's local ids; `MastodonInstance.sharing` makes two instances that
  know some of the same statuses, under ids of their own, as federated instances do.

Both misbehave on purpose, reproducibly (`Misbehaviour`, seeded): 429 with `Retry-After` (in
seconds or as an HTTP date) or `ratelimit-reset`, 503, a connection dropped halfway through the
body, or every request refused with one 4xx. A Mastodon instance also answers under `/moved/` with a
redirect to the same path without it.
"""

from __future__ import annotations

import asyncio
import bisect
import email.utils
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from swell.normalise import normalize_hashtag
from swell.readers.bluesky import post_view_to_post
from swell.times import parse_iso_time


class Dropped(Exception):
    """Raised halfway through a body: the server closes the connection, as a failing one does."""


@dataclass
class Misbehaviour:
    """Each request fails with these chances (never two in a row, so every page comes at the second
    try at the latest), or, with `refuse`, every request is answered with that status."""

    rate_limited: float = 0.0
    server_errors: float = 0.0
    dropped: float = 0.0
    retry_after_s: int = 0  # what a 429 asks for
    refuse: int | None = None
    rate_limited_first: int = 0  # the first this many requests: 429 with Retry-After, in a row
    seed: int = 0
    # For tests that must stop a collection at a known point: requests after the first `hold_after`
    # wait until `release` is set.
    hold_after: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    requests: int = field(default=0, init=False)
    failures: Counter = field(default_factory=Counter, init=False)
    _failed_last: bool = field(default=False, init=False)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def respond(self, body):
        from starlette.responses import JSONResponse, Response, StreamingResponse

        self.requests += 1
        if self.hold_after is not None and self.requests > self.hold_after:
            await asyncio.to_thread(self.release.wait)
        if self.refuse is not None:
            said = {"error": "AuthMissing", "message": "Authentication Required"}
            return JSONResponse(said, status_code=self.refuse)
        draw = self._rng.random()
        kind = "429" if self.requests <= self.rate_limited_first else None
        if kind is None and not self._failed_last:
            for name, chance in (("429", self.rate_limited), ("5xx", self.server_errors), ("dropped", self.dropped)):
                if draw < chance:
                    kind = name
                    break
                draw -= chance
        self._failed_last = kind is not None
        if kind is None:
            return Response(orjson.dumps(body), media_type="application/json")
        self.failures[kind] += 1
        if kind == "5xx":
            return JSONResponse({"error": "InternalServerError"}, status_code=503)
        if kind == "dropped":
            data = orjson.dumps(body)

            async def half():
                yield data[: len(data) // 2]
                raise Dropped("the connection is dropped on purpose")

            return StreamingResponse(half(), media_type="application/json")
        # The three ways a service says how long to wait, in turn.
        way = self.failures["429"] % 3
        if way == 0:
            headers = {"Retry-After": str(self.retry_after_s)}
        elif way == 1:
            headers = {"Retry-After": email.utils.formatdate(time.time() + self.retry_after_s, usegmt=True)}
        else:
            headers = {"ratelimit-reset": str(int(time.time()) + self.retry_after_s), "ratelimit-remaining": "0"}
        return JSONResponse({"error": "RateLimitExceeded"}, status_code=429, headers=headers)


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@dataclass
class SearchAppView:
    views: list[dict]
    cap: int = 10_000
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    # As the AppView leaves moderated posts out of its pages (they still count towards the cap and the
    # cursor's offset): every `moderated`th post of a hashtag is left out; and `hitsTotal` may be left out.
    moderated: int = 0
    hits_total: bool = True
    hidden: set[str] = field(default_factory=set, init=False)  # the uris of the posts left out
    # per hashtag, its posts' times (negated: newest first, for bisect) and the posts
    by_tag: dict[str, tuple[list[int], list[dict]]] = field(init=False)
    asked: list[str] = field(default_factory=list, init=False)  # the URLs requested, in order
    agents: set[str] = field(default_factory=set, init=False)  # the User-Agents they came with

    def __post_init__(self) -> None:
        # a post's time as the AppView sorts it (never later than it was indexed), as the reader takes it
        tagged: dict[str, list[tuple[int, dict]]] = {}
        for view in self.views:
            post = post_view_to_post(view, "search")
            for tag in set(post.hashtags):
                tagged.setdefault(tag, []).append((-post.created_at, view))
        self.by_tag = {}
        for tag, posts in tagged.items():
            posts.sort(key=lambda e: e[0])
            self.by_tag[tag] = ([t for t, _ in posts], [v for _, v in posts])
            if self.moderated:
                self.hidden.update(v["uri"] for v in self.by_tag[tag][1][self.moderated - 1 :: self.moderated])

    @classmethod
    def from_file(cls, path: Path, **options) -> SearchAppView:
        return cls(_lines(path), **options)

    async def search(self, request):
        from starlette.responses import JSONResponse

        self.asked.append(str(request.url))
        self.agents.add(request.headers.get("user-agent", ""))
        q = request.query_params
        if not q.get("q"):
            return JSONResponse({"error": "InvalidRequest", "message": 'Params must have the property "q"'}, 400)
        tags = [normalize_hashtag(t) for t in q.getlist("tag")]
        if len(tags) != 1:
            return JSONResponse({"error": "InvalidRequest", "message": "this stand-in takes one tag"}, 400)
        times, views = self.by_tag.get(tags[0], ([], []))
        # newest first: from the first post before `until` to the last at or after `since`
        first = bisect.bisect_right(times, -parse_iso_time(q["until"])) if "until" in q else 0
        last = bisect.bisect_right(times, -parse_iso_time(q["since"])) if "since" in q else len(times)
        hits = max(0, last - first)
        offset, limit = int(q.get("cursor") or 0), min(int(q.get("limit") or 25), 100)
        end = min(offset + limit, hits, self.cap)
        body: dict = {"posts": [v for v in views[first + offset : first + end] if v["uri"] not in self.hidden]}
        if self.hits_total:
            body["hitsTotal"] = hits
        if end < min(hits, self.cap):
            body["cursor"] = str(end)
        return await self.misbehaviour.respond(body)

    def app(self):
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(routes=[Route("/xrpc/app.bsky.feed.searchPosts", self.search)])


@dataclass
class MastodonInstance:
    statuses: list[dict]  # with this instance's local ids
    misbehaviour: Misbehaviour = field(default_factory=Misbehaviour)
    ignores_max_id: bool = False  # as some servers do: every page is the newest
    opaque_ids: bool = False  # ids that are not numbers, as Pleroma's, Akkoma's and GoToSocial's
    asked: list[str] = field(default_factory=list, init=False)  # the URLs requested, in order
    agents: set[str] = field(default_factory=set, init=False)  # the User-Agents they came with

    def __post_init__(self) -> None:
        # per hashtag, its statuses' ids (negated: newest first, for bisect) and the statuses
        tagged: dict[str, list[tuple[int, dict]]] = {}
        for status in self.statuses:
            for tag in {normalize_hashtag(t["name"]) for t in status.get("tags") or ()}:
                tagged.setdefault(tag, []).append((-int(status["id"]), status))
        self.by_tag: dict[str, tuple[list[int], list[dict]]] = {}
        for tag, statuses in tagged.items():
            statuses.sort(key=lambda e: e[0])
            self.by_tag[tag] = ([i for i, _ in statuses], [s for _, s in statuses])

    @staticmethod
    def sharing(
        path: Path, seed: int = 0, misbehaviour: Misbehaviour | None = None
    ) -> tuple[MastodonInstance, MastodonInstance]:
        """Two instances over a file of statuses: the first knows three in four of them, under their
        ids in the file; the second knows three in four too (half of all the statuses are on both),
        under ids of its own: snowflakes of their time, as an instance makes for a status that
        reaches it from another. Each misbehaves as `misbehaviour` says, seeded apart."""
        rng = random.Random(seed)
        first, second = [], []
        for status in _lines(path):
            draw = rng.random()
            if draw < 0.75:
                first.append(status)
            if draw >= 0.25:
                ms = parse_iso_time(status["created_at"]) // 1_000
                second.append({**status, "id": str((ms << 16) + rng.getrandbits(16))})
        m = misbehaviour or Misbehaviour()  # `replace` shares its `release` between the two
        one, two = replace(m, seed=m.seed + 1), replace(m, seed=m.seed + 2)
        return MastodonInstance(first, one), MastodonInstance(second, two)

    async def tag(self, request):
        self.asked.append(str(request.url))
        self.agents.add(request.headers.get("user-agent", ""))
        tag = normalize_hashtag(request.path_params["tag"])
        q = request.query_params
        max_id = 2**63 if self.ignores_max_id or not q.get("max_id") else self._number(q["max_id"])
        min_id = self._number(q.get("min_id") or q.get("since_id") or "0")
        limit = min(int(q.get("limit") or 20), 40)
        ids, statuses = self.by_tag.get(tag, ([], []))
        newer, older = bisect.bisect_right(ids, -max_id), bisect.bisect_left(ids, -min_id)
        # min_id: the oldest statuses after it, as Mastodon pages forward; else the newest before max_id
        start, end = (max(newer, older - limit), older) if "min_id" in q else (newer, min(older, newer + limit))
        page = statuses[start:end]
        if self.opaque_ids:  # fixed-width, so that they sort as the numbers do
            page = [{**status, "id": f"A{int(status['id']):016x}"} for status in page]
        return await self.misbehaviour.respond(page)

    def _number(self, given: str) -> int:
        return int(given[1:], 16) if self.opaque_ids and given.startswith("A") else int(given)

    def app(self):
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(routes=[Route("/api/v1/timelines/tag/{tag}", self.tag), Route("/moved/{path:path}", _moved)])


async def _moved(request):
    """`/moved/...` is at `/...` now (301), as an instance that moved says."""
    from starlette.responses import RedirectResponse

    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"/{request.path_params['path']}{query}", status_code=301)
