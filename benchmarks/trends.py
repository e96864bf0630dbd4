"""Streaming trend detection: throughput and peak memory on a large simulated stream.

    python benchmarks/trends.py [--posts 10000000] [--hashtags 1000000] [--runs 3]

Writes (once) a simulated day of posts with the given number of distinct hashtags to
benchmarks/data/ as Parquet (the columns trend detection reads). Then, for each detector, a child
process pinned to CPU 0 reads the file in batches of 100,000 posts and feeds them through
`TrendStream` at the default scales (5 minutes, an hour, a day) and at 5 minutes alone, as a live
stream would arrive; it reports posts/s (reading the file included) and its peak resident memory.
The peer, in the same run and pinned alike: Polars (one thread) counting the distinct accounts of
every (5-minute bucket, hashtag) of the same file, the counting that any detector needs before
it scores anything; the ratio is swell's posts/s over the peer's. With `--hashtags-small`, the
hashed detector also runs on a stream with few distinct hashtags, to show its memory does not
depend on how many there are.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).parent
DETECTORS = ["signitrend-hashed", "signitrend", "poisson", "mastodon"]


def corpus(posts: int, hashtags: int) -> Path:
    from swell.simulate import Simulation, generate
    from swell.trends import TREND_COLUMNS

    path = HERE / "data" / f"trends-{posts}-{hashtags}.parquet"
    if not path.exists():
        print(f"simulating {posts:,} posts over {hashtags:,} hashtags to {path} ...", flush=True)
        sim = Simulation(
            start=datetime(2024, 3, 1, tzinfo=UTC),
            hours=24,
            posts_per_hour=posts / 24,
            accounts=max(posts // 10, 1000),
            hashtags=hashtags,
            zipf=0.6,  # flat enough that nearly every hashtag of the vocabulary occurs
            tagged_share=0.8,
            seed=1,
        )
        table, _ = generate(sim)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.select(TREND_COLUMNS), path, row_group_size=100_000)
    return path


def peak_rss_mib() -> float:
    """This process's peak resident memory. Not getrusage: on Linux its maximum survives exec, so a
    child would report the parent's peak if that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(path: str, detector: str, scales: str) -> None:
    """Runs in the pinned child: feed the file through a TrendStream (or the peer's count), print the
    figures as JSON."""
    started = time.perf_counter()
    if detector == "peer":
        import polars as pl

        bucket_us = 5 * 60_000_000
        counted = (
            pl.scan_parquet(path)
            .select(t=pl.col("created_at").dt.epoch("us"), author=pl.col("author_id"), tag=pl.col("hashtags"))
            .explode("tag")
            .group_by(pl.col("t") - pl.col("t") % bucket_us, "tag")
            .agg(pl.col("author").n_unique())
            .collect()
        )
        posts = pq.ParquetFile(path).metadata.num_rows
        found = counted.height
    else:
        from swell.trends import TrendStream, parse_scales

        stream = TrendStream(detector, scales=parse_scales(scales))
        posts = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=100_000):
            stream.feed(batch)
            posts += batch.num_rows
        stream.finish()
        found = len(stream.episodes())
    elapsed = time.perf_counter() - started
    print(json.dumps({"posts_s": posts / elapsed, "peak_mib": peak_rss_mib(), "found": found}))


def measure(path: Path, detector: str, scales: str = "5m,1h,1d") -> dict:
    cmd = ["taskset", "-c", "0", sys.executable, __file__, "--child", str(path), detector, scales]
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000_000)
    parser.add_argument("--hashtags", type=int, default=1_000_000)
    parser.add_argument("--hashtags-small", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--detectors", nargs="+", default=DETECTORS, choices=DETECTORS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    big = corpus(args.posts, args.hashtags)
    tags = pq.read_table(big, columns=["hashtags"]).column("hashtags")
    distinct = len(pc.unique(pc.list_flatten(tags)))
    print(f"stream: {args.posts:,} posts, {distinct:,} distinct hashtags, {len(pc.list_flatten(tags)):,} hashtag uses")
    del tags
    peer = [measure(big, "peer") for _ in range(args.runs)]
    peer_rate = statistics.median(r["posts_s"] for r in peer)
    print(f"{'peer (polars count)':<30} {peer_rate:>12,.0f} posts/s  peak {max(r['peak_mib'] for r in peer):,.0f} MiB")
    for detector in args.detectors:
        for scales in ("5m,1h,1d", "5m"):
            results = [measure(big, detector, scales) for _ in range(args.runs)]
            rate = statistics.median(r["posts_s"] for r in results)
            peak = max(r["peak_mib"] for r in results)
            print(f"{detector + ' ' + scales:<30} {rate:>12,.0f} posts/s  peak {peak:,.0f} MiB  "
                  f"{rate / peer_rate:.2f}x the peer  ({results[0]['found']} episodes)")  # fmt: skip
    if args.hashtags_small:
        small = corpus(args.posts, args.hashtags_small)
        for detector in ("signitrend-hashed", "signitrend"):
            result = measure(small, detector)
            print(f"{detector:<30} with {args.hashtags_small:,} hashtags: peak {result['peak_mib']:,.0f} MiB")


if __name__ == "__main__":
    main()
