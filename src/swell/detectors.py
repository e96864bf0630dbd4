"""Trend detectors: each scores one closed bucket of per-hashtag counts at a time, at one time scale.

A detector is told, with every bucket, what the collection says about hashtags without history at
its scale (`Prior`, from `NewTagPrior`): how many accounts such a hashtag needs in one bucket to
trend, and how many a hashtag not seen yet is expected to have. Every constant of a detector that
is a count per bucket (SigniTrend's β, the minimum of accounts, Poisson's prior count) follows from
those two figures, so the same defaults hold for a bucket of 5 minutes or a day, and for a
collection of a thousand posts an hour or the firehose.

- `SigniTrend`: EWMA/EWMVar significance (Schubert, Weiler, Kriegel, KDD 2014), of each hashtag's
  share of the bucket's volume, exact or hashed;
- `PoissonDetector`: the Poisson-interval model of Twitter/Gnip's trend-detection write-up;
- `MastodonScorer`: Mastodon's trending-tags score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np
import polars as pl

_US_PER_MIN = 60_000_000
_US_PER_DAY = 1440 * _US_PER_MIN
MIN_SIGNIFICANCE = 3.0  # SigniTrend's own threshold: the least a default threshold can be
COUNT_SCHEMA: dict[str, Any] = {"tag": pl.String, "posts": pl.Int64, "accounts": pl.Int64, "first_us": pl.Int64}
# What a detector is handed: the counts, and whether each tag is young (`Detector`).
SCORED_SCHEMA: dict[str, Any] = {**COUNT_SCHEMA, "young": pl.Boolean}
VERDICT_SCHEMA: dict[str, Any] = {"tag": pl.String, "score": pl.Float64, "trending": pl.Boolean}


def _empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


# Shared by every quiet bucket (frames are immutable): a quiet stretch of years is a million buckets.
NO_COUNTS = _empty(COUNT_SCHEMA)
NO_SCORED = _empty(SCORED_SCHEMA)
NO_VERDICTS = _empty(VERDICT_SCHEMA)


@dataclass(frozen=True)
class Prior:
    """What the stream knows at one scale, for one bucket: what the collection says about hashtags
    without history (`NewTagPrior`), how many false alarms a day the scale may raise, and whether the
    collection is still being learnt (its first hour: everything is new then)."""

    floor: float  # the count a hashtag without history needs in one bucket to trend
    rate: float  # the count per bucket expected of a hashtag not seen so far
    alarms_per_day: float = 1.0
    learning: bool = False


class Detector(Protocol):
    """Scores one closed bucket of one scale at a time, in time order, every bucket (empty ones
    included).

    `counts` has one row per hashtag seen in the bucket (SCORED_SCHEMA): tag, posts, accounts,
    first_us, and young: first seen so lately (within a day of hourly buckets, after the stream's
    first hour) that what came before is its rise, not its history; a young tag is to be judged as
    one without history. `prior` is what the stream knows of hashtags without history at this scale,
    for this bucket. The result has a row for every tag with a score above zero: tag, score, trending.
    """

    name: str

    def update(self, bucket_start_us: int, counts: pl.DataFrame, prior: Prior) -> pl.DataFrame: ...


# --- the prior on new hashtags ----------------------------------------------------------------------

# The largest rate (per bucket) at which a hashtag could have gone unseen for n buckets, at 95%:
# P(no post in n buckets) = exp(-rate * n) = 0.05.
_UNSEEN = -math.log(0.05)
# How long records remember (half-lives, or two buckets if longer): the significance reached by tags
# with a history over a day, since collections have daily rhythms; new hashtags over six hours, so
# that the flood of "new" hashtags when a collection starts is forgotten within a day.
SCORE_MEMORY_MIN = 1440.0
NEW_TAG_MEMORY_MIN = 360.0


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed from k up (no cancellation for small means)."""
    if k <= 0:
        return 1.0
    term = math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1)) if mean > 0 else 0.0
    total, j = 0.0, k
    while term > total * 1e-12 and term > 0:
        total += term
        j += 1
        term *= mean / j
    return min(total, 1.0)


