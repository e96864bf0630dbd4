"""Campaign analysis: did a hashtag campaign trend, how fast, who carried it, and how much of it came
from accounts acting in concert. Numbers with what they are made of, not verdicts.

A campaign is the posts in a time range that carry any of its hashtags, plus the reposts of such
posts (a Jetstream repost carries no hashtags of its own; an X repost carries the original's). Every
figure below is computed over that set, which is kept in the temporary table `campaign` of the
engine while the analysis runs. With no hashtags, the set is every post in the range:
`overview` describes a whole store with the same figures.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from swell.assessment import MIN_POSTS, Assessment
from swell.contents import describe
from swell.coordination import DEFAULT_KINDS, REPEAT_WINDOW_S, CoordinationReport, coordination_report
from swell.engine import Engine, one_row, rows
from swell.normalise import normalize_hashtag
from swell.selection import Selection
from swell.times import iso
from swell.trends import Trend, TrendStream, default_scales, gaps_as_json, scale_label, trends_over_store

_US_PER_MIN = 60_000_000
TREND_HISTORY_DAYS = 7  # the trend detectors' history before a campaign: a week of the day scale
# Timeline resolutions, in minutes: the finest that keeps the timeline under MAX_POINTS points.
RESOLUTIONS = (1, 5, 15, 60, 360, 1440)
MAX_POINTS = 1500
RAMP_MINUTES = 120  # the ramp: minute by minute from the planned start (or the first post)
DEFAULT_BUCKET_MIN = 5.0  # the finest trend scale when no bucket is given


@dataclass
class CampaignQuery:
    hashtags: list[str]
    planned_us: int | None = None  # when the campaign was planned to start
    since_us: int | None = None
    until_us: int | None = None
    platform: str | None = None
    detector: str = "signitrend"  # as `swell trends` over archives
    # The finest trend scale (then the hour and the day, `default_scales`) and the timeline's step, in
    # minutes. None: 5-minute buckets, and a timeline step chosen for the span (`resolution_min`).
    bucket_min: float | None = None
    window_s: float = 60.0  # co-action window
    min_weight: int = 2  # fewest co-actions for an edge
    min_strength: float = 10.0  # co-actions per account for a cluster to count as coordinated
    # Clusters: connected components by default. Within one campaign a coordinated group is one dense
    # blob, which modularity (Leiden, Louvain) cuts into pieces that each look weaker than the whole.
    method: str = "components"
    top: int = 10  # rows in the top-N lists
    repeat_window_s: float | None = REPEAT_WINDOW_S  # repeated co-actions judged against chance; None: not

    @property
    def selection(self) -> Selection:
        """The campaign's posts: its hashtags (and reposts of posts with them) in its range."""
        return Selection(self.since_us, self.until_us, self.platform, tuple(self.hashtags))

    @property
    def scales(self) -> tuple[float, ...]:
        """The trend scales, in minutes: the bucket (5 minutes unless given), the hour and the day."""
        return default_scales(DEFAULT_BUCKET_MIN if self.bucket_min is None else self.bucket_min)

    def timeline_step(self, first_us: int, last_us: int) -> float:
        """The timeline's step in minutes: the bucket when one was given, else `resolution_min`."""
        return resolution_min(first_us, last_us) if self.bucket_min is None else self.bucket_min

    def trend_stream(self) -> TrendStream:
        """The trend detection of `swell trends` over archives, at the query's scales."""
        return TrendStream(self.detector, scales=self.scales)


