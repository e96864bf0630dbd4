"""An experiment for issue 15's recall: would accounts' hashtag profiles over the month reach the
troll accounts that co-action leaves unflagged, without putting organic accounts as close?

    python benchmarks/profiles.py [--rate 4000]

The store of `benchmarks/trolls.py` at one background rate (the IRA tweets of September 2016, every
real sample of tests/data, a simulated organic day). Each account's own hashtags (not reposts; log
counts weighted by inverse document frequency, accounts with 5 uses or more of 3 hashtags or more),
cosine similarity between accounts; for a few bars: the trolls within it of another troll that the
default coordination report leaves unflagged, and the organic accounts within it of some account.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from scipy import sparse

TESTS = Path(__file__).parent.parent / "tests"
IRA = TESTS / "corpora" / "ira-2016-09"


def main() -> None:
    from swell.coordination import coordination_report
    from swell.ingest import ingest_files
    from swell.simulate import Simulation, generate
    from swell.store import Store

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=4_000)
    args = parser.parse_args()
    trolls = set(pl.read_csv(IRA / "ira_tweets_2016-09.csv.gz", columns=["author_id"]).get_column("author_id"))
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "mixed.duckdb"
        ingest_files([IRA / "ira_tweets_2016-09.csv.gz", TESTS / "data"], db)
        background = Simulation(start=datetime(2016, 9, 10, tzinfo=UTC), hours=24, posts_per_hour=args.rate,
                                accounts=2 * args.rate, viral_share=0.5, seed=3)  # fmt: skip
        table, _ = generate(background)
        with Store(db) as store:
            store.append(table.combine_chunks().to_batches()[0])
        with Store(db, read_only=True) as store:
            report = coordination_report(store.engine)
            uses = store.engine.frame(
                """SELECT author_id, tag, count(*) AS n FROM (
                       SELECT author_id, unnest(hashtags) AS tag FROM posts WHERE kind <> 'repost')
                   GROUP BY 1, 2"""
            )
    flagged = {a for c in report.clusters if report.coordinated(c) for a in c.accounts}
    profiled = uses.group_by("author_id").agg(total=pl.col("n").sum(), tags=pl.len())
    profiled = profiled.filter((pl.col("total") >= 5) & (pl.col("tags") >= 3)).get_column("author_id")
    uses = uses.filter(pl.col("author_id").is_in(profiled.implode()))
    account = (uses.get_column("author_id").rank("dense") - 1).to_numpy()  # 0, 1, ... in sorted order
    tag = (uses.get_column("tag").rank("dense") - 1).to_numpy()
    names = uses.get_column("author_id").unique().sort().to_numpy()
    accounts, tags = int(account.max()) + 1, int(tag.max()) + 1
    idf = np.log(accounts / np.bincount(tag, minlength=tags))
    m = sparse.csr_matrix((np.log1p(uses.get_column("n").to_numpy()) * idf[tag], (account, tag)), (accounts, tags))
    m = sparse.diags(1 / np.maximum(np.sqrt(m.multiply(m).sum(1)).A1, 1e-12)) @ m
    similar = sparse.triu(m @ m.T, k=1).tocoo()
    is_troll = np.array([name in trolls for name in names])
    print(f"{accounts:,} accounts with a profile, {int(is_troll.sum())} of them among the {len(trolls)} trolls")
    for bar in (0.3, 0.5, 0.7, 0.9):
        near = similar.data >= bar
        a, b = similar.row[near], similar.col[near]
        linked = set(a) | set(b)
        unflagged = sum(1 for x in linked if is_troll[x] and names[x] not in flagged)
        organic = sum(1 for x in linked if not is_troll[x])
        mixed = int(np.sum(is_troll[a] != is_troll[b]))
        print(f"similarity >= {bar}: {unflagged} unflagged trolls reached, {organic:,} organic accounts as close, "
              f"{mixed} troll-organic pairs", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
