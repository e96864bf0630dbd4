"""Trend detection: which hashtags are trending, and since when.

One state machine serves archives and live streams alike. `TrendStream.feed(posts)` takes posts
(an Arrow table or batch with created_at, author_id, hashtags, kind) in any batch sizes; it counts
them per hashtag per time bucket, and when a bucket is over it hands the bucket's counts to a
detector and the detector's verdicts to a tracker of trend episodes. Over a stored archive,
`trends_over_store` has the engine (DuckDB or Spark) count the buckets and hands those counts to
the same detector and tracker, so a replay of the archive as a stream gives exactly the archive's
result, whichever engine counted.

Counts are of posts and of distinct accounts: a trend has to be carried by many accounts, not one
loud one, so detectors score distinct accounts by default. Reposts count (a repost row carries the
original's hashtags) unless `include_reposts=False`.

Detectors (same interface: `update(bucket_start_us, counts) -> verdicts`):
- `MastodonScorer`: Mastodon's trending-tags score;
- `SigniTrend`: EWMA/EWMVar significance (Schubert, Weiler, Kriegel, KDD 2014), exact or hashed;
- `PoissonDetector`: the Poisson-interval model of Twitter/Gnip's trend-detection write-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from swell.engine import Engine
from swell.selection import Selection
from swell.times import iso

_US_PER_MIN = 60_000_000
COUNT_SCHEMA: dict[str, Any] = {"tag": pl.String, "posts": pl.Int64, "accounts": pl.Int64, "first_us": pl.Int64}
VERDICT_SCHEMA: dict[str, Any] = {"tag": pl.String, "score": pl.Float64, "trending": pl.Boolean}


def _empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


# Shared by every quiet bucket (frames are immutable): a quiet stretch of years is a million buckets.
NO_COUNTS = _empty(COUNT_SCHEMA)
NO_VERDICTS = _empty(VERDICT_SCHEMA)


class Detector(Protocol):
    """Scores one closed bucket at a time, in time order, every bucket (empty ones included).

    `counts` has one row per hashtag seen in the bucket: tag, posts, accounts, first_us. The result
    has a row for every tag with a score above zero: tag, score, trending.
    """

    name: str

    def update(self, bucket_start_us: int, counts: pl.DataFrame) -> pl.DataFrame: ...


# --- Mastodon ---------------------------------------------------------------------------------------


@dataclass
class MastodonScorer:
    """Mastodon's trending-tags score (app/models/trends/tags.rb), per bucket instead of per day.

    expected = distinct accounts in the previous bucket (1 if none); observed = this bucket's.
    score = (observed - expected)^2 / expected when observed > expected and observed >= min_accounts,
    else 0. The peak score is kept and decays with a half-life; a tag is trending while its decayed
    peak is at least `threshold`.
    """

    min_accounts: int = 5
    half_life_min: float = 240.0
    threshold: float = 100.0
    count: str = "accounts"
    name: str = "mastodon"
    _started: bool = False
    _previous: pl.DataFrame = field(default_factory=lambda: _empty({"tag": pl.String, "expected": pl.Float64}))
    _peaks: pl.DataFrame = field(
        default_factory=lambda: _empty({"tag": pl.String, "peak": pl.Float64, "peak_us": pl.Int64})
    )

    def update(self, bucket_start_us: int, counts: pl.DataFrame) -> pl.DataFrame:
        if not self._started:  # the first bucket has no previous one: nothing can be said of it
            self._started = True
            self._previous = counts.select("tag", expected=pl.col(self.count).cast(pl.Float64))
            return NO_VERDICTS
        if counts.is_empty() and self._peaks.is_empty():  # a quiet stretch: nothing to score or decay
            self._previous = self._previous.clear()
            return NO_VERDICTS
        scored = (
            counts.select("tag", observed=pl.col(self.count).cast(pl.Float64))
            .join(self._previous, on="tag", how="left")
            .with_columns(expected=pl.col("expected").fill_null(0.0).clip(lower_bound=1.0))
            .with_columns(
                score=pl.when((pl.col("observed") > pl.col("expected")) & (pl.col("observed") >= self.min_accounts))
                .then((pl.col("observed") - pl.col("expected")) ** 2 / pl.col("expected"))
                .otherwise(0.0)
            )
        )
        self._previous = counts.select("tag", expected=pl.col(self.count).cast(pl.Float64))
        decay = 0.5 ** ((bucket_start_us - pl.col("peak_us")) / (self.half_life_min * _US_PER_MIN))
        peaks = (
            self._peaks.join(
                scored.filter(pl.col("score") > 0).select("tag", "score"), on="tag", how="full", coalesce=True
            )
            .with_columns(decayed=(pl.col("peak") * decay).fill_null(0.0), score=pl.col("score").fill_null(0.0))
            .with_columns(
                new=pl.col("score") > pl.col("decayed"),
            )
            .select(
                "tag",
                peak=pl.when("new").then("score").otherwise("peak"),
                peak_us=pl.when("new").then(pl.lit(bucket_start_us)).otherwise("peak_us"),
            )
            .with_columns(score=pl.col("peak") * decay)
        )
        # Forget tags whose decayed score no longer matters: memory follows the active tags.
        self._peaks = peaks.filter(pl.col("score") >= 1.0).select("tag", "peak", "peak_us")
        return peaks.filter(pl.col("score") > 0).select("tag", "score", trending=pl.col("score") >= self.threshold)


# --- SigniTrend -------------------------------------------------------------------------------------


def signitrend_step(
    x: np.ndarray, ewma: np.ndarray, ewmvar: np.ndarray, alpha: float, beta: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SigniTrend's significance of x against the running statistics, and the updated statistics.

    sig = (x - max(EWMA, beta)) / (sqrt(EWMVar) + beta), computed before the update;
    delta = x - EWMA; EWMA += alpha * delta; EWMVar = (1 - alpha) * (EWMVar + alpha * delta^2).
    """
    sig = (x - np.maximum(ewma, beta)) / (np.sqrt(ewmvar) + beta)
    delta = x - ewma
    return sig, ewma + alpha * delta, (1 - alpha) * (ewmvar + alpha * delta * delta)