def resolution_min(first_us: int, last_us: int) -> int:
    span_min = (last_us - first_us) / _US_PER_MIN
    return next((r for r in RESOLUTIONS if span_min / r <= MAX_POINTS), RESOLUTIONS[-1])


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of posts per account: 0 when every account posts as much, towards 1 when a
    few accounts post nearly everything."""
    x = np.sort(counts.astype(np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    return float(2 * np.sum(np.arange(1, n + 1) * x) / (n * x.sum()) - (n + 1) / n)


def select_campaign(engine: Engine, selection: Selection) -> int:
    """Fill the temporary table `campaign` with the selected posts; returns their number."""
    where, params = selection.where()
    engine.table(
        "campaign",
        f"""SELECT post_id, author_id, author_handle, kind, ref_post_id, ref_author_id, epoch_us(created_at) AS t,
                   lang, hashtags, text
            FROM posts WHERE {where}""",
        params,
    )
    return one_row(engine, "SELECT count(*) FROM campaign")[0]


def analyse(engine: Engine, q: CampaignQuery, on_step: Step | None = None) -> dict:
    """Every number of the campaign report, JSON-ready (times in ISO 8601, UTC). `on_step` hears what
    is being done."""
    step = on_step or _quiet
    tags = [normalize_hashtag(h) for h in q.hashtags]
    report = {"hashtags": tags, "planned": iso(q.planned_us), "range": _range(q)}
    step("selecting the campaign's posts")
    if not select_campaign(engine, q.selection):
        return {**report, "totals": {"posts": 0}}
    first_us, last_us = one_row(engine, "SELECT min(t), max(t) FROM campaign")
    start_us = q.planned_us if q.planned_us is not None else first_us
    figures: dict[str, Any] = {**report, "totals": _totals(engine), "first_post": _first_post(engine)}
    figures["peak_minute"] = _peak_minute(engine)
    step("detecting trends")
    figures["trend"] = _trend(engine, q, tags, start_us, (min(start_us, first_us), last_us))
    step("counting the timeline, the accounts and the posts")
    figures |= {
        "timeline": _timeline(engine, q.timeline_step(first_us, last_us), first_us, last_us),
        "ramp": _ramp(engine, start_us),
        "top_posts": _top_posts(engine, q.top),
        "top_accounts": _top_accounts(engine, q.top),
        "concentration": _concentration(engine),
        "languages": _languages(engine),
        "co_hashtags": _co_hashtags(engine, tags, q.top * 2),
    }
    figures["coordination"] = _coordination(engine, q, step)
    return figures


Step = Callable[[str], None]


def _quiet(step: str) -> None:
    """What hears the steps when nobody listens."""


def _range(q: CampaignQuery) -> dict:
    return {"since": iso(q.since_us), "until": iso(q.until_us), "platform": q.platform}


def _totals(engine) -> dict:
    (row,) = rows(
        engine,
        """SELECT count(*) AS posts, count(*) FILTER (WHERE kind = 'post') AS originals,
                  count(*) FILTER (WHERE kind = 'repost') AS reposts, count(*) FILTER (WHERE kind = 'reply') AS replies,
                  count(*) FILTER (WHERE kind = 'quote') AS quotes, count(DISTINCT author_id) AS accounts
           FROM campaign""",
    )
    return row


def _first_post(engine) -> dict:
    (row,) = rows(
        engine,
        """SELECT post_id, t, author_id, author_handle, kind, text FROM campaign ORDER BY t, post_id LIMIT 1""",
    )
    row["time"] = iso(row.pop("t"))
    return row


def _peak_minute(engine) -> dict:
    (row,) = rows(
        engine,
        f"""SELECT t - t % {_US_PER_MIN} AS minute, count(*) AS posts, count(DISTINCT author_id) AS accounts
            FROM campaign GROUP BY minute ORDER BY posts DESC, minute LIMIT 1""",
    )
    row["minute"] = iso(row["minute"])
    return row


def _trend(engine: Engine, q: CampaignQuery, tags: list[str], start_us: int, span: tuple[int, int]) -> dict:
    """When the campaign's hashtags trended, by the same detector and scales as `swell trends` over
    the same range of the store: the first episode to be detected that was still trending after the
    start (the planned time, else the first post). Without --since and --until, the range is the
    campaign's `span` (from the start or first post to the last post) and the `TREND_HISTORY_DAYS`
    before it (the detectors' baselines), not the whole store:
    a store of years of sparse samples would otherwise score every 5-minute bucket of those years.

    The time to trend is from the start to the detection: the end of the bucket that fired first,
    when someone watching live would have known (negative when it trended before the planned start).
    The rise began earlier, at the first post of the first bucket of the rise; that is reported too,
    not counted as the time to trend."""
    stream = q.trend_stream()
    day_us = 1440 * _US_PER_MIN
    around = Selection(
        q.since_us if q.since_us is not None else span[0] - TREND_HISTORY_DAYS * day_us,
        q.until_us if q.until_us is not None else span[1] + day_us,  # the campaign's day bucket closes
        q.platform,
    )
    trends_over_store(engine, stream, around)
    episodes = sorted((t for t in stream.episodes() if t.hashtag in tags), key=lambda t: (t.detected_us, t.hashtag))
    trended = next((t for t in episodes if t.last_us > start_us), None)
    found: dict[str, Any] = dict.fromkeys(
        ("hashtag", "scale", "rise_start", "detected_at", "minutes_to_trend", "rise_minutes_from_start", "peak_score")
    )
    if trended is not None:
        found = {
            "hashtag": trended.hashtag,
            "scale": scale_label(trended.scale_min),
            "rise_start": iso(trended.since_us),
            "detected_at": iso(trended.detected_us),
            "minutes_to_trend": _minutes(trended.detected_us - start_us),
            "rise_minutes_from_start": _minutes(trended.since_us - start_us),
            "peak_score": round(trended.peak, 3),
        }
    return {
        "detector": q.detector,
        "scales": [s.label for s in stream.scales],
        "trended": trended is not None,
        **found,
        "episodes": [t.as_dict() for t in episodes],
    }


def _minutes(us: int) -> float:
    return round(us / _US_PER_MIN, 1)


def _timeline(engine, step_min: float, first_us: int, last_us: int) -> dict:
    """Posts, distinct accounts, new accounts (first post in the campaign) and reposts per step of
    `step_min` minutes, from the first post's step to the last's, quiet steps included."""
    step = round(step_min * _US_PER_MIN)
    result = rows(
        engine,
        """WITH steps AS (SELECT unnest(generate_series($first - $first % $step, $last, $step)) AS b),
                firsts AS (SELECT author_id, min(t) AS t FROM campaign GROUP BY author_id),
                per AS (SELECT t - t % $step AS b, count(*) AS posts, count(DISTINCT author_id) AS accounts,
                               count(*) FILTER (WHERE kind = 'repost') AS reposts
                        FROM campaign GROUP BY b),
                joined AS (SELECT t - t % $step AS b, count(*) AS new_accounts FROM firsts GROUP BY b)
           SELECT b, coalesce(posts, 0) AS posts, coalesce(accounts, 0) AS accounts,
                  coalesce(new_accounts, 0) AS new_accounts, coalesce(reposts, 0) AS reposts,
                  sum(coalesce(new_accounts, 0)) OVER (ORDER BY b) AS cumulative_accounts
           FROM steps LEFT JOIN per USING (b) LEFT JOIN joined USING (b) ORDER BY b""",
        {"first": first_us, "last": last_us, "step": step},
    )
    for row in result:
        row["time"] = iso(row.pop("b"))
    return {"step_min": int(step_min) if float(step_min).is_integer() else step_min, "rows": result}


def _ramp(engine, start_us: int) -> list[dict]:
    """Minute by minute for RAMP_MINUTES from the start: posts, accounts, accounts so far (counting
    those who posted before the start)."""
    result = rows(
        engine,
        f"""WITH firsts AS (SELECT author_id, min(t) AS t FROM campaign GROUP BY author_id),
                 minutes AS (SELECT unnest(generate_series(0, {RAMP_MINUTES - 1})) AS m),
                 per AS (SELECT (t - $start) // {_US_PER_MIN} AS m, count(*) AS posts,
                                count(DISTINCT author_id) AS accounts
                         FROM campaign WHERE t >= $start GROUP BY 1),
                 joined AS (SELECT (t - $start) // {_US_PER_MIN} AS m, count(*) AS n
                            FROM firsts WHERE t >= $start GROUP BY 1)
            SELECT m AS minute, coalesce(posts, 0) AS posts, coalesce(accounts, 0) AS accounts,
                   (SELECT count(*) FROM firsts WHERE t < $start) + sum(coalesce(n, 0)) OVER (ORDER BY m)
                       AS accounts_so_far
            FROM minutes LEFT JOIN per USING (m) LEFT JOIN joined USING (m) ORDER BY m""",
        {"start": start_us},
    )
    return result


def _top_posts(engine, top: int) -> list[dict]:
    """The most reposted posts, by the reposts inside the campaign; the original's text and author
    from the store when it holds the original, else from the repost (X reposts carry the text)."""
    result = rows(
        engine,
        """WITH r AS (SELECT ref_post_id AS post_id, count(*) AS reposts, count(DISTINCT author_id) AS reposters,
                             min(ref_author_id) AS ref_author, arg_min(text, t) AS repost_text
                      FROM campaign WHERE kind = 'repost' AND ref_post_id IS NOT NULL GROUP BY ref_post_id
                      ORDER BY reposts DESC, post_id LIMIT ?)
           SELECT r.post_id, r.reposts, r.reposters, coalesce(p.author_id, r.ref_author) AS author_id,
                  p.author_handle, epoch_us(p.created_at) AS t, coalesce(p.text, r.repost_text) AS text
           FROM r LEFT JOIN posts p USING (post_id) ORDER BY r.reposts DESC, r.post_id""",
        [top],
    )
    for row in result:
        row["time"] = iso(row.pop("t"))
    return result


def _top_accounts(engine, top: int) -> list[dict]:
    result = rows(
        engine,
        """WITH a AS (SELECT author_id, count(*) AS posts,
                             arg_max(author_handle, t) FILTER (WHERE author_handle IS NOT NULL) AS handle,
                             count(*) FILTER (WHERE kind = 'repost') AS reposts, min(t) AS first_t
                      FROM campaign GROUP BY author_id),
                got AS (SELECT ref_author_id AS author_id, count(*) AS reposted
                        FROM campaign WHERE kind = 'repost' GROUP BY 1)
           SELECT author_id, handle, posts, reposts, coalesce(reposted, 0) AS reposted_by_others, first_t
           FROM a LEFT JOIN got USING (author_id) ORDER BY posts DESC, author_id LIMIT ?""",
        [top],
    )
    for row in result:
        row["first_post"] = iso(row.pop("first_t"))
    return result


def _concentration(engine) -> dict:
    counts = engine.frame("SELECT count(*) AS n FROM campaign GROUP BY author_id").get_column("n").to_numpy()
    top = max(1, math.ceil(len(counts) / 100))
    ordered = np.sort(counts)[::-1]
    return {
        "accounts": len(counts),
        "top_1pct_accounts": top,
        "share_by_top_1pct": float(ordered[:top].sum() / counts.sum()),
        "share_by_top_10pct": float(ordered[: max(1, math.ceil(len(counts) / 10))].sum() / counts.sum()),
        "gini": gini(counts),
        "posts_per_account_median": float(np.median(counts)),
        "posts_per_account_max": int(ordered[0]),
    }


def _languages(engine) -> list[dict]:
    return rows(
        engine,
        "SELECT coalesce(lang, 'und') AS lang, count(*) AS posts FROM campaign GROUP BY 1 ORDER BY posts DESC, lang",
    )


def _co_hashtags(engine, tags: list[str], top: int) -> list[dict]:
    """Hashtags used beside the campaign's, in posts of its own (reposts would count the same post
    again)."""
    return rows(
        engine,
        """SELECT tag AS hashtag, count(*) AS posts, count(DISTINCT author_id) AS accounts
           FROM (SELECT unnest(hashtags) AS tag, author_id FROM campaign WHERE kind <> 'repost')
           WHERE NOT list_contains(?, tag) GROUP BY tag ORDER BY posts DESC, tag LIMIT ?""",
        [tags, top],
    )


def campaign_coordination(
    engine: Engine, q: CampaignQuery, *, where: str | None = None, on_step: Step | None = None
) -> CoordinationReport:
    """`coordination_report` of the campaign's posts (or of `where`, SQL over posts naming the same
    posts) with the campaign's settings: what `swell campaign` and `swell trends --assess` assess."""
    where, params = (where, None) if where is not None else q.selection.where()
    return coordination_report(engine, where=where, params=params, kinds=DEFAULT_KINDS, window_s=q.window_s,
                               repeat_window_s=q.repeat_window_s, min_weight=q.min_weight, method=q.method,
                               min_strength=q.min_strength, on_step=on_step)  # fmt: skip


