"""How well trend detection does on posts whose onsets are known: delays and false alarms.

An onset is the hour a hashtag first has at least `ONSET_ACCOUNTS` distinct accounts and at least
`ONSET_FACTOR` times its mean per hour before (over every hour since the collection began, quiet
ones included): the start is in the data, whoever labels it. A detector flags an onset when an
episode of the hashtag is still trending at the onset or later; the delay runs from the start of
the onset hour to the episode's detection (0 when it was already trending). Every episode of a
hashtag without an onset, or not among the hashtags of interest, is a false alarm.

`onsets` finds the onsets in stored posts; `score` measures a stream's episodes against them;
`detection_simulation` makes a collection of any size with onsets of both shapes planted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from swell.engine import Engine
from swell.simulate import Campaign, Simulation
from swell.trends import Trend, tagged_posts

START = datetime(2024, 3, 1, tzinfo=UTC)
ONSET_ACCOUNTS = 10
ONSET_FACTOR = 3.0
_US_PER_HOUR = 3_600_000_000


def onsets(engine: Engine, tags: Iterable[str] | None = None, *, accounts: int = ONSET_ACCOUNTS,
           factor: float = ONSET_FACTOR) -> dict[str, int]:  # fmt: skip
    """The onset hour (its start, µs) of each hashtag that has one, among `tags` (default: all), in the
    engine's stored posts (reposts included, as trends count them)."""
    wanted = None if tags is None else sorted(set(tags))
    where, params = "TRUE", []
    if wanted is not None:
        where, params = "list_has_any(hashtags, ?)", [wanted]
    hourly = engine.frame(
        f"""SELECT tag, t - t % {_US_PER_HOUR} AS hour, count(DISTINCT author_id) AS accounts
            FROM ({tagged_posts(where, include_reposts=True)}) GROUP BY tag, hour""",
        params,
    )
    if hourly.is_empty():
        return {}
    if wanted is not None:
        hourly = hourly.filter(pl.col("tag").is_in(wanted))
    first_hour = int(engine.frame("SELECT min(epoch_us(created_at)) AS t FROM posts").item())
    first_hour -= first_hour % _US_PER_HOUR
    candidates = hourly.join(hourly.filter(pl.col("accounts") >= accounts).select("tag").unique(), on="tag", how="semi")
    found = (
        candidates.sort("tag", "hour")
        .with_columns(before=pl.col("accounts").cum_sum().over("tag") - pl.col("accounts"))
        .with_columns(mean=pl.col("before") / ((pl.col("hour") - first_hour) / _US_PER_HOUR).clip(lower_bound=1))
        .filter((pl.col("accounts") >= accounts) & (pl.col("accounts") >= factor * pl.col("mean")))
        .group_by("tag")
        .agg(onset=pl.col("hour").min())
    )
    return dict(found.iter_rows())


@dataclass
class Score:
    """Onsets flagged, how fast, and false alarms, for one detector on one collection."""

    delays_min: dict[str, float | None] = field(default_factory=dict)  # per onset; None: never flagged
    by_scale: dict[str, str] = field(default_factory=dict)  # per flagged onset: the scale that fired first
    false_alarms: list[Trend] = field(default_factory=list)
    days: float = 0.0

    @property
    def onsets(self) -> int:
        return len(self.delays_min)

    def within(self, minutes: float = 60.0) -> int:
        """Onsets flagged within `minutes` of the start of their onset hour."""
        return sum(1 for d in self.delays_min.values() if d is not None and d <= minutes)

    @property
    def missed(self) -> int:
        return sum(1 for d in self.delays_min.values() if d is None)

    @property
    def false_alarms_per_day(self) -> float:
        return len(self.false_alarms) / self.days if self.days else 0.0

    def merge(self, other: Score) -> Score:
        """Two collections' scores as one."""
        return Score(
            {**self.delays_min, **other.delays_min},
            {**self.by_scale, **other.by_scale},
            [*self.false_alarms, *other.false_alarms],
            self.days + other.days,
        )


def score(episodes: list[Trend], onset_hours: dict[str, int], *, days: float,
          interesting: Iterable[str] | None = None) -> Score:  # fmt: skip
    """Measure episodes against onsets over `days` of collection. `interesting` are the hashtags whose
    episodes are not false alarms (default: those with an onset); an interesting hashtag without an
    onset counts neither way."""
    spared = set(onset_hours if interesting is None else interesting) | set(onset_hours)
    result = Score(days=days)
    for tag, onset in onset_hours.items():
        alive = [e for e in episodes if e.hashtag == tag and e.last_us > onset]
        first = min(alive, key=lambda e: e.detected_us, default=None)
        result.delays_min[tag] = None if first is None else max(first.detected_us - onset, 0) / 60_000_000
        if first is not None:
            result.by_scale[tag] = first.as_dict()["scale"]
    result.false_alarms = [e for e in episodes if e.hashtag not in spared]
    return result


def detection_simulation(posts_per_hour: int, seed: int, *, hours: int = 48) -> Simulation:
    """A collection of `posts_per_hour` (a day of history, then the onsets) with three onsets planted
    from hour 26 on, eight hours apart (as many as fit in `hours`), the shape alternating from stream
    to stream:

    - sudden: a grassroots blast, 15 to 300 accounts joining over 10 to 40 minutes;
    - slow: a build over 6 to 48 hours, from 10 distinct accounts an hour growing to 30 to 150.

    Sizes, durations and peaks are drawn log-uniformly from `seed` and the size. Accounts and
    hashtags grow with the volume, as they do in real collections."""
    rng = np.random.default_rng([seed, posts_per_hour])
    campaigns = []
    for k in range(3):
        at = START + timedelta(hours=26 + 8 * k, minutes=int(rng.integers(0, 120)))
        if at >= START + timedelta(hours=hours - 2):
            break
        if (k + seed) % 2 == 0:
            accounts = int(math.exp(rng.uniform(math.log(15), math.log(300))))
            campaigns.append(Campaign("grassroots", f"Sudden{seed}x{k}", at, accounts, minutes=rng.uniform(10, 40)))
        else:
            build_h = math.exp(rng.uniform(math.log(6), math.log(48)))
            peak = math.exp(rng.uniform(math.log(30), math.log(150)))
            accounts = round((peak - 10) * build_h / math.log(peak / 10))  # 10 an hour, growing to the peak
            campaigns.append(Campaign("slow", f"Slow{seed}x{k}", at, accounts, minutes=build_h * 60))
    return Simulation(
        start=START,
        hours=hours,
        posts_per_hour=posts_per_hour,
        accounts=max(5_000, posts_per_hour * 5 // 2),
        hashtags=max(5_000, posts_per_hour // 5),
        seed=seed,
        campaigns=campaigns,
    )
