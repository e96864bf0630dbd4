"""`swell replay`: play a file of Jetstream events over a local WebSocket, as Jetstream (v2) does at
both its endpoints, or a file of Mastodon statuses as an instance's streaming API and timelines
(`MastodonReplay`).

The file's events, in time order, are numbered from `first_seq` (their `seq`, the v2 cursor):

- `GET /subscribe?wantedCollections=...&cursor=N[&compress=true]` (WebSocket, v1): each event as it
  is in the file with its `cursor` (seq) added, from the cursor on (a seq below 10^15, a time in µs
  from there; all events without one), restricted to the wanted collections (identity and account
  events always pass, as on Jetstream); with `compress=true`, zstd frames (the legacy dictionary);
- `GET /xrpc/network.bsky.jetstream.subscribeEvents?collections=...&kinds=...&dids=...&cursor=N
  [&zstdDictionary=ID]` (WebSocket, v2, `xrpc.v1.json` framing), with the lexicon's refusals before
  the upgrade (v1 parameter names, unknown kinds, a collections filter that cannot apply, an unknown
  dictionary id, a seq cursor older than the server keeps: `CursorTooOld`, naming the oldest seq);
- `GET /xrpc/network.bsky.jetstream.getZstdDictionary[?id=ID]`: the v2 dictionary.

`kept_from_us` is Jetstream's lookback: events before it are gone; an older cursor is moved to it,
silently on v1, and on v2 a time cursor with a first `#info OutdatedCursor` frame. For tests and demos
the server misbehaves on purpose, reproducibly (seeded):

- `drop_every`: close each connection after a random number of events (1 to 2 x drop_every), as a
  network or server failure would; on v2 with `error_frame`, after that terminal error frame;
- `bad_frames`: every that many events, also send a malformed frame (before the event): bad JSON,
  an event of an unknown collection, or a frame of 2 MB;
- `refuse_every`: refuse every that many handshakes, with 429 (a rate limit) and 503 in turn.

Events are sent as fast as the client takes them, or at `rate` events per second. For tests that
must stop the stream at a known point, `hold_at` makes every connection wait before that event
until `release` is set.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import orjson
import zstandard
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from swell.live import jetstream_wire as wire

HUGE_FRAME_BYTES = 2_000_000


class Refusal(Exception):
    """A handshake refused with an XRPC error envelope (HTTP 400)."""

    def __init__(self, error: str, message: str):
        super().__init__(message)
        self.error, self.message = error, message


@dataclass
class Plan:
    """What one connection is sent: its frames (compressed or not) from `start`, those `wanted`."""

    v2: bool
    start: int
    wanted: Callable[[int], bool]
    compressor: zstandard.ZstdCompressor | None = None
    info: bytes | None = None  # a first frame (v2's #info OutdatedCursor)


@dataclass
class Replay:
    """The events of a file, in time order, and how to misbehave."""

    frames: list[bytes]  # as the v1 endpoint sends them
    times: list[int]
    collections: list[str | None]
    kinds: list[str]
    dids: list[str]
    first_seq: int = 1
    drop_every: int = 0
    bad_frames: int = 0
    refuse_every: int = 0
    retry_after: str | None = None  # the Retry-After header of the 429 refusals (None: none)
    error_frame: str | None = None  # v2: the terminal error frame sent before a drop (e.g. ConsumerTooSlow)
    rate: float = 0.0  # events per second; 0: as fast as the client reads
    seed: int = 0
    hold_at: int | None = None  # the index of the event to wait at until `release` is set
    # Like Jetstream's lookback: events before this time are gone, and an older cursor is moved to it.
    kept_from_us: int | None = None
    release: threading.Event = field(default_factory=threading.Event)
    connections: int = field(default=0, init=False)
    handshakes: int = field(default=0, init=False)
    cursors: list[int | None] = field(default_factory=list, init=False)  # asked for by each connection
    agents: set[str] = field(default_factory=set, init=False)  # the User-Agents of the handshakes
    sent: int = field(default=0, init=False)
    sent_at: dict[int, float] = field(default_factory=dict, init=False)  # time_us -> monotonic time sent
    plans: dict[ServerConnection, Plan] = field(default_factory=dict, init=False)

    @classmethod
    def from_file(cls, path: Path, first_seq: int = 1, legacy: bool = False, **options) -> Replay:
        """`legacy`: v1 events as Jetstream v1 sent them, without their `cursor` (seq)."""
        events = []
        for line in path.read_bytes().splitlines():
            if line.strip():
                event = orjson.loads(line)
                events.append((event["time_us"], event, line.strip()))
        events.sort(key=lambda e: e[0])
        return cls(
            # the event as it is in the file, with its `cursor` first
            frames=[e[2] if legacy else b'{"cursor":%d,%s' % (first_seq + i, e[2][1:]) for i, e in enumerate(events)],
            times=[e[0] for e in events],
            collections=[(e[1].get("commit") or {}).get("collection") for e in events],
            kinds=[e[1]["kind"] for e in events],
            dids=[e[1]["did"] for e in events],
            first_seq=first_seq,
            **options,
        )

    @cached_property
    def v2_frames(self) -> list[bytes]:
        first = self.first_seq
        return [orjson.dumps(wire.v2_message(orjson.loads(frame), first + i)) for i, frame in enumerate(self.frames)]

    @cached_property
    def dictionary(self) -> zstandard.ZstdCompressionDict:
        """The v2 dictionary this server serves as its current one."""
        return wire.packaged_dictionary(wire.V2_DICTIONARY)

    @cached_property
    def compressed(self) -> dict[bool, list[bytes]]:
        """Every frame compressed once (v1: legacy dictionary; v2: the current one), as Jetstream
        compresses each event once for all its clients."""
        legacy = zstandard.ZstdCompressor(dict_data=wire.packaged_dictionary(wire.LEGACY_DICTIONARY))
        current = zstandard.ZstdCompressor(dict_data=self.dictionary)
        return {False: [legacy.compress(f) for f in self.frames], True: [current.compress(f) for f in self.v2_frames]}

    def retrain(self, dictionary: zstandard.ZstdCompressionDict) -> None:
        """Serve another v2 dictionary from now on (to new connections), as Jetstream does after
        retraining: the old id is refused with UnknownZstdDictionary."""
        self.dictionary = dictionary
        self.__dict__.pop("compressed", None)

    def _oldest(self) -> int:
        return bisect.bisect_left(self.times, self.kept_from_us or 0)

    def _start(self, cursor: int, v2: bool) -> tuple[int, bytes | None]:
        """Where a cursor starts, and v2's OutdatedCursor frame when it was moved; Refusal when v2 has
        forgotten the seq."""
        oldest = self._oldest()
        if cursor >= wire.TIME_CURSOR_FROM:
            start = bisect.bisect_left(self.times, cursor)
            if start >= oldest or not v2:
                return max(start, oldest), None
            said = f"cursor is older than the retention floor; resumed from seq {self.first_seq + oldest}"
            info = {"$type": wire.MESSAGE_PREFIX + "info", "name": "OutdatedCursor", "message": said}
            return oldest, orjson.dumps({"$type": "message", "payload": info})
        start = max(cursor - self.first_seq, 0)
        if start < oldest and v2:
            floor = self.first_seq + oldest
            kept = len(self.times) - oldest  # a number after the floor, as a server's message may have
            said = f"cursor {cursor} is below the retention floor; oldest seq {floor} ({kept} kept)"
            raise Refusal("CursorTooOld", said)
        return max(start, oldest), None

    def _plan(self, path: str, query: dict[str, list[str]]) -> Plan:
        v2 = path == wire.V2_PATH
        cursor = query.get("cursor", [None])[0]
        if not v2:
            asked = {c for value in query.get("wantedCollections", []) for c in value.split(",") if c}
            start, _ = self._start(int(cursor), False) if cursor else (self._oldest(), None)
            legacy = wire.packaged_dictionary(wire.LEGACY_DICTIONARY)
            compressor = zstandard.ZstdCompressor(dict_data=legacy) if query.get("compress") == ["true"] else None
            return Plan(False, start, lambda i: not asked or self.collections[i] in asked or self.kinds[i] != "commit",
                        compressor)  # fmt: skip
        for old, new in (("wantedCollections", "collections"), ("wantedDids", "dids")):
            if old in query:
                raise Refusal("InvalidRequest", f"{old} is a v1 parameter: use {new}")
        kinds, dids, collections = (set(query.get(name, [])) for name in ("kinds", "dids", "collections"))
        if unknown := kinds - set(wire.KINDS):
            raise Refusal("InvalidRequest", f"unknown kinds: {sorted(unknown)}")
        if collections and kinds and "commit" not in kinds:
            raise Refusal("InvalidRequest", "collections filters commits, which kinds leaves out")
        dictionary = query.get("zstdDictionary", [None])[0]
        if dictionary is not None and dictionary != str(self.dictionary.dict_id()):
            current = self.dictionary.dict_id()
            raise Refusal("UnknownZstdDictionary", f"unknown dictionary {dictionary}; the current one is {current}")
        start, info = self._start(int(cursor), True) if cursor else (self._oldest(), None)
        prefixes = tuple(c[:-1] for c in collections if c.endswith(".*"))

        def wanted(i: int) -> bool:
            if (kinds and self.kinds[i] not in kinds) or (dids and self.dids[i] not in dids):
                return False
            collection = self.collections[i]
            return not collections or self.kinds[i] != "commit" or collection in collections or (
                collection is not None and collection.startswith(prefixes))  # fmt: skip

        return Plan(True, start, wanted, zstandard.ZstdCompressor(dict_data=self.dictionary) if dictionary else None,
                    info)  # fmt: skip

    def handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        """Before the upgrade: the dictionary, the refusals, and the plan of the connection."""
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        if parts.path == wire.DICTIONARY_PATH:
            wanted = query.get("id", [str(self.dictionary.dict_id())])[0]
            if wanted != str(self.dictionary.dict_id()):
                return _xrpc_error(connection, 404, "DictionaryNotFound", f"no dictionary {wanted}")
            return _response(connection, 200, self.dictionary.as_bytes(), "application/octet-stream")
        if parts.path not in (wire.V1_PATH, wire.V2_PATH):
            return _xrpc_error(connection, 404, "NotFound", f"the endpoints are {wire.V1_PATH} and {wire.V2_PATH}")
        self.handshakes += 1
        self.agents.add(request.headers.get("User-Agent", ""))
        if self.refuse_every and self.handshakes % self.refuse_every == 0:
            refused = 429 if self.handshakes // self.refuse_every % 2 else 503
            response = _xrpc_error(connection, refused, "RateLimitExceeded" if refused == 429 else "", "on purpose")
            if refused == 429 and self.retry_after is not None:
                response.headers["Retry-After"] = self.retry_after
            return response
        try:
            self.plans[connection] = self._plan(parts.path, query)
            self.cursors.append(int(query["cursor"][0]) if "cursor" in query else None)
        except (Refusal, ValueError) as exc:
            error, message = (exc.error, exc.message) if isinstance(exc, Refusal) else ("InvalidRequest", str(exc))
            return _xrpc_error(connection, 400, error, message)
        return None

    def _bad_frame(self, n: int, v2: bool) -> bytes:
        kind = n % 3
        if kind == 0:
            return b'{"did": "did:plc:broken", "time_us": 1, "kind": "commit", "commit": {'  # cut short
        if kind == 1:
            unknown = {"did": "did:plc:x", "time_us": 1_000_000, "kind": "commit",
                       "commit": {"collection": "app.example.unknown", "operation": "create", "rkey": "x"}}  # fmt: skip
            return orjson.dumps(wire.v2_message(unknown, 0) if v2 else unknown)
        return b'{"junk": "' + b"x" * HUGE_FRAME_BYTES + b'"}'

    async def serve(self, websocket: ServerConnection) -> None:
        plan = self.plans.pop(websocket)
        self.connections += 1
        frames = self.v2_frames if plan.v2 else self.frames
        compressed = self.compressed[plan.v2] if plan.compressor else None

        async def send(frame: bytes, i: int | None = None) -> None:
            if plan.compressor is None:
                await websocket.send(frame, text=True)  # Jetstream sends text messages ...
            else:  # ... or binary ones, each a zstd frame
                await websocket.send(compressed[i] if compressed and i is not None else plan.compressor.compress(frame))

        rng = random.Random(f"{self.seed}:{self.connections}")
        drop_after = rng.randint(self.drop_every, 2 * self.drop_every) if self.drop_every else None
        sent_here = 0
        started = time.monotonic()
        try:
            if plan.info:
                await send(plan.info)
            for i in range(plan.start, len(frames)):
                if not plan.wanted(i):
                    continue
                if self.hold_at is not None and i >= self.hold_at and not self.release.is_set():
                    await asyncio.to_thread(self.release.wait)
                n = self.sent + 1
                if self.bad_frames and n % self.bad_frames == 0:  # before the event: read by whoever reads it
                    await websocket.send(self._bad_frame(n // self.bad_frames, plan.v2), text=True)
                await send(frames[i], i)
                self.sent_at[self.times[i]] = time.monotonic()  # for measuring delays downstream
                self.sent = n
                sent_here += 1
                if drop_after is not None and sent_here >= drop_after:
                    if plan.v2 and self.error_frame:
                        await send(orjson.dumps({"$type": "error", "error": self.error_frame, "message": "on purpose"}))
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


def _response(connection: ServerConnection, status: int, body: bytes, content_type: str) -> Response:
    response = connection.respond(status, "")
    del response.headers["Content-Type"], response.headers["Content-Length"]
    response.headers["Content-Type"] = content_type
    response.headers["Content-Length"] = str(len(body))
    return dataclasses.replace(response, body=body)


def _xrpc_error(connection: ServerConnection, status: int, error: str, message: str) -> Response:
    return _response(connection, status, orjson.dumps({"error": error, "message": message}), "application/json")


def _subprotocol(connection: ServerConnection, offered) -> Subprotocol | None:
    """xrpc.v1.json when the client asks for it (v2 frames are the same without)."""
    return Subprotocol(wire.SUBPROTOCOL) if wire.SUBPROTOCOL in offered else None


async def _serve(replay: Replay, host: str, port: int, started: Callable[[int], None] | None = None) -> None:
    async with serve(replay.serve, host, port, max_size=2**20, process_request=replay.handshake,
                     select_subprotocol=_subprotocol) as server:  # fmt: skip
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
    # The timelines' answer instead of statuses (status, Mastodon's error), as an instance that keeps
    # them for its users; counted in `refusals`.
    refuse_timeline: tuple[int, str] | None = None
    refusals: int = field(default=0, init=False)
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

        if self.refuse_timeline is not None:
            self.refusals += 1
            status, error = self.refuse_timeline
            return JSONResponse({"error": error}, status_code=status)
        tag, q = request.path_params.get("tag"), request.query_params
        limit = min(int(q.get("limit", 20)), 40)
        ids = [int(s["id"]) for s in self.statuses]
        start = bisect.bisect_right(ids, int(q.get("min_id", 0)))
        end = min(bisect.bisect_left(ids, int(q["max_id"])) if "max_id" in q else len(ids), self.published())
        tagged = [s for s in self.statuses[start:end] if self._has_tag(s, tag)]
        # min_id: the oldest after it, as Mastodon pages forward; else the newest before max_id
        page = tagged[:limit] if "min_id" in q else tagged[-limit:]
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