class AssessedTrend(NamedTuple):
    """A trend episode's posts (its hashtag's, from the start of its rise to the end of its last
    trending bucket) and their assessment, None when there are fewer than `MIN_POSTS`."""

    posts: int
    assessment: Assessment | None


def assess_trends(engine: Engine, trends: Iterable[Trend], platform: str | None = None) -> list[AssessedTrend]:
    """Each trend episode's posts (on `platform`, or all) assessed as `swell campaign` assesses a
    campaign of those posts (`campaign_coordination`); not below `MIN_POSTS`, the fewest the
    assessment's reference ranges were set on. One coordination report a trend: slower than finding
    the trends, and said so where it is offered (`swell trends --assess`)."""
    found = []
    for t in trends:
        q = CampaignQuery([t.hashtag], since_us=t.since_us, until_us=t.last_us, platform=platform)
        where, params = q.selection.where()
        (posts,) = one_row(engine, f"SELECT count(*) FROM posts WHERE {where}", params)
        assessed = campaign_coordination(engine, q).assessment() if posts >= MIN_POSTS else None
        found.append(AssessedTrend(posts, assessed))
    return found


def _coordination(engine: Engine, q: CampaignQuery, step: Step, *, shown: int = 10) -> dict:
    """The co-action network of the campaign's posts, its clusters (strongest first) with sample posts
    behind their edges, the campaign signals, and a laid-out graph of the clusters shown."""
    report = campaign_coordination(engine, q, where="post_id IN (SELECT post_id FROM campaign)", on_step=step)
    step("laying out the network")
    return {**report.to_dict(top=shown), "graph": _graph(report.network, report.clusters[:shown])}


