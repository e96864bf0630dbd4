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
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

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

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.connections += 1
        wanted = {c for value in websocket.query_params.getlist("wantedCollections") for c in value.split(",") if c}
        cursor = websocket.query_params.get("cursor")
        start = bisect.bisect_left(self.times, int(cursor)) if cursor else 0
        rng = random.Random(f"{self.seed}:{self.connections}")
        drop_after = rng.randint(self.drop_every, 2 * self.drop_every) if self.drop_every else None
        sent_here = 0
        try:
            for i in range(start, len(self.frames)):
                collection = self.collections[i]
                if wanted and collection is not None and collection not in wanted:
                    continue
                await websocket.send_bytes(self.frames[i])
                self.sent += 1
                sent_here += 1
                if self.bad_frames and self.sent % self.bad_frames == 0:
                    await websocket.send_bytes(self._bad_frame(self.sent // self.bad_frames))
                if drop_after is not None and sent_here >= drop_after:
                    await websocket.close(code=1011)  # as a failing server would
                    return
                if self.rate:
                    await asyncio.sleep(1 / self.rate)
                elif sent_here % 256 == 0:
                    await asyncio.sleep(0)  # let other connections and the server breathe
            # The file is played out: stay open and quiet, as a live stream with nothing new does,
            # until the client leaves or the server shuts down.
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away


def app(replay: Replay) -> Starlette:
    return Starlette(routes=[WebSocketRoute("/subscribe", replay.serve)])


def run(replay: Replay, host: str = "127.0.0.1", port: int = 6008) -> None:
    import uvicorn

    uvicorn.run(app(replay), host=host, port=port, log_level="warning", ws_max_size=16 * 2**20)


@contextlib.contextmanager
def serving(replay: Replay, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve in a thread of this process on a free port, for tests and benchmarks; yields the URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app(replay), host=host, port=port, log_level="warning", ws_max_size=16 * 2**20, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"the replay server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"ws://{host}:{port}/subscribe"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