class Record:
    """What a collection has done lately: values observed, each forgotten with a half-life, against
    the time watched (also forgotten).

    `level(at_us, per_day)` answers "how high must a value be to come at most `per_day` times a day,
    lately": values at least `least` came r times a day; above it, their tail is fitted and the level
    is where it falls to `per_day` (`least` when r is within the budget):

    - `tail="exponential"`: P(excess >= x) = exp(-x / s), s from how many of them also reached
      `least + 1`; the level is least + s * ln(r / per_day). It rests on the many values near `least`,
      not on the few highest, so that a handful of real events does not raise the bar for the next.
    - `tail="pareto"`: P(value >= v) = (v / least)^-a, a by Hill's estimator over all of them; the level
      is least * (r / per_day)^(1/a). For values with a heavy tail, such as the significance that viral
      reposts give a hashtag, whose highest values a day exceeds the next day's often.
    """

    def __init__(self, half_life_us: float, *, least: float, tail: str = "exponential"):
        if tail not in ("exponential", "pareto"):
            raise ValueError(f"tail must be 'exponential' or 'pareto', not {tail!r}")
        self.half_life_us, self.least, self.tail = half_life_us, least, tail
        self.since_us: int | None = None
        self.total = 0.0  # values remembered, whatever they were
        self.reached = 0.0  # of them, at least `least`
        self.beyond = 0.0  # at least `least + 1`
        self.log_excess = 0.0  # the sum of ln(value / least) over those at least `least`
        self._at: int | None = None  # when the decay was last brought up to date

    def _age(self, at_us: int) -> None:
        if self._at is not None and at_us > self._at:
            keep = 0.5 ** ((at_us - self._at) / self.half_life_us)
            self.total, self.reached, self.beyond, self.log_excess = (
                self.total * keep, self.reached * keep, self.beyond * keep, self.log_excess * keep,
            )  # fmt: skip
        self._at = at_us if self._at is None else max(self._at, at_us)

    def add(self, at_us: int, values: np.ndarray) -> None:
        """Values observed at `at_us`."""
        if self.since_us is None:
            self.since_us = at_us
        self._age(at_us)
        self.total += len(values)
        high = values[values >= self.least]
        self.reached += len(high)
        self.beyond += int(np.count_nonzero(high >= self.least + 1))
        self.log_excess += float(np.log(high / self.least).sum()) if len(high) else 0.0

    def watched(self, at_us: int) -> float:
        """Days watched, as the record weighs them: the integral of the decay since the first value."""
        if self.since_us is None:
            return 0.0
        half_life_days = self.half_life_us / _US_PER_DAY
        elapsed = max(at_us - self.since_us, 0) / _US_PER_DAY
        return half_life_days / math.log(2) * (1 - 0.5 ** (elapsed / half_life_days))

    def level(self, at_us: int, per_day: float) -> float:
        """The level reached at most `per_day` times a day, lately (at least `least`)."""
        self._age(at_us)
        watched = self.watched(at_us)
        rate = self.reached / watched if watched > 0 else 0.0
        if rate <= per_day:
            return self.least
        if self.tail == "pareto":
            exponent = (self.reached + 1) / (self.log_excess + 1e-9)  # one value more: never infinite
            return self.least * (rate / per_day) ** (1 / exponent)
        ratio = (self.beyond + 0.5) / (self.reached + 1)  # half a value up, one in all: never 0 or 1
        return self.least + 1 / -math.log(ratio) * math.log(rate / per_day)


