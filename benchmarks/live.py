"""Live throughput and delay: replay server -> `swell watch jetstream` -> the store.

    python benchmarks/live.py [--posts 300000] [--rate 20000] [--runs 3]

Simulates (once) a Jetstream file of --posts events (posts and reposts). Each run serves it from
the replay server (a thread of this process) to `swell watch jetstream` (a process of its own, its
defaults: 20,000 posts or 2 s per commit), into a fresh store:

1. as fast as they go: the sustained rate, from the watcher's start until the store's committed
   cursor reaches the last event;
2. at --rate events/s (the target, several times the Bluesky firehose): every second this process
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


def run(path: Path, rate: float) -> dict:
    from swell.live.jetstream import stream_key
    from swell.live.replay import Replay, serving

    replay = Replay.from_file(path, rate=rate)
    last = replay.times[-1]
    with tempfile.TemporaryDirectory() as tmp, serving(replay) as url:
        db = Path(tmp) / "live.duckdb"
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(db)]
        started = time.monotonic()
        watcher = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        delays = []
        try:
            while (cursor := committed(db, stream_key(url))) != last:
                if cursor is not None and rate and cursor in replay.sent_at:
                    delays.append(time.monotonic() - replay.sent_at[cursor])
                time.sleep(1.0)
            elapsed = time.monotonic() - started
            final_delay = time.monotonic() - replay.sent_at[last]
        finally:
            watcher.terminate()
            watcher.wait()
    return {"posts_per_s": len(replay.frames) / elapsed, "delays": delays, "final_delay": final_delay}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=300_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = prepare(args.posts)
    fastest, delays, finals = [], [], []
    for n in range(1, args.runs + 1):
        free = run(path, 0)
        fastest.append(free["posts_per_s"])
        paced = run(path, args.rate)
        delays.extend(paced["delays"])
        finals.append(paced["final_delay"])
        print(
            f"run {n}: as fast as possible {free['posts_per_s']:,.0f} events/s; at {args.rate:,.0f}/s "
            f"the store behind by median "
            f"{statistics.median(paced['delays']):.2f} s, max {max(paced['delays']):.2f} s, "
            f"last event stored {paced['final_delay']:.2f} s after it was sent",
            flush=True,
        )
    print(
        f"median sustained {statistics.median(fastest):,.0f} events/s; at {args.rate:,.0f} events/s the store is "
        f"behind by median {statistics.median(delays):.2f} s (max {max(delays):.2f} s over {len(delays)} looks)"
    )


if __name__ == "__main__":
    main()
