"""Campaign analysis: exact numbers on a simulated blast with known truth (through the real v1.1
reader), numbers on real IRA tweets against plain DuckDB SQL, and the `swell campaign` and
`swell report` commands with their HTML, JSON and PNG outputs."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from conftest import DATA, ingest, swell
from swell.campaign import CampaignQuery, analyse, assess_trends, overview
from swell.simulate import Campaign, Simulation, generate, write_twitter_v1
from swell.store import Store
from swell.times import datetime_to_us
from swell.trends import TrendStream, trends_over_store

START = datetime(2024, 3, 1, tzinfo=UTC)
BLAST = START + timedelta(hours=3)  # the planned grassroots blast
PUSH = START + timedelta(hours=1, minutes=30)  # a coordinated push
US_MIN = 60_000_000


@pytest.fixture(scope="module")
def blast(tmp_path_factory):
    """Six hours of background with a grassroots blast and a coordinated push, written as v1.1 JSON
    lines and ingested by the real reader; and the generated table, the truth."""
    campaigns = [
        Campaign("grassroots", "FreeThePress", BLAST, accounts=300),
        Campaign("coordinated", "PressLies", PUSH, accounts=30),
    ]
    table, truth = generate(Simulation(hours=6, posts_per_hour=3_000, seed=5, campaigns=campaigns))
    tmp = tmp_path_factory.mktemp("blast")
    write_twitter_v1(table, tmp / "blast.jsonl")
    db = tmp / "blast.duckdb"
    ingest(db, tmp / "blast.jsonl")
    return db, table, {t["hashtag"]: t for t in truth}


def planted_rows(table, hashtag: str) -> list[dict]:
    """The campaign's posts in the generated table, with times as the v1.1 reader keeps them (ms)."""
    tag = hashtag.lower()
    out = []
    for r in table.to_pylist():
        if tag in r["hashtags"]:
            r["t"] = datetime_to_us(r["created_at"]) // 1000 * 1000
            out.append(r)
    return out


def gini_by_mean_difference(counts: list[int]) -> float:
    """Gini as the mean absolute difference over twice the mean (not the formula swell uses)."""
    x = np.array(counts, dtype=float)
    return float(np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) ** 2 * x.mean()))


