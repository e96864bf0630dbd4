"""Co-action networks: swell against coordination-network-toolkit on the same posts, in one run.

    python benchmarks/coordination.py [--posts 1000000] [--runs 3] [--repeat-window 86400]

Simulates (once) a day of posts with coordinated groups planted among organic accounts, stores it in
a swell DuckDB file, and writes the same posts as the toolkit's CSV input (`write_toolkit_csv`).
Then, per run, each tool computes the co-repost and co-post (co_retweet, co_tweet) networks with
T = 60 s and minimum weight 1, in its own process pinned to CPU 0, and reports wall time and peak
memory (GNU time's maximum resident size). swell is also run on both cores, unpinned: DuckDB uses
every core it has, the toolkit (SQLite) only one. The toolkit's `preprocess` (loading the CSV into its
SQLite file) is timed apart: swell's equivalent is `swell ingest`, measured by benchmarks/ingest.py.
The edges of both are compared: they must be identical. With --repeat-window, swell also computes its
day-long repeated co-actions (which the toolkit has not), to measure what they cost.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
NETWORKS = {"co-repost": "co_retweet", "co-post": "co_tweet"}


def paths(posts: int) -> tuple[Path, Path]:
    db = HERE / "data" / f"coordination-{posts}.duckdb"
    return db, db.with_suffix(".csv")


def prepare(posts: int) -> None:
    """The swell store and the toolkit CSV of the simulated posts, made once."""
    db, csv = paths(posts)
    if db.exists() and csv.exists():
        return
    from datetime import UTC, datetime, timedelta

    from swell.coordination import write_toolkit_csv
    from swell.simulate import Campaign, Simulation, generate
    from swell.store import Store

    start = datetime(2024, 3, 1, tzinfo=UTC)
    campaigns = [
        Campaign("coordinated", f"Push{i}", start + timedelta(hours=2 + 2 * i), accounts=30 + 5 * i) for i in range(8)
    ] + [Campaign("grassroots", f"Wave{i}", start + timedelta(hours=3 + 3 * i), accounts=400) for i in range(6)]
    print(f"simulating {posts:,} posts to {db} and {csv} ...", flush=True)
    table, _ = generate(Simulation(start=start, hours=24, posts_per_hour=posts / 24, seed=2, campaigns=campaigns))
    db.parent.mkdir(parents=True, exist_ok=True)
    with Store(db) as store:
        for batch in table.to_batches(100_000):
            store.append(batch)
        write_toolkit_csv(store.con, csv)


def timed(cmd: list[str], *, pinned: bool = True) -> tuple[float, float, str]:
    """(seconds, peak MiB, stdout) of a command, pinned to CPU 0 unless told, measured by GNU time."""
    started = time.perf_counter()
    pin = ["taskset", "-c", "0"] if pinned else []
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *pin, *cmd], check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return elapsed, peak_kib / 1024, done.stdout


def swell_child(db: str, out: str, repeat_window_s: str) -> None:
    """In the measured process: compute the networks and write the edges for comparison."""
    from swell.coordination import co_action_network
    from swell.store import Store

    with Store(db, read_only=True) as store:
        started = time.perf_counter()
        # The toolkit's networks alone, unless --repeat-window asks for swell's day-long repeated co-actions
        # too (the toolkit has none: they are left out of the comparison).
        network = co_action_network(
            store.engine, kinds=tuple(NETWORKS), window_s=60, min_weight=1,
            repeat_window_s=float(repeat_window_s) or None,
        )  # fmt: skip
        print(f"{time.perf_counter() - started:.3f}")  # the computation alone, without starting Python
    network.edges.select("kind", "source", "target", "weight").write_parquet(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--repeat-window", type=float, default=0, help="swell also computes its repeated co-actions (seconds)"
    )
    parser.add_argument("--swell-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.swell_child:
        swell_child(*args.swell_child)
        return

    if args.runs == 0:
        prepare(args.posts)
        return
    # The data is made in a process of its own: on Linux a child's peak-memory figure starts from its
    # parent's at the time, and this one should stay small.
    subprocess.run([sys.executable, __file__, "--posts", str(args.posts), "--runs", "0"], check=True)
    db, csv = paths(args.posts)
    import polars as pl

    toolkit = [sys.executable, "-m", "coordination_network_toolkit"]
    results: dict[str, list] = {"swell": [], "swell_compute": [], "swell_2_cores": [], "toolkit": [], "preprocess": []}
    for run in range(1, args.runs + 1):
        edges_file = HERE / "data" / "swell-edges.parquet"
        child = [sys.executable, __file__, "--swell-child", str(db), str(edges_file), str(args.repeat_window)]
        seconds, peak, out = timed(child)
        results["swell"].append((seconds, peak))
        results["swell_compute"].append((float(out.strip().splitlines()[-1]), peak))
        seconds, peak, _ = timed(child, pinned=False)
        results["swell_2_cores"].append((seconds, peak))
        sqlite = HERE / "data" / "toolkit.sqlite"
        sqlite.unlink(missing_ok=True)
        seconds, peak, _ = timed([*toolkit, str(sqlite), "preprocess", "--format", "csv", str(csv)])
        results["preprocess"].append((seconds, peak))
        total, peaks = 0.0, []
        for network in NETWORKS.values():
            cmd = [*toolkit, str(sqlite), "compute", network, "--time_window", "60", "--min_edge_weight", "1"]
            seconds, peak, _ = timed(cmd)
            total += seconds
            peaks.append(peak)
        results["toolkit"].append((total, max(peaks)))
        ours = pl.read_parquet(edges_file)
        with sqlite3.connect(sqlite) as con:
            for kind, network in NETWORKS.items():
                rows = con.execute(f"SELECT user_1, user_2, weight FROM {network}_network WHERE user_1 != user_2")
                theirs = {(a, b): w for a, b, w in rows}
                mine = {(s, t): w for _, s, t, w in ours.filter(pl.col("kind") == kind).iter_rows()}
                assert mine == theirs, f"{kind}: the edges differ"
        counts = ", ".join(f"{k} {n:,}" for k, n in ours.group_by("kind").len().sort("kind").iter_rows())
        print(
            f"run {run}: swell {results['swell'][-1][0]:.1f} s ({results['swell_compute'][-1][0]:.1f} s computing; "
            f"{results['swell_2_cores'][-1][0]:.1f} s on 2 cores), "
            f"toolkit {total:.1f} s "
            f"(+ preprocess {results['preprocess'][-1][0]:.1f} s); edges identical ({counts})"
        )
    swell_s = statistics.median(s for s, _ in results["swell"])
    compute_s = statistics.median(s for s, _ in results["swell_compute"])
    two_cores_s = statistics.median(s for s, _ in results["swell_2_cores"])
    toolkit_s = statistics.median(s for s, _ in results["toolkit"])
    swell_peak = max(p for _, p in results["swell"])
    toolkit_peak = max(p for _, p in results["toolkit"])
    preprocess_s = statistics.median(s for s, _ in results["preprocess"])
    print(
        f"median swell co-repost + co-post:   {swell_s:.1f} s, peak {swell_peak:,.0f} MiB ({compute_s:.1f} s computing)"
    )
    print(f"median toolkit co_retweet + co_tweet: {toolkit_s:.1f} s, peak {toolkit_peak:,.0f} MiB")
    print(f"  (toolkit preprocess, loading its CSV: {preprocess_s:.1f} s)")
    print(
        f"swell is {toolkit_s / swell_s:.1f}x faster process to process, "
        f"{toolkit_s / compute_s:.1f}x on the computation, "
        f"{(toolkit_s + preprocess_s) / swell_s:.1f}x counting the toolkit's preprocess; identical edges"
    )
    print(f"swell on both cores: {two_cores_s:.1f} s, {toolkit_s / two_cores_s:.1f}x faster than the toolkit")


if __name__ == "__main__":
    main()
