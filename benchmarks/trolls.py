"""Coordination against known answers: the IRA troll accounts of September 2016 among organic posts.

    python benchmarks/trolls.py [--rates 1000 4000 20000] [--kinds co-repost co-post ...]

For each background rate, one store as tests/test_coordination.py builds it: the IRA tweets
(tests/corpora/ira-2016-09), every real sample of tests/data, and a simulated organic day of September
2016 with viral retweet cascades (`Simulation(viral_share=0.5)`, accounts = twice the hourly rate).
`coordination_report` at its defaults (or with --kinds); prints precision and recall of the troll accounts, organic
accounts flagged, cluster purity against the trolls' roles (authors.csv), and the report's time.
Quality, not speed: the figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

TESTS = Path(__file__).parent.parent / "tests"
IRA = TESTS / "corpora" / "ira-2016-09"


def score(rate: int, work: Path, kinds: tuple[str, ...]) -> None:
    from swell.coordination import coordination_report, label_purity, read_labels
    from swell.ingest import ingest_files
    from swell.simulate import Simulation, generate
    from swell.store import Store

    db = work / f"mixed-{rate}.duckdb"
    ingest_files([IRA / "ira_tweets_2016-09.csv.gz", TESTS / "data"], db)
    background = Simulation(start=datetime(2016, 9, 10, tzinfo=UTC), hours=24, posts_per_hour=rate,
                            accounts=2 * rate, viral_share=0.5, seed=3)  # fmt: skip
    table, _ = generate(background)
    with Store(db) as store:
        store.append(table.combine_chunks().to_batches()[0])
    trolls = set(pl.read_csv(IRA / "ira_tweets_2016-09.csv.gz", columns=["author_id"]).get_column("author_id"))
    with Store(db, read_only=True) as store:
        started = time.perf_counter()
        report = coordination_report(store.engine, kinds=kinds)
        seconds = time.perf_counter() - started
        accounts = set(store.engine.frame("SELECT DISTINCT author_id FROM posts").get_column("author_id"))
    flagged = {a for c in report.clusters if report.coordinated(c) for a in c.accounts}
    in_store, organic = accounts & trolls, accounts - trolls
    found = len(flagged & trolls)
    purity = label_purity(report, read_labels(IRA / "authors.csv", "account_category", "author"))["purity"]
    print(
        f"{rate:,} organic posts an hour ({len(organic):,} organic accounts): precision "
        f"{found / max(len(flagged), 1):.3f}, recall {found / len(in_store):.3f} of {len(in_store)} troll accounts, "
        f"organic flagged {len(flagged - trolls)} ({len(flagged - trolls) / len(organic):.2%}), purity {purity:.3f}; "
        f"report {seconds:.1f} s",
        flush=True,
    )


def main() -> None:
    from swell.coordination import DEFAULT_KINDS, KINDS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=int, nargs="+", default=[1_000, 4_000, 20_000])
    parser.add_argument("--kinds", nargs="+", default=list(DEFAULT_KINDS), choices=KINDS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for rate in args.rates:
            score(rate, Path(work), tuple(args.kinds))


if __name__ == "__main__":
    main()
