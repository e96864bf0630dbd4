"""`swell simulate`, then `swell ingest`, then `swell trends` as a user runs them, --follow included."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC
from pathlib import Path

import orjson
import pytest

from conftest import ingest, swell
from swell.store import Store


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "stream.jsonl"
    result = swell("simulate", out, "--hours", "30", "--posts-per-hour", "5000", "--seed", "2")
    assert "grassroots  #FreeThePress from 2024-03-01T17:00:00+00:00, 400 accounts" in result.output
    return out


def first_post(db: Path, hashtag: str) -> str:
    with Store(db, read_only=True) as store:
        [(first,)] = store.con.execute(
            "SELECT min(created_at) FROM posts WHERE list_contains(hashtags, ?)", [hashtag]
        ).fetchall()
    return first.astimezone(UTC).isoformat()


def test_simulate_writes_truth_and_trends_finds_the_planted_campaigns(simulated, tmp_path):
    truth = orjson.loads(simulated.with_name(simulated.name + ".truth.json").read_bytes())
    assert [(c["kind"], c["hashtag"], len(c["accounts"])) for c in truth] == [
        ("grassroots", "FreeThePress", 400),
        ("coordinated", "PressLies", 40),
    ]
    db = tmp_path / "t.duckdb"
    ingest(db, simulated)
    result = swell("trends", "--db", db, "--format", "json")
    found = {t["hashtag"]: t for t in orjson.loads(result.output)["trends"]}
    assert orjson.loads(result.output)["gaps"] == []  # thirty hours of one collection
    # The planted campaigns, caught at the 5-minute scale in their first bucket: the rise starts at
    # their first post, and they are detectable at the end of that bucket.
    blast, push = found.pop("freethepress"), found.pop("presslies")
    first_blast_post = first_post(db, "freethepress")
    assert (blast["trending_since"], blast["detected_at"], blast["scale"]) == (
        first_blast_post,
        "2024-03-01T17:05:00+00:00",
        "5m",
    )
    assert (push["trending_since"], push["detected_at"]) == ("2024-03-01T09:00:00+00:00", "2024-03-01T09:05:00+00:00")
    assert push["accounts"] == 40 and blast["accounts"] == 400
    # The thresholds allow about one false alarm a day (alarms_per_day): 30 hours of background may
    # raise one or two, and each is a small burst (here a repost cascade of a rare hashtag).
    assert len(found) <= 2 and all(t["accounts"] < 20 for t in found.values())
    at = swell("trends", "--db", db, "--at", "2024-03-01T17:10", "--format", "csv")
    lines = at.output.strip().splitlines()
    assert lines[0].startswith("hashtag,trending_since,detected_at,scale,first_seen")
    assert lines[1].startswith(f"freethepress,{first_blast_post},")
    quiet = swell("trends", "--db", db, "--at", "2024-03-01T13:00", "--format", "csv")
    assert quiet.output.strip() == "hashtag"
    table = swell(
        "trends", "--db", db, "--detector", "poisson", "--since", "2024-03-01T06:00", "--until", "2024-03-01T10:00"
    )
    assert "#presslies" in table.output and "#freethepress" not in table.output


def test_each_trend_with_how_coordinated_its_posts_look(simulated, tmp_path):
    """--assess: the planted push reads as coordinated and the planted blast, synchronised by plan, as
    organic; trends of fewer posts than the assessment was calibrated on are not assessed."""
    db = tmp_path / "a.duckdb"
    ingest(db, simulated)
    found = orjson.loads(swell("trends", "--db", db, "--assess", "--format", "json").output)["trends"]
    by_tag = {t["hashtag"]: t for t in found}
    assert by_tag["freethepress"]["coordination"] == "nothing beyond what organic campaigns show"
    assert by_tag["presslies"]["coordination_score"] >= 0.8
    assert by_tag["presslies"]["coordination"].endswith("signs of coordination")
    small = [t for t in found if t["assessed_posts"] < 20]
    assert small and all(t["coordination_score"] is None for t in small)
    assert all(t["coordination"].startswith("too few posts") for t in small)
    assert all(t["coordination_score"] is not None for t in found if t["assessed_posts"] >= 20)
    # the posts assessed are the hashtag's from the start of the rise to the end of the last trending bucket
    with Store(db, read_only=True) as store:
        [(in_window,)] = store.con.execute(
            "SELECT count(*) FROM posts WHERE list_contains(hashtags, 'presslies') AND created_at >= ?"
            " AND created_at < ?",
            [by_tag["presslies"]["trending_since"], by_tag["presslies"]["last_trending"]],
        ).fetchall()
    assert by_tag["presslies"]["assessed_posts"] == in_window >= 20
    table = swell("trends", "--db", db, "--assess", "--since", "2024-03-01T06:00", "--until", "2024-03-01T12:00")
    row = next(line for line in table.output.splitlines() if "#presslies" in line)
    assert row.rstrip().endswith(" strong"), row  # "strong" or "very strong", in 80 columns
    refused = swell("trends", "--db", db, "--assess", "--follow", ok=False)
    assert refused.exit_code == 2 and "--assess" in refused.output


def test_follow_updates_as_posts_arrive(simulated, tmp_path):
    lines = simulated.read_bytes().splitlines()

    def index_of(minute: str) -> int:
        return next(i for i, line in enumerate(lines) if orjson.loads(line)["created_at"].startswith(minute))

    before, arriving = tmp_path / "before.jsonl", tmp_path / "arriving.jsonl"
    before.write_bytes(b"\n".join(lines[: index_of("Fri Mar 01 16:30")]) + b"\n")
    arriving.write_bytes(b"\n".join(lines[index_of("Fri Mar 01 16:30") : index_of("Fri Mar 01 17:16")]) + b"\n")
    db = tmp_path / "f.duckdb"
    ingest(db, before)
    cmd = [
        sys.executable,
        "-m",
        "swell",
        "trends",
        "--db",
        str(db),
        "--follow",
        "--interval",
        "0.2",
        "--format",
        "json",
    ]
    cmd += ["--detector", "signitrend", "--since", "2024-03-01T12:00"]
    follow = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        first = orjson.loads(follow.stdout.readline())
        assert first["trends"] == [] and first["title"].startswith("trending at 2024-03-01 16:2")
        ingest(db, arriving)  # while it watches: the two processes take turns on the file
        # One commit brings every arriving post (one batch), so the first look that sees it sees all.
        while not (update := orjson.loads(follow.stdout.readline()))["trends"]:
            pass
        assert update["title"] == "trending at 2024-03-01 17:05:00 UTC"  # 17:10 waits for late posts
        assert update["trends"][0]["hashtag"] == "freethepress"
        assert update["trends"][0]["trending_since"] == first_post(db, "freethepress")
        assert update["trends"][0]["detected_at"] == "2024-03-01T17:05:00+00:00"
    finally:
        follow.terminate()
        follow.wait()


def test_ira_debate_night_one_loud_account_is_not_a_trend(tmp_path):
    """Real IRA tweets of one account (@TEN_GOP) around the first 2016 presidential debate."""
    from conftest import DATA

    db = tmp_path / "ira.duckdb"
    ingest(db, DATA / "ira-2016-09" / "bet4a-TEN_GOP-2016-09-25_to_28.csv")
    by_accounts = swell("trends", "--db", db, "--format", "json")
    assert orjson.loads(by_accounts.output)["trends"] == []  # one account cannot make a trend
    hourly = ["--bucket", "60", "--warmup", "0", "--detector", "mastodon", "--threshold", "20", "--min-accounts", "1"]
    by_posts = swell("trends", "--db", db, "--count", "posts", *hourly, "--format", "json")
    found = {(t["hashtag"], t["scale"]): t for t in orjson.loads(by_posts.output)["trends"]}
    # the debate began at 21:00 EDT on 26 September, 01:00 UTC on the 27th: the hour scale catches it
    # in its first hour; the day scale adds the night's other debate hashtags
    debates = found.pop(("debates", "1h"))
    assert "2016-09-27T01:00:00+00:00" < debates["trending_since"] < "2016-09-27T01:10:00+00:00"
    assert debates["detected_at"] == "2016-09-27T02:00:00+00:00"
    assert set(found) == {("debatenight", "1d"), ("debates2016", "1d")}
    assert all(t["accounts"] == 1 for t in [debates, *found.values()])
