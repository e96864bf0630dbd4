"""Trend detection: which hashtags are trending, since when, and at which time scale.

One state machine serves archives and live streams alike. `TrendStream.feed(posts)` takes posts
(an Arrow table or batch with created_at, author_id, hashtags, kind) in any batch sizes; it counts
them per hashtag per bucket at several time scales at once (by default 5 minutes, an hour and a
day, each coarser scale aggregated from the finest), and when a bucket of a scale is over it hands
the bucket's counts to that scale's detector (`swell.detectors`) and the verdicts to a tracker of
trend episodes. A burst is caught at the fine scale within minutes, a slow build at the hour or the
day. Over a stored archive, `trends_over_store` has the engine (DuckDB or Spark) count the buckets
of every scale and hands those counts to the same detectors and tracker, so a replay of the archive
as a stream gives exactly the archive's result, whichever engine counted.

Counts are of posts and of distinct accounts: a trend has to be carried by many accounts, not one
loud one, so detectors score distinct accounts by default. Reposts count (a repost row carries the
original's hashtags) unless `include_reposts=False`.

An episode reports the scale that fired first, when it became detectable (the end of the bucket
that fired: when a live watcher would have known) and the start of its rise, found by looking back
over the buckets before it; it lasts while some scale's latest verdict says trending.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from swell.detectors import (
    COUNT_SCHEMA,
    NO_COUNTS,
    SCORE_MEMORY_MIN,
    Detector,
    NewTagPrior,
    hash_cells,
    make_detector,
    tag_ids,
)
from swell.engine import Engine
from swell.selection import Selection
from swell.times import iso

_US_PER_MIN = 60_000_000
_US_PER_YEAR = 365 * 1440 * _US_PER_MIN
DEFAULT_SCALES = (5.0, 60.0, 1440.0)  # minutes: the default bucket, an hour, a day
LEARNING_MIN = 60.0  # hashtags first seen in the first hour are the collection's own, not new ones
# A hashtag first seen (after the first hour) less than six hours before a bucket's end (or within the
# bucket, for buckets longer than that) is young: what it has done so far is its rise, not its history.
YOUNG_MIN = 360.0
# Per (tag, account) of a bucket: how many posts, the first one. What a coarser scale is counted from.
PAIR_SCHEMA = {"tag": pl.String, "author": pl.UInt64, "posts": pl.Int64, "first_us": pl.Int64}
NO_PAIRS = pl.DataFrame(schema=PAIR_SCHEMA)
_NO_YOUNG_COUNTS = NO_COUNTS.with_columns(young=pl.Series([], dtype=pl.Boolean))  # what a detector gets


def scale_label(minutes: float) -> str:
    """5 -> "5m", 60 -> "1h", 1440 -> "1d", 90 -> "90m"."""
    if minutes % 1440 == 0:
        return f"{minutes / 1440:g}d"
    if minutes % 60 == 0:
        return f"{minutes / 60:g}h"
    return f"{minutes:g}m"


def default_scales(bucket_min: float) -> tuple[float, ...]:
    """The bucket, and the hour and the day where they are coarser multiples of it."""
    return (bucket_min, *(s for s in DEFAULT_SCALES[1:] if s > bucket_min and s % bucket_min == 0))


def parse_scales(text: str) -> tuple[float, ...]:
    """Scales from "5m,1h,1d" (m, h, d; a bare number is minutes), checked by `check_scales`."""
    units = {"m": 1.0, "h": 60.0, "d": 1440.0, "": 1.0}
    scales = []
    for part in text.split(","):
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhd]?)\s*", part)
        if not found:
            raise ValueError(f"{part.strip()!r} is not a time scale (e.g. 5m, 1h, 1d)")
        scales.append(float(found[1]) * units[found[2]])
    return check_scales(scales)


def check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """Scales in minutes, finest first, each coarser one a whole multiple of the finest (it is counted
    from the finest's buckets); ValueError otherwise."""
    if not scales or any(s <= 0 for s in scales):
        raise ValueError("time scales must be one or more positive durations")
    if list(scales) != sorted(set(scales)):
        raise ValueError(f"time scales go from the finest to the coarsest, each once: {list(scales)}")
    finest = scales[0]
    if any(round(s * _US_PER_MIN) % round(finest * _US_PER_MIN) for s in scales):
        raise ValueError(f"each time scale must be a whole multiple of the finest ({scale_label(finest)})")
    return tuple(float(s) for s in scales)


@dataclass
class Scale:
    """One time scale of a stream: its detector, its prior on new hashtags, and its recent buckets."""

    minutes: float
    detector: Detector
    prior: NewTagPrior
    # The last buckets' counts (start, counts), to look back for where a rise started.
    lookback: deque = field(default_factory=deque)
    # Counting from posts: the (tag, account) pairs of the finer scale's buckets closed inside this
    # scale's open bucket.
    pairs: list[pl.DataFrame] = field(default_factory=list)
    # The end of the scale's learning, at the start of the collection or after a gap in it: hashtags
    # first seen before it are the collection's own, not new ones.
    learnt_us: int = 0

    @property
    def us(self) -> int:
        return round(self.minutes * _US_PER_MIN)

    @property
    def label(self) -> str:
        return scale_label(self.minutes)


class FirstSeen:
    """When each hashtag was first seen. Exact (an array by tag id, `tag_ids`, growing with the
    distinct hashtags), or hashed into fixed arrays like SigniTrend's tables, where a collision can
    only make a tag look older than it is; the latest of its cells is the best bound."""

    NEVER = np.iinfo(np.int64).max

    def __init__(self, hashed: bool = False, width: int = 1 << 20, depth: int = 2):
        self.hashed, self.width, self.depth = hashed, width, depth
        shape = (depth, width) if hashed else (1, 0)
        self._cells = np.full(shape, self.NEVER, dtype=np.int64)

    def _cells_of(self, tags: pl.Series) -> list[np.ndarray]:
        if not self.hashed:
            ids = tag_ids(tags)
            if len(ids) and ids.max() >= self._cells.shape[1]:
                extra = max(int(ids.max()) + 1 - self._cells.shape[1], self._cells.shape[1], 1024)
                self._cells = np.concatenate([self._cells, np.full((1, extra), self.NEVER, dtype=np.int64)], axis=1)
            return [ids]
        return [hash_cells(tags, row, self.width) for row in range(self.depth)]

    def update(self, tags: pl.Series, first_us: pl.Series) -> list[str]:
        """Remember a bucket's tags (each once); returns those never seen before."""
        times = first_us.to_numpy()
        unseen = np.ones(len(tags), dtype=bool)
        for row, cells in enumerate(self._cells_of(tags)):
            unseen &= self._cells[row][cells] == self.NEVER
            np.minimum.at(self._cells[row], cells, times)
        return tags.filter(pl.Series(unseen)).to_list()

    def get(self, tag: str) -> int | None:
        first = int(self.of(pl.Series([tag]))[0])
        return None if first == self.NEVER else first

    def of(self, tags: pl.Series) -> np.ndarray:
        """When each of these tags was first seen (NEVER for a tag not seen)."""
        return np.max([self._cells[row][cells] for row, cells in enumerate(self._cells_of(tags))], axis=0)


class Coverage:
    """Where the collection was not watching: a store joins archives of different months or years, a
    live stream loses its connection for a day. A silence (buckets of the finest scale without a
    hashtag) is a gap when it lasts a day or more (a shorter one may be a night: collections have
    daily rhythms) and the collection's record lately would give one that long less than once a year.

    The record is how many buckets lately held hashtags and how many did not (each forgotten over a
    day, as `SCORE_MEMORY_MIN`, or over 24 buckets when they are longer, as SigniTrend forgets). With
    a share q of busy buckets, a silence of k buckets comes with probability (1 - q)^k; q is not known
    from a short record, so the chance is averaged over what the record allows (q ~ Beta(busy + 1,
    quiet + 1)): after a busy hour of 5-minute buckets, a day's silence is a gap; a collection of a
    post every day or few is rarely silent long enough (a long silence after a burst may be). A gap's
    first buckets, as many as an ordinary silence would have had, still count as quiet: a sparse
    collection stays sparse after one. What hashtags did in a gap is unknown, not zero: after one,
    `TrendStream` learns again."""

    def __init__(self, bucket_us: int):
        self.bucket_us = bucket_us
        self.log_chance = math.log(bucket_us / _US_PER_YEAR)  # a silence may start at any bucket
        day = SCORE_MEMORY_MIN * _US_PER_MIN
        # A bucket's weight, a bucket later: with day-long buckets a day's memory would hold two of them.
        self.keep = max(0.5 ** (bucket_us / day), 0.5 ** (1 / 24))
        self.shortest = max(1, math.ceil(day / bucket_us))  # the shortest silence that can be a gap
        self.busy = self.quiet = 0.0  # buckets with hashtags and without, lately
        self.last_us: int | None = None  # the last bucket with hashtags

    def heard(self, start_us: int) -> int | None:
        """The bucket starting at `start_us` holds hashtags; when the silence before it is a gap, the
        start of that silence."""
        if self.last_us is None:
            self.last_us, self.busy = start_us, 1.0
            return None
        silence = (start_us - self.last_us) // self.bucket_us - 1  # buckets without hashtags
        gap = self.is_gap(silence)
        quiet = self._ordinary(silence) if gap else silence  # its first buckets, aged silence, silence - 1, ...
        fade = self.keep ** (silence + 1)
        self.busy = self.busy * fade + 1
        self.quiet = self.quiet * fade + self.keep ** (silence - quiet + 1) * (1 - self.keep**quiet) / (1 - self.keep)
        gap_from = self.last_us + self.bucket_us
        self.last_us = start_us
        return gap_from if gap else None

    def is_gap(self, silence: int) -> bool:
        """Whether `silence` buckets without hashtags after the last one heard are a gap (the longer
        the silence, the likelier)."""
        if self.last_us is None or silence < self.shortest:
            return False
        busy, quiet = self.busy + 1, self.quiet + 1
        return _log_beta(busy, quiet + silence) - _log_beta(busy, quiet) < self.log_chance  # E[(1 - q)^silence]

    def _ordinary(self, silence: int) -> int:
        """The longest silence up to `silence` that is not a gap."""
        low, high = 0, silence
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (low, middle - 1) if self.is_gap(middle) else (middle, high)
        return low


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


@dataclass
class Trend:
    """One episode of a hashtag trending."""

    hashtag: str
    first_seen_us: int  # first post with the hashtag in the data fed so far
    since_us: int  # the start of the rise: the first post of the first bucket of the rise
    detected_us: int  # when it became detectable: the end of the bucket that fired first
    scale_min: float  # the scale of that bucket
    last_us: int  # the end of the last bucket, at any scale, in which it was trending
    score: float  # in the last bucket it was trending
    peak: float
    peak_us: int  # the start of the bucket with the peak score
    held_us: int = 0  # until the next verdict of the scale that last said trending
    counted_from_us: int = 0  # posts and accounts are counted from the start of the bucket that fired
    counted_until_us: int = 0  # to the end of the last bucket of the finest scale counted
    posts: int = 0
    accounts: int = 0
    ended_us: int | None = None
    seen: set[int] = field(default_factory=set, repr=False)  # the accounts (hashed), when counted from posts

    def as_dict(self) -> dict:
        """For JSON and CSV: times as ISO 8601 in UTC."""
        return {
            "hashtag": self.hashtag,
            "trending_since": iso(self.since_us),
            "detected_at": iso(self.detected_us),
            "scale": scale_label(self.scale_min),
            "first_seen": iso(self.first_seen_us),
            "last_trending": iso(self.last_us),
            "ended": iso(self.ended_us),
            "score": round(self.score, 3),
            "peak": round(self.peak, 3),
            "peak_at": iso(self.peak_us),
            "posts": self.posts,
            "accounts": self.accounts,
        }


def _pair_counts(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per hashtag: posts, distinct accounts, first post (COUNT_SCHEMA), from (tag, account) pairs."""
    return pairs.group_by("tag").agg(
        posts=pl.col("posts").sum(), accounts=pl.len().cast(pl.Int64), first_us=pl.col("first_us").min()
    )


def _merge_pairs(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The (tag, account) pairs of several buckets as those of one."""
    if not parts:
        return NO_PAIRS
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts).group_by("tag", "author").agg(pl.col("posts").sum(), pl.col("first_us").min())


class TrendStream:
    """Posts in, trend episodes out: bucket counting at several time scales, a detector for each, and
    the episodes they produce.

    `detector` names the detector (`swell.detectors.DETECTORS`), made once per scale with `options`
    (threshold, min_accounts, count). `scales` are in minutes, finest first (`check_scales`).
    `lateness_min` is how long a bucket of the finest scale stays open after its end for posts
    arriving out of order; a post for a bucket already closed is counted in `late` (never dropped
    silently). An episode ends once no scale has said trending for `cooldown` buckets of the finest
    scale. For the first `warmup_min` of input the detectors learn and report nothing: with no
    history, everything looks new; the same after a gap in the collection (`Coverage`), for the
    scales with a whole bucket inside the gap (`gaps`). `alarms_per_day` is how many false alarms a
    day the stream may raise, shared out evenly between the scales, and at each scale between its
    prior on new hashtags (`NewTagPrior`) and its detector's threshold.
    """

    def __init__(
        self,
        detector: str = "signitrend",
        *,
        scales: Sequence[float] = DEFAULT_SCALES,
        include_reposts: bool = True,
        lateness_min: float = 1.0,
        cooldown: int = 3,
        warmup_min: float = 60.0,
        alarms_per_day: float = 1.0,
        **options,
    ):
        self.detector, self._options = detector, options
        self.count = options.get("count", "accounts")
        scales = check_scales(scales)
        # The budget is shared out: each scale, and at each scale new hashtags and the others.
        self._share = alarms_per_day / (2 * len(scales))
        self.scales = [
            Scale(
                minutes,
                *self._fresh(minutes),
                deque(maxlen=max(2, round(60 / minutes))),  # an hour of the finest, two buckets of the others
            )
            for minutes in scales
        ]
        self.bucket_us = self.scales[0].us
        self.lateness_us = round(lateness_min * _US_PER_MIN)
        self.include_reposts = include_reposts
        self.cooldown = cooldown
        self.warmup_us = round(warmup_min * _US_PER_MIN)
        self.learning_us = max(self.warmup_us, round(LEARNING_MIN * _US_PER_MIN))
        self.first_bucket: int | None = None
        self.coverage = Coverage(self.bucket_us)
        self.gaps: list[tuple[int, int]] = []  # (start, end) of each gap in the collection (`Coverage`)
        self.late = 0
        self.posts = 0  # fed through `feed` (what a live display shows); `trends_over_store` feeds counts
        self.next_bucket: int | None = None  # start of the oldest bucket of the finest scale still open
        self.max_us: int | None = None
        self._pending: list[pl.DataFrame] = []
        self.first_seen = FirstSeen(hashed=getattr(self.scales[0].detector, "hashed", False))
        self.active: dict[str, Trend] = {}
        self.ended: list[Trend] = []
        self.revival_us = self.scales[0].lookback.maxlen * self.bucket_us  # type: ignore[operator]
        self._just_ended: dict[str, Trend] = {}  # by tag: episodes over for less than `revival_us`
        self._told: dict[str, int] = {}  # by tag: the end of its last episode, within the coarsest bucket
        self._recent: deque = deque(maxlen=self.scales[0].lookback.maxlen)  # live: the finest buckets' pairs
        self.last_bucket: int | None = None  # start of the finest scale's last bucket closed

    @property
    def bucket_min(self) -> float:
        """The finest scale, in minutes."""
        return self.scales[0].minutes

    @property
    def scale_labels(self) -> str:
        """The scales watched, as "5m, 1h, 1d"."""
        return ", ".join(scale.label for scale in self.scales)

    # --- counting posts -----------------------------------------------------------------------------

    def feed(self, posts: pa.Table | pa.RecordBatch) -> None:
        """Count a batch of posts; close and score every bucket the batch has moved past."""
        frame = pl.from_arrow(posts.select(["created_at", "author_id", "hashtags", "kind"]))
        if not isinstance(frame, pl.DataFrame) or frame.is_empty():
            return
        if not self.include_reposts:
            frame = frame.filter(pl.col("kind") != "repost")
        self.posts += frame.height
        frame = (
            frame.select(
                t=pl.col("created_at").dt.epoch("us"), author=pl.col("author_id").hash(), tag=pl.col("hashtags")
            )
            .with_columns(bucket=pl.col("t") - pl.col("t") % self.bucket_us)
            .explode("tag")
            .drop_nulls("tag")
        )
        batch_max = int(frame.get_column("t").max()) if frame.height else None  # type: ignore[arg-type]
        if self.next_bucket is None and frame.height:
            self.next_bucket = int(frame.get_column("bucket").min())  # type: ignore[arg-type]
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
        """The input is over: close every bucket of the finest scale that starts before `until_us`
        (default: every one that holds a post), and the coarser buckets that end with them."""
        if self.max_us is not None:
            self._close_until(self.max_us + self.bucket_us if until_us is None else until_us + self.bucket_us - 1)

    def _close_until(self, watermark_us: int) -> None:
        start = self.next_bucket
        if start is None or start + self.bucket_us > watermark_us:
            return
        pending = pl.concat(self._pending) if self._pending else pl.DataFrame(schema={"bucket": pl.Int64})
        by_bucket = pending.partition_by("bucket", as_dict=True) if pending.height else {}
        while start + self.bucket_us <= watermark_us:
            self._close_posts(start, by_bucket.get((start,)))
            start += self.bucket_us
        self.next_bucket = start
        self._pending = [pending.filter(pl.col("bucket") >= start)] if pending.height else []

    def _close_posts(self, start: int, rows: pl.DataFrame | None) -> None:
        """Close the finest bucket at `start` from its posts (t, author, tag), and every coarser bucket
        ending with it from the pairs gathered for it."""
        if rows is None or rows.is_empty():
            pairs = NO_PAIRS
        else:
            pairs = rows.group_by("tag", "author").agg(posts=pl.len().cast(pl.Int64), first_us=pl.col("t").min())
        end = start + self.bucket_us
        fine = _pair_counts(pairs) if pairs.height else NO_COUNTS
        closing: dict[int, tuple[pl.DataFrame, pl.DataFrame]] = {0: (fine, pairs)}
        for level in range(1, len(self.scales)):
            if level - 1 not in closing:  # the finer bucket is still open, so is this one
                break
            scale = self.scales[level]
            scale.pairs.append(closing[level - 1][1])
            if end % scale.us:
                continue
            merged = _merge_pairs([p for p in scale.pairs if p.height])
            scale.pairs = []
            closing[level] = (_pair_counts(merged) if merged.height else NO_COUNTS, merged)
        self._close_boundary(start, closing)

    # --- scoring ------------------------------------------------------------------------------------

    def close_quiet(self, start_us: int, until_us: int) -> None:
        """Close the finest buckets from `start_us` to `until_us`, for counts made elsewhere: none of
        them closes a bucket with a hashtag at any scale, and the silence goes on at least to
        `until_us`. A gap that covers every scale (`Coverage`) is skipped once no episode is running
        or over for less than an hour (a detector's verdict on an empty bucket, such as Mastodon's
        decaying score, can revive one): after it every scale starts afresh (`_learn`), so what the
        detectors would make of its empty buckets is forgotten, and an archive of sparse samples
        years apart is not millions of empty buckets. (Episodes told, which a verdict could hold
        back, are forgotten by time before any scale reports again.)"""
        heard = self.coverage.last_us
        skip = (
            heard is not None
            and self.coverage.is_gap((until_us - heard) // self.bucket_us - 1)
            and len(self._covered(heard + self.bucket_us, until_us)) == len(self.scales)
        )
        start = start_us
        while start < until_us and not (skip and not (self.active or self._just_ended)):
            self.close_counts(start, {})
            start += self.bucket_us

    def close_counts(self, start_us: int, counts: Mapping[int, pl.DataFrame | None]) -> None:
        """Close the finest bucket starting at `start_us`, and the coarser buckets ending with it, from
        their counts per hashtag (COUNT_SCHEMA; `counts[level]`, the scale's index in `scales`; None or
        absent: no posts). For counts made elsewhere (an engine over a store): the episodes' posts and
        accounts are then counted afterwards (`count_episodes`) over [counted_from_us, counted_until_us)."""
        end = start_us + self.bucket_us
        self._close_boundary(
            start_us,
            {
                level: (NO_COUNTS if counts.get(level) is None else counts[level], None)  # type: ignore[misc]
                for level, scale in enumerate(self.scales)
                if level == 0 or end % scale.us == 0
            },
        )

    def _close_boundary(self, start: int, closing: Mapping[int, tuple[pl.DataFrame, pl.DataFrame | None]]) -> None:
        """Score the buckets that end at `start + bucket_us` (the finest first), then end the episodes
        no scale holds any more."""
        fine, fine_pairs = closing[0]
        if self.first_bucket is None:
            self.first_bucket = start
            self._learn(start, self.scales)
        silence = None if fine.is_empty() else self.coverage.heard(start)
        if silence is not None:  # a gap: the scales with a whole bucket in it know nothing of what came before
            self.gaps.append((silence, start))
            self._learn(start, self._covered(silence, start), fresh=True)
        end = start + self.bucket_us
        if not fine.is_empty():
            self.first_seen.update(fine.get_column("tag"), fine.get_column("first_us"))
        if fine_pairs is not None:  # live: the posts of episodes already running, and of the last hour
            self._recent.append((start, fine_pairs))
            if self.active:
                self._count(fine_pairs.filter(pl.col("tag").is_in(list(self.active))))
        for level in sorted(closing):
            counts, pairs = closing[level]
            self._score(level, end - self.scales[level].us, counts, pairs)
        self.last_bucket = start
        for trend in self.active.values():
            trend.counted_until_us = end
        over = (self.cooldown - 1) * self.bucket_us
        for tag in [t for t, trend in self.active.items() if end - trend.held_us >= over]:
            trend = self.active.pop(tag)
            trend.ended_us = trend.last_us
            self.ended.append(trend)
            self._just_ended[tag] = trend
            self._told[tag] = trend.last_us
        for tag in [t for t, trend in self._just_ended.items() if end - trend.counted_until_us > self.revival_us]:
            del self._just_ended[tag]
        for tag in [t for t, last in self._told.items() if last <= end - self.scales[-1].us]:
            del self._told[tag]

    def gaps_so_far(self) -> list[tuple[int, int | None]]:
        """`gaps` (start, end), and the silence going on at the last bucket closed when it is already
        a gap (its end None): where the detectors knew nothing."""
        heard, last = self.coverage.last_us, self.last_bucket
        if heard is None or last is None or not self.coverage.is_gap((last - heard) // self.bucket_us):
            return list(self.gaps)
        return [*self.gaps, (heard + self.bucket_us, None)]

    def _fresh(self, minutes: float) -> tuple[Detector, NewTagPrior]:
        """A scale's detector and prior on new hashtags, knowing nothing yet."""
        prior = NewTagPrior(round(minutes * _US_PER_MIN), alarms_per_day=self._share)
        return make_detector(self.detector, minutes, **self._options), prior

    def _covered(self, silence_us: int, until_us: int) -> list[Scale]:
        """The scales with a whole bucket inside [silence_us, until_us)."""
        return [s for s in self.scales if -(-silence_us // s.us) * s.us + s.us <= until_us]

    def _learn(self, start: int, scales: Sequence[Scale], *, fresh: bool = False) -> None:
        """The scales learn from `start` on, as at the start of the collection (`fresh`: with a new
        detector and prior): for `learning_us` the hashtags seen are the collection's own, and a
        scale reports nothing until its prior has heard of new hashtags for an hour and a whole
        bucket of its own after that (`_score`)."""
        for scale in scales:
            if fresh:
                scale.detector, scale.prior = self._fresh(scale.minutes)
            scale.learnt_us = start + self.learning_us
            scale.prior.begin(start, scale.learnt_us)

    def _score(self, level: int, start: int, counts: pl.DataFrame, pairs: pl.DataFrame | None) -> None:
        scale = self.scales[level]
        learnt = scale.learnt_us
        if counts.is_empty():  # a quiet bucket, the same for the detector without building frames: a
            # store of years of sparse posts has millions of them
            verdicts = scale.detector.update(start, _NO_YOUNG_COUNTS, scale.prior.now(start))
        else:
            first_seen = self.first_seen.of(counts.get_column("tag"))
            young = first_seen >= max(learnt, start + scale.us - max(round(YOUNG_MIN * _US_PER_MIN), scale.us))
            verdicts = scale.detector.update(start, counts.with_columns(young=pl.Series(young)), scale.prior.now(start))
            new = first_seen >= max(learnt, start)
            if new.any():  # what new hashtags had in their first bucket, for the prior of the buckets to come
                scale.prior.observe(start, counts.get_column(self.count).to_numpy()[new])
        scale.lookback.append((start, counts))
        # A scale reports once its learning (`_learn`) is over and its prior has heard of new hashtags for
        # an hour and a whole bucket of its own.
        heard = max(scale.us, round(LEARNING_MIN * _US_PER_MIN))
        if start >= learnt + heard:
            self._track(level, start, verdicts, counts, pairs)

    def _track(self, level: int, start: int, verdicts: pl.DataFrame, counts: pl.DataFrame,
               pairs: pl.DataFrame | None) -> None:  # fmt: skip
        if verdicts.is_empty():
            return
        used = set(counts.get_column("tag").to_list())
        scale = self.scales[level]
        end = start + scale.us
        started = []
        for tag, score in verdicts.filter("trending").select("tag", "score").iter_rows():
            trend = self.active.get(tag) or self._revive(tag)
            if trend is None and (tag not in used or self._told.get(tag, start) > start):
                # An episode starts in a bucket that used the hashtag (a decaying score alone is not news),
                # and not in a coarse bucket that holds an episode told already (the same story, late).
                continue
            if trend is None:
                first = self.first_seen.get(tag)
                since = self._rise_start(scale, tag)
                trend = self.active[tag] = Trend(
                    tag, since if first is None else first, since, end, scale.minutes, end, score, score, start,
                    counted_from_us=start,
                )  # fmt: skip
                started.append(tag)
            trend.last_us, trend.held_us = max(trend.last_us, end), max(trend.held_us, end + scale.us)
            trend.score = score
            if score > trend.peak:
                trend.peak, trend.peak_us = score, start
        if pairs is not None and started:  # live: the posts of the bucket that fired
            self._count(pairs.filter(pl.col("tag").is_in(started)))

    def _revive(self, tag: str) -> Trend | None:
        """The tag's last episode, running again, if it ended within the last `revival_us` (an hour):
        one story, not two, when the hour's verdict comes in after the minutes' have stopped."""
        trend = self._just_ended.pop(tag, None)
        if trend is None:
            return None
        self.ended.remove(trend)
        trend.ended_us = None
        self.active[tag] = trend
        if self._recent:  # live: the posts it missed while it was over
            missed = [p for start, p in self._recent if start >= trend.counted_until_us]
            self._count(pl.concat(missed).filter(pl.col("tag") == tag))
        return trend

    def _count(self, pairs: pl.DataFrame) -> None:
        """Add posts and accounts to the running episodes of their hashtags."""
        for (tag,), group in pairs.group_by("tag"):
            trend = self.active[tag]  # type: ignore[index]
            trend.posts += int(group.get_column("posts").sum())
            trend.seen.update(group.get_column("author").to_list())
            trend.accounts = len(trend.seen)

    def _rise_start(self, scale: Scale, tag: str) -> int:
        """Where the rise that made `tag` trend at `scale` started: looking back from the bucket that
        fired over the scale's recent buckets, the first bucket after the last one at the quiet level
        (the lowest count in the window, plus a tenth of the way up to the bucket that fired); its
        first post. The window's first bucket when the rise started before it."""
        counts, firsts = [], []
        for start, bucket in scale.lookback:
            row = bucket.filter(pl.col("tag") == tag)
            counts.append(int(row.item(0, self.count)) if row.height else 0)
            firsts.append(int(row.item(0, "first_us")) if row.height else start)  # no post: the bucket's start
        quiet = min(counts) + (counts[-1] - min(counts)) / 10
        begin = len(counts) - 1
        while begin > 0 and counts[begin - 1] > quiet:
            begin -= 1
        return firsts[begin]

    def trending_now(self) -> list[Trend]:
        """Episodes not over at the last closed bucket (some scale's latest verdict says trending, or
        within the cooldown), highest score first."""
        return sorted(self.active.values(), key=lambda t: (-t.score, t.hashtag))

    def episodes(self) -> list[Trend]:
        """Every episode so far, ended or not, by the start of its rise."""
        return sorted([*self.ended, *self.active.values()], key=lambda t: (t.since_us, t.hashtag))


# --- over a store -----------------------------------------------------------------------------------

TREND_COLUMNS = ["created_at", "author_id", "hashtags", "kind"]


def tagged_posts(where: str, include_reposts: bool) -> str:
    """One row per hashtag of each post selected by `where` (reposts too, if they count): t, author_id, tag."""
    selected = f"({where})" + ("" if include_reposts else " AND kind <> 'repost'")
    return f"""SELECT t, author_id, tag FROM (
                   SELECT epoch_us(created_at) AS t, author_id, unnest(hashtags) AS tag FROM posts WHERE {selected})
               WHERE tag IS NOT NULL"""


def find_gaps(busy: Iterable[int], bucket_us: int) -> list[tuple[int, int]]:
    """The gaps (`Coverage`) in a collection whose buckets of `bucket_us` with a hashtag start at
    `busy` (in time order): (start, end) of each."""
    coverage, found = Coverage(bucket_us), []
    for start in busy:
        silence = coverage.heard(start)
        if silence is not None:
            found.append((silence, start))
    return found


def collection_gaps(engine: Engine, bucket_min: float = DEFAULT_SCALES[0]) -> list[tuple[int, int]]:
    """The gaps in the stored collection (`find_gaps`, over buckets of `bucket_min` minutes with a
    hashtag, reposts included), as `swell trends` finds them over the store."""
    bucket_us = round(bucket_min * _US_PER_MIN)
    busy = engine.frame(
        f"SELECT DISTINCT t - t % ? AS bucket FROM ({tagged_posts('TRUE', True)}) ORDER BY bucket", [bucket_us]
    ).get_column("bucket")
    return find_gaps(busy.to_list(), bucket_us)


def gaps_as_json(gaps: Iterable[tuple[int, int | None]]) -> list[dict]:
    """Gaps (start, end; end None for one still going on) as JSON: `from` and `until`, ISO 8601."""
    return [{"from": iso(start), "until": iso(end)} for start, end in gaps]


def trends_over_store(engine: Engine, stream: TrendStream, selection: Selection | None = None) -> TrendStream:
    """The trends of the stored posts of a selection (its time range and platform; trends are of every
    hashtag): the engine counts posts and accounts per hashtag per bucket of every scale
    (`count_buckets`), the stream's detectors score the buckets in time order (`score_buckets`), then
    the engine counts each episode's posts and accounts. The result is what feeding the posts through
    `stream` in time order gives (tested), without moving every post to Python."""
    selection = selection or Selection()
    where, params = selection.range_where()
    tagged = tagged_posts(where, stream.include_reposts)
    score_buckets(stream, count_buckets(engine, stream, selection), selection.until_us)
    count_episodes(engine, stream.episodes(), tagged, params)
    return stream


def count_buckets(engine: Engine, stream: TrendStream, selection: Selection | None = None) -> list[pl.DataFrame]:
    """Posts, distinct accounts and first post per hashtag per bucket, one frame (COUNT_SCHEMA and
    bucket) for each of the stream's scales, counted by the engine over the stored posts of a
    selection."""
    where, params = (selection or Selection()).range_where()
    tagged = tagged_posts(where, stream.include_reposts)
    return [
        engine.frame(
            f"""SELECT t - t % ? AS bucket, tag, count(*) AS posts, count(DISTINCT author_id) AS accounts,
                       min(t) AS first_us
                FROM ({tagged}) GROUP BY bucket, tag ORDER BY bucket, tag""",
            [scale.us, *params],
        ).cast(pl.Schema({**COUNT_SCHEMA, "bucket": pl.Int64}))
        for scale in stream.scales
    ]


def score_buckets(stream: TrendStream, counts: Sequence[pl.DataFrame], until_us: int | None = None) -> TrendStream:
    """Hand per-bucket counts (`count_buckets`) to the stream, in time order: every bucket of the
    finest scale from the first hashtag to the last (or to `until_us`), empty ones included but for
    gaps the stream may skip (`TrendStream.close_quiet`), each coarser bucket as it ends."""
    fine = counts[0]
    if fine.is_empty():
        return stream
    buckets = [frame.partition_by("bucket", as_dict=True) for frame in counts]
    first, last = int(fine.get_column("bucket").min()), int(fine.get_column("bucket").max())  # type: ignore[arg-type]
    if until_us is not None:
        last = until_us - 1 - (until_us - 1) % stream.bucket_us
    # The finest buckets that close a bucket with hashtags, at any scale; those between are empty.
    closing_counts = sorted(
        {bucket + scale.us - stream.bucket_us for scale, by_bucket in zip(stream.scales, buckets, strict=True)
         for (bucket,) in by_bucket}
    )  # fmt: skip
    start = first
    for closing_start in (b for b in closing_counts if b <= last):
        stream.close_quiet(start, closing_start)
        end = closing_start + stream.bucket_us
        closing = {}
        for level, scale in enumerate(stream.scales):  # `close_counts` takes the scales whose bucket ends here
            rows = buckets[level].get((end - scale.us,))
            closing[level] = None if rows is None else rows.drop("bucket")
        stream.close_counts(closing_start, closing)
        start = end
    for quiet_start in range(start, last + 1, stream.bucket_us):  # to the end asked for: no gap is over
        stream.close_counts(quiet_start, {})
    stream.next_bucket = last + stream.bucket_us
    return stream


def count_episodes(engine: Engine, episodes: list[Trend], tagged: str, params: list) -> None:
    """Each episode's posts and distinct accounts over [counted_from_us, counted_until_us), from the
    rows of `tagged` (`tagged_posts`)."""
    if not episodes:
        return
    engine.register(
        "episodes",
        pl.DataFrame(
            {
                "episode": range(len(episodes)),
                "tag": [e.hashtag for e in episodes],
                "from_us": [e.counted_from_us for e in episodes],
                "until_us": [e.counted_until_us for e in episodes],
            },
            schema={"episode": pl.Int64, "tag": pl.String, "from_us": pl.Int64, "until_us": pl.Int64},
        ),
    )
    counted = engine.frame(
        f"""SELECT e.episode, count(*) AS posts, count(DISTINCT p.author_id) AS accounts
            FROM ({tagged}) p JOIN episodes e ON p.tag = e.tag AND p.t >= e.from_us AND p.t < e.until_us
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
    """The trends shown beside a live stream (`swell watch`, `swell serve`): the defaults of `swell
    trends`, so that what a watcher saw is what the archive gives afterwards."""
    return TrendStream(scales=default_scales(bucket_min))
