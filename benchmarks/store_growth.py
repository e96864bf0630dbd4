"""Whether storing stays linear as a store grows: `Store.append` of the same 100,000-post batch (new
ids each time) into one store up to --posts, against DuckDB inserting the same batches into a bare
table with no key, both capped at 256 MiB of DuckDB memory as an ingest caps it.

    python benchmarks/store_growth.py [--posts 10000000]

Reads its posts from the coordination benchmark's store (`python benchmarks/coordination.py --runs 0`
makes it). Prints, every tenth of the way, the CPU time a post of the last batch took on each side,
their ratio, and the peak memory of the process. The parsing is left out: this is the part of an
ingest whose cost could grow with the store (its primary-key index).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from swell.store import Store

HERE = Path(__file__).parent
BATCH = 100_000


def batches(posts: int):
    """The same batch of real-shaped posts again and again, its ids made new each time."""
    source = HERE / "data" / "coordination-1000000.duckdb"
    with duckdb.connect(str(source), read_only=True) as con:
        base = con.sql(f"SELECT * FROM posts LIMIT {BATCH}").to_arrow_table()
    for r in range(posts // BATCH):
        ids = pc.binary_join_element_wise(pa.array([f"r{r}-"] * base.num_rows), base["post_id"], "")
        yield r, base.set_column(0, "post_id", ids).combine_chunks().to_batches()[0]


def cpu_us(action, n: int) -> float:
    started = time.process_time()
    action()
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000_000)
    args = parser.parse_args()
    every = max(args.posts // BATCH // 10, 1)
    with tempfile.TemporaryDirectory(dir=HERE / "data") as tmp, Store(Path(tmp) / "swell.duckdb") as store:
        store.cap_memory(256)
        bare = duckdb.connect(str(Path(tmp) / "bare.duckdb"))
        bare.execute("SET memory_limit = '256MiB'")
        for r, batch in batches(args.posts):
            if r == 0:
                bare.execute("CREATE TABLE posts AS SELECT * FROM batch LIMIT 0")
            swell_us = cpu_us(lambda b=batch: store.append(b), batch.num_rows)
            bare_us = cpu_us(lambda b=batch: bare.execute("INSERT INTO posts SELECT * FROM b"), batch.num_rows)
            if (r + 1) % every == 0 or r == 0:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
                print(f"{(r + 1) * BATCH:>12,} posts stored: swell {swell_us:.2f} CPU µs a post, DuckDB with no "
                      f"key {bare_us:.2f} ({swell_us / bare_us:.2f}x); peak {peak:,} MiB", flush=True)  # fmt: skip
        bare.close()


if __name__ == "__main__":
    main()
