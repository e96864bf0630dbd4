"""Trend detection quality (not speed): how soon planted and real onsets are flagged, and how many
false alarms come with them.

    python benchmarks/detection.py [--sizes 1000 20000 500000] [--streams 12 8 4] [--ira PATH]

Simulated collections (`swell.evaluation.detection_simulation`: Zipf hashtags, a daily cycle,
heavy-tailed accounts, viral reposts) of 48 hours at each size (posts an hour), with three onsets
planted on the second day of each stream, eight hours apart, alternating a sudden blast and a slow
build; the first day is the collection's history. Real timing: the IRA tweets of September 2016
(`../shared/data/ira-2016-09`), whose hashtag games and news days start where the data says.

An onset is the hour a hashtag first has 10 distinct accounts and 3 times its mean before
(`swell.evaluation`). For each detector, with every scale (5 minutes, an hour, a day: the default)
and with each scale alone, it prints the share of onsets flagged within an hour of the start of
their onset hour, the median delay, the onsets never flagged, and false alarms per day on hashtags
nobody planted (on the IRA tweets: on hashtags that never have an onset). Streams are cached in
benchmarks/data/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).parent
DEFAULT_IRA = HERE.parent.parent / "shared" / "data" / "ira-2016-09" / "ira_tweets_2016-09.csv.gz"
HOURS = 48
DETECTORS = ["signitrend", "poisson", "mastodon"]
SCALES = {"5m,1h,1d": (5.0, 60.0, 1440.0), "5m": (5.0,), "1h": (60.0,)}


@dataclass
class Collection:
    """Stored posts to evaluate on: an engine over them, the onsets, the hashtags whose episodes are
    not false alarms, and the days they span."""

    name: str
    engine: object
    onsets: dict[str, int]
    interesting: set[str]
    days: float


def simulated(size: int, seed: int) -> Path:
    """A 48-hour stream of `size` posts an hour with its plants, cached as Parquet (the columns
    trend detection reads) beside the names of the planted hashtags."""
    from swell.evaluation import detection_simulation
    from swell.simulate import stream
    from swell.trends import TREND_COLUMNS

    path = HERE / "data" / f"detection-{size}-{seed}.parquet"
    if path.exists():
        return path
    truth, chunks = stream(detection_simulation(size, seed, hours=HOURS))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    for chunk in chunks:
        table = chunk.select(TREND_COLUMNS)
        writer = writer or pq.ParquetWriter(path.with_suffix(".tmp"), table.schema)
        writer.write_table(table)
    writer.close()  # type: ignore[union-attr]
    path.with_suffix(".json").write_text(json.dumps([t["hashtag"].lower() for t in truth]))
    path.with_suffix(".tmp").rename(path)
    return path


def simulated_collection(size: int, seed: int) -> Collection:
    import duckdb

    from swell.engine import DuckDBEngine
    from swell.evaluation import onsets

    path = simulated(size, seed)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW posts AS SELECT * FROM read_parquet('{path}')")
    engine = DuckDBEngine(con)
    tags = set(json.loads(path.with_suffix(".json").read_text()))
    return Collection(f"{size:,}/h seed {seed}", engine, onsets(engine, tags), tags, HOURS / 24)


def ira_collection(csv: Path, workdir: Path) -> Collection:
    """The IRA tweets of September 2016 in a store; every hashtag with an onset is one to flag."""
    from swell.evaluation import onsets
    from swell.ingest import ingest_files
    from swell.store import Store

    db = workdir / "ira.duckdb"
    ingest_files([csv], db)
    store = Store(db, read_only=True)
    found = onsets(store.engine)
    return Collection("IRA 2016-09", store.engine, found, set(found), 30.0)


def evaluate(collection: Collection, detector: str, scales: tuple[float, ...]):
    from swell.evaluation import score
    from swell.trends import TrendStream, count_buckets, score_buckets

    stream = TrendStream(detector, scales=scales)
    score_buckets(stream, count_buckets(collection.engine, stream))  # type: ignore[arg-type]
    return score(stream.episodes(), collection.onsets, days=collection.days, interesting=collection.interesting)


def table(title: str, results: dict) -> None:
    print(f"\n{title}")
    print(
        "| detector | scales | onsets | flagged within 1 h | median delay | never flagged | false alarms/day "
        "| first scale (within 1 h) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (detector, scales), s in results.items():
        delays = [d for d in s.delays_min.values() if d is not None]
        median = f"{statistics.median(delays):.0f} min" if delays else "-"
        first = {}
        for tag, d in s.delays_min.items():
            if d is not None and d <= 60:
                first[s.by_scale[tag]] = first.get(s.by_scale[tag], 0) + 1
        shares = ", ".join(f"{k} {v}" for k, v in sorted(first.items())) if len(scales.split(",")) > 1 else ""
        print(f"| {detector} | {scales} | {s.onsets} | {s.within(60) / max(s.onsets, 1):.0%} | {median} | "
              f"{s.missed} | {s.false_alarms_per_day:.2f} | {shares} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 20_000, 500_000])
    parser.add_argument("--streams", type=int, nargs="+", default=[12, 8, 4], help="streams per size")
    parser.add_argument("--detectors", nargs="+", default=DETECTORS)
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--ira", type=Path, default=DEFAULT_IRA)
    parser.add_argument("--no-ira", action="store_true")
    args = parser.parse_args()
    if len(args.streams) != len(args.sizes):
        sys.exit("--streams needs one number per size")
    for size, n in zip(args.sizes, args.streams, strict=True):
        started = time.perf_counter()
        collections = [simulated_collection(size, seed) for seed in range(n)]
        results = {}
        for detector in args.detectors:
            for name in args.scales:
                merged = None
                for c in collections:
                    s = evaluate(c, detector, SCALES[name])
                    merged = s if merged is None else merged.merge(s)
                results[(detector, name)] = merged
        onsets = sum(len(c.onsets) for c in collections)
        table(f"{size:,} posts an hour: {n} streams of {HOURS} h, {onsets} onsets "
              f"({time.perf_counter() - started:.0f} s)", results)  # fmt: skip
    if not args.no_ira and args.ira.exists():
        with tempfile.TemporaryDirectory() as workdir:
            ira = ira_collection(args.ira, Path(workdir))
            results = {(d, name): evaluate(ira, d, SCALES[name]) for d in args.detectors for name in args.scales}
            table(f"IRA tweets, September 2016: {len(ira.onsets)} onsets", results)


if __name__ == "__main__":
    main()