# The push starts 90 minutes into the data, while the trend detectors still learn (they report from two
# hours in: an hour of warm-up, then an hour of hearing about new hashtags): it is detected in the first
# bucket they report, 35 minutes after its start. The blast starts three hours in.
@pytest.mark.parametrize("hashtag, planned, within", [("FreeThePress", BLAST, 10), ("PressLies", PUSH, 35)])
def test_campaign_numbers_match_the_planted_truth(blast, hashtag, planned, within):
    db, table, truth = blast
    rows = planted_rows(table, hashtag)
    with Store(db, read_only=True) as store:
        r = analyse(store.engine, CampaignQuery([f"#{hashtag}"], planned_us=datetime_to_us(planned)))

    kinds = Counter(p["kind"] for p in rows)
    accounts = {p["author_id"] for p in rows}
    assert accounts == set(truth[hashtag]["accounts"])  # every planted account posted
    assert r["totals"] == {
        "posts": len(rows),
        "originals": kinds["post"],
        "reposts": kinds["repost"],
        "replies": 0,
        "quotes": 0,
        "accounts": len(accounts),
    }
    first = min(rows, key=lambda p: (p["t"], p["post_id"]))
    assert r["first_post"]["author_id"] == first["author_id"]
    assert datetime.fromisoformat(r["first_post"]["time"]) == datetime.fromtimestamp(first["t"] / 1e6, UTC)

    per_minute = Counter(p["t"] - p["t"] % US_MIN for p in rows)
    peak_minute, peak_posts = min(per_minute.items(), key=lambda kv: (-kv[1], kv[0]))
    assert r["peak_minute"]["posts"] == peak_posts
    assert datetime.fromisoformat(r["peak_minute"]["minute"]) == datetime.fromtimestamp(peak_minute / 1e6, UTC)

    # the ramp counts every account that has posted by each minute after the planned start
    firsts = {}
    for p in rows:
        firsts[p["author_id"]] = min(firsts.get(p["author_id"], p["t"]), p["t"])
    start = datetime_to_us(planned)
    for minute in (0, 5, 30, 119):
        so_far = sum(t < start + (minute + 1) * US_MIN for t in firsts.values())
        assert r["ramp"][minute]["accounts_so_far"] == so_far
        assert r["ramp"][minute]["posts"] == sum(
            start + minute * US_MIN <= p["t"] < start + (minute + 1) * US_MIN for p in rows
        )
    timeline = r["timeline"]["rows"]
    assert sum(row["posts"] for row in timeline) == len(rows)
    assert timeline[-1]["cumulative_accounts"] == len(accounts)

    reposts = Counter(p["ref_post_id"] for p in rows if p["kind"] == "repost")
    assert [p["reposts"] for p in r["top_posts"]] == sorted(reposts.values(), reverse=True)[:10]
    for shown in r["top_posts"]:  # the v1.1 writer numbers post sim:N as 10^17 + N
        assert reposts[f"sim:{int(shown['post_id'].removeprefix('twitter:')) - 10**17}"] == shown["reposts"]

    posts_per_account = Counter(p["author_id"] for p in rows)
    c = r["concentration"]
    assert c["gini"] == pytest.approx(gini_by_mean_difference(list(posts_per_account.values())))
    top = -(-len(accounts) // 100)
    assert c["share_by_top_1pct"] == pytest.approx(sum(n for _, n in posts_per_account.most_common(top)) / len(rows))
    assert r["top_accounts"][0]["posts"] == posts_per_account.most_common(1)[0][1]
    assert r["co_hashtags"] == []  # the planted posts carry no other hashtag
    assert r["languages"] == [{"lang": "en", "posts": len(rows)}]

    # it trended, detected soon after the planned start
    assert r["trend"]["trended"]
    assert 0 < r["trend"]["minutes_to_trend"] <= within


def minutes_between(later: str, earlier: datetime) -> float:
    return round((datetime.fromisoformat(later) - earlier).total_seconds() / 60, 1)


def test_time_to_trend_is_to_the_detection_and_the_rise_is_reported_beside_it(blast):
    """The time to trend runs from the planned start to the moment the trend was detected (the end of
    the bucket that fired), not to the start of the bucket in which the rise began."""
    db, table, _ = blast
    first = min(p["t"] for p in planted_rows(table, "FreeThePress"))
    first_post = datetime.fromtimestamp(first / 1e6, UTC)
    with Store(db, read_only=True) as store:
        r = analyse(store.engine, CampaignQuery(["FreeThePress"], planned_us=datetime_to_us(BLAST)))
        unplanned = analyse(store.engine, CampaignQuery(["FreeThePress"]))
        late_plan = BLAST + timedelta(minutes=20)  # planned after it was detected, while it still trended
        late = analyse(store.engine, CampaignQuery(["FreeThePress"], planned_us=datetime_to_us(late_plan)))
    trend = r["trend"]
    detected, rise = datetime.fromisoformat(trend["detected_at"]), datetime.fromisoformat(trend["rise_start"])
    assert trend["trended"] and trend["hashtag"] == "freethepress"
    assert trend["scales"] == ["5m", "1h", "1d"] and trend["scale"] in trend["scales"]
    assert trend["minutes_to_trend"] == minutes_between(trend["detected_at"], BLAST) > 0
    assert trend["rise_minutes_from_start"] == minutes_between(trend["rise_start"], BLAST)
    assert detected > first_post  # a trend is known only once a bucket of posts is over
    assert first_post <= rise <= detected  # the rise began with the campaign's posts, before it was known
    assert detected.timestamp() % 300 == 0  # the end of a 5-minute bucket
    assert not {"minutes_from_start", "detectable_at", "trending_since"} & set(trend)
    # with no planned start, from the first post
    assert unplanned["trend"]["detected_at"] == trend["detected_at"]
    assert unplanned["trend"]["minutes_to_trend"] == minutes_between(trend["detected_at"], first_post)
    # it trended before a start planned too late: negative, still the same episode
    assert late["trend"]["detected_at"] == trend["detected_at"]
    assert late["trend"]["minutes_to_trend"] == minutes_between(trend["detected_at"], late_plan) < 0


def test_bucket_sets_the_trend_scales_and_the_timeline_step(blast, tmp_path):
    db, table, _ = blast
    rows = planted_rows(table, "FreeThePress")
    swell("campaign", "#FreeThePress", "--db", db, "--planned", BLAST.isoformat(), "--bucket", "15",
          "--format", "json", "-o", tmp_path / "15.json")  # fmt: skip
    swell("campaign", "#FreeThePress", "--db", db, "--format", "json", "-o", tmp_path / "auto.json")
    r, auto = (orjson.loads((tmp_path / name).read_bytes()) for name in ("15.json", "auto.json"))
    timeline = r["timeline"]
    assert timeline["step_min"] == 15
    times = [datetime.fromisoformat(row["time"]) for row in timeline["rows"]]
    assert all(b - a == timedelta(minutes=15) for a, b in itertools.pairwise(times))
    assert all(t.minute % 15 == 0 and t.second == 0 for t in times)
    assert sum(row["posts"] for row in timeline["rows"]) == len(rows)
    assert r["trend"]["scales"] == ["15m", "1h", "1d"]
    assert datetime.fromisoformat(r["trend"]["detected_at"]).timestamp() % (15 * 60) == 0
    assert r["trend"]["minutes_to_trend"] == minutes_between(r["trend"]["detected_at"], BLAST)
    # without --bucket: 5-minute buckets, and the timeline's step chosen for the span (an hour or so: minutes)
    assert auto["trend"]["scales"] == ["5m", "1h", "1d"] and auto["timeline"]["step_min"] == 1


def test_coordinated_push_is_attributed_to_its_accounts_and_the_blast_is_not(blast):
    db, _, truth = blast
    with Store(db, read_only=True) as store:
        push = analyse(store.engine, CampaignQuery(["PressLies"], planned_us=datetime_to_us(PUSH)))
        grassroots = analyse(store.engine, CampaignQuery(["FreeThePress"], planned_us=datetime_to_us(BLAST)))
    signals = push["coordination"]["signals"]
    members = {m["account"] for c in push["coordination"]["clusters"] if c["coordinated"] for m in c["members"]}
    assert members == set(truth["PressLies"]["accounts"])
    assert signals["share_by_coordinated_accounts"] == 1.0
    assert signals["duplicate_text_share"] > 0.9
    assert signals["share_created_that_week"] >= 0.4  # made in the same fortnight
    assert all(s["source_text"] and s["target_text"] for c in push["coordination"]["clusters"] for s in c["samples"])
    assert grassroots["coordination"]["signals"]["coordinated_accounts"] == 0
    assert grassroots["coordination"]["signals"]["duplicate_text_share"] < 0.05


def test_ira_debate_night_against_plain_sql(tmp_path):
    """Real IRA tweets (@TEN_GOP around the first 2016 debate): the numbers of #DebateNight, each
    computed again here in plain SQL over the stored posts."""
    db = tmp_path / "ira.duckdb"
    ingest(db, DATA / "ira-2016-09" / "bet4a-TEN_GOP-2016-09-25_to_28.csv")
    with Store(db, read_only=True) as store:
        r = analyse(store.engine, CampaignQuery(["#DebateNight"]))
        sql = store.con.sql
        tagged = "list_contains(hashtags, 'debatenight')"
        posts, accounts, first = sql(
            f"SELECT count(*), count(DISTINCT author_id), min(created_at) FROM posts WHERE {tagged}"
        ).fetchall()[0]
        first_id = sql(f"SELECT post_id FROM posts WHERE {tagged} ORDER BY created_at, post_id LIMIT 1").fetchall()[0][
            0
        ]
        peak = sql(
            f"""SELECT date_trunc('minute', created_at) AS m, count(*) AS n FROM posts WHERE {tagged}
                GROUP BY m ORDER BY n DESC, m LIMIT 1"""
        ).fetchall()[0]
        co = sql(
            f"""SELECT tag, count(*) AS n
                FROM (SELECT unnest(hashtags) AS tag FROM posts WHERE {tagged} AND kind <> 'repost')
                WHERE tag <> 'debatenight' GROUP BY tag ORDER BY n DESC, tag LIMIT 20"""
        ).fetchall()
        langs = sql(
            f"SELECT coalesce(lang, 'und'), count(*) FROM posts WHERE {tagged} GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        kinds = dict(sql(f"SELECT kind, count(*) FROM posts WHERE {tagged} GROUP BY kind").fetchall())
    assert (r["totals"]["posts"], r["totals"]["accounts"]) == (posts, accounts) == (70, 1)
    assert r["totals"]["originals"] == kinds.get("post", 0) and r["totals"]["reposts"] == kinds.get("repost", 0)
    assert r["first_post"]["post_id"] == first_id
    assert datetime.fromisoformat(r["first_post"]["time"]) == first
    assert (datetime.fromisoformat(r["peak_minute"]["minute"]), r["peak_minute"]["posts"]) == peak
    assert [(h["hashtag"], h["posts"]) for h in r["co_hashtags"]] == co
    assert [(x["lang"], x["posts"]) for x in r["languages"]] == langs
    # one loud account: everything is its own, and it is no trend (as `swell trends` says)
    assert r["concentration"]["share_by_top_1pct"] == 1.0 and r["concentration"]["gini"] == 0.0
    assert r["top_accounts"][0]["handle"].lower() == "ten_gop"
    assert not r["trend"]["trended"]


def test_campaign_command_writes_html_json_and_png(blast, tmp_path):
    db, _, _ = blast
    out = swell(
        "campaign",
        "#FreeThePress",
        "--db",
        db,
        "--planned",
        BLAST.isoformat(),
        "--report",
        tmp_path / "r.html",
        "--json",
        tmp_path / "r.json",
        "--png",
        tmp_path / "png",
    ).output
    with Store(db, read_only=True) as store:
        expected = analyse(store.engine, CampaignQuery(["FreeThePress"], planned_us=datetime_to_us(BLAST)))
    trend = expected["trend"]
    detected = datetime.fromisoformat(trend["detected_at"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert "#freethepress" in out
    assert (  # the console wraps lines where it likes
        f"trending: detected {detected} at the {trend['scale']} scale (signitrend), "
        f"{trend['minutes_to_trend']} minutes after the planned start; the rise began at "
        f"{datetime.fromisoformat(trend['rise_start']).strftime('%H:%M:%S')} UTC"
    ) in " ".join(out.split())
    numbers = orjson.loads((tmp_path / "r.json").read_bytes())
    assert numbers == orjson.loads(orjson.dumps(expected))
    html = (tmp_path / "r.html").read_text()
    assert "<h1>#freethepress</h1>" in html and 'data-chart="chart-timeline"' in html
    assert "http://" not in html.split("<script", 1)[0] and "https://" not in html.split("<script", 1)[0]
    pngs = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert pngs == ["accounts.png", "languages.png", "ramp.png", "timeline.png"]
    assert all((tmp_path / "png" / p).read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_campaign_with_no_posts_says_so_and_fails(blast, tmp_path):
    db, _, _ = blast
    result = swell("campaign", "#NoSuchTag", "--db", db, "--report", tmp_path / "r.html", ok=False)
    assert result.exit_code == 1
    assert "no posts with #nosuchtag" in result.output
    assert "holds no posts with these hashtags" in (tmp_path / "r.html").read_text()


def test_store_report(blast, tmp_path):
    db, table, _ = blast
    swell("report", "--db", db, "--report", tmp_path / "store.html", "--json", tmp_path / "store.json")
    r = orjson.loads((tmp_path / "store.json").read_bytes())
    assert r["totals"]["posts"] == table.num_rows
    trending = {e["hashtag"] for e in r["trends"]["episodes"]}
    assert {"freethepress", "presslies"} <= trending
    biggest = {m["account"] for c in r["coordination"]["clusters"] if c["coordinated"] for m in c["members"]}
    assert biggest and all(a.startswith("co1-") for a in biggest)
    with Store(db, read_only=True) as store:
        assert overview(store.engine, CampaignQuery([]))["totals"] == r["totals"]
    assert "What the store holds" in (tmp_path / "store.html").read_text()


def test_a_trend_is_assessed_as_swell_campaign_assesses_its_posts(tmp_path):
    """`assess_trends` gives the assessment `swell campaign` gives of the trend's posts, evidence and
    all. A push by 12 accounts: one dense blob, which Leiden (coordination_report's default) splits
    so that half its posts look uncoordinated; the campaign's components do not."""
    push = Campaign("coordinated", "Small", START + timedelta(hours=3), accounts=12)
    table, _ = generate(Simulation(hours=6, posts_per_hour=2_000, seed=1, campaigns=[push]))
    with Store(tmp_path / "s.duckdb") as store:
        store.append(table.combine_chunks().to_batches()[0])
        episodes = trends_over_store(store.engine, TrendStream("signitrend")).episodes()
        [episode] = [e for e in episodes if e.hashtag == "small"]
        [(posts, assessed)] = assess_trends(store.engine, [episode])
        q = CampaignQuery(["Small"], since_us=episode.since_us, until_us=episode.last_us)
        report = analyse(store.engine, q)
    assert posts == report["totals"]["posts"] >= 20
    assert assessed is not None and report["coordination"]["assessment"] == assessed.to_dict()
    assert assessed.evidence[0]["value"] == 1.0  # every post of the push by its coordinated cluster
