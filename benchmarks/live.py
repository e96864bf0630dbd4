"""Live throughput and delay: replay server -> `swell watch jetstream` -> the store.

    python benchmarks/live.py [--posts 300000] [--rate 20000] [--runs 3]

Simulates (once) a Jetstream file of --posts events (posts and reposts). Each run serves it from
the replay server (a thread of this process) to `swell watch jetstream` (a process of its own, its
defaults: 20,000 posts or 2 s per commit), into a fresh store:

1. as fast as they go, over each endpoint (v1 `/subscribe`, v2 `subscribeEvents`) with and without
   zstd (`--compress`): the sustained rate, from the watcher's start until the store's committed
   cursor reaches the last event; the peer is v1 uncompressed in the same run;
2. the connector's own CPU time per event (decompressing, decoding, reading into posts; no socket,
   no store), best of 3 over the first 60,000 events: the part of the difference between the
   variants that is swell's, measured without the noise of a shared machine;
3. over v1 uncompressed at --rate events/s (the target, several times the Bluesky firehose): every second this process
   reads the committed cursor (as `swell trends --follow --interval 1` would look at the store) and
   takes the delay since the replay server sent that event: how stale the store is for `swell trends`
   and `swell serve`, before their own polling interval. Median and maximum.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def prepare(posts: int) -> Path:
    path = HERE / "data" / f"jetstream-{posts}.jsonl"
    if path.exists():
        return path
    from swell.simulate import Simulation, default_campaigns, generate, write_jetstream

    sim = Simulation(hours=24, posts_per_hour=posts / 24, seed=11)
    sim.campaigns = default_campaigns(sim.start)
    table, _ = generate(sim)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jetstream(table, path)
    return path


def committed(db: Path, key: str) -> int | None:
    from swell.store import Store

    if not db.exists():
        return None
    try:
        with Store(db, read_only=True, wait_s=0.5) as store:
            return store.live_cursor(key)
    except Exception:  # the watcher holds the file this moment, or has not made the table yet
        return None


# endpoint variants: (v2, compress)
VARIANTS = {"v1": (False, False), "v1 zstd": (False, True), "v2": (True, False), "v2 zstd": (True, True)}


def decode_cost(path: Path, events: int = 60_000) -> dict[str, float]:
    """µs of CPU per event in `JetstreamConnector.take`, per variant (best of 3)."""
    import asyncio

    import zstandard

    from swell.live import jetstream_wire as wire
    from swell.live.jetstream import JetstreamConnector, JetstreamOptions
    from swell.live.replay import Replay

    replay = Replay.from_file(path)
    costs = {}
    for name, (v2, compress) in VARIANTS.items():
        url = "ws://127.0.0.1" + (wire.V2_PATH if v2 else wire.V1_PATH)
        connector = JetstreamConnector(JetstreamOptions(url=url, compress=compress), asyncio.Event())
        frames = (replay.compressed[v2] if compress else replay.v2_frames if v2 else replay.frames)[:events]
        if compress:  # as its session() would, with the dictionary the replay server compresses with
            dictionary = replay.dictionary if v2 else wire.packaged_dictionary(wire.LEGACY_DICTIONARY)
            connector.decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
        times = []
        for _ in range(3):
            connector.batch.posts.clear()
            started = time.process_time()
            for frame in frames:
                connector.take(frame)
            times.append((time.process_time() - started) / len(frames) * 1e6)
        assert connector.batch.stats.rejected == 0
        costs[name] = min(times)
    return costs


def run(path: Path, rate: float, v2: bool = False, compress: bool = False) -> dict:
    from swell.live.jetstream import stream_key
    from swell.live.jetstream_wire import V1_PATH, V2_PATH
    from swell.live.replay import Replay, serving

    replay = Replay.from_file(path, rate=rate)
    # made before the clock starts (v2 frames, each compressed once), as Jetstream makes each event once
    sent = replay.compressed[v2] if compress else replay.v2_frames if v2 else replay.frames
    last = len(replay.times) if v2 else replay.times[-1]  # the cursor: the last seq, or the last time
    with tempfile.TemporaryDirectory() as tmp, serving(replay) as url:
        url = url.replace(V1_PATH, V2_PATH) if v2 else url
        db = Path(tmp) / "live.duckdb"
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(db)]
        started = time.monotonic()
        watcher = subprocess.Popen(
            cmd + ["--compress"] * compress, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        delays = []
        try:
            while (cursor := committed(db, stream_key(url))) != last:
                if cursor is not None and rate and cursor in replay.sent_at:
                    delays.append(time.monotonic() - replay.sent_at[cursor])
                time.sleep(1.0)
            elapsed = time.monotonic() - started
            final_delay = time.monotonic() - replay.sent_at[replay.times[-1]]
        finally:
            watcher.terminate()
            watcher.wait()
    return {"posts_per_s": len(replay.frames) / elapsed, "delays": delays, "final_delay": final_delay,
            "bytes_per_event": sum(map(len, sent)) / len(sent)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=300_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = prepare(args.posts)
    for name, cost in decode_cost(path).items():
        print(f"{name:8} the connector's CPU: {cost:.1f} µs an event", flush=True)
    fastest: dict[str, list[float]] = {name: [] for name in VARIANTS}
    ratios: dict[str, list[float]] = {name: [] for name in VARIANTS}
    delays, finals, sizes = [], [], {}
    for n in range(1, args.runs + 1):
        for name, (v2, compress) in VARIANTS.items():
            free = run(path, 0, v2, compress)
            fastest[name].append(free["posts_per_s"])
            ratios[name].append(free["posts_per_s"] / fastest["v1"][-1])
            sizes[name] = free["bytes_per_event"]
        paced = run(path, args.rate)
        delays.extend(paced["delays"])
        finals.append(paced["final_delay"])
        print(
            f"run {n}: as fast as possible "
            + ", ".join(f"{name} {fastest[name][-1]:,.0f}" for name in VARIANTS)
            + f" events/s; at {args.rate:,.0f}/s the store behind by median "
            f"{statistics.median(paced['delays']):.2f} s, max {max(paced['delays']):.2f} s, "
            f"last event stored {paced['final_delay']:.2f} s after it was sent",
            flush=True,
        )
    for name in VARIANTS:
        print(
            f"{name:8} median sustained {statistics.median(fastest[name]):,.0f} events/s, "
            f"{statistics.median(ratios[name]):.0%} of v1 in the same run, {sizes[name]:,.0f} bytes an event sent"
        )
    print(
        f"at {args.rate:,.0f} events/s (v1) the store is behind by median {statistics.median(delays):.2f} s "
        f"(max {max(delays):.2f} s over {len(delays)} looks)"
    )


if __name__ == "__main__":
    main()
