"""`swell replay`: play a file of Jetstream events over a local WebSocket, as Jetstream does.

`GET /subscribe?wantedCollections=...&cursor=TIME_US` (WebSocket) sends the file's events with
`time_us >= cursor` (all of them without a cursor), in time order, restricted to the wanted
collections (identity and account events always pass, as on Jetstream). For tests and demos the
server can misbehave on purpose, reproducibly (seeded):

- `drop_every`: close each connection after a random number of events (1 to 2 x drop_every),
  as a network or server failure would;
- `bad_frames`: every that many events, also send a malformed frame: bad JSON, an event of an
  unknown collection, or a frame of 2 MB.

Events are sent as fast as the client takes them, or at `rate` events per second.
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
        parts = urlsplit(websocket.request.path)
        if parts.path != "/subscribe":
            await websocket.close(code=1008, reason="the endpoint is /subscribe")
            return
        self.connections += 1
        query = parse_qs(parts.query)
        wanted = {c for value in query.get("wantedCollections", []) for c in value.split(",") if c}
        cursor = query.get("cursor", [None])[0]
        start = bisect.bisect_left(self.times, int(cursor)) if cursor else 0
        rng = random.Random(f"{self.seed}:{self.connections}")
        drop_after = rng.randint(self.drop_every, 2 * self.drop_every) if self.drop_every else None
        sent_here = 0
        started = time.monotonic()
        try:
            for i in range(start, len(self.frames)):
                collection = self.collections[i]
                if wanted and collection is not None and collection not in wanted:
                    continue
                await websocket.send(self.frames[i], text=True)  # Jetstream sends text messages
                self.sent_at[self.times[i]] = time.monotonic()  # for measuring delays downstream
                self.sent += 1
                sent_here += 1
                if self.bad_frames and self.sent % self.bad_frames == 0:
                    await websocket.send(self._bad_frame(self.sent // self.bad_frames), text=True)
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


def run(replay: Replay, host: str = "127.0.0.1", port: int = 6008) -> None:
    asyncio.run(_serve(replay, host, port))


@contextlib.contextmanager
def serving(replay: Replay, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve in a thread of this process on a free port, for tests and benchmarks; yields the URL."""
    loop = asyncio.new_event_loop()
    ready: queue.SimpleQueue[int] = queue.SimpleQueue()
    task = loop.create_task(_serve(replay, host, 0, ready.put))

    def until_cancelled() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=until_cancelled, daemon=True)
    thread.start()
    try:
        yield f"ws://{host}:{ready.get(timeout=10)}/subscribe"
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=10)
