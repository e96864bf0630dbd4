"""The same jobs on DuckDB and on Spark in local mode, at 1M, 3M and 10M simulated posts.

    python benchmarks/spark.py [--posts 1000000 3000000 10000000] [--runs 3]

Simulates (once per size) five days of posts with coordinated pushes and grassroots campaigns
planted, stores them in a DuckDB file and exports that as swell's Parquet layout (posts by day and
platform), so both engines read the same posts. Then, per engine, in a process of its own (so its
peak memory is its own: GNU time, and the JVM's own high-water mark), each job is run `--runs` times:

- trends: `swell trends` over the whole store (SigniTrend, 5-minute buckets);
- campaign: the figures of `swell campaign` for one planted push (selection over every post);
- network: the co-action network of every post (co-repost, co-post, co-link, co-reply; T = 60 s);
- info: `swell info` (posts, accounts, platforms, top hashtags).

Prints the median time of each job per engine and the ratio Spark / DuckDB, and the time to start
Spark. Both engines get both cores: DuckDB its threads, Spark local[2] with 12 GB for its driver.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

HERE = Path(__file__).parent
START = datetime(2024, 3, 1, tzinfo=UTC)
HOURS = 120
PUSH = START + timedelta(hours=50)
JOBS = ("trends", "campaign", "network", "info")


def prepare(posts: int) -> tuple[Path, Path]:
    """The simulated posts as a DuckDB store and as swell's Parquet layout."""
    db = HERE / "data" / f"spark-{posts}.duckdb"
    parquet = HERE / "data" / f"spark-{posts}-parquet"
    if db.exists() and parquet.exists():
        return db, parquet
    from swell.simulate import Campaign, Simulation, generate
    from swell.store import Store

    campaigns = [Campaign("coordinated", "PressLies", PUSH, accounts=40)] + [
        Campaign("grassroots", f"Wave{i}", START + timedelta(hours=6 + 12 * i), accounts=400) for i in range(9)
    ]
    print(f"simulating {posts:,} posts to {db} ...", flush=True)
    table, _ = generate(
        Simulation(start=START, hours=HOURS, posts_per_hour=posts / HOURS, accounts=posts // 20, seed=9,
                   campaigns=campaigns)
    )  # fmt: skip
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    with Store(db) as store:
        for batch in table.to_batches(500_000):
            store.append(batch)
        store.export_parquet(parquet)
    return db, parquet


def work(engine_name: str, db: Path, parquet: Path, runs: int) -> dict:
    """In the worker process: every job `runs` times on one engine; seconds per run."""
    from swell.campaign import CampaignQuery, analyse, describe
    from swell.coordination import co_action_network
    from swell.store import Store
    from swell.times import datetime_to_us
    from swell.trends import TrendStream, trends_over_store

    started = time.perf_counter()
    if engine_name == "spark":
        from swell import spark

        session = spark.session("local[2]", {"spark.driver.memory": "12g"})
        engine = spark.SparkEngine(session, str(parquet))
    else:
        store = Store(db, read_only=True)
        engine = store.engine
    startup = time.perf_counter() - started
    jobs = {
        "trends": lambda: len(trends_over_store(engine, TrendStream("signitrend")).episodes()),
        "campaign": lambda: analyse(engine, CampaignQuery(["PressLies"], planned_us=datetime_to_us(PUSH)))["totals"][
            "posts"
        ],
        "network": lambda: co_action_network(engine, window_s=60, min_weight=2).edges.height,
        "info": lambda: describe(engine)["posts"],
    }
    times: dict[str, list[float]] = {name: [] for name in JOBS}
    answers = {}
    for _ in range(runs):
        for name in JOBS:
            t = time.perf_counter()
            answers[name] = jobs[name]()
            times[name].append(time.perf_counter() - t)
    jvm_peak_mib = None
    if engine_name == "spark":  # the JVM is not a child GNU time sees: ask it for its own peak
        pid = session._jvm.java.lang.ProcessHandle.current().pid()
        status = Path(f"/proc/{pid}/status").read_text()
        jvm_peak_mib = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
        session.stop()
    return {"startup": startup, "times": times, "answers": answers, "jvm_peak_mib": jvm_peak_mib}


def measure(engine: str, db: Path, parquet: Path, runs: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, str(db), str(parquet), "--runs", str(runs)]
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], check=True, capture_output=True, text=True)
    result = orjson.loads(done.stdout.strip().splitlines()[-1])
    result["peak_mib"] = int(done.stderr.strip().splitlines()[-1]) / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--worker", nargs=3, metavar=("ENGINE", "DB", "PARQUET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        engine, db, parquet = args.worker
        print(orjson.dumps(work(engine, Path(db), Path(parquet), args.runs)).decode())
        return
    for posts in args.posts:
        db, parquet = prepare(posts)
        results = {engine: measure(engine, db, parquet, args.runs) for engine in ("duckdb", "spark")}
        duck, spark = results["duckdb"], results["spark"]
        assert duck["answers"] == spark["answers"], (duck["answers"], spark["answers"])
        print(f"\n{posts:,} posts ({args.runs} runs, medians); answers identical: {duck['answers']}")
        print(f"{'job':10} {'DuckDB s':>10} {'Spark s':>10} {'Spark/DuckDB':>13}")
        for job in JOBS:
            d, s = (statistics.median(r["times"][job]) for r in (duck, spark))
            print(f"{job:10} {d:10.2f} {s:10.2f} {s / d:12.1f}x")
        d_all, s_all = (sum(statistics.median(r["times"][j]) for j in JOBS) for r in (duck, spark))
        print(f"{'all jobs':10} {d_all:10.2f} {s_all:10.2f} {s_all / d_all:12.1f}x")
        print(f"start: DuckDB {duck['startup']:.2f} s, Spark {spark['startup']:.2f} s (JVM and session)")
        print(
            f"peak memory: DuckDB process {duck['peak_mib']:,.0f} MiB; Spark: Python {spark['peak_mib']:,.0f} MiB "
            f"+ JVM {spark['jvm_peak_mib']:,.0f} MiB"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
