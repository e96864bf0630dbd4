"""The campaign assessment against known answers: troll-run hashtags (the IRA tweets of September
2016, tests/corpora) and organic ones (the real format samples, tests/corpora/organic-hashtags), every
hashtag of 20 posts or more on each side.

    python benchmarks/assessment.py

Prints how many hashtags each side has, the AUC of the score (the chance that a troll-run hashtag
scores above an organic one, ties counting half), and how the levels fall on each side. Quality, not
speed: the figures do not depend on the machine.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

TESTS = Path(__file__).parent.parent / "tests"
MINIMUM_POSTS = 20


def assessments(store) -> dict:
    from swell.coordination import coordination_report
    from swell.selection import Selection

    tags = store.engine.frame(
        "SELECT tag FROM (SELECT unnest(hashtags) AS tag FROM posts) GROUP BY tag HAVING count(*) >= ?",
        [MINIMUM_POSTS],
    ).get_column("tag")
    return {
        tag: coordination_report(store.engine, Selection(hashtags=(tag,)), method="components").assessment()
        for tag in tags
    }


def main() -> None:
    from swell.ingest import ingest_files
    from swell.store import Store

    with tempfile.TemporaryDirectory() as work:
        ingest_files([TESTS / "corpora" / "ira-2016-09" / "ira_tweets_2016-09.csv.gz"], Path(work) / "ira.duckdb")
        with Store(Path(work) / "ira.duckdb", read_only=True) as store:
            trolls = assessments(store)
        with Store(Path(work) / "organic.duckdb") as store:
            for batch in pq.read_table(TESTS / "corpora" / "organic-hashtags" / "posts.parquet").to_batches():
                store.append(batch)
            organic = assessments(store)
    t = np.array([a.score for a in trolls.values()])
    o = np.array([a.score for a in organic.values()])
    auc = float(np.mean((t[:, None] > o[None, :]) + 0.5 * (t[:, None] == o[None, :])))
    print(f"{len(trolls)} troll-run and {len(organic)} organic hashtags of {MINIMUM_POSTS} posts or more")
    print(f"AUC {auc:.3f}")
    print(f"highest organic score {o.max():.2f}")
    for name, side in (("troll-run", trolls), ("organic", organic)):
        levels = Counter(a.level for a in side.values())
        print(f"{name}: " + ", ".join(f"{level} {n / len(side):.0%}" for level, n in levels.most_common()))


if __name__ == "__main__":
    main()
