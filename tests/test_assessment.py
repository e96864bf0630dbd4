"""The campaign assessment: its formula by hand, and its calibration on data with known answers:
real troll-run hashtags (the IRA tweets of September 2016) against real organic ones (the format
samples), and simulated grassroots blasts against simulated coordinated pushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import DATA
from swell.assessment import REFERENCES, assess, level_of
from swell.coordination import coordination_report
from swell.ingest import ingest_files
from swell.selection import Selection
from swell.simulate import Campaign, Simulation, generate
from swell.store import Store

START = datetime(2024, 3, 1, tzinfo=UTC)
CORPORA = DATA.parent / "corpora"  # whole data sets, apart from the samples of tests/data


def test_the_score_combines_the_signals_as_independent_evidence():
    signals = {
        "share_by_coordinated_accounts": 0.0,  # below the strength bar
        "share_by_clustered_accounts": 0.275,  # halfway from 0.05 to 0.5: part 0.5, weight 0.6
        "duplicate_text_share": 0.8,  # beyond 0.5: part 1, weight 0.8
        "posts_per_account": 1.5,
        "accounts": 48,
        "share_created_that_week": 0.9,
        "dated_accounts": 4,  # too few accounts of known age: not counted
        "synchrony_within_5s": 0.9,
        "synchrony_expected_at_random": 0.1,
    }
    a = assess(signals)
    assert a.score == pytest.approx(1 - (1 - 0.6 * 0.5) * (1 - 0.8 * 1.0))
    assert a.level == "very strong signs of coordination"  # 80% duplicated text can never read "nothing"
    by_signal = {e["signal"]: e for e in a.evidence}
    assert by_signal["share_created_that_week"]["value"] is None
    assert by_signal["synchrony_within_5s"]["weight"] == 0.0  # shown, not scored
    assert [e["signal"] for e in a.evidence[: len(REFERENCES)]] == [r.signal for r in REFERENCES]
    assert assess({"posts_per_account": 43.0, "accounts": 1}).score == 0.0  # one loud account is not a group
    assert [level_of(x) for x in (0.0, 0.3, 0.6, 0.9)] == [
        "nothing beyond what organic campaigns show",
        "some signs of coordination",
        "strong signs of coordination",
        "very strong signs of coordination",
    ]


def scores(store: Store, minimum_posts: int = 20) -> dict[str, float]:
    """The assessment's score of every hashtag of the store with `minimum_posts` posts or more."""
    tags = store.engine.frame(
        "SELECT tag FROM (SELECT unnest(hashtags) AS tag FROM posts) GROUP BY tag HAVING count(*) >= ?",
        [minimum_posts],
    ).get_column("tag")
    return {
        tag: coordination_report(store.engine, Selection(hashtags=(tag,)), method="components").assessment().score
        for tag in tags
    }


@pytest.fixture(scope="module")
def troll_and_organic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("assessment")
    ingest_files([CORPORA / "ira-2016-09" / "ira_tweets_2016-09.csv.gz"], tmp / "ira.duckdb")
    with Store(tmp / "ira.duckdb", read_only=True) as store:
        trolls = scores(store)
    with Store(tmp / "organic.duckdb") as store:
        for batch in pq.read_table(CORPORA / "organic-hashtags" / "posts.parquet").to_batches():
            store.append(batch)
        organic = scores(store)
    return trolls, organic


def test_troll_run_hashtags_rank_above_organic_ones(troll_and_organic):
    trolls, organic = troll_and_organic
    assert len(trolls) == 358 and len(organic) == 34
    t, o = np.array(list(trolls.values())), np.array(list(organic.values()))
    auc = float(np.mean((t[:, None] > o[None, :]) + 0.5 * (t[:, None] == o[None, :])))
    # Measured 0.934 (README; 0.87 before the accounts' co-actions across the collection were counted).
    # Not 1: some troll-run hashtags are carried by accounts that post once or twice in all the month.
    assert auc >= 0.92, auc
    assert np.mean(o < 0.2) >= 0.95  # organic campaigns read "nothing beyond what organic campaigns show"
    assert np.mean(t >= 0.5) >= 0.7  # and most troll-run ones "strong" or more (measured 72%)


def test_a_grassroots_blast_reads_as_grassroots_and_a_coordinated_push_does_not(tmp_path):
    blast = Campaign("grassroots", "FreeThePress", START + timedelta(hours=17), accounts=400)
    push = Campaign("coordinated", "PressLies", START + timedelta(hours=9), accounts=40)
    table, _ = generate(Simulation(hours=24, posts_per_hour=3_000, seed=2, campaigns=[blast, push]))
    with Store(tmp_path / "s.duckdb") as store:
        store.append(table.combine_chunks().to_batches()[0])
        found = {
            tag: coordination_report(store.engine, Selection(hashtags=(tag,)), method="components").assessment()
            for tag in ("freethepress", "presslies")
        }
    # synchronised by plan (hundreds of posts within minutes), and still organic
    assert found["freethepress"].level == "nothing beyond what organic campaigns show"
    assert found["presslies"].score >= 0.8
