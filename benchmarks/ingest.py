"""Ingest throughput and peak memory, against orjson and DuckDB's JSON reader in the same run.

    python benchmarks/ingest.py [--posts 1000000 3000000] [--runs 3]

For each corpus size, in each run, on one core (every process pinned to CPU 0):
- `orjson.loads` of every line: the limit for any per-line JSON reader in Python;
- DuckDB `read_json` of the file with an explicit `columns=` of the fields swell keeps, one thread,
  every batch fetched as Arrow (a vectorised reader in C++, with nothing stored);
- `swell ingest` end to end (process start to exit, file -> DuckDB store with its primary key);
Posts/s, the peak resident memory of each child process (GNU time), and swell's ratio to each peer.
Medians over --runs; the machine is shared and noisy, so read ratios rather than absolute rates.
"""

from __future__ import annotations

import argparse
import os
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
# GNU time writes the peak RSS (KiB) and the CPU seconds (user, system) last
PINNED = ["taskset", "-c", "0", "/usr/bin/time", "-f", "%M %U %S"]

# The fields swell keeps of a v1.1 status (`swell.readers.twitter_v1.Status`), as DuckDB types.
_ENTITIES = (
    "STRUCT(hashtags STRUCT(text VARCHAR)[], urls STRUCT(url VARCHAR, expanded_url VARCHAR, "
    "unwound STRUCT(url VARCHAR))[], user_mentions STRUCT(id_str VARCHAR)[])"
)
_USER = "STRUCT(id_str VARCHAR, id BIGINT, screen_name VARCHAR, followers_count BIGINT, created_at VARCHAR)"
_STATUS = {
    "id_str": "VARCHAR",
    "user": _USER,
    "created_at": "VARCHAR",
    "timestamp_ms": "VARCHAR",
    "text": "VARCHAR",
    "full_text": "VARCHAR",
    "extended_tweet": f"STRUCT(full_text VARCHAR, entities {_ENTITIES})",
    "entities": _ENTITIES,
    "lang": "VARCHAR",
    "in_reply_to_status_id_str": "VARCHAR",
    "in_reply_to_user_id_str": "VARCHAR",
    "quoted_status_id_str": "VARCHAR",
    "quoted_status": f"STRUCT(user {_USER})",
    "retweeted_status": f"STRUCT(id_str VARCHAR, user {_USER}, text VARCHAR, full_text VARCHAR, "
    f"extended_tweet STRUCT(full_text VARCHAR, entities {_ENTITIES}), entities {_ENTITIES})",
}
_DUCKDB_READ = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads = 1")
con.execute("SET enable_progress_bar = false")
query = "SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns})"
reader = con.sql(query, params=[sys.argv[1]]).to_arrow_reader(100_000)
print(sum(batch.num_rows for batch in reader))
"""


def raw_parse_rate(path: Path) -> float:
    loads = orjson.loads
    n = 0
    started = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            loads(line)
            n += 1
    return n / (time.perf_counter() - started)


def pinned(label: str, cmd: list[str], n: int) -> tuple[float, float, str]:
    """(items/s, peak RSS in MiB, standard output) of a command run on CPU 0, process start to exit.
    Also prints its CPU time per item, which other load on the machine disturbs less than the rate."""
    started = time.perf_counter()
    done = subprocess.run(PINNED + cmd, check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak, user, system = done.stderr.split()[-3:]
    print(f"  ({label}: {(float(user) + float(system)) / n * 1e6:.1f} CPU µs an item)", flush=True)
    return n / elapsed, int(peak) / 1024, done.stdout


def duckdb_read(path: Path, n: int) -> tuple[float, float]:
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in _STATUS.items()) + "}"
    script = _DUCKDB_READ.format(columns=columns)
    rate, peak, out = pinned("DuckDB read_json", [sys.executable, "-c", script, str(path)], n)
    assert int(out) == n, f"DuckDB read {out.strip()} rows of {n:,}"
    return rate, peak


def swell_ingest(path: Path, n: int) -> tuple[float, float]:
    """(posts/s, peak RSS in MiB) of one `swell ingest` into a fresh store, on one core."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        rate, peak, _ = pinned("swell ingest", [sys.executable, "-m", "swell", "ingest", "--db", str(db), str(path)], n)
        return rate, peak


def bench(posts: int, runs: int) -> None:
    path = HERE / "data" / f"v1-{posts}.jsonl"
    if not path.exists():
        print(f"writing {posts:,} v1.1 tweets to {path} ...", flush=True)
        write_corpus(path, posts)
    size = path.stat().st_size
    print(f"corpus: {path} ({size / 2**20:,.0f} MiB, {size / posts:,.0f} bytes/post)", flush=True)
    raw, duck, swell = [], [], []
    for run in range(1, runs + 1):
        raw.append(raw_parse_rate(path))
        duck.append(duckdb_read(path, posts))
        swell.append(swell_ingest(path, posts))
        print(
            f"run {run}: orjson.loads {raw[-1]:,.0f} lines/s; DuckDB read_json {duck[-1][0]:,.0f} posts/s "
            f"({duck[-1][1]:,.0f} MiB); swell ingest {swell[-1][0]:,.0f} posts/s ({swell[-1][1]:,.0f} MiB)",
            flush=True,
        )
    raw_m = statistics.median(raw)
    duck_m = statistics.median(rate for rate, _ in duck)
    swell_m = statistics.median(rate for rate, _ in swell)
    print(f"{posts:,} posts, medians of {runs}:")
    print(f"  orjson.loads of every line:   {raw_m:,.0f} lines/s")
    print(f"  DuckDB read_json, one thread: {duck_m:,.0f} posts/s, peak {max(p for _, p in duck):,.0f} MiB")
    print(f"  swell ingest, one core:       {swell_m:,.0f} posts/s, peak {max(p for _, p in swell):,.0f} MiB")
    print(f"  swell / orjson {swell_m / raw_m:.2f}, swell / DuckDB read_json {swell_m / duck_m:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    for posts in args.posts:
        bench(posts, args.runs)


if __name__ == "__main__":
    main()
