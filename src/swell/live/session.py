"""A watch from start to stop, as `swell watch` runs it: the connector in an event loop, Ctrl-C and
SIGTERM turned into a clean stop (everything read is committed first), and the trends of what has
been committed kept up to date beside it for whoever shows them."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from swell.live.connector import LiveOptions
from swell.live.writer import LiveStats

if TYPE_CHECKING:  # the trends (polars) are imported by the watch that shows them, not by collect
    from swell.trends import TrendStream

Start = Callable[[asyncio.Event], Coroutine[Any, Any, LiveStats]]  # a connector's watch, stopped by the event
Update = Callable[[LiveStats, "TrendStream"], None]


def watch_live(start: Start, options: LiveOptions, *, bucket_min: float = 5.0, on_update: Update | None = None,
               every_s: float = 1.0) -> tuple[LiveStats, TrendStream]:  # fmt: skip
    """Run a connector (`start`, e.g. `lambda stop: jetstream.watch(db, options, stop)`) until it stops:
    on Ctrl-C or SIGTERM, at `options.until_us`, or when idle for `options.exit_when_idle_s`. Every
    batch it commits is fed to a trend stream (`live_trend_stream(bucket_min)`, as `swell trends`); `on_update`
    is called with the counts and the trends every `every_s` seconds and once at the end. Raises
    StreamRefused when the stream cannot be had at all."""
    from swell.trends import live_trend_stream

    committed: SimpleQueue = SimpleQueue()
    options.on_commit = committed.put  # called in the writer's thread; drained here, in the loop's
    trends = live_trend_stream(bucket_min)

    def update() -> None:
        while not committed.empty():
            trends.feed(committed.get())
        if on_update is not None:
            on_update(options.stats, trends)

    until_signalled(start, update, every_s)
    return options.stats, trends


async def together(jobs: list[Coroutine[Any, Any, Any]]) -> None:
    """Run the jobs at once; the first to fail stops the others, and its error is raised as it is
    (not in an ExceptionGroup), so that a refusal is the command's one-line error."""
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None


def until_signalled(start: Callable[[asyncio.Event], Coroutine[Any, Any, Any]], tick: Callable[[], None],
                    every_s: float = 1.0) -> None:  # fmt: skip
    """Run `start(stop)` in an event loop to its end; Ctrl-C and SIGTERM set `stop`. `tick` is called
    every `every_s` seconds and once at the end, however it ends."""

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(start(stop))
        while not task.done():
            await asyncio.wait({task}, timeout=every_s)
            tick()
        await task

    try:
        asyncio.run(run())
    finally:
        tick()
