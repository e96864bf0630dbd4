"""Parquet ingest throughput and peak memory, against DuckDB's own Parquet reader in the same run.

    python benchmarks/parquet_ingest.py [--posts 1000000] [--runs 3]

Simulates (once) a day of posts and writes them as one Parquet file in swell's post table, as
`swell export` or a `COPY posts TO` writes it. Per run, each in a process of its own pinned to CPU 0:
- DuckDB `CREATE TABLE AS SELECT * FROM read_parquet(...)`, one thread: the vectorised limit (no
  mapping, no check of a value, no key);
- `swell ingest` of the file into a fresh store, end to end: every row through the `swell` column
  mapping (`swell.readers.parquet`), checked, and stored under its primary key.
Posts/s, the peak resident memory of each (GNU time), and swell's ratio to DuckDB; medians over
--runs (the machine is shared and noisy: read the ratio rather than the rates).
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
PINNED = ["taskset", "-c", "0", "/usr/bin/time", "-f", "%M"]  # GNU time: the peak RSS (KiB), last
_DUCKDB_READ = """
import duckdb, sys
con = duckdb.connect(sys.argv[2])
con.execute("SET threads = 1")
con.execute("CREATE TABLE posts AS SELECT * FROM read_parquet(?)", [sys.argv[1]])
print(con.execute("SELECT count(*) FROM posts").fetchone()[0])
"""


def prepare(posts: int) -> Path:
    """The Parquet file of `posts` simulated posts, made once."""
    path = HERE / "data" / f"posts-{posts}.parquet"
    if path.exists():
        return path
    import pyarrow.parquet as pq

    from swell.simulate import Simulation, generate

    print(f"simulating {posts:,} posts to {path} ...", flush=True)
    table, _ = generate(Simulation(hours=24, posts_per_hour=posts / 24, seed=3))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def pinned(cmd: list[str], n: int) -> tuple[float, float, str]:
    """(posts/s, peak RSS in MiB, standard output) of a command on CPU 0, process start to exit."""
    started = time.perf_counter()
    done = subprocess.run(PINNED + cmd, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    return n / elapsed, int(done.stderr.split()[-1]) / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = prepare(args.posts)
    import pyarrow.parquet as pq

    n = pq.ParquetFile(path).metadata.num_rows
    print(f"file: {path} ({path.stat().st_size / 2**20:,.0f} MiB, {n:,} posts)", flush=True)
    duck, swell = [], []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as tmp:
            rate, peak, out = pinned([sys.executable, "-c", _DUCKDB_READ, str(path), f"{tmp}/duck.duckdb"], n)
            assert int(out) == n, f"DuckDB stored {out.strip()} rows of {n:,}"
            duck.append((rate, peak))
            db = f"{tmp}/swell.duckdb"
            swell.append(pinned([sys.executable, "-m", "swell", "ingest", "-q", "--db", db, str(path)], n)[:2])
            stored = subprocess.run(
                [sys.executable, "-m", "swell", "info", "--db", db, "--format", "json"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            assert f'"posts": {n}' in stored, "swell did not store every post"
        print(f"run {run}: DuckDB read_parquet {duck[-1][0]:,.0f} posts/s ({duck[-1][1]:,.0f} MiB); "
              f"swell ingest {swell[-1][0]:,.0f} posts/s ({swell[-1][1]:,.0f} MiB)", flush=True)  # fmt: skip
    duck_m = statistics.median(rate for rate, _ in duck)
    swell_m = statistics.median(rate for rate, _ in swell)
    print(f"{n:,} posts, medians of {args.runs}:")
    print(f"  DuckDB read_parquet, one thread: {duck_m:,.0f} posts/s, peak {max(p for _, p in duck):,.0f} MiB")
    print(f"  swell ingest, one core:          {swell_m:,.0f} posts/s, peak {max(p for _, p in swell):,.0f} MiB")
    print(f"  swell / DuckDB {swell_m / duck_m:.2f}", flush=True)


if __name__ == "__main__":
    main()
