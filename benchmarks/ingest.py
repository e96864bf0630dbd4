"""Ingest throughput against the parse limit, and peak memory.

    python benchmarks/ingest.py [--posts 1000000] [--runs 3]

In one run, on one core (the processes are pinned to CPU 0):
- the raw `orjson.loads` rate over the file's lines: the limit for any JSON reader in Python;
- `swell ingest` end to end (file -> DuckDB store), posts/s, and its ratio to the raw rate;
- the peak resident memory of the `swell ingest` process.
Medians over --runs; the machine is shared and noisy, so read ratios rather than absolute rates.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from v1_corpus import write_corpus

HERE = Path(__file__).parent


def raw_parse_rate(path: Path) -> float:
    loads = orjson.loads
    n = 0
    started = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            loads(line)
            n += 1
    return n / (time.perf_counter() - started)


def swell_ingest(path: Path, n: int) -> tuple[float, float]:
    """(posts/s, peak RSS in MiB) of one `swell ingest` into a fresh store, pinned to CPU 0."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        cmd = ["taskset", "-c", "0", sys.executable, "-m", "swell", "ingest", "--db", str(db), str(path)]
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        # The largest resident size of any child so far: the ingests are the only children.
        return n / elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    path = HERE / "data" / f"v1-{args.posts}.jsonl"
    if not path.exists():
        print(f"writing {args.posts:,} v1.1 tweets to {path} ...", flush=True)
        write_corpus(path, args.posts)
    size = path.stat().st_size
    print(f"corpus: {path} ({size / 2**20:,.0f} MiB, {size / args.posts:,.0f} bytes/post)")
    os.sched_setaffinity(0, {0})

    raw, e2e, peaks = [], [], []
    for run in range(1, args.runs + 1):
        raw.append(raw_parse_rate(path))
        rate, peak = swell_ingest(path, args.posts)
        e2e.append(rate)
        peaks.append(peak)
        print(f"run {run}: orjson.loads {raw[-1]:,.0f} lines/s, swell ingest {rate:,.0f} posts/s, peak {peak:,.0f} MiB")
    raw_m, e2e_m = statistics.median(raw), statistics.median(e2e)
    print(f"median orjson.loads (parse limit): {raw_m:,.0f} lines/s")
    print(f"median swell ingest end to end:    {e2e_m:,.0f} posts/s = {e2e_m / raw_m:.0%} of the parse limit")
    print(f"peak memory of swell ingest:       {max(peaks):,.0f} MiB (max over runs)")


if __name__ == "__main__":
    main()