class NewTagPrior:
    """How many accounts a hashtag without history needs in one bucket of a scale to trend.

    Two answers, the larger wins (and never fewer than `minimum`: two accounts can be a
    conversation):

    - by chance: a hashtag not seen in the H buckets watched so far has a rate of at most 3 / H per
      bucket (95%). The new hashtags of a day (r of them, counted) would reach k accounts in their
      first bucket r * P(X >= k | X >= 1) times, X ~ Poisson(3 / H); the floor is the smallest k that
      keeps that within `alarms_per_day`.
    - by the collection's record (`Record`): the count that new hashtags reach in their first bucket
      at most `alarms_per_day` times a day, lately. The record forgets, so that the burst of "new"
      hashtags when a collection starts does not hold the bar up for days; in a firehose, where
      dozens of new hashtags an hour reach 15 accounts, it rises within the hour.

    `observe` hears the first-bucket counts of new hashtags (first seen after `learn_from_us`, when the
    collection's own hashtags are known); `now` gives the prior for the next bucket.
    """

    def __init__(self, bucket_us: int, *, alarms_per_day: float = 1.0, minimum: int = 3):
        self.bucket_us, self.alarms_per_day, self.minimum = bucket_us, alarms_per_day, minimum
        self.record = Record(max(NEW_TAG_MEMORY_MIN * _US_PER_MIN, 2 * bucket_us), least=minimum)
        self.start_us: int | None = None
        self.learn_from_us: int | None = None

    def begin(self, start_us: int, learn_from_us: int) -> None:
        """The collection starts at `start_us`; hashtags first seen from `learn_from_us` on are new."""
        self.start_us, self.learn_from_us = start_us, learn_from_us

    def observe(self, bucket_start_us: int, counts: np.ndarray) -> None:
        """The first-bucket counts of the new hashtags of the bucket starting at `bucket_start_us`."""
        self.record.add(bucket_start_us, counts)

    def now(self, bucket_start_us: int) -> Prior:
        """The prior for the bucket starting at `bucket_start_us`, from what was observed before it."""
        start = self.start_us if self.start_us is not None else bucket_start_us
        learn_from = self.learn_from_us if self.learn_from_us is not None else start
        watched = max((bucket_start_us - start) / self.bucket_us, 1.0)  # H, in buckets
        rate = _UNSEEN / watched
        by_record = math.ceil(self.record.level(bucket_start_us, self.alarms_per_day))
        new_per_day = (self.record.total + 1) / (self.record.watched(bucket_start_us) + self.bucket_us / _US_PER_DAY)
        by_chance = self.minimum
        while new_per_day * poisson_tail(by_chance, rate) / poisson_tail(1, rate) > self.alarms_per_day:
            by_chance += 1
        return Prior(float(max(by_chance, by_record)), rate, self.alarms_per_day, bucket_start_us < learn_from)


# --- Mastodon ---------------------------------------------------------------------------------------