def _graph(network, shown_clusters, max_nodes: int = 400) -> dict:
    """The accounts of the clusters shown and the undirected edges among them, laid out (igraph's
    Fruchterman-Reingold, seeded) for a network view."""
    import igraph

    nodes: dict[str, int] = {}
    for c in shown_clusters:
        for a in c.accounts:
            if len(nodes) < max_nodes:
                nodes.setdefault(a, c.id)
    edges = [(a, b, w) for a, b, w in network.undirected().iter_rows() if a in nodes and b in nodes]
    if not nodes:
        return {"nodes": [], "edges": []}
    names = list(nodes)
    index = {n: i for i, n in enumerate(names)}
    graph = igraph.Graph(n=len(names), edges=[(index[a], index[b]) for a, b, _ in edges])
    seed = [[math.cos(i), math.sin(i)] for i in range(len(names))]
    igraph.set_random_number_generator(random.Random(0))  # the layout moves nodes at random: the same each time
    layout = graph.layout_fruchterman_reingold(seed=seed, niter=300)
    handles = dict(network.accounts.select("account", "handle").iter_rows())
    return {
        "nodes": [
            {"account": n, "handle": handles.get(n) or n, "cluster": nodes[n], "x": x, "y": y}
            for n, (x, y) in zip(names, layout.coords, strict=True)
        ],
        "edges": [
            {
                "source": a,
                "target": b,
                "weight": w,
                "x": layout.coords[index[a]][0],
                "y": layout.coords[index[a]][1],
                "x2": layout.coords[index[b]][0],
                "y2": layout.coords[index[b]][1],
            }
            for a, b, w in edges
        ],
    }


