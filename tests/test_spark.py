"""Spark in local mode against DuckDB: the same input files, read by each engine's ingest, give the
same store, the same trends, the same campaign numbers and the same co-action edges.

Inputs: a simulated day with a planted grassroots blast and a coordinated push, written as X v1.1
lines and Jetstream events (two readers, two platforms); and every real sample in tests/data.
Skipped where PySpark is not installed (the `spark` extra), unless SWELL_REQUIRE_SPARK=1 (as CI sets).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import orjson
import polars as pl
import pytest

from conftest import DATA, ingest, rejects, swell
from swell.campaign import CampaignQuery, analyse, describe, overview
from swell.coordination import KINDS, co_action_network
from swell.selection import Selection
from swell.simulate import Campaign, Simulation, generate, write_jetstream, write_twitter_v1
from swell.sources import expand_inputs
from swell.store import Store
from swell.times import datetime_to_us
from swell.trends import TrendStream, trends_over_store

if not os.environ.get("SWELL_REQUIRE_SPARK"):
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install 'swell[spark]')")
from pyspark.errors import PySparkException

from swell import spark as swell_spark

START = datetime(2024, 3, 1, tzinfo=UTC)
BLAST = START + timedelta(hours=5)
PUSH = START + timedelta(hours=3, minutes=30)
NETWORK_KINDS = KINDS  # near-duplicate too: its groups are made from the texts on the driver


@pytest.fixture(scope="module")
def spark():
    session = swell_spark.session("local[2]")
    yield session
    session.stop()


def both_engines(spark, tmp_path, files):
    """The files ingested into a DuckDB store by `swell ingest` and into a Parquet dataset by the
    Spark ingest; the two engines over them."""
    db = tmp_path / "store.duckdb"
    ingest(db, *files)
    out = tmp_path / "parquet"
    summaries, stored = swell_spark.ingest(spark, [str(f) for f in files], str(out))
    store = Store(db, read_only=True)
    assert stored == store.engine.one("SELECT count(*) FROM posts")[0]
    # the same records set aside, with the same file, line and reason
    duck_rejects = rejects(db)
    spark_rejects = [
        orjson.loads(line) for f in sorted((out / "rejects").glob("*.jsonl")) for line in f.read_bytes().splitlines()
    ]
    assert sorted(map(orjson.dumps, duck_rejects)) == sorted(map(orjson.dumps, spark_rejects))
    return store, swell_spark.SparkEngine(spark, str(out)), [vars(s) for s in summaries]


@pytest.fixture(scope="module")
def simulated(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spark-sim")
    campaigns = [
        Campaign("grassroots", "FreeThePress", BLAST, accounts=300),
        Campaign("coordinated", "PressLies", PUSH, accounts=30),
    ]
    table, _ = generate(Simulation(hours=8, posts_per_hour=3_000, seed=11, campaigns=campaigns))
    write_twitter_v1(table, tmp / "x.jsonl")
    background, _ = generate(Simulation(hours=8, posts_per_hour=1_000, seed=12))
    write_jetstream(background, tmp / "bluesky.jsonl")
    store, engine, summaries = both_engines(spark, tmp, [tmp / "x.jsonl", tmp / "bluesky.jsonl"])
    yield store.engine, engine, summaries, [table.num_rows, background.num_rows]
    store.close()


@pytest.fixture(scope="module")
def samples(spark, tmp_path_factory):
    store, engine, summaries = both_engines(spark, tmp_path_factory.mktemp("spark-real"), expand_inputs([DATA]))
    yield store.engine, engine, summaries
    store.close()


def test_ingest_writes_the_same_posts_partitioned_by_day_and_platform(simulated, tmp_path):
    duck, spark_engine, summaries, generated = simulated
    assert [s["posts"] for s in summaries] == generated
    assert describe(duck) == describe(spark_engine)
    columns = "post_id, platform, created_at, author_id, kind, ref_post_id, hashtags, urls, text"
    query = f"SELECT {columns} FROM posts ORDER BY post_id"
    assert duck.frame(query).equals(spark_engine.frame(query))


def test_a_file_that_cannot_be_read_is_reported_and_the_others_are_stored(spark, tmp_path):
    good, gone = tmp_path / "x.jsonl", tmp_path / "gone.jsonl"  # e.g. removed after it was listed
    table, _ = generate(Simulation(hours=2, posts_per_hour=1_000, seed=4))
    write_twitter_v1(table, good)
    summaries, stored = swell_spark.ingest(spark, [str(gone), str(good)], str(tmp_path / "parquet"))
    assert summaries[0].skipped.startswith("could not be read") and summaries[0].posts == 0
    assert summaries[1].posts == stored == table.num_rows


def test_real_samples_give_the_same_store_and_rejects(samples):
    duck, spark_engine, summaries = samples
    assert describe(duck) == describe(spark_engine)
    query = "SELECT * EXCLUDE (source) FROM posts ORDER BY post_id"
    assert duck.frame(query).equals(spark_engine.frame(query))
    # the samples hold a twarc2 stream cut off mid-line and a truncated JSON array: set aside by both
    assert sum(s["rejected"] for s in summaries) >= 2
    assert {s["path"] for s in summaries} == {str(p) for p in expand_inputs([DATA])}


@pytest.mark.parametrize("detector", ["signitrend", "mastodon", "poisson"])
def test_trends_are_identical(simulated, detector):
    duck, spark_engine, _, _ = simulated
    found = []
    for engine in (duck, spark_engine):
        stream = trends_over_store(engine, TrendStream(detector))
        found.append([t.as_dict() for t in stream.episodes()])
    assert found[0] == found[1]
    assert {"freethepress", "presslies"} <= {e["hashtag"] for e in found[0]}
    assert all(e["posts"] > 0 and e["accounts"] > 0 for e in found[0])


def test_campaign_numbers_are_identical(simulated):
    duck, spark_engine, _, _ = simulated
    for tags, planned in ((["#FreeThePress"], BLAST), (["PressLies"], PUSH)):
        q = CampaignQuery(tags, planned_us=datetime_to_us(planned))
        on_duck, on_spark = analyse(duck, q), analyse(spark_engine, q)
        assert on_duck["totals"]["posts"] > 100
        assert on_duck == on_spark
    assert analyse(duck, q)["coordination"]["signals"]["coordinated_clusters"] == 1


def test_an_analysis_run_again_frees_the_tables_of_the_one_before(simulated, spark):
    _, spark_engine, _, _ = simulated
    where, params = Selection(hashtags=("presslies",)).where()
    kept = []
    for _ in range(3):
        co_action_network(spark_engine, where=where, params=params, min_weight=2)
        kept.append(len(spark.sparkContext._jsc.sc().getRDDStorageInfo()))  # RDDs holding blocks
        with pytest.raises(PySparkException):  # a table that cannot be made leaves the old one, still freed later
            spark_engine.table("scope", "SELECT CAST('not a number' AS INT) AS n")
    assert kept[0] == kept[1] == kept[2] > 0


def test_store_report_is_identical_on_real_samples(samples):
    duck, spark_engine, _ = samples
    assert overview(duck, CampaignQuery([])) == overview(spark_engine, CampaignQuery([]))
    q = CampaignQuery(["DebateNight"])
    assert analyse(duck, q) == analyse(spark_engine, q)


# The real samples are small and scattered: only co-hashtags within a day link their accounts.
@pytest.mark.parametrize("fixture, window_s", [("simulated", 60), ("samples", 86_400)])
def test_co_action_edges_are_identical(fixture, window_s, request):
    duck, spark_engine = request.getfixturevalue(fixture)[:2]
    networks = [
        co_action_network(engine, kinds=NETWORK_KINDS, window_s=window_s, min_weight=1)
        for engine in (duck, spark_engine)
    ]
    edges = [n.edges.sort("kind", "source", "target") for n in networks]
    assert edges[0].equals(edges[1])
    assert edges[0].height > 0
    evidence = [n.evidence.sort(pl.all()) for n in networks]
    assert evidence[0].equals(evidence[1])  # the same sample pairs behind each edge, ties included


def test_cli_runs_every_analysis_on_spark(spark, tmp_path):
    out = tmp_path / "parquet"
    files = [tmp_path / "x.jsonl"]
    table, _ = generate(
        Simulation(
            hours=8, posts_per_hour=2_000, seed=2, campaigns=[Campaign("grassroots", "Wave", BLAST, accounts=200)]
        )
    )
    write_twitter_v1(table, files[0])
    result = swell("ingest", "--engine", "spark", "--master", "local[2]", "--db", out, *files)
    assert f"wrote {table.num_rows:,} posts" in result.output
    db = tmp_path / "s.duckdb"
    ingest(db, *files)
    on = {"duckdb": ["--db", db], "spark": ["--engine", "spark", "--master", "local[2]", "--db", out]}
    trends = {k: orjson.loads(swell("trends", *v, "--format", "json").output)["trends"] for k, v in on.items()}
    assert trends["duckdb"] == trends["spark"] and any(t["hashtag"] == "wave" for t in trends["spark"])
    reports = {}
    for name, args in on.items():
        swell("campaign", "#Wave", *args, "--planned", "2024-03-01T05:00", "--json", tmp_path / f"{name}.json")
        reports[name] = orjson.loads((tmp_path / f"{name}.json").read_bytes())
    assert reports["duckdb"] == reports["spark"] and reports["spark"]["trend"]["trended"]
    edges = {k: orjson.loads(swell("coordination", *v, "--format", "json").output)["edges"] for k, v in on.items()}
    assert edges["duckdb"] == edges["spark"]