@dataclass
class MastodonScorer:
    """Mastodon's trending-tags score (app/models/trends/tags.rb), per bucket instead of per day.

    expected = distinct accounts in the previous bucket (1 if none or the tag is young, as Mastodon
    has it for a tag without history); observed = this bucket's. score = (observed - expected)^2 /
    expected when observed > expected and observed >= min_accounts (default: the prior's floor),
    else 0. The peak score is kept and decays with a half-life (at least one bucket); a tag is
    trending while its decayed peak is at least `threshold`.
    """

    min_accounts: float | None = None
    half_life_min: float = 240.0
    threshold: float = 100.0
    count: str = "accounts"
    name: str = "mastodon"
    _started: bool = False
    _previous: pl.DataFrame = field(default_factory=lambda: _empty({"tag": pl.String, "expected": pl.Float64}))
    _peaks: pl.DataFrame = field(
        default_factory=lambda: _empty({"tag": pl.String, "peak": pl.Float64, "peak_us": pl.Int64})
    )

    def update(self, bucket_start_us: int, counts: pl.DataFrame, prior: Prior) -> pl.DataFrame:
        if not self._started:  # the first bucket has no previous one: nothing can be said of it
            self._started = True
            self._previous = counts.select("tag", expected=pl.col(self.count).cast(pl.Float64))
            return NO_VERDICTS
        if counts.is_empty() and self._peaks.is_empty():  # a quiet stretch: nothing to score or decay
            self._previous = self._previous.clear()
            return NO_VERDICTS
        minimum = prior.floor if self.min_accounts is None else self.min_accounts
        young = counts.get_column("young")
        scored = (
            counts.select("tag", observed=pl.col(self.count).cast(pl.Float64))
            .join(self._previous, on="tag", how="left")
            .with_columns(
                expected=pl.when(young).then(0.0).otherwise(pl.col("expected").fill_null(0.0)).clip(lower_bound=1.0)
            )
            .with_columns(
                score=pl.when((pl.col("observed") > pl.col("expected")) & (pl.col("observed") >= minimum))
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
            .with_columns(new=pl.col("score") > pl.col("decayed"))
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


def ewm_step(x: np.ndarray, ewma: np.ndarray, ewmvar: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """One step of the exponentially weighted mean and variance (Finch, "Incremental calculation of
    weighted mean and variance"): delta = x - EWMA; EWMA += alpha * delta;
    EWMVar = (1 - alpha) * (EWMVar + alpha * delta^2)."""
    delta = x - ewma
    return ewma + alpha * delta, (1 - alpha) * (ewmvar + alpha * delta * delta)


def ewm_skip(ewma: np.ndarray, ewmvar: np.ndarray, skipped: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The statistics after `skipped` steps of x = 0: the closed form of that many steps, so that only
    the tags seen in a bucket need updating (r = (1 - alpha)^skipped):
    EWMA * r and EWMVar * r + EWMA^2 * r * (1 - r)."""
    r = (1 - alpha) ** skipped
    return ewma * r, ewmvar * r + ewma * ewma * r * (1 - r)


def significance(x: np.ndarray, expected: np.ndarray, sd: np.ndarray, beta: float) -> np.ndarray:
    """SigniTrend's significance: (x - max(expected, beta)) / (sd + beta)."""
    return (x - np.maximum(expected, beta)) / (sd + beta)


@dataclass
class SigniTrend:
    """SigniTrend's significance of each tag's count against its exponentially weighted history.

    The statistics are of each tag's share of the bucket's volume (the sum of the counts), so that a
    daily cycle, which moves every tag at once, is not a trend; they forget half their weight in
    `half_life` buckets, and are corrected for the buckets the stream has not yet run (as an EWMA
    started at zero is). In counts: expected = EWMA * volume, sd = max(sqrt(EWMVar) * volume,
    sqrt(expected)) (never below Poisson noise), and

        significance = (x - max(expected, beta)) / (sd + beta),  beta = floor / (1 + 3)

    so that a tag without history, or a young one (`counts["young"]`: the few buckets it has are its
    rise, not its normal), trends from exactly the prior's floor of accounts, where it scores
    SigniTrend's threshold of 3. A tag with a history trends at a significance of `threshold_for`:
    what the collection's tags with a history reach by chance, lately, at most `alarms_per_day` times
    a day, and at least 3. A `threshold` given replaces 3 and the derived threshold alike. Either way
    a tag needs at least `min_accounts` (default: the floor).

    With `hashed=True` the statistics live in `depth` hash tables of `width` cells (the paper's
    fixed-memory variant): memory does not grow with the number of distinct hashtags; a tag's
    significance is the smallest over its cells, since collisions only add counts. Either way a
    bucket costs in proportion to the tags seen in it: a tag's statistics catch up on the buckets it
    missed (`ewm_skip`) when it is seen again.
    """

    threshold: float | None = None
    half_life: float = 24.0  # buckets
    bucket_min: float = 5.0
    min_accounts: float | None = None
    count: str = "accounts"
    hashed: bool = False
    width: int = 1 << 20
    depth: int = 2
    name: str = "signitrend"
    _bucket: int = 0  # how many buckets have been scored
    _tests: float = 0.0  # tags with a history scored per bucket, lately (an EWMA)

    def __post_init__(self) -> None:
        self.alpha = 1 - 0.5 ** (1 / self.half_life)
        self.prune_every = round(12 * self.half_life)  # buckets between sweeps for tags that have faded
        self._record = Record(
            max(SCORE_MEMORY_MIN, 2 * self.bucket_min) * _US_PER_MIN, least=MIN_SIGNIFICANCE, tail="pareto"
        )
        # The statistics (EWMA, EWMVar, last bucket seen; -1: never): one row per tag, at its id
        # (`tag_ids`), or `depth` rows of `width` hashed cells.
        shape = (self.depth, self.width) if self.hashed else (0,)
        self._ewma, self._ewmvar = np.zeros(shape), np.zeros(shape)
        self._last = np.full(shape, -1, dtype=np.int64)

    def update(self, bucket_start_us: int, counts: pl.DataFrame, prior: Prior) -> pl.DataFrame:
        if counts.is_empty():  # the statistics of unseen tags catch up when they are next seen
            self._next_bucket()
            self._tests *= 1 - self.alpha
            return NO_VERDICTS
        x = counts.get_column(self.count).cast(pl.Float64).to_numpy()
        volume = float(x.sum())
        base = MIN_SIGNIFICANCE if self.threshold is None else self.threshold
        beta = prior.floor / (1 + base)  # fixed by the floor: the derived threshold must not move it
        threshold = self.threshold_for(bucket_start_us, prior.alarms_per_day)
        sig, history = (self._hashed if self.hashed else self._exact)(counts, x, volume, beta)
        young = counts.get_column("young").to_numpy()
        sig = np.where(young, significance(x, np.zeros_like(x), np.zeros_like(x), beta), sig)
        if not prior.learning:  # the significance of tags with a history, for the threshold to come
            tested = history & ~young
            self._record.add(bucket_start_us, sig[tested])
            self._tests += self.alpha * (int(np.count_nonzero(tested)) - self._tests)
        self._next_bucket()
        minimum = prior.floor if self.min_accounts is None else self.min_accounts
        # A tag without history at exactly the floor scores `base`, give or take rounding.
        needed = np.where(young | ~history, base, threshold) - 1e-9
        verdicts = counts.select(
            "tag", score=pl.Series(sig, dtype=pl.Float64), x=pl.Series(x), needed=pl.Series(needed)
        )
        return verdicts.filter(pl.col("score") > 0).select(
            "tag", "score", trending=(pl.col("score") >= pl.col("needed")) & (pl.col("x") >= minimum)
        )

    def threshold_for(self, at_us: int, alarms_per_day: float) -> float:
        """`threshold`, or by default the higher of: the significance a normal variable exceeds at most
        `alarms_per_day` times a day of tests (a test: a tag with a history, as many as lately per
        bucket), and the significance that the collection's tags with a history have reached at most
        that often lately (`Record`: their tail is heavier than normal); never below SigniTrend's 3."""
        if self.threshold is not None:
            return self.threshold
        level = self._record.level(at_us, alarms_per_day)
        tests_per_day = self._tests * 1440 / self.bucket_min
        if tests_per_day > alarms_per_day:
            level = max(level, NormalDist().inv_cdf(1 - alarms_per_day / tests_per_day))
        return level

    def _score(self, x, volume: float, beta: float, ewma, ewmvar, last) -> tuple[np.ndarray, ...]:
        """Catch up on missed buckets (last = -1: never seen), score against the statistics so far,
        then take this bucket's step. Also: which tags had a history."""
        skipped = np.where(last >= 0, self._bucket - last - 1, 0)
        ewma, ewmvar = ewm_skip(ewma, ewmvar, skipped, self.alpha)
        weight = 1 - (1 - self.alpha) ** self._bucket  # of the buckets run so far, in an EWMA from zero
        expected = ewma / weight * volume if weight > 0 else np.zeros_like(x)
        spread = np.sqrt(ewmvar / weight) * volume if weight > 0 else np.zeros_like(x)
        sig = significance(x, expected, np.maximum(spread, np.sqrt(expected)), beta)
        return (sig, expected > 0, *ewm_step(x / volume, ewma, ewmvar, self.alpha))

    def _exact(self, counts: pl.DataFrame, x: np.ndarray, volume: float, beta: float) -> tuple[np.ndarray, ...]:
        rows = tag_ids(counts.get_column("tag"))
        self._grow(int(rows.max()) + 1)
        sig, history, self._ewma[rows], self._ewmvar[rows] = self._score(
            x, volume, beta, self._ewma[rows], self._ewmvar[rows], self._last[rows]
        )
        self._last[rows] = self._bucket
        return sig, history

    def _next_bucket(self) -> None:
        """Count the bucket scored, sweeping the exact table for faded tags every `prune_every`."""
        if not self.hashed and self._bucket % self.prune_every == self.prune_every - 1:
            self._prune()
        self._bucket += 1

    def _grow(self, size: int) -> None:
        """Rows up to `size` in the exact table, doubling its arrays when short; new rows are unseen."""
        if size > len(self._ewma):
            extra = max(size - len(self._ewma), len(self._ewma), 1024)
            self._ewma = np.concatenate([self._ewma, np.zeros(extra)])
            self._ewmvar = np.concatenate([self._ewmvar, np.zeros(extra)])
            self._last = np.concatenate([self._last, np.full(extra, -1, dtype=np.int64)])

    def _prune(self) -> None:
        """Forget tags whose share has faded to nothing: they would score as new tags anyway."""
        seen = self._last >= 0
        ewma, ewmvar = ewm_skip(self._ewma, self._ewmvar, self._bucket - self._last, self.alpha)
        faded = seen & (ewma <= 1e-9) & (ewmvar <= 1e-12)
        self._ewma[faded], self._ewmvar[faded], self._last[faded] = 0.0, 0.0, -1

    def _hashed(self, counts: pl.DataFrame, x: np.ndarray, volume: float, beta: float) -> tuple[np.ndarray, ...]:
        tags = counts.get_column("tag")
        sig = np.full(len(x), np.inf)
        history = np.ones(len(x), dtype=bool)
        for row in range(self.depth):
            cells, where = np.unique(hash_cells(tags, row, self.width), return_inverse=True)
            cell_sig, cell_history, ewma, ewmvar = self._score(
                np.bincount(where, weights=x, minlength=len(cells)),
                volume,
                beta,
                self._ewma[row, cells],
                self._ewmvar[row, cells],
                self._last[row, cells],
            )
            self._ewma[row, cells], self._ewmvar[row, cells], self._last[row, cells] = ewma, ewmvar, self._bucket
            sig = np.minimum(sig, cell_sig[where])
            history &= cell_history[where]
        return sig, history


# One id per hashtag string for the whole process (Polars' named categories, kept in Rust): the exact
# structures index arrays by it instead of looking every tag of every bucket up in a dictionary. Named
# categories are freed, and their ids start again, when no column uses them: this empty one always does.
_TAG_IDS = pl.Categorical(pl.Categories("swell-hashtags"))
_KEEP_IDS = pl.Series("tag", [], dtype=_TAG_IDS)


def tag_ids(tags: pl.Series) -> np.ndarray:
    """Each tag's id: the same string has the same id in every call, ids count up from 0."""
    return tags.cast(_TAG_IDS).to_physical().to_numpy().astype(np.int64)


def hash_cells(tags: pl.Series, row: int, width: int) -> np.ndarray:
    """The cell of each tag in hash table `row` of a hashed structure."""
    return (tags.hash(seed=row).to_numpy() % np.uint64(width)).astype(np.int64)


# --- Poisson ----------------------------------------------------------------------------------------


@dataclass
class PoissonDetector:
    """Twitter/Gnip's Poisson model: eta = |c - nu| / (Q_hi - Q_lo), where [Q_lo, Q_hi] is the 99%
    Poisson interval around the expected count nu. A tag trends when c > nu, eta >= `threshold` and
    c >= min_accounts (default: the prior's floor).

    nu is the previous bucket's count (`baseline="previous"`), or the mean count in the same bucket
    of the day over up to `days` earlier days (`baseline="daily"`, falling back to the previous bucket
    until a day of history exists), at least 1; a young tag is expected at the prior's rate for a tag
    not seen so far.
    """

    threshold: float = 3.0
    min_accounts: float | None = None
    baseline: str = "previous"
    days: int = 7
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
            slot = bucket_start_us % _US_PER_DAY
            self._history[slot] = [*self._history.get(slot, [])[-(self.days - 1) :], counts]

    def _expected(self, bucket_start_us: int) -> pl.DataFrame:
        if self.baseline == "daily":
            slot = bucket_start_us % _US_PER_DAY
            days = self._history.get(slot, [])
            if days:
                return pl.concat(days).group_by("tag").agg(nu=pl.col("nu").sum() / len(days))
        return self._previous

    def update(self, bucket_start_us: int, counts: pl.DataFrame, prior: Prior) -> pl.DataFrame:
        if counts.is_empty():  # a quiet stretch: no tag to score; it is the next bucket's baseline
            self._remember(bucket_start_us, self._previous.clear())
            return NO_VERDICTS
        observed = counts.select("tag", "young", c=pl.col(self.count).cast(pl.Float64))
        joined = observed.join(self._expected(bucket_start_us), on="tag", how="left").with_columns(
            # A young tag is expected at the prior's rate; any other at least once a bucket (Twitter's
            # nu_min), or every tag missing from the previous bucket would trend at the floor.
            nu=pl.when("young").then(prior.rate).otherwise(pl.col("nu").fill_null(0.0).clip(lower_bound=1.0))
        )
        c = joined.get_column("c").to_numpy()
        nu = joined.get_column("nu").to_numpy()
        from scipy.stats import poisson  # here, not at the top: the import alone takes half a second

        # Expected counts repeat (they are mostly small integers): compute each interval once.
        distinct_nu, which = np.unique(nu, return_inverse=True)
        low, high = poisson.ppf(0.005, distinct_nu)[which], poisson.ppf(0.995, distinct_nu)[which]
        eta = np.where(c > nu, np.abs(c - nu) / np.maximum(high - low, 1.0), 0.0)
        self._remember(bucket_start_us, observed.select("tag", nu="c"))
        minimum = prior.floor if self.min_accounts is None else self.min_accounts
        verdicts = joined.select("tag", score=pl.Series(eta), c="c")
        return verdicts.filter(pl.col("score") > 0).select(
            "tag", "score", trending=(pl.col("score") >= self.threshold) & (pl.col("c") >= minimum)
        )


# The detectors by name: each a factory of a fresh detector for a bucket size (in minutes) and options
# (threshold, min_accounts, count, ...). Every factory here passes the detector conformance tests.
DetectorFactory = Callable[..., Detector]
DETECTORS: dict[str, DetectorFactory] = {
    "signitrend": lambda bucket_min, **options: SigniTrend(bucket_min=bucket_min, **options),
    "signitrend-hashed": lambda bucket_min, **options: SigniTrend(bucket_min=bucket_min, hashed=True, **options),
    "poisson": lambda bucket_min, **options: PoissonDetector(**options),
    "mastodon": lambda bucket_min, **options: MastodonScorer(
        **{"half_life_min": max(MastodonScorer.half_life_min, bucket_min), **options}
    ),
}


def make_detector(name: str, bucket_min: float, **options) -> Detector:
    """A detector by name, for buckets of `bucket_min` minutes."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; detectors are {', '.join(DETECTORS)}")
    return DETECTORS[name](bucket_min, **options)
