"""`swell replay`: play a file of Jetstream events over a local WebSocket, as Jetstream does, or
a file of Mastodon statuses as an instance's streaming API and timelines (`MastodonReplay`).

`GET /subscribe?wantedCollections=...&cursor=TIME_US` (WebSocket) sends the file's events with
`time_us >= cursor` (all of them without a cursor), in time order, restricted to the wanted
collections (identity and account events always pass, as on Jetstream). For tests and demos the
server can misbehave on purpose, reproducibly (seeded):

- `drop_every`: close each connection after a random number of events (1 to 2 x drop_every),
  as a network or server failure would;
- `bad_frames`: every that many events, also send a malformed frame (before the event): bad JSON,
  an event of an unknown collection, or a frame of 2 MB.

Events are sent as fast as the client takes them, or at `rate` events per second. For tests that
must stop the stream at a known point, `hold_at` makes every connection wait before that event
until `release` is set.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

HUGE_FRAME_BYTES = 2_000_000


@dataclass
class Replay:
    """The events of a file, in time order, and how to misbehave."""

    frames: list[bytes]
    times: list[int]
    collections: list[str | None]
    drop_every: int = 0
    bad_frames: int = 0
    rate: float = 0.0  # events per second; 0: as fast as the client reads
    seed: int = 0
    hold_at: int | None = None  # the index of the event to wait at until `release` is set
    # Like Jetstream's lookback: events before this time are gone, and an older cursor is moved to it.
    kept_from_us: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    connections: int = field(default=0, init=False)
    sent: int = field(default=0, init=False)
    sent_at: dict[int, float] = field(default_factory=dict, init=False)  # time_us -> monotonic time sent

    @classmethod
    def from_file(cls, path: Path, **options) -> Replay:
        events = []
        for line in path.read_bytes().splitlines():
            if line.strip():
                event = orjson.loads(line)
                events.append((event["time_us"], (event.get("commit") or {}).get("collection"), line))
        events.sort(key=lambda e: e[0])
        return cls(
            frames=[e[2] for e in events], times=[e[0] for e in events], collections=[e[1] for e in events], **options
        )

    def _bad_frame(self, n: int) -> bytes:
        kind = n % 3
        if kind == 0:
            return b'{"did": "did:plc:broken", "time_us": 1, "kind": "commit", "commit": {'  # cut short
        if kind == 1:
            return orjson.dumps(
                {
                    "did": "did:plc:x",
                    "time_us": 1,
                    "kind": "commit",
                    "commit": {"collection": "app.example.unknown", "operation": "create", "rkey": "x"},
                }
            )
        return b'{"junk": "' + b"x" * HUGE_FRAME_BYTES + b'"}'

    async def serve(self, websocket: ServerConnection) -> None:
        parts = urlsplit(websocket.request.path if websocket.request else "/")
        if parts.path != "/subscribe":
            await websocket.close(code=1008, reason="the endpoint is /subscribe")
            return
        self.connections += 1
        query = parse_qs(parts.query)
        wanted = {c for value in query.get("wantedCollections", []) for c in value.split(",") if c}
        cursor = query.get("cursor", [None])[0]
        oldest = self.kept_from_us or 0
        start = bisect.bisect_left(self.times, max(int(cursor), oldest) if cursor else oldest)
        rng = random.Random(f"{self.seed}:{self.connections}")
        drop_after = rng.randint(self.drop_every, 2 * self.drop_every) if self.drop_every else None
        sent_here = 0
        started = time.monotonic()
        try:
            for i in range(start, len(self.frames)):
                collection = self.collections[i]
                if wanted and collection is not None and collection not in wanted:
                    continue
                if self.hold_at is not None and i >= self.hold_at and not self.release.is_set():
                    await asyncio.to_thread(self.release.wait)
                n = self.sent + 1
                if self.bad_frames and n % self.bad_frames == 0:  # before the event: read by whoever reads it
                    await websocket.send(self._bad_frame(n // self.bad_frames), text=True)
                await websocket.send(self.frames[i], text=True)  # Jetstream sends text messages
                self.sent_at[self.times[i]] = time.monotonic()  # for measuring delays downstream
                self.sent = n
                sent_here += 1
                if drop_after is not None and sent_here >= drop_after:
                    await websocket.close(code=1011)  # as a failing server would
                    return
                if self.rate:  # on schedule: event n goes at start + n / rate, never ahead of it
                    ahead = started + sent_here / self.rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            # The file is played out: stay open and quiet, as a live stream with nothing new does,
            # until the client leaves or the server shuts down.
            await websocket.wait_closed()
        except ConnectionClosed:
            return  # the client went away


async def _serve(replay: Replay, host: str, port: int, started: Callable[[int], None] | None = None) -> None:
    async with serve(replay.serve, host, port, max_size=2**20) as server:
        if started:
            started(server.sockets[0].getsockname()[1])
        await server.serve_forever()


# --- Mastodon ------------------------------------------------------------------------------------


@dataclass
class MastodonReplay:
    """A file of Mastodon statuses, published at `rate` a second from the first request on, as an
    instance publishes them: the streaming API (server-sent events) sends each connection the
    statuses published while it is connected, and the REST timelines serve what has been published,
    so that a client that was away can catch up (`min_id`), as with a real instance."""

    statuses: list[dict]
    rate: float = 1_000.0
    drop_every: int = 0
    bad_events: int = 0  # every that many statuses, also an update that is not JSON and an unknown event
    seed: int = 0
    connections: int = field(default=0, init=False)
    started: float | None = field(default=None, init=False)

    @classmethod
    def from_file(cls, path: Path, **options) -> MastodonReplay:
        statuses = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        return cls(sorted(statuses, key=lambda s: int(s["id"])), **options)

    def published(self) -> int:
        if self.started is None:
            self.started = time.monotonic()
        return min(len(self.statuses), int((time.monotonic() - self.started) * self.rate))

    @staticmethod
    def _has_tag(status: dict, tag: str | None) -> bool:
        shown = status.get("reblog") or status
        return tag is None or tag.lower() in {t["name"].lower() for t in shown.get("tags", [])}

    async def stream(self, request):
        from starlette.responses import StreamingResponse

        tag = request.query_params.get("tag") if request.url.path.endswith("/hashtag") else None
        self.connections += 1
        rng = random.Random(f"{self.seed}:{self.connections}")
        drop_after = rng.randint(self.drop_every, 2 * self.drop_every) if self.drop_every else None

        async def events():
            position, sent = self.published(), 0
            yield b":)\n\n"  # Mastodon opens the stream with a comment
            while True:
                for status in self.statuses[position : self.published()]:
                    position += 1
                    if self._has_tag(status, tag):
                        sent += 1
                        if self.bad_events and sent % self.bad_events == 0:  # before the status
                            yield b'event: update\ndata: {"id": "1", "content": <p>cut\n\n'
                            yield b'event: announcement\ndata: {"id": "2"}\n\n'
                        yield b"event: update\ndata: " + orjson.dumps(status) + b"\n\n"
                        if drop_after is not None and sent >= drop_after:
                            return  # the stream ends, as when an instance restarts
                await asyncio.sleep(0.01)

        return StreamingResponse(events(), media_type="text/event-stream")

    async def timeline(self, request):
        from starlette.responses import JSONResponse

        tag = request.path_params.get("tag")
        min_id = int(request.query_params.get("min_id", 0))
        limit = min(int(request.query_params.get("limit", 20)), 40)
        ids = [int(s["id"]) for s in self.statuses]
        start = bisect.bisect_right(ids, min_id)
        page = [s for s in self.statuses[start : self.published()] if self._has_tag(s, tag)][:limit]
        return JSONResponse(page[::-1])  # newest first, as Mastodon returns them

    def app(self):
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(
            routes=[
                Route("/api/v1/streaming/public", self.stream),
                Route("/api/v1/streaming/hashtag", self.stream),
                Route("/api/v1/timelines/public", self.timeline),
                Route("/api/v1/timelines/tag/{tag}", self.timeline),
            ]
        )


def load(path: Path, **options) -> Replay | MastodonReplay:
    """The replay for a file: Jetstream events or Mastodon statuses, told by its first record."""
    with path.open("rb") as f:
        first = orjson.loads(next(line for line in f if line.strip()))
    if "time_us" in first:
        return Replay.from_file(path, **options)
    if "uri" in first and "account" in first:  # an instance publishes at some rate: 1,000/s unless told
        return MastodonReplay.from_file(
            path,
            rate=options.get("rate") or 1_000.0,
            drop_every=options.get("drop_every", 0),
            bad_events=options.get("bad_frames", 0),
            seed=options.get("seed", 0),
        )
    raise ValueError(f"{path}: neither Jetstream events nor Mastodon statuses")


def run(
    replay: Replay | MastodonReplay, host: str = "127.0.0.1", port: int = 6008, on_ready: Callable[[str], None] = print
) -> None:
    """Serve until stopped; `on_ready` gets the URL once the server accepts connections (port 0: a
    free port)."""
    if isinstance(replay, MastodonReplay):
        from swell.web import listen
        from swell.web import run as run_app

        sock = listen(host, port)
        on_ready(f"http://{_host(host)}:{sock.getsockname()[1]}")
        run_app(replay.app(), sock)
    else:
        asyncio.run(_serve(replay, host, port, lambda bound: on_ready(f"ws://{_host(host)}:{bound}/subscribe")))


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class HttpReplay(Protocol):
    """A replay served over HTTP: `MastodonReplay`, and the archives of `swell.live.archives`."""

    def app(self): ...


@contextlib.contextmanager
def serving(replay: Replay | HttpReplay, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve in a thread of this process on a free port, for tests and benchmarks; yields the URL
    (ws://HOST:PORT/subscribe for Jetstream, http://HOST:PORT for the others)."""
    if not isinstance(replay, Replay):
        with _serving_http(replay.app(), host) as url:
            yield url
        return
    loop = asyncio.new_event_loop()
    ready: queue.SimpleQueue[int] = queue.SimpleQueue()
    task = loop.create_task(_serve(replay, host, 0, ready.put))

    def until_cancelled() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=until_cancelled, daemon=True)
    thread.start()
    try:
        yield f"ws://{host}:{ready.get()}/subscribe"
    finally:
        replay.release.set()  # a connection held mid-stream (`hold_at`) must not keep the server up
        loop.call_soon_threadsafe(task.cancel)
        thread.join()
        loop.close()


@contextlib.contextmanager
def _serving_http(app, host: str) -> Iterator[str]:
    import uvicorn

    from swell.web import listen

    sock = listen(host, 0)  # listening before the server starts: an early client waits, not refused
    # The streams of connected clients never end by themselves: shutting down waits a second for them.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