def overview(engine: Engine, q: CampaignQuery, *, trends_shown: int = 20, on_step: Step | None = None) -> dict:
    """What a store (or a range of it) holds, its main trends, and its largest coordinated clusters:
    the campaign figures over every post, with the trend episodes of every hashtag."""
    step = on_step or _quiet
    step("describing the store")
    info = describe(engine, top=q.top * 2)
    info["first"], info["last"] = (v.isoformat() if v else None for v in (info["first"], info["last"]))
    if not select_campaign(engine, q.selection.without_hashtags()):
        return {"store": info, "range": _range(q), "totals": {"posts": 0}}
    first_us, last_us = one_row(engine, "SELECT min(t), max(t) FROM campaign")
    step("detecting trends")
    stream = trends_over_store(engine, q.trend_stream(), q.selection)
    episodes = sorted(stream.episodes(), key=lambda t: -t.peak)[:trends_shown]
    step("counting the timeline and the accounts")
    return {
        "store": info,
        "range": _range(q),
        "totals": _totals(engine),
        "timeline": _timeline(engine, q.timeline_step(first_us, last_us), first_us, last_us),
        "trends": {
            "detector": q.detector,
            "scales": [scale_label(s) for s in q.scales],
            "episodes": sorted((t.as_dict() for t in episodes), key=lambda e: e["trending_since"]),
            "gaps": gaps_as_json(stream.gaps_so_far()),
        },
        "top_accounts": _top_accounts(engine, q.top),
        "concentration": _concentration(engine),
        "languages": _languages(engine),
        "coordination": _coordination(engine, q, step),
    }