def signitrend_skip(
    ewma: np.ndarray, ewmvar: np.ndarray, skipped: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """The statistics after `skipped` buckets with a count of zero: the closed form of that many
    steps, so that only the tags seen in a bucket need updating (r = (1 - alpha)^skipped):
    EWMA * r and EWMVar * r + EWMA^2 * r * (1 - r)."""
    r = (1 - alpha) ** skipped
    return ewma * r, ewmvar * r + ewma * ewma * r * (1 - r)


@dataclass
class SigniTrend:
    """EWMA and EWMVar of each tag's count per bucket; alert when the significance reaches `threshold`.

    alpha comes from `half_life_min` (the statistics forget half their weight in that time); beta keeps
    rare tags from alerting on noise. With `hashed=True` the statistics live in `depth` hash tables of
    `width` cells (the paper's fixed-memory variant): memory does not grow with the number of distinct
    hashtags; a tag's significance is the smallest over its cells, since collisions only add counts.
    Either way a bucket costs in proportion to the tags seen in it: a tag's statistics catch up on
    the buckets it missed (`signitrend_skip`) when it is seen again.
    """

    threshold: float = 3.0
    beta: float = 5.0
    half_life_min: float = 120.0
    bucket_min: float = 5.0
    min_accounts: int = 10
    count: str = "accounts"
    hashed: bool = False
    width: int = 1 << 20
    depth: int = 2
    prune_every: int = 288  # buckets between sweeps of the exact table for tags that have faded
    name: str = "signitrend"
    _bucket: int = 0  # how many buckets have been scored

    def __post_init__(self) -> None:
        self.alpha = 1 - 0.5 ** (self.bucket_min / self.half_life_min)
        # The statistics (EWMA, EWMVar, last bucket seen; -1: never): one row per tag, found through
        # `_rows`, or `depth` rows of `width` hashed cells.
        shape = (self.depth, self.width) if self.hashed else (0,)
        self._ewma, self._ewmvar = np.zeros(shape), np.zeros(shape)
        self._last = np.full(shape, -1, dtype=np.int64)
        self._rows: dict[str, int] = {}

    def update(self, bucket_start_us: int, counts: pl.DataFrame) -> pl.DataFrame:
        if counts.is_empty():  # the statistics of unseen tags catch up when they are next seen
            if not self.hashed and self._bucket % self.prune_every == self.prune_every - 1:
                self._prune()  # as `_exact` would
            self._bucket += 1
            return NO_VERDICTS
        x = counts.get_column(self.count).cast(pl.Float64).to_numpy()
        sig = self._hashed(counts, x) if self.hashed else self._exact(counts, x)
        self._bucket += 1
        verdicts = counts.select("tag", score=pl.Series(sig, dtype=pl.Float64), x=pl.Series(x))
        return verdicts.filter(pl.col("score") > 0).select(
            "tag", "score", trending=(pl.col("score") >= self.threshold) & (pl.col("x") >= self.min_accounts)
        )

    def _advance(self, x, ewma, ewmvar, last) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Catch up on missed buckets (last = -1: never seen), then take this bucket's step."""
        skipped = np.where(last >= 0, self._bucket - last - 1, 0)
        ewma, ewmvar = signitrend_skip(ewma, ewmvar, skipped, self.alpha)
        return signitrend_step(x, ewma, ewmvar, self.alpha, self.beta)

    def _exact(self, counts: pl.DataFrame, x: np.ndarray) -> np.ndarray:
        names = counts.get_column("tag").to_list()
        rows = np.fromiter((self._rows.get(tag, -1) for tag in names), dtype=np.int64, count=len(names))
        for i in np.flatnonzero(rows < 0):  # tags never seen (or forgotten): new rows
            rows[i] = self._rows[names[i]] = self._grow()
        sig, self._ewma[rows], self._ewmvar[rows] = self._advance(
            x, self._ewma[rows], self._ewmvar[rows], self._last[rows]
        )
        self._last[rows] = self._bucket
        if self._bucket % self.prune_every == self.prune_every - 1:
            self._prune()
        return sig

    def _grow(self) -> int:
        """A free row in the exact table, doubling its arrays when full; new rows start at zero."""
        row = len(self._rows)
        if row == len(self._ewma):
            extra = max(len(self._ewma), 1024)
            self._ewma = np.concatenate([self._ewma, np.zeros(extra)])
            self._ewmvar = np.concatenate([self._ewmvar, np.zeros(extra)])
            self._last = np.concatenate([self._last, np.full(extra, -1, dtype=np.int64)])
        return row

    def _prune(self) -> None:
        """Forget tags whose statistics have faded to nothing: they would score as new tags anyway."""
        used = len(self._rows)
        ewma, ewmvar = signitrend_skip(
            self._ewma[:used], self._ewmvar[:used], self._bucket - self._last[:used], self.alpha
        )
        keep = (ewma > 1e-3) | (ewmvar > 1e-3)
        tags = np.array(list(self._rows), dtype=object)[keep]
        self._ewma, self._ewmvar, self._last = (
            self._ewma[:used][keep],
            self._ewmvar[:used][keep],
            self._last[:used][keep],
        )
        self._rows = {tag: i for i, tag in enumerate(tags)}

    def _hashed(self, counts: pl.DataFrame, x: np.ndarray) -> np.ndarray:
        tags = counts.get_column("tag")
        sig = np.full(len(x), np.inf)
        for row in range(self.depth):
            cells, where = np.unique(_cells(tags, row, self.width), return_inverse=True)
            cell_sig, ewma, ewmvar = self._advance(
                np.bincount(where, weights=x, minlength=len(cells)),
                self._ewma[row, cells],
                self._ewmvar[row, cells],
                self._last[row, cells],
            )
            self._ewma[row, cells], self._ewmvar[row, cells], self._last[row, cells] = ewma, ewmvar, self._bucket
            sig = np.minimum(sig, cell_sig[where])
        return sig


def _cells(tags: pl.Series, row: int, width: int) -> np.ndarray:
    """The cell of each tag in hash table `row` of a hashed structure."""
    return (tags.hash(seed=row).to_numpy() % np.uint64(width)).astype(np.int64)


# --- Poisson ----------------------------------------------------------------------------------------


@dataclass
class PoissonDetector:
    """Twitter/Gnip's Poisson model: eta = |c - nu| / (Q_hi - Q_lo), where [Q_lo, Q_hi] is the 99%
    Poisson interval around the expected count nu. A tag trends when c > nu, eta >= `threshold` and
    c >= min_accounts.

    nu is the previous bucket's count (`baseline="previous"`), or the mean count in the same bucket
    of the day over up to `days` earlier days (`baseline="daily"`, falling back to the previous bucket
    until a day of history exists); nu is at least `nu_min`, so a tag never seen before is compared
    against a small count, not zero.
    """

    threshold: float = 3.0
    min_accounts: int = 10
    nu_min: float = 1.0
    baseline: str = "previous"
    days: int = 7
    bucket_min: float = 5.0
    count: str = "accounts"
    name: str = "poisson"
    _previous: pl.DataFrame = field(default_factory=lambda: _empty({"tag": pl.String, "nu": pl.Float64}))
    _history: dict[int, list[pl.DataFrame]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.baseline not in ("previous", "daily"):
            raise ValueError(f"baseline must be 'previous' or 'daily', not {self.baseline!r}")

    def _remember(self, bucket_start_us: int, counts: pl.DataFrame) -> None:
        self._previous = counts
        if self.baseline == "daily":
            slot = bucket_start_us % (1440 * _US_PER_MIN)
            self._history[slot] = [*self._history.get(slot, [])[-(self.days - 1) :], counts]

    def _expected(self, bucket_start_us: int) -> pl.DataFrame:
        if self.baseline == "daily":
            slot = bucket_start_us % (1440 * _US_PER_MIN)
            days = self._history.get(slot, [])
            if days:
                return pl.concat(days).group_by("tag").agg(nu=pl.col("nu").sum() / len(days))
        return self._previous

    def update(self, bucket_start_us: int, counts: pl.DataFrame) -> pl.DataFrame:
        if counts.is_empty():  # a quiet stretch: no tag to score; it is the next bucket's baseline
            self._remember(bucket_start_us, self._previous.clear())
            return NO_VERDICTS
        observed = counts.select("tag", c=pl.col(self.count).cast(pl.Float64))
        joined = observed.join(self._expected(bucket_start_us), on="tag", how="left").with_columns(
            nu=pl.col("nu").fill_null(0.0).clip(lower_bound=self.nu_min)
        )
        c = joined.get_column("c").to_numpy()
        nu = joined.get_column("nu").to_numpy()
        from scipy.stats import poisson  # here, not at the top: the import alone takes half a second

        # Expected counts repeat (they are mostly small integers): compute each interval once.
        distinct_nu, which = np.unique(nu, return_inverse=True)
        low, high = poisson.ppf(0.005, distinct_nu)[which], poisson.ppf(0.995, distinct_nu)[which]
        eta = np.where(c > nu, np.abs(c - nu) / np.maximum(high - low, 1.0), 0.0)
        self._remember(bucket_start_us, observed.select("tag", nu="c"))
        verdicts = joined.select("tag", score=pl.Series(eta), c="c")
        return verdicts.filter(pl.col("score") > 0).select(
            "tag", "score", trending=(pl.col("score") >= self.threshold) & (pl.col("c") >= self.min_accounts)
        )


# The detectors by name: each a factory of a fresh detector for a bucket size (in minutes) and options
# (threshold, min_accounts, count, ...). Every factory here passes the detector conformance tests.
DetectorFactory = Callable[..., Detector]
DETECTORS: dict[str, DetectorFactory] = {
    "mastodon": lambda bucket_min, **options: MastodonScorer(**options),
    "signitrend": lambda bucket_min, **options: SigniTrend(bucket_min=bucket_min, **options),
    "signitrend-hashed": lambda bucket_min, **options: SigniTrend(bucket_min=bucket_min, hashed=True, **options),
    "poisson": lambda bucket_min, **options: PoissonDetector(bucket_min=bucket_min, **options),
}


def make_detector(name: str, bucket_min: float, **options) -> Detector:
    """A detector by name, told the bucket size where its parameters are in minutes of buckets."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; detectors are {', '.join(DETECTORS)}")
    return DETECTORS[name](bucket_min, **options)


# --- the trend episodes -----------------------------------------------------------------------------


class FirstSeen:
    """When each hashtag was first seen. Exact (a dictionary, growing with the distinct hashtags), or
    hashed into fixed arrays like SigniTrend's tables, where a collision can only make a tag look
    older than it is; the latest of its cells is the best bound."""

    def __init__(self, hashed: bool = False, width: int = 1 << 20, depth: int = 2):
        self.hashed, self.width, self.depth = hashed, width, depth
        self._exact: dict[str, int] = {}
        if hashed:
            self._cells = np.full((depth, width), np.iinfo(np.int64).max, dtype=np.int64)

    def _cells_of(self, tags: pl.Series) -> list[np.ndarray]:
        return [_cells(tags, row, self.width) for row in range(self.depth)]

    def update(self, tags: pl.Series, first_us: pl.Series) -> None:
        if self.hashed:
            times = first_us.to_numpy()
            for row, cells in enumerate(self._cells_of(tags)):
                np.minimum.at(self._cells[row], cells, times)
            return
        known = self._exact
        names = tags.to_list()
        new = [i for i, tag in enumerate(names) if tag not in known]  # the bucket's tags, not all tags
        if new:
            firsts = first_us.to_list()
            known.update((names[i], firsts[i]) for i in new)

    def get(self, tag: str) -> int | None:
        if not self.hashed:
            return self._exact.get(tag)
        cells = self._cells_of(pl.Series([tag]))
        return int(max(self._cells[row][cells[row][0]] for row in range(self.depth)))


@dataclass
class Trend:
    """One episode of a hashtag trending."""

    hashtag: str
    first_seen_us: int  # first post with the hashtag in the data fed so far
    since_us: int  # start of the bucket in which it started trending
    last_us: int  # start of the last bucket in which it was trending
    score: float  # in the last bucket it was trending
    peak: float
    peak_us: int
    posts: int = 0  # while trending: from since_us to counted_until_us
    accounts: int = 0  # distinct accounts while trending
    counted_until_us: int = 0  # end of the last bucket counted in posts and accounts
    ended_us: int | None = None
    seen: set[str] = field(default_factory=set, repr=False)  # the accounts, when counted from posts

    def as_dict(self) -> dict:
        """For JSON and CSV: times as ISO 8601 in UTC."""
        return {
            "hashtag": self.hashtag,
            "trending_since": iso(self.since_us),
            "first_seen": iso(self.first_seen_us),
            "last_trending": iso(self.last_us),
            "ended": iso(self.ended_us),
            "score": round(self.score, 3),
            "peak": round(self.peak, 3),
            "peak_at": iso(self.peak_us),
            "posts": self.posts,
            "accounts": self.accounts,
        }


class TrendStream:
    """Posts in, trend episodes out: bucket counting, a detector, and the episodes it produces.

    `lateness_min` is how long a bucket stays open after its end for posts arriving out of order;
    a post for a bucket already closed is counted in `late` (never dropped silently). An episode
    ends after `cooldown` buckets without a trending verdict. For the first `warmup_min` of input
    the detector learns but reports nothing: with no history, everything looks new.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        bucket_min: float = 5.0,
        include_reposts: bool = True,
        lateness_min: float = 1.0,
        cooldown: int = 3,
        warmup_min: float = 60.0,
    ):
        self.detector = detector
        self.bucket_us = int(bucket_min * _US_PER_MIN)
        self.lateness_us = int(lateness_min * _US_PER_MIN)
        self.include_reposts = include_reposts
        self.cooldown = cooldown
        self.warmup_us = int(warmup_min * _US_PER_MIN)
        self.first_bucket: int | None = None
        self.late = 0
        self.posts = 0  # fed through `feed` (what a live display shows); `trends_over_store` feeds counts
        self.next_bucket: int | None = None  # start of the oldest bucket still open
        self.max_us: int | None = None
        self._pending: list[pl.DataFrame] = []
        self.first_seen = FirstSeen(hashed=getattr(detector, "hashed", False))
        self.active: dict[str, Trend] = {}
        self.ended: list[Trend] = []
        self.last_verdicts = NO_VERDICTS
        self.last_bucket: int | None = None  # start of the last bucket closed

    def feed(self, posts: pa.Table | pa.RecordBatch) -> None:
        """Count a batch of posts; close and score every bucket the batch has moved past."""
        frame = pl.from_arrow(posts.select(["created_at", "author_id", "hashtags", "kind"]))
        if not isinstance(frame, pl.DataFrame) or frame.is_empty():
            return
        if not self.include_reposts:
            frame = frame.filter(pl.col("kind") != "repost")
        self.posts += frame.height
        frame = (
            frame.select(t=pl.col("created_at").dt.epoch("us"), author=pl.col("author_id"), tag=pl.col("hashtags"))
            .with_columns(bucket=pl.col("t") - pl.col("t") % self.bucket_us)
            .explode("tag")
            .drop_nulls("tag")
        )
        batch_max = int(frame.get_column("t").max()) if frame.height else None  # type: ignore[arg-type]
        if self.next_bucket is None and frame.height:
            self.next_bucket = self.first_bucket = int(frame.get_column("bucket").min())  # type: ignore[arg-type]
        if self.next_bucket is not None:
            on_time = pl.col("bucket") >= self.next_bucket
            self.late += frame.filter(~on_time).height
            frame = frame.filter(on_time)
        if frame.height:
            self._pending.append(frame)
        if batch_max is not None:
            self.max_us = batch_max if self.max_us is None else max(self.max_us, batch_max)
            self._close_until(self.max_us - self.lateness_us)

    def finish(self, until_us: int | None = None) -> None:
        """The input is over: close every bucket that starts before `until_us` (default: every bucket
        that holds a post)."""
        if self.max_us is not None:
            self._close_until(self.max_us + self.bucket_us if until_us is None else until_us + self.bucket_us - 1)

    def _close_until(self, watermark_us: int) -> None:
        start = self.next_bucket
        if start is None or start + self.bucket_us > watermark_us:
            return
        pending = pl.concat(self._pending) if self._pending else _empty({"bucket": pl.Int64})
        by_bucket = pending.partition_by("bucket", as_dict=True) if pending.height else {}
        while start + self.bucket_us <= watermark_us:
            self._close(start, by_bucket.get((start,)))
            start += self.bucket_us
        self.next_bucket = start
        self._pending = [pending.filter(pl.col("bucket") >= start)] if pending.height else []

    def _close(self, start: int, rows: pl.DataFrame | None) -> None:
        if rows is None or rows.is_empty():
            counts, rows = NO_COUNTS, None
        else:
            counts = rows.group_by("tag").agg(
                posts=pl.len().cast(pl.Int64),
                accounts=pl.col("author").n_unique().cast(pl.Int64),
                first_us=pl.col("t").min(),
            )
        self.close_bucket(start, counts, rows)

    def close_bucket(self, start: int, counts: pl.DataFrame, rows: pl.DataFrame | None = None) -> None:
        """Score the bucket starting at `start` from its counts per hashtag (COUNT_SCHEMA) and track the
        episodes. With the bucket's posts (`rows`: t, author, tag), the episodes' posts and accounts
        are counted as they go (live); without, an engine counts them afterwards
        (`count_episodes`) over each episode's [since_us, counted_until_us)."""
        if not counts.is_empty():
            self.first_seen.update(counts.get_column("tag"), counts.get_column("first_us"))
        verdicts = self.detector.update(start, counts)
        self.last_verdicts = verdicts
        self.last_bucket = start
        if self.first_bucket is None:
            self.first_bucket = start
        if start >= self.first_bucket + self.warmup_us:
            self._track(start, verdicts, rows)

    def _track(self, start: int, verdicts: pl.DataFrame, rows: pl.DataFrame | None) -> None:
        if verdicts.is_empty() and not self.active:  # a quiet bucket: nothing to start, count or end
            return
        trending = verdicts.filter("trending")
        for tag, score in trending.select("tag", "score").iter_rows():
            trend = self.active.get(tag)
            if trend is None:
                first = self.first_seen.get(tag)
                trend = self.active[tag] = Trend(
                    tag, start if first is None else first, start, start, score, score, start
                )
            trend.last_us, trend.score = start, score
            if score > trend.peak:
                trend.peak, trend.peak_us = score, start
        if self.active and rows is not None:
            in_trend = rows.filter(pl.col("tag").is_in(list(self.active)))
            for tag, group in in_trend.group_by("tag"):
                trend = self.active[tag[0]]
                trend.posts += group.height
                trend.seen.update(group.get_column("author").to_list())
                trend.accounts = len(trend.seen)
        for trend in self.active.values():
            trend.counted_until_us = start + self.bucket_us
        for tag in [t for t, trend in self.active.items() if start - trend.last_us >= self.cooldown * self.bucket_us]:
            trend = self.active.pop(tag)
            trend.ended_us = trend.last_us + self.bucket_us
            self.ended.append(trend)

    def trending_now(self) -> list[Trend]:
        """Episodes not over at the last closed bucket (trending in it or within the cooldown), highest
        score first."""
        return sorted(self.active.values(), key=lambda t: (-t.score, t.hashtag))

    def episodes(self) -> list[Trend]:
        """Every episode so far, ended or not, by the time it started trending."""
        return sorted([*self.ended, *self.active.values()], key=lambda t: (t.since_us, t.hashtag))


# --- over a store -----------------------------------------------------------------------------------

TREND_COLUMNS = ["created_at", "author_id", "hashtags", "kind"]


def _tagged_posts(where: str, include_reposts: bool) -> str:
    """One row per hashtag of each post selected by `where` (reposts too, if they count): t, author_id, tag."""
    selected = f"({where})" + ("" if include_reposts else " AND kind <> 'repost'")
    return f"""SELECT t, author_id, tag FROM (
                   SELECT epoch_us(created_at) AS t, author_id, unnest(hashtags) AS tag FROM posts WHERE {selected})
               WHERE tag IS NOT NULL"""


def trends_over_store(engine: Engine, stream: TrendStream, selection: Selection | None = None) -> TrendStream:
    """The trends of the stored posts of a selection (its time range and platform; trends are of every
    hashtag): the engine counts posts and accounts per hashtag per bucket, the stream's detector scores
    the buckets in time order (every bucket from the first hashtag to the last, or to the selection's
    end; empty ones included), then the engine counts each episode's posts and accounts. The result
    is what feeding the posts through `stream` in time order gives (tested), without moving every
    post to Python."""
    selection = selection or Selection()
    until_us = selection.until_us
    where, params = selection.range_where()
    tagged = _tagged_posts(where, stream.include_reposts)
    counts = engine.frame(
        f"""SELECT t - t % ? AS bucket, tag, count(*) AS posts, count(DISTINCT author_id) AS accounts,
                   min(t) AS first_us
            FROM ({tagged}) GROUP BY bucket, tag ORDER BY bucket, tag""",
        [stream.bucket_us, *params],
    )
    if counts.is_empty():
        return stream
    by_bucket = counts.cast(pl.Schema({**COUNT_SCHEMA, "bucket": pl.Int64})).partition_by("bucket", as_dict=True)
    first, last = int(counts.get_column("bucket").min()), int(counts.get_column("bucket").max())  # type: ignore[arg-type]
    if until_us is not None:
        last = until_us - 1 - (until_us - 1) % stream.bucket_us
    stream.first_bucket = first
    for start in range(first, last + 1, stream.bucket_us):
        rows = by_bucket.get((start,))
        stream.close_bucket(start, NO_COUNTS if rows is None else rows.drop("bucket"))
    stream.next_bucket = last + stream.bucket_us
    count_episodes(engine, stream.episodes(), tagged, params)
    return stream


def count_episodes(engine: Engine, episodes: list[Trend], tagged: str, params: list) -> None:
    """Each episode's posts and distinct accounts over [since_us, counted_until_us), from the rows of
    `tagged` (`_tagged_posts`)."""
    if not episodes:
        return
    engine.register(
        "episodes",
        pl.DataFrame(
            {
                "episode": range(len(episodes)),
                "tag": [e.hashtag for e in episodes],
                "since_us": [e.since_us for e in episodes],
                "until_us": [e.counted_until_us for e in episodes],
            },
            schema={"episode": pl.Int64, "tag": pl.String, "since_us": pl.Int64, "until_us": pl.Int64},
        ),
    )
    counted = engine.frame(
        f"""SELECT e.episode, count(*) AS posts, count(DISTINCT p.author_id) AS accounts
            FROM ({tagged}) p JOIN episodes e ON p.tag = e.tag AND p.t >= e.since_us AND p.t < e.until_us
            GROUP BY e.episode""",
        params,
    )
    for episode, posts, accounts in counted.iter_rows():
        episodes[episode].posts, episodes[episode].accounts = posts, accounts


def feed_new_posts(store, stream: TrendStream, after_row: int, selection: Selection) -> int:
    """Feed the posts stored since the last look (rows after `after_row`, so late arrivals are seen
    and counted as late) through `stream`; returns the last row seen. For following a store that a
    live connector or an ingest is filling."""
    where, params = selection.range_where()
    for batch in store.iter_posts([*TREND_COLUMNS, "rowid"], f"{where} AND rowid > ?", [*params, after_row]):
        stream.feed(batch)
        after_row = max(after_row, pc.max(batch.column("rowid")).as_py())
    return after_row


def live_trend_stream(bucket_min: float = 5.0) -> TrendStream:
    """The trends shown beside a live stream (`swell watch`, `swell serve`): Mastodon's scorer, as
    Mastodon itself uses for what is trending now, from the first bucket on."""
    return TrendStream(make_detector("mastodon", bucket_min), bucket_min=bucket_min, warmup_min=0)
