"""Coordination: networks of accounts that act alike within seconds, their clusters, and how much of
a campaign they produce. Evidence, not verdicts.

A co-action is two accounts doing the same thing to the same object within a window T:
- co-repost: reposting the same post (or, for reposts whose source the data does not give, as in
  the IRA tweets, the same normalised text: the same text reposted stands in for the same post);
- co-post: posting the same text (normalised: lower case, URLs and mentions removed, white space
  collapsed), reposts excluded;
- co-link: sharing the same (normalised) URL in a post of one's own (a repost's links are the
  original's: that is co-repost);
- co-reply: replying to the same post;
- co-hashtag: using the same hashtag;
- near-duplicate: posting texts whose word-shingle Jaccard similarity is at least 0.8 (MinHash and
  LSH, vectorised with NumPy: `near_duplicate_groups`), reposts excluded.

The edge u -> v has weight = the number of distinct posts of u that have a matching post of v with
|t_v - t_u| <= T (coordination-network-toolkit's definition; directed). Edges are computed by a
band join in DuckDB, never a loop over pairs: actions are bucketed by floor(t / T), the other side
is replicated into the buckets b - 1, b, b + 1, and pairs are joined on (kind, object, bucket) and
kept when |dt| <= T. Every pair within T shares exactly one (bucket, replica), so each is found once.

Accounts that repost the same posts minutes or hours apart escape a window of seconds. A second,
longer window (a day by default) catches them under a stricter bar: a pair of accounts is linked
("repeated co-repost", ...) only when they acted on more of the same objects within a day of each
other than chance allows (`repeated_co_actions`), reckoned from the popularity of the objects each
account acts on. That pass also looks at hashtags (`repeated_kinds`): sharing one hashtag within a
minute is what a trend is, sharing many rare hashtags again and again is what hashtag gamers do.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb
import igraph
import numpy as np
import polars as pl

from swell.assessment import Assessment, assess
from swell.engine import Engine, one_row
from swell.selection import Selection
from swell.times import iso

KINDS = ("co-repost", "co-post", "co-link", "co-reply", "co-hashtag", "near-duplicate")
DEFAULT_KINDS = ("co-repost", "co-post", "co-link", "co-reply")
REPEATED = "repeated "  # the prefix of the kinds of the longer window's edges ("repeated co-repost", ...)
REPEAT_WINDOW_S = 86_400.0  # a day: reposting the same post hours apart, posting the same text next morning
# The false discovery rate of repeated co-actions: the share of chance pairs tolerated among those kept
# (Benjamini-Hochberg over every pair of accounts of a community, per kind).
REPEAT_ALPHA = 0.05
# The pairs an object contributes grow with the square of the accounts acting on it; objects are taken from
# the least to the most shared while their pairs stay within this many per action (a viral post retweeted by
# 50,000 accounts would make 1.25 billion pairs, and its sharing is explained by its popularity anyway).
# A bound on cost, not on what is found: on the IRA tweets among 1,000 to 20,000 organic posts an hour, the
# accounts found were the same from 2 to 20 pairs an action (benchmarks/README.md); 20 took twice as long.
REPEAT_PAIRS_PER_ACTION = 5

# Python's str.split() white space (Unicode's, and the separators \x1c-\x1f), spelled out so that
# co-post text matches coordination-network-toolkit's normalisation exactly.
_SPACE = r"\s\x0B\x1C-\x1F\x85\p{Z}"
URL_PATTERN = rf"(?i)https?://[^{_SPACE}]+"


def normalised_text(text: pl.Expr) -> pl.Expr:
    """Co-post's normalised text: lower case, URLs and mentions (an @ and what follows it up to white
    space, as the toolkit removes them) taken out, white space collapsed. In polars: its Rust regex
    engine does this three times faster than SQL regular expressions. Only runs that are not already a
    single space are replaced: replacing every space by itself made this step three times slower."""
    return (
        text.str.to_lowercase()
        .str.replace_all(rf"https?://[^{_SPACE}]+|@[^{_SPACE}]*", " ")
        .str.replace_all(rf"[{_SPACE}]{{2,}}|[[{_SPACE}]--[ ]]", " ")
        .str.strip_chars(" ")
    )


# Each kind's actions: who, which post, on what object, when, and `loose`, the object the day-long pass
# takes instead when it differs. Co-post's object is the text with its links (the post's URLs, not the
# URLs in its text: on X those are t.co links, one per post), its loose object the text alone: the same
# headline posted with links to different articles is the same text only if it repeats beyond chance.
_SELECT = "SELECT author_id, post_id, {object} AS object, t, NULL AS loose FROM scope"
_ACTIONS = {
    "co-repost": _SELECT.format(object="ref_post_id")
    + " WHERE kind = 'repost' AND ref_post_id IS NOT NULL"
    + " UNION ALL SELECT author_id, post_id, 'text:' || norm AS object, t, NULL AS loose FROM texts WHERE repost",
    "co-post": "SELECT author_id, post_id, coalesce(linked, norm) AS object, t,"
    + " CASE WHEN linked IS NOT NULL THEN norm END AS loose FROM texts WHERE NOT repost",
    "co-link": _SELECT.format(object="unnest(urls)")
    + " JOIN posts USING (post_id, author_id, kind) WHERE kind <> 'repost'",
    "co-reply": _SELECT.format(object="ref_post_id") + " WHERE kind = 'reply'",
    "co-hashtag": _SELECT.format(object="unnest(hashtags)") + " JOIN posts USING (post_id, author_id)",
    "near-duplicate": _SELECT.format(object="grp") + " JOIN near_duplicate_groups USING (post_id)",
}


@dataclass
class Network:
    """The co-action network of a set of posts: directed weighted edges per kind, with evidence."""

    window_s: float
    kinds: tuple[str, ...]
    edges: pl.DataFrame  # kind, source, target, weight, first_s, last_s (first and last co-action)
    evidence: pl.DataFrame  # kind, source, target, source_post, target_post, object, dt_s
    accounts: pl.DataFrame = field(default_factory=pl.DataFrame)  # account, handle, posts (in scope)

    def undirected(self) -> pl.DataFrame:
        """One row per account pair (a < b): the weights of both directions, all kinds, added."""
        pairs = self.edges.select(
            a=pl.min_horizontal("source", "target"), b=pl.max_horizontal("source", "target"), weight="weight"
        )
        return pairs.group_by("a", "b").agg(pl.col("weight").sum()).sort("a", "b")


def shingle_hashes(norm: pl.Series) -> pl.DataFrame:
    """The distinct word 3-shingles of each text (one shingle, the whole text, for texts of fewer than
    three words), hashed to 64 bits: columns `i` (the text's position) and `h`, sorted by `i`."""
    words = pl.DataFrame({"i": pl.int_range(len(norm), dtype=pl.Int64, eager=True), "w": norm.str.split(" ")})
    return (
        words.explode("w")
        .with_columns(
            pos=pl.int_range(pl.len()).over("i"),
            n=pl.len().over("i"),
            w1=pl.col("w").shift(-1).over("i"),
            w2=pl.col("w").shift(-2).over("i"),
        )
        .filter(pl.col("pos") <= (pl.col("n") - 3).clip(lower_bound=0))
        .select("i", h=pl.concat_str("w", "w1", "w2", separator=" ", ignore_nulls=True).hash(seed=0))
        .unique()
        .sort("i")
    )


def minhash_signatures(norm: pl.Series, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """MinHash signatures (texts x `num_perm`, uint32) of the texts' word 3-shingles, vectorised: each
    permutation is a multiply-shift hash of the shingles' 64-bit hashes, ((a * h + b) mod 2^64) >> 32
    with a odd (Dietzfelbinger's universal family), its minimum taken per text with `reduceat`."""
    shingles = shingle_hashes(norm)
    h = shingles.get_column("h").to_numpy()
    starts = np.flatnonzero(np.diff(shingles.get_column("i").to_numpy(), prepend=-1))
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, num_perm, dtype=np.uint64)
    signatures = np.empty((len(norm), num_perm), dtype=np.uint32)
    with np.errstate(over="ignore"):  # the arithmetic is modulo 2^64 on purpose
        for j in range(num_perm):
            signatures[:, j] = np.minimum.reduceat((a[j] * h + b[j]) >> np.uint64(32), starts).astype(np.uint32)
    return signatures


def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) for locality-sensitive hashing at a Jaccard `threshold`: the split of the
    signature whose false positives below the threshold and false negatives above it, P(candidate)
    = 1 - (1 - s^rows)^bands integrated over s, weigh least (datasketch's choice, equal weights)."""
    s = np.linspace(0, 1, 1001)
    below, above = s <= threshold, s >= threshold
    best = None
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p = 1 - (1 - s**rows) ** bands
            error = np.trapezoid(p[below], s[below]) + np.trapezoid(1 - p[above], s[above])
            if best is None or error < best[0]:
                best = (error, bands, rows)
    return best[1], best[2]  # type: ignore[index]


def near_duplicate_groups(texts: pl.DataFrame, threshold: float = 0.8, num_perm: int = 128) -> pl.DataFrame:
    """Group posts whose texts are near duplicates: MinHash signatures of word 3-shingles
    (`minhash_signatures`), LSH bands for candidates at the Jaccard threshold (`lsh_bands`), and the
    connected components of the candidates as groups. `texts` has post_id and norm (the normalised
    text); the result has post_id and grp (named for the group's least post id, so that it does not
    depend on the order of the rows) for posts in a group of 2+.

    128 permutations: texts at Jaccard 0.9 are candidates with probability 0.93 (0.85 with 64), those
    at 0.7 with 0.08; vectorised, the extra permutations cost little."""
    none = pl.DataFrame(schema={"post_id": pl.String, "grp": pl.String})
    if texts.height < 2:
        return none
    signatures = minhash_signatures(texts.get_column("norm"), num_perm)
    bands, rows = lsh_bands(threshold, num_perm)
    mix = np.random.default_rng(2).integers(0, 2**63, rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    with np.errstate(over="ignore"):
        keys = [(signatures[:, k * rows : (k + 1) * rows].astype(np.uint64) * mix).sum(axis=1) for k in range(bands)]
    buckets = pl.DataFrame(
        {
            "band": np.repeat(np.arange(bands), len(texts)),
            "key": np.concatenate(keys),
            "i": np.tile(np.arange(len(texts)), bands),
        }
    )
    # Texts sharing a band's bucket are candidates; linking each to the bucket's first gives the same
    # components as every pair would, without a bucket of k texts costing k^2 pairs.
    linked = buckets.with_columns(first=pl.col("i").min().over("band", "key")).filter(pl.col("i") != pl.col("first"))
    if linked.is_empty():
        return none
    a, b = linked.get_column("first").to_numpy(), linked.get_column("i").to_numpy()
    labels = _components(a, b, len(texts))
    in_pair = np.zeros(len(texts), dtype=bool)
    in_pair[a] = in_pair[b] = True
    grouped = pl.DataFrame({"post_id": texts.get_column("post_id"), "component": labels}).filter(pl.Series(in_pair))
    return grouped.select("post_id", grp=pl.lit("near:") + pl.col("post_id").min().over("component"))


def _components(a: np.ndarray, b: np.ndarray, nodes: int) -> np.ndarray:
    """The connected component of each of `nodes` nodes (0, 1, ...) linked by the edges a[i] - b[i]."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(nodes, nodes)), directed=False)
    return labels


def _spelled(kinds: tuple[str, ...]) -> str:
    """Kinds as an SQL list, after `check_kinds`: names of KINDS only, so safe to spell out."""
    return ", ".join(f"'{kind}'" for kind in kinds)


def check_kinds(kinds: tuple[str, ...]) -> None:
    """Raise if a kind is unknown."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown co-action kinds {sorted(unknown)}; kinds are {', '.join(KINDS)}")


def repeated_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds the day-long pass (`repeated_co_actions`) looks at: those asked for, and hashtags. A
    hashtag shared within a minute is what everyone in a trend does, so co-hashtag is not a default
    kind; many rarely used hashtags shared again and again within a day, beyond what their popularity
    explains, is what accounts playing the same hashtag games all month do."""
    return tuple(dict.fromkeys((*kinds, "co-hashtag")))


def co_action_network(
    engine: Engine,
    *,
    where: str = "TRUE",
    params: list | None = None,
    kinds: tuple[str, ...] = DEFAULT_KINDS,
    window_s: float = 60.0,
    min_weight: int = 1,
    evidence_per_edge: int = 3,
    repeat_window_s: float | None = REPEAT_WINDOW_S,
) -> Network:
    """The co-action network of the posts selected by `where` (SQL over posts; values in `params`):
    co-actions within `window_s`, and pairs that repeat co-actions within `repeat_window_s` beyond
    chance (`repeated_co_actions`; None leaves them out)."""
    check_kinds(kinds)
    window_us = int(window_s * 1_000_000)
    # What the analyses need of the posts in scope; the texts apart, normalised: those of original posts,
    # and of reposts that do not say which post they repost (`repost`; co-repost takes their text instead).
    # Both in one table: each query over the selection scans the posts again.
    engine.table(
        "scope",
        f"""SELECT post_id, author_id, author_handle, kind, ref_post_id, epoch_us(created_at) AS t
            FROM posts WHERE {where}""",
        params,
    )
    engine.table(
        "texts",
        f"""SELECT post_id, author_id, epoch_us(created_at) AS t, text, urls, kind = 'repost' AS repost FROM posts
            WHERE ({where}) AND (kind <> 'repost' OR ref_post_id IS NULL) AND text IS NOT NULL""",
        params,
        rows=_linked_texts,
    )
    if "near-duplicate" in kinds:
        engine.register(
            "near_duplicate_groups",
            near_duplicate_groups(engine.frame("SELECT post_id, norm FROM texts WHERE NOT repost")),
        )
    # The day-long pass looks at more kinds (hashtags) than the window of seconds: their actions are built once.
    every = repeated_kinds(kinds) if repeat_window_s is not None else kinds
    actions = " UNION ALL ".join(f"SELECT '{kind}' AS kind, * FROM ({_ACTIONS[kind]})" for kind in every)
    engine.table(
        "actions",
        f"""SELECT kind, author_id, post_id, object, t, t // $window AS b, loose FROM ({actions})
            WHERE length(object) > 0""",
        {"window": window_us},
    )
    # The band join: the other side replicated into the neighbouring buckets.
    engine.table(
        "pairs",
        f"""WITH band AS (SELECT * FROM actions WHERE kind IN ({_spelled(kinds)})),
           other AS (SELECT kind, author_id, post_id, object, t, b + d AS b FROM band, (VALUES (-1), (0), (1)) s(d))
           SELECT a.kind, a.author_id AS source, o.author_id AS target, a.post_id AS source_post,
                  o.post_id AS target_post, a.object, (o.t - a.t) / 1e6 AS dt_s, a.t
           FROM band a JOIN other o ON a.kind = o.kind AND a.object = o.object AND a.b = o.b
           WHERE a.author_id <> o.author_id AND abs(o.t - a.t) <= $window""",
        {"window": window_us},
    )
    # One pass over the pairs: the weight, the first and last co-action, and the earliest pairs as evidence
    # (ties in time broken by the posts and object, so that every engine picks the same pairs).
    edges = engine.frame(
        """SELECT kind, source, target, count(DISTINCT source_post) AS weight,
                  min(t) / 1e6 AS first_s, max(t) / 1e6 AS last_s,
                  arg_min({'source_post': source_post, 'target_post': target_post, 'object': object, 'dt_s': dt_s},
                          {'t': t, 'source_post': source_post, 'target_post': target_post, 'object': object},
                          $samples) AS samples
           FROM pairs GROUP BY kind, source, target
           HAVING count(DISTINCT source_post) >= $min_weight ORDER BY kind, source, target""",
        {"samples": max(evidence_per_edge, 1), "min_weight": min_weight},
    )
    evidence = (
        edges.select("kind", "source", "target", "samples")
        .explode("samples")
        .unnest("samples")
        .filter(pl.int_range(pl.len()).over("kind", "source", "target") < evidence_per_edge)
    )
    edges = edges.drop("samples").cast({"weight": pl.Int64})
    if repeat_window_s is not None:
        edges = pl.concat([edges, repeated_co_actions(engine, kinds=every, window_s=repeat_window_s)])
    accounts = engine.frame(
        """SELECT author_id AS account, arg_max(author_handle, t) FILTER (WHERE author_handle IS NOT NULL) AS handle,
                  count(*) AS posts
           FROM scope GROUP BY 1"""
    )
    return Network(window_s, tuple(kinds), edges, evidence, accounts)


def repeated_co_actions(
    engine: Engine, *, kinds: tuple[str, ...], window_s: float = REPEAT_WINDOW_S, alpha: float = REPEAT_ALPHA
) -> pl.DataFrame:
    """Pairs of accounts that acted on more of the same objects, within `window_s` of each other, than
    chance allows: edges of kind "repeated KIND" (both directions), weight = the objects shared (a post
    carrying several of them, such as a post with three hashtags, counts once).

    Chance, given what each account did: if account b spread its n_b actions over the objects in
    proportion to how many accounts other than a acted on them (N actions in all), it would meet
    account a on about lambda = n_b * reach_a / N of a's objects, where reach_a is how many actions of
    accounts other than a (b's included) fall on a's objects; the likelier direction is taken.
    (Averaged over accounts, reach_a is n_a * sum c(c-1) / N: the popularity null
    lambda = n_a n_b sum c(c-1) / N^2, which let an account that reposts obscure posts hide behind
    everyone's viral ones.) Accounts that act on viral posts have a large reach and need many shared
    objects; accounts that meet again and again on objects nobody else touches need few.

    The pairs kept are those whose Poisson tail P(X >= w) passes Benjamini-Hochberg at `alpha` over
    every pair of accounts of their community and kind (a pair sharing fewer than two objects counts
    as p = 1): under this null, about `alpha` or fewer of the pairs kept in each are chance. One family
    over all communities and kinds was measured too: it made the bar depend on how much unrelated
    background a store holds (recall 0.46 to 0.52 from 20,000 to 1,000 organic posts an hour, against
    0.57 at every size). Chance is reckoned within each community (accounts linked through the objects
    they share): communities that never meet, such as two languages or two collections in one store,
    each have their own popular posts. Uses the `actions` table of `co_action_network`."""
    window_us = int(window_s * 1_000_000)
    check_kinds(kinds)
    # One action per account and object; objects that more than one account acted on carry their count
    # `c`, unless they are among the most shared ones past the budget, which are left out altogether.
    engine.table(
        "repeat_actions",
        f"""WITH first AS (
               SELECT kind, author_id, coalesce(loose, object) AS object, min(t) AS t,
                      arg_min(post_id, {{'t': t, 'post_id': post_id}}) AS post_id
               FROM actions WHERE kind IN ({_spelled(kinds)})
               GROUP BY kind, author_id, coalesce(loose, object)),
           shared AS (
               SELECT kind, object, c, sum(c * (c - 1) / 2) OVER (PARTITION BY kind ORDER BY c, object) AS pairs
               FROM (SELECT kind, object, count(*) AS c FROM first GROUP BY kind, object) WHERE c > 1),
           total AS (SELECT kind, count(*) AS n FROM first GROUP BY kind)
           SELECT f.kind, f.author_id, f.object, f.t, f.post_id, s.c
           FROM first f JOIN total USING (kind) LEFT JOIN shared s ON f.kind = s.kind AND f.object = s.object
           WHERE s.pairs IS NULL OR s.pairs <= $per_action * total.n""",
        {"per_action": REPEAT_PAIRS_PER_ACTION},
    )
    # Pairs that meet on two objects or more, found by counting first: the distinct posts behind a pair's
    # objects are counted only for those (counting them for every pair took three times as long). Each step
    # is a table of its own: Spark inlines a query's CTEs, and ran the first step twice in one query.
    engine.table(
        "repeat_met",
        """WITH a AS (SELECT * FROM repeat_actions WHERE c IS NOT NULL)
           SELECT a.kind, a.author_id AS source, b.author_id AS target
           FROM a JOIN a AS b ON a.kind = b.kind AND a.object = b.object AND a.author_id < b.author_id
                                 AND abs(a.t - b.t) <= $window
           GROUP BY a.kind, a.author_id, b.author_id HAVING count(*) >= 2""",
        {"window": window_us},
    )
    engine.table(
        "repeat_met_actions",
        """SELECT * FROM repeat_actions
           SEMI JOIN (SELECT kind, source AS author_id FROM repeat_met UNION SELECT kind, target FROM repeat_met)
           USING (kind, author_id) WHERE c IS NOT NULL""",
    )
    pairs = engine.frame(
        """SELECT a.kind, a.author_id AS source, b.author_id AS target,
                  least(count(*), count(DISTINCT a.post_id), count(DISTINCT b.post_id)) AS weight,
                  min(least(a.t, b.t)) / 1e6 AS first_s, max(greatest(a.t, b.t)) / 1e6 AS last_s
           FROM repeat_met_actions AS a
           JOIN repeat_met_actions AS b ON a.kind = b.kind AND a.object = b.object AND a.author_id < b.author_id
                                           AND abs(a.t - b.t) <= $window
           SEMI JOIN repeat_met AS met ON met.kind = a.kind AND met.source = a.author_id AND met.target = b.author_id
           GROUP BY a.kind, a.author_id, b.author_id
           HAVING least(count(*), count(DISTINCT a.post_id), count(DISTINCT b.post_id)) >= 2""",
        {"window": window_us},
    )
    if pairs.is_empty():
        return pairs.select("kind", "source", "target", pl.col("weight").cast(pl.Int64), "first_s", "last_s")
    # Chance, per community: accounts that share no object are communities of their own and never in a pair.
    shared = _communities(engine.frame("SELECT kind, author_id, object, c FROM repeat_actions WHERE c IS NOT NULL"))
    # Per account: its actions `n` and its `reach`.
    activity = engine.frame(
        """SELECT kind, author_id, count(*) AS n, sum(coalesce(c, 1) - 1) AS reach FROM repeat_actions
           WHERE author_id IN (SELECT author_id FROM repeat_actions WHERE c IS NOT NULL) GROUP BY kind, author_id"""
    ).join(shared.select("kind", "author_id", "community").unique(), on=["kind", "author_id"])
    chance = activity.group_by("kind", "community").agg(n=pl.col("n").sum(), accounts=pl.len())
    pairs = (
        pairs.join(activity.rename({"author_id": "source", "n": "n_source", "reach": "reach_source"}),
                   on=["kind", "source"])
        .join(activity.rename({"author_id": "target", "n": "n_target", "reach": "reach_target"}),
              on=["kind", "target", "community"])
        .join(chance, on=["kind", "community"])
    )  # fmt: skip

    expected = pl.max_horizontal(
        pl.col("n_target") * pl.col("reach_source"), pl.col("n_source") * pl.col("reach_target")
    ) / pl.col("n")
    # P(X >= w), X ~ Poisson(expected)
    from scipy.special import pdtrc  # here: scipy takes a third of this module's import time

    tail = pdtrc(pairs["weight"].to_numpy() - 1, pairs.select(expected).to_series().to_numpy())
    # Benjamini-Hochberg: the k most unlikely pairs are kept, k the largest rank whose p <= k * alpha / pairs.
    group = ["kind", "community"]
    ranked = pairs.with_columns(p=pl.Series(tail)).with_columns(
        k=pl.col("p").rank("ordinal").over(group), m=pl.col("accounts") * (pl.col("accounts") - 1) / 2
    )
    ranked = ranked.with_columns(
        last=pl.when(pl.col("p") <= pl.col("k") * alpha / pl.col("m")).then("k").otherwise(0).max().over(group)
    )
    kept = ranked.filter(pl.col("k") <= pl.col("last")).select(
        kind=pl.lit(REPEATED) + pl.col("kind"), source="source", target="target",
        weight=pl.col("weight").cast(pl.Int64), first_s="first_s", last_s="last_s",
    )  # fmt: skip
    both = pl.concat([kept, kept.with_columns(source="target", target="source")])
    return both.sort("kind", "source", "target")


def _communities(actions: pl.DataFrame) -> pl.DataFrame:
    """`actions` (kind, author_id, object) with the community of each: the connected component of
    the graph of accounts and the objects they act on, per kind."""

    def numbered(column: str) -> np.ndarray:  # 0, 1, 2, ... per distinct (kind, value)
        keys = pl.concat_str("kind", pl.lit("\x00"), column)
        return actions.select(keys.rank("dense") - 1).to_series().to_numpy().astype(np.int64)

    a, o = numbered("author_id"), numbered("object")
    n_accounts = int(a.max()) + 1
    labels = _components(a, n_accounts + o, n_accounts + int(o.max()) + 1)
    return actions.with_columns(community=pl.Series(labels[a]))


def _linked_texts(texts: pl.DataFrame) -> pl.DataFrame:
    """Posts' normalised texts (`norm`; texts that normalise to nothing left out) and, for original posts
    with links, their text with links (`linked`): the normalised text, a line break (which a normalised
    text never holds) and the post's links as stored."""
    with_links = pl.concat_str("norm", pl.lit("\n"), links_key(pl.col("urls")))
    return (
        texts.with_columns(norm=normalised_text(pl.col("text")))
        .filter(pl.col("norm") != "")
        .select(
            "post_id", "author_id", "t", "norm", "repost",
            linked=pl.when(~pl.col("repost") & (pl.col("urls").list.len() > 0)).then(with_links),
        )
    )  # fmt: skip


def links_key(urls: pl.Expr) -> pl.Expr:
    """A post's links as one string, whatever their order: co-post's text is the same only with the
    same links (the links as stored, normalised at ingest: their paths keep their case and their @)."""
    return urls.list.sort().list.join(" ")


# --- clusters -------------------------------------------------------------------------------------


@dataclass
class Cluster:
    id: int
    accounts: list[str]
    weight: int  # sum of undirected edge weights inside the cluster, co-actions within the window only
    kinds: dict[str, int]  # co-action kind -> directed edges of that kind inside the cluster
    first_s: float | None = None  # first and last co-action inside the cluster (epoch seconds)
    last_s: float | None = None
    samples: list[dict] = field(default_factory=list)  # evidence behind the heaviest edges
    repeating: int = 0  # accounts with a repeated co-action beyond chance inside the cluster


def clusters(
    network: Network, *, method: str = "leiden", min_size: int = 2, seed: int = 0, resolution: float = 1.0
) -> list[Cluster]:
    """Clusters of the undirected network: connected components, or Leiden / Louvain communities
    (modularity) within them. Largest first; clusters smaller than `min_size` accounts are left out."""
    undirected = network.undirected()
    if undirected.is_empty():
        return []
    graph = igraph.Graph.TupleList(undirected.iter_rows(), directed=False, weights=True)
    if method == "components":
        membership = graph.connected_components().membership
    elif method in ("leiden", "louvain"):
        igraph.set_random_number_generator(random.Random(seed))  # reproducible communities
        if method == "leiden":
            parts = graph.community_leiden(
                objective_function="modularity", weights="weight", resolution=resolution, n_iterations=-1
            )
        else:
            parts = graph.community_multilevel(weights="weight", resolution=resolution)
        membership = parts.membership
    else:
        raise ValueError(f"unknown clustering method {method!r}: components, leiden or louvain")
    members: dict[int, list[str]] = {}
    for name, group in zip(graph.vs["name"], membership, strict=True):
        members.setdefault(group, []).append(name)
    groups = sorted((sorted(m) for m in members.values() if len(m) >= min_size), key=lambda m: (-len(m), m[0]))
    out = []
    for number, accounts in enumerate(groups, 1):
        inside = network.edges.filter(pl.col("source").is_in(accounts) & pl.col("target").is_in(accounts))
        samples = (
            network.evidence.join(
                inside.select("kind", "source", "target"), on=["kind", "source", "target"], how="semi"
            )
            .head(10)
            .to_dicts()
        )
        out.append(
            Cluster(
                id=number,
                accounts=accounts,
                weight=int(inside.filter(~pl.col("kind").str.starts_with(REPEATED)).get_column("weight").sum()),
                kinds=dict(Counter(inside.get_column("kind").to_list())),
                first_s=_seconds(inside.get_column("first_s").min()),
                last_s=_seconds(inside.get_column("last_s").max()),
                samples=samples,
                repeating=len(
                    set(inside.filter(pl.col("kind").str.starts_with(REPEATED)).get_column("source").to_list())
                ),
            )
        )
    return out


def _seconds(value) -> float | None:
    return None if value is None else float(value)


def clustered_accounts(found: list[Cluster]) -> dict[str, int]:
    return {account: c.id for c in found for account in c.accounts}


def cluster_strength(cluster: Cluster) -> float:
    """Co-actions per account inside the cluster: coordinated groups act together again and again,
    while accounts that met once on a viral post barely connect."""
    return cluster.weight / len(cluster.accounts)


def is_coordinated(cluster: Cluster, min_strength: float) -> bool:
    """A cluster counts as coordinated when its accounts act together `min_strength` times each or
    more, or when most of them repeat co-actions with one another beyond chance."""
    return cluster_strength(cluster) >= min_strength or 2 * cluster.repeating > len(cluster.accounts)


# --- campaign signals -----------------------------------------------------------------------------

SYNCHRONY_S = 5


def campaign_signals(engine: Engine, found: list[Cluster], *, min_strength: float = 10.0) -> dict:
    """Numbers about the posts in scope (the last `co_action_network` call): how much of them the
    accounts of strong clusters produce, how concentrated they are, how much is duplicated text, how
    alike the accounts' ages are, and how synchronised the posting is: the share of posts with another
    account's post within 5 s, against the share expected if the hour's posts arrived at random."""
    strong = [is_coordinated(c, min_strength) for c in found]
    member = pl.DataFrame(
        {
            "author_id": [a for c in found for a in c.accounts],
            "strong": [is_strong for c, is_strong in zip(found, strong, strict=True) for _ in c.accounts],
        },
        schema={"author_id": pl.String, "strong": pl.Boolean},
    )
    engine.register("clustered_accounts", member)
    total, accounts = one_row(engine, "SELECT count(*), count(DISTINCT author_id) FROM scope")
    if not total:
        return {"posts": 0, "accounts": 0}
    by_coordinated, by_clustered = one_row(
        engine,
        """SELECT count(*) FILTER (WHERE author_id IN (SELECT author_id FROM clustered_accounts WHERE strong))
                      AS by_coordinated,
                  count(*) FILTER (WHERE author_id IN (SELECT author_id FROM clustered_accounts)) AS by_clustered
           FROM scope""",
    )
    top = max(1, int(np.ceil(accounts / 100)))
    (top_share,) = one_row(
        engine, "SELECT sum(n) FROM (SELECT count(*) AS n FROM scope GROUP BY author_id ORDER BY n DESC LIMIT ?)", [top]
    )
    originals, duplicated = one_row(
        engine,
        """WITH t AS (SELECT author_id, norm FROM texts WHERE NOT repost),
                shared AS (SELECT norm FROM t GROUP BY norm HAVING count(DISTINCT author_id) > 1)
           SELECT (SELECT count(*) FROM scope WHERE kind <> 'repost'),
                  count(*) FILTER (WHERE norm IN (SELECT norm FROM shared))
           FROM t""",
    )
    week, week_accounts, dated = engine.one(
        """WITH a AS (SELECT author_id, min(author_created_at) AS created
                      FROM scope JOIN posts USING (post_id, author_id) GROUP BY author_id)
           SELECT date_trunc('week', created) AS week, count(*) AS n, (SELECT count(created) FROM a)
           FROM a WHERE created IS NOT NULL GROUP BY week ORDER BY n DESC, week LIMIT 1""",
    ) or (None, 0, 0)
    # Counted in SQL, divided here: sums of floats differ in their last bits with the order in which
    # an engine adds them, and both engines must give the same figures.
    (synchronised,) = one_row(
        engine,
        f"""WITH s AS (
                SELECT t, author_id,
                       lag(t) OVER w AS prev_t, lag(author_id) OVER w AS prev_a,
                       lead(t) OVER w AS next_t, lead(author_id) OVER w AS next_a
                FROM scope WINDOW w AS (ORDER BY t, post_id))
            SELECT count(*) FILTER (WHERE (prev_a <> author_id AND t - prev_t <= {SYNCHRONY_S * 1_000_000})
                                       OR (next_a <> author_id AND next_t - t <= {SYNCHRONY_S * 1_000_000}))
            FROM s""",
    )
    per_hour = (
        engine.frame("SELECT t // 3600000000 AS hour, count(*) AS n FROM scope GROUP BY hour ORDER BY hour")
        .get_column("n")
        .to_numpy()
    )
    rate = per_hour / 3600.0
    expected = float(np.sum(per_hour * (1 - np.exp(-2 * rate * SYNCHRONY_S))) / total)
    return {
        "posts": total,
        "accounts": accounts,
        "coordinated_clusters": sum(strong),
        "coordinated_accounts": int(member.get_column("strong").sum()),
        "share_by_coordinated_accounts": (by_coordinated or 0) / total,
        "clustered_accounts": member.height,
        "share_by_clustered_accounts": (by_clustered or 0) / total,
        "posts_per_account": total / accounts,
        "top_1pct_accounts": top,
        "share_by_top_1pct": top_share / total,
        "duplicate_text_share": duplicated / originals if originals else None,
        "busiest_creation_week": week.date().isoformat() if week is not None else None,
        "share_created_that_week": week_accounts / dated if dated else None,
        "dated_accounts": dated,
        "synchrony_within_5s": synchronised / total,
        "synchrony_expected_at_random": expected,
    }


# --- the report -----------------------------------------------------------------------------------


@dataclass
class CoordinationReport:
    """A co-action network, its clusters (strongest first) and the signals over the posts in scope:
    what `swell coordination` prints and exports, and the coordination section of a campaign report.
    One serialisation (`to_dict`) serves both."""

    network: Network
    clusters: list[Cluster]
    signals: dict
    min_weight: int
    min_strength: float
    method: str
    texts: dict[str, str] = field(default_factory=dict)  # post id -> text, for the evidence shown
    purity: dict | None = None  # against known labels of accounts, when given (`label_purity`)

    def coordinated(self, cluster: Cluster) -> bool:
        """Whether a cluster acts together often enough (`min_strength` co-actions per account) to
        count as coordinated in the signals."""
        return is_coordinated(cluster, self.min_strength)

    def assessment(self) -> Assessment:
        """The signals read together: a score from 0 to 1, its level in words, and the evidence."""
        return assess(self.signals)

    def _repr_html_(self) -> str:  # how a notebook shows it: the network, the assessment, the top clusters
        from swell.html_report import fragment

        return fragment("_coordination.html.j2", co=self.to_dict(top=10, samples=0))

    def to_dict(self, top: int | None = None, samples: int = 5) -> dict:
        """JSON-ready: the parameters, the edges per kind, the signals and their assessment, and the `top`
        clusters (all by default), each with its members and `samples` pairs of posts behind its edges."""
        handles = (
            dict(self.network.accounts.select("account", "handle").iter_rows()) if self.network.accounts.height else {}
        )
        out = {
            "window_s": self.network.window_s,
            "min_weight": self.min_weight,
            "min_strength": self.min_strength,
            "method": self.method,
            "kinds": list(self.network.kinds),
            "edges": self.network.edges.height,
            "edges_per_kind": dict(self.network.edges.group_by("kind").len().sort("kind").iter_rows()),
            "signals": self.signals,
            "assessment": self.assessment().to_dict(),
            "clusters": [
                {
                    "id": c.id,
                    "accounts": len(c.accounts),
                    "co_actions_per_account": round(cluster_strength(c), 3),
                    "coordinated": self.coordinated(c),
                    "weight": c.weight,
                    "kinds": c.kinds,
                    "first": iso(int(c.first_s * 1e6)) if c.first_s else None,
                    "last": iso(int(c.last_s * 1e6)) if c.last_s else None,
                    "members": [{"account": a, "handle": handles.get(a)} for a in c.accounts],
                    "samples": [
                        {
                            **s,
                            "source_text": self.texts.get(s["source_post"]),
                            "target_text": self.texts.get(s["target_post"]),
                        }
                        for s in c.samples[:samples]
                    ],
                }
                for c in self.clusters[:top]
            ],
        }
        if self.purity is not None:
            out["purity"] = self.purity
        return out


def coordination_report(
    engine: Engine,
    selection: Selection | None = None,
    *,
    kinds: tuple[str, ...] = DEFAULT_KINDS,
    window_s: float = 60.0,
    repeat_window_s: float | None = REPEAT_WINDOW_S,
    min_weight: int = 2,
    method: str = "leiden",
    min_size: int = 2,
    min_strength: float = 10.0,
    where: str | None = None,
    params: list | None = None,
    on_step: Callable[[str], None] | None = None,
) -> CoordinationReport:
    """The co-action network of the selected posts (or of `where`/`params`, SQL over posts), its
    clusters by `method` (those of `min_size` accounts or more, strongest first), the campaign signals,
    and the texts of the posts behind the clusters' evidence. `on_step` hears what is being done."""
    step = on_step or (lambda _: None)
    if where is None:
        where, params = (selection or Selection()).where()
    step("building the co-action network")
    network = co_action_network(engine, where=where, params=params, kinds=kinds, window_s=window_s,
                                min_weight=min_weight, repeat_window_s=repeat_window_s)  # fmt: skip
    step("clustering")
    found = sorted(clusters(network, method=method, min_size=min_size), key=lambda c: (-cluster_strength(c), c.id))
    step("measuring the signals")
    signals = campaign_signals(engine, found, min_strength=min_strength)
    if where != "TRUE":
        step("looking at what the campaign's accounts do across the collection")
        signals.update(
            coordinated_elsewhere(engine, where, params, kinds=kinds, window_s=window_s, min_weight=min_weight,
                                  repeat_window_s=repeat_window_s, method=method, min_size=min_size,
                                  min_strength=min_strength)
        )  # fmt: skip
    else:  # the whole collection is in scope: its coordinated accounts are the collection's
        signals["share_by_accounts_coordinated_in_collection"] = signals.get("share_by_coordinated_accounts")
    ids = sorted({s[k] for c in found for s in c.samples for k in ("source_post", "target_post")})
    texts = (
        dict(engine.frame("SELECT post_id, text FROM posts WHERE list_contains(?, post_id)", [ids]).rows())
        if ids
        else {}
    )
    return CoordinationReport(network, found, signals, min_weight, min_strength, method, texts)


def coordinated_elsewhere(engine: Engine, where: str, params: list | None, *, min_strength: float, method: str,
                          min_size: int, **network) -> dict:  # fmt: skip
    """How much of the selected posts come from accounts that are coordinated across the collection:
    the co-action network of every post of the selection's accounts, its coordinated clusters, and
    the share of the selection's posts by their accounts. Hashtag games and campaigns spread over
    many hashtags show here: each hashtag alone holds a post or two per account, while the same
    accounts repost one another all month."""
    # The accounts once, rather than their selection again in each query of the network.
    engine.table("campaign_accounts", f"SELECT DISTINCT author_id FROM posts WHERE {where}", params)
    accounts_where = "author_id IN (SELECT author_id FROM campaign_accounts)"
    found = clusters(co_action_network(engine, where=accounts_where, **network), method=method, min_size=min_size)
    coordinated = [a for c in found if is_coordinated(c, min_strength) for a in c.accounts]
    engine.register(
        "coordinated_in_collection", pl.DataFrame({"author_id": coordinated}, schema={"author_id": pl.String})
    )
    total, by_coordinated = one_row(
        engine,
        f"""SELECT count(*), count(*) FILTER (WHERE author_id IN (SELECT author_id FROM coordinated_in_collection))
            FROM posts WHERE {where}""",
        params,
    )
    return {
        "accounts_coordinated_in_collection": len(coordinated),
        "share_by_accounts_coordinated_in_collection": (by_coordinated or 0) / total if total else None,
    }


def label_purity(report: CoordinationReport, labels: dict[str, str]) -> dict:
    """`purity` of the report's clusters against known labels of accounts (`read_labels`), matched by
    account id, or by handle (without case) for label files that name handles."""
    handles = dict(report.network.accounts.select("account", "handle").drop_nulls().iter_rows())
    keyed = {
        a: labels.get(a) or labels.get((handles.get(a) or "").lower()) for c in report.clusters for a in c.accounts
    }
    return purity(report.clusters, {a: label for a, label in keyed.items() if label})


# --- exports --------------------------------------------------------------------------------------


def _nodes(report: CoordinationReport) -> pl.DataFrame:
    """Every account in scope: its handle, posts, and cluster (null when in none)."""
    cluster_of = clustered_accounts(report.clusters)
    return report.network.accounts.with_columns(
        cluster=pl.col("account").replace_strict(cluster_of, default=None, return_dtype=pl.Int64)
    ).sort("account")


def network_graph(report: CoordinationReport, *, dynamic: bool = False):
    """The network as a networkx MultiDiGraph for Gephi and other tools: the accounts with an edge
    (label, posts, cluster or -1), one edge per kind with its weight, its first and last co-action
    (ISO 8601) and the pairs of posts behind it (`samples`: "source post > target post", separated by
    spaces). `dynamic`: each edge also lives from its first to its last co-action (`start`, `end`, in
    seconds since 1970), for Gephi's timeline."""
    import networkx as nx

    graph = nx.MultiDiGraph(mode="dynamic") if dynamic else nx.MultiDiGraph()
    edges = report.network.edges
    linked = set(edges.get_column("source")) | set(edges.get_column("target"))
    for account, handle, posts, cluster in _nodes(report).iter_rows():
        if account in linked:
            graph.add_node(account, label=handle or account, posts=posts, cluster=-1 if cluster is None else cluster)
    samples = {
        (kind, source, target): " ".join(pairs)
        for kind, source, target, pairs in report.network.evidence.group_by("kind", "source", "target")
        .agg(pl.concat_str("source_post", pl.lit(" > "), "target_post"))
        .iter_rows()
    }
    for kind, source, target, weight, first_s, last_s in edges.select(
        "kind", "source", "target", "weight", "first_s", "last_s"
    ).iter_rows():
        first, last = iso(int(first_s * 1e6)), iso(int(last_s * 1e6))
        attributes = {"kind": kind, "weight": weight, "first": first, "last": last}
        attributes["samples"] = samples.get((kind, source, target), "")
        if dynamic:
            attributes |= {"start": float(first_s), "end": float(last_s)}
        graph.add_edge(source, target, key=kind, **attributes)
    return graph


def _gexf(report: CoordinationReport, out: BinaryIO) -> None:
    import networkx as nx

    nx.write_gexf(network_graph(report, dynamic=True), out)


def _graphml(report: CoordinationReport, out: BinaryIO) -> None:
    import networkx as nx

    nx.write_graphml(network_graph(report), out)


def _gml(report: CoordinationReport, out: BinaryIO) -> None:
    import networkx as nx

    for line in nx.generate_gml(network_graph(report)):
        out.write(line.encode() + b"\n")


def _edges_csv(report: CoordinationReport, out: BinaryIO) -> None:
    report.network.edges.write_csv(out)


def _report_json(report: CoordinationReport, out: BinaryIO) -> None:
    from swell.escapes import json_dumps

    out.write(json_dumps(report.to_dict(), indent=True) + b"\n")


# How a network can be written, by format name (`swell coordination --format`); each writes bytes.
NETWORK_WRITERS: dict[str, Callable[[CoordinationReport, BinaryIO], None]] = {
    "gexf": _gexf,
    "graphml": _graphml,
    "gml": _gml,
    "csv": _edges_csv,
    "json": _report_json,
}


def write_network(report: CoordinationReport, out: Path) -> list[Path]:
    """The bundle: edges.csv, evidence.csv, nodes.csv, clusters.json, and the network as GEXF and
    GraphML (for Gephi), in the folder `out`."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, write in (
        ("edges.csv", _edges_csv),
        ("evidence.csv", lambda r, f: r.network.evidence.write_csv(f)),
        ("nodes.csv", lambda r, f: _nodes(r).write_csv(f)),
        ("clusters.json", _report_json),
        ("network.gexf", _gexf),
        ("network.graphml", _graphml),
    ):
        with (out / name).open("wb") as f:
            write(report, f)
        paths.append(out / name)
    return paths


def write_toolkit_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    where: str = "TRUE",
    params: list | None = None,
    links_only: bool = False,
) -> int:
    """Posts as coordination-network-toolkit's CSV input, to compare the two tools on the same data.

    Two of the toolkit's habits are neutralised so that both compute the same thing: its co_tweet
    keeps URLs in the text (swell takes a post's links from its URLs, not its text, so the URLs are
    removed from `message` here and a number standing for the post's links written after it), and it
    links every text that normalises to nothing (such a text is written as its post id). Its co_link
    gives an empty URL to every post without one; `links_only` writes only posts that have links. A
    repost whose source is not in the data gets swell's stand-in for it, "text:" and its normalised
    text, as `repost_id` (the toolkit would take it for a post of its own).
    """
    query = f"""
        SELECT post_id AS message_id, author_id AS user_id, coalesce(author_handle, author_id) AS username,
               CASE WHEN kind = 'repost' THEN ref_post_id END AS repost_id,
               CASE WHEN kind = 'reply' THEN ref_post_id END AS reply_id,
               coalesce(text, '') AS message, kind,
               printf('%.6f', epoch_us(created_at) / 1e6) AS timestamp,
               array_to_string(urls, ' ') AS urls, coalesce(urls, []) AS links
        FROM posts WHERE ({where}) {"AND len(urls) > 0 AND kind <> 'repost'" if links_only else ""}
        ORDER BY created_at, post_id"""
    frame = con.sql(query, params=params or None).pl()
    norm = normalised_text(pl.col("message"))
    unsourced = (pl.col("kind") == "repost") & pl.col("repost_id").is_null()
    empty = ((pl.col("kind") != "repost") | unsourced) & (norm == "")
    frame = frame.with_columns(
        # a repost without its source: swell's co-repost object, its normalised text
        repost_id=pl.when(unsourced & (norm != "")).then(pl.lit("text:") + norm).otherwise("repost_id"),
        message=pl.when(empty)
        .then("message_id")
        .otherwise(
            # the links as a number, which the toolkit's normalisation (lower case, @mentions out) leaves whole
            pl.concat_str(
                pl.col("message").str.replace_all(URL_PATTERN, " "),
                pl.when(pl.col("links").list.len() > 0).then(links_key(pl.col("links")).hash().cast(pl.String)),
                separator=" ",
                ignore_nulls=True,
            )
        ),
    ).drop("kind", "links")
    frame.write_csv(path)
    return frame.height


def purity(found: list[Cluster], labels: dict[str, str]) -> dict:
    """How pure the clusters are against known labels of accounts (for the IRA data, the troll roles
    of `account_category`): per cluster, the share of its labelled accounts that carry its most common
    label; overall, the same weighted by labelled accounts."""
    per_cluster = []
    agreeing = labelled = 0
    for c in found:
        known = Counter(labels[a] for a in c.accounts if a in labels)
        if not known:
            continue
        label, count = known.most_common(1)[0]
        size = sum(known.values())
        per_cluster.append(
            {"cluster": c.id, "label": label, "purity": count / size, "labelled": size, "labels": dict(known)}
        )
        agreeing += count
        labelled += size
    return {"purity": agreeing / labelled if labelled else None, "labelled_accounts": labelled, "clusters": per_cluster}


def read_labels(path: Path, label_column: str, account_column: str | None = None) -> dict[str, str]:
    """Account -> label from a CSV file; the account column holds ids or handles (handles matched
    without case), by default the file's first column."""
    frame = pl.read_csv(path, infer_schema=False)
    if label_column not in frame.columns:
        raise ValueError(f"{path}: no column {label_column!r} (columns: {', '.join(frame.columns)})")
    account = account_column or frame.columns[0]
    if account not in frame.columns:
        raise ValueError(f"{path}: no column {account!r} (columns: {', '.join(frame.columns)})")
    pairs = frame.select(account, label_column).drop_nulls().iter_rows()
    return {key: label for account_id, label in pairs for key in (account_id, account_id.lower())}
