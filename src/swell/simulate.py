"""Synthetic post streams with planted campaigns, for tests, demos and evaluation.

The background is made to look like a real hashtag stream: hashtag popularity is Zipf-distributed,
volume follows a daily cycle, account activity is heavy-tailed (a few accounts post a lot), and a
share of posts are reposts of recent posts. Onto it, campaigns are planted and recorded:

- grassroots: many independent accounts join over minutes (a ramp, not a step), each posts once or
  twice with its own words, and some repost what others posted minutes earlier;
- slow: the same, but accounts join over hours, from 10 an hour, at a rate that grows steadily
  (a story that builds over an afternoon or two days, not a blast);
- coordinated: a small set of accounts posts in bursts, all within seconds of each other, with
  identical or near-identical text, and reposts the burst's first post within seconds.

`stream` builds the stream an hour at a time as Arrow tables in the unified post schema (vectorised,
so that benchmarks can make tens of millions of posts, in memory that follows the hour); `generate`
gives it as one table. `write_twitter_v1`, `write_jetstream` and `write_mastodon` serialise either in
those platforms' shapes, so that it also runs through the real readers.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from swell.model import POST_SCHEMA
from swell.normalise import normalize_hashtag
from swell.times import datetime_to_us, us_to_datetime

KINDS = ("grassroots", "coordinated", "slow")
SLOW_START_PER_HOUR = 10.0  # accounts joining a slow build in its first hour
_WORDS = (
    "we are here today for the vote now people city march never again stand together justice truth "
    "media rally support change voice future our rights free speech join share watch live news call"
).split()
_PHRASES = (
    "Stand with us today",
    "The truth they will not tell you",
    "Everyone needs to see this",
    "This is what democracy looks like",
)
_US = 1_000_000
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_TAGS = pa.list_(pa.string())


@dataclass
class Campaign:
    """A planted campaign: `kind` is "grassroots", "coordinated" or "slow"."""

    kind: str
    hashtag: str
    start: datetime
    accounts: int = 300
    # grassroots and slow: how long accounts keep joining; coordinated: the span of the bursts.
    # Default: 30 minutes, a day for a slow build.
    minutes: float | None = None
    bursts: int = 6  # coordinated only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"campaign kind must be one of {KINDS}, not {self.kind!r}")
        if self.minutes is None:
            self.minutes = 1440.0 if self.kind == "slow" else 30.0
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)

    @property
    def duration_min(self) -> float:
        """How long the campaign runs, in minutes (`minutes`, or its default for the kind)."""
        if self.minutes is None:
            return 1440.0 if self.kind == "slow" else 30.0
        return self.minutes

    @classmethod
    def parse(cls, spec: str) -> Campaign:
        """A campaign from `KIND:HASHTAG@TIME[/ACCOUNTS]`, e.g. `grassroots:FreeThePress@2024-03-01T17:00/400`
        (the time in ISO 8601, UTC unless a zone is given)."""
        try:
            kind, rest = spec.split(":", 1)
            tag, rest = rest.rsplit("@", 1)
            when, _, accounts = rest.partition("/")
            start = datetime.fromisoformat(when)
            return cls(kind, tag.lstrip("#"), start, **({"accounts": int(accounts)} if accounts else {}))
        except ValueError as exc:
            raise ValueError(f"{spec!r}: expected KIND:HASHTAG@TIME[/ACCOUNTS] ({exc})") from None


@dataclass
class Simulation:
    start: datetime = datetime(2024, 3, 1, tzinfo=UTC)
    hours: float = 24.0
    posts_per_hour: float = 20_000  # background, averaged over the daily cycle
    accounts: int = 50_000
    hashtags: int = 20_000  # size of the background hashtag vocabulary
    zipf: float = 1.1  # popularity exponent of hashtags
    # Activity exponent of accounts: the busiest 1% of accounts write about a sixth of the posts.
    account_zipf: float = 0.6
    tagged_share: float = 0.5  # background posts with at least one hashtag
    repost_share: float = 0.25
    # Reposts that go to the hour's viral posts instead of a recent one: a few originals an hour take off
    # and are reposted for hours (cascades), the hard case for telling coordination from popularity.
    viral_share: float = 0.0
    daily_amplitude: float = 0.5  # volume swings by +-50% over the day, lowest at 04:00 UTC
    seed: int = 0
    campaigns: list[Campaign] = field(default_factory=list)


def _zipf_choice(rng: np.random.Generator, n_items: int, exponent: float, size: int) -> np.ndarray:
    """Indices in [0, n_items) drawn with probability proportional to 1 / (rank ** exponent)."""
    weights = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    return np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right").clip(0, n_items - 1)


def _joins_over_minutes(rng: np.random.Generator, c: Campaign) -> np.ndarray:
    """When each account of a grassroots campaign joins (minutes after the start): a ramp that peaks
    a quarter of the way through."""
    return rng.gamma(2.0, c.duration_min / 4, c.accounts)


def _joins_over_hours(rng: np.random.Generator, c: Campaign) -> np.ndarray:
    """When each account of a slow build joins (minutes after the start): at a rate that starts at
    SLOW_START_PER_HOUR and grows exponentially so that all have joined by the end (constant when
    there are too few accounts to grow)."""
    start, span, n = SLOW_START_PER_HOUR / 60, c.duration_min, c.accounts
    u = rng.random(n)
    if n <= start * span:
        return u * span
    # n = start * (exp(g * span) - 1) / g; solved for the growth g by bisection on a monotone function.
    low, high = 1e-9, 50 / span
    for _ in range(100):
        g = (low + high) / 2
        low, high = (g, high) if start * np.expm1(g * span) / g < n else (low, g)
    return np.log1p(g * n * u / start) / g


def _grassroots(rng: np.random.Generator, c: Campaign, index: int) -> tuple[list, dict]:
    start_us = datetime_to_us(c.start)
    joins = _joins_over_hours(rng, c) if c.kind == "slow" else _joins_over_minutes(rng, c)
    join = start_us + (joins * 60 * _US).astype(np.int64)
    accounts = [f"{'sl' if c.kind == 'slow' else 'gr'}{index}-{i}" for i in range(c.accounts)]
    posts = []  # (time, author, text, ref_position)
    for account, t in zip(accounts, join, strict=True):
        for k in range(1 + rng.poisson(0.5)):
            when = int(t + k * rng.exponential(10 * 60) * _US)
            words = " ".join(rng.choice(_WORDS, rng.integers(5, 14)))
            posts.append((when, account, f"{words} #{c.hashtag}", -1))
    posts.sort()
    for i in range(len(posts)):  # a third are reposts of something posted minutes before
        if i > 10 and rng.random() < 0.3:
            target = int(rng.integers(0, i))
            if posts[target][3] >= 0:  # a repost of a repost points at the original
                target = posts[target][3]
            when = posts[target][0] + int(rng.exponential(5 * 60) * _US)
            posts[i] = (max(when, posts[i][0]), posts[i][1], posts[target][2], target)
    truth = {"kind": c.kind, "hashtag": c.hashtag, "start": c.start.isoformat(), "accounts": accounts}
    return posts, truth


def _coordinated(rng: np.random.Generator, c: Campaign, index: int) -> tuple[list, dict]:
    start_us = datetime_to_us(c.start)
    accounts = [f"co{index}-{i}" for i in range(c.accounts)]
    posts: list[tuple] = []
    for b in range(c.bursts):
        burst_at = start_us + int(b * c.duration_min * 60 / max(c.bursts - 1, 1) * _US)
        phrase = _PHRASES[(index + b) % len(_PHRASES)]
        seed_position = len(posts)
        posts.append((burst_at, accounts[0], f"{phrase} #{c.hashtag}", -1))
        for account in accounts[1:]:
            delay = int(rng.uniform(0.5, 15) * _US)
            if rng.random() < 0.5:  # the same text, give or take a trailing mark
                suffix = "" if rng.random() < 0.7 else rng.choice(["!", "!!", " 🔥"])
                posts.append((burst_at + delay, account, f"{phrase} #{c.hashtag}{suffix}", -1))
            else:  # or a repost of the burst's first post
                posts.append((burst_at + delay, account, posts[seed_position][2], seed_position))
    truth = {"kind": c.kind, "hashtag": c.hashtag, "start": c.start.isoformat(), "accounts": accounts}
    return posts, truth


@dataclass
class _Planted:
    """Every campaign post, in time order: time, author, text, tag, and the original a repost points
    at (an index into these lists, or -1). Small: campaigns are thousands of posts, not millions."""

    times: np.ndarray
    authors: list[str]
    texts: list[str]
    tags: list[str]
    refs: np.ndarray


def _plant(rng: np.random.Generator, sim: Simulation, start_us: int, end_us: int) -> tuple[_Planted, list[dict]]:
    """The campaigns' posts inside [start_us, end_us) and their truth (the accounts that posted in the
    window). A campaign must start inside the window; its posts after the window's end are not
    written (nor reposts of posts left out)."""
    rows: list[tuple] = []  # (time, author, text, tag, ref into rows)
    truth = []
    for i, c in enumerate(sim.campaigns):
        if not start_us <= datetime_to_us(c.start) < end_us:
            raise ValueError(
                f"the {c.kind} campaign #{c.hashtag} starts at {c.start.isoformat()}, outside the simulated "
                f"{sim.hours:g} hours from {sim.start.isoformat()}"
            )
        posts, t = (_coordinated if c.kind == "coordinated" else _grassroots)(rng, c, i)
        base, tag = len(rows), normalize_hashtag(c.hashtag)  # as the readers store it
        rows.extend((when, who, text, tag, base + r if r >= 0 else -1) for when, who, text, r in posts)
        truth.append(t)
    kept = [r[0] < end_us for r in rows]
    for i, row in enumerate(rows):  # a repost of a post left out is left out too (originals come first)
        kept[i] = kept[i] and (row[4] < 0 or kept[row[4]])
    order = sorted((i for i in range(len(rows)) if kept[i]), key=lambda i: (rows[i][0], i))
    position = {old: new for new, old in enumerate(order)}
    posted = {rows[i][1] for i in order}
    for t in truth:  # the accounts that post in the window (all of them, unless it ends mid-campaign)
        t["accounts"] = [a for a in t["accounts"] if a in posted]
    return (
        _Planted(
            times=np.array([rows[i][0] for i in order], dtype=np.int64),
            authors=[rows[i][1] for i in order],
            texts=[rows[i][2] for i in order],
            tags=[rows[i][3] for i in order],
            refs=np.array([position[rows[i][4]] if rows[i][4] >= 0 else -1 for i in order], dtype=np.int64),
        ),
        truth,
    )


def _account_creation(sim: Simulation, truth: list[dict]) -> tuple[np.ndarray, dict[str, int]]:
    """When each account was created: organic accounts (by rank) at any time in the 15 years before
    the stream, a coordinated campaign's accounts within two weeks of each other, a month before it
    (as batches of sock puppets are). Drawn from a generator of its own, so the posts do not depend
    on it."""
    rng = np.random.default_rng([sim.seed, 1])
    start_us = datetime_to_us(sim.start)
    day = 86_400 * _US
    organic = start_us - rng.integers(1, 15 * 365, sim.accounts) * day
    planted: dict[str, int] = {}
    for c, t in zip(sim.campaigns, truth, strict=True):
        batch_us = datetime_to_us(c.start) - 30 * day
        for account in t["accounts"]:
            if c.kind == "coordinated":
                planted[account] = int(batch_us + rng.integers(0, 14 * day))
            else:
                planted[account] = int(start_us - rng.integers(1, 15 * 365) * day)
    return organic, planted


_CHUNK_MINUTES = 60  # generated and written an hour at a time
_REACH = 4096  # how many background posts back a background repost can point (200 on average)
_VIRAL_PER_CHUNK = 8  # originals that go viral in an hour (when `viral_share` > 0) ...
_VIRAL_KEPT = 48  # ... and stay reposted for six hours
# Beyond POST_SCHEMA, each chunk carries what a writer needs to embed a repost's original.
_ORIGINAL_COLUMNS = {
    "ref_created_at": _TIMESTAMP,
    "ref_author_created_at": _TIMESTAMP,
}


def stream(sim: Simulation) -> tuple[list[dict], Iterator[pa.Table]]:
    """The planted campaigns' truth, and the posts an hour at a time, in time order: tables in
    POST_SCHEMA plus the time and account creation time of each repost's original (for the writers).
    Memory follows the hour, not the stream: a day of a million posts is written in constant memory.

    Post ids are `sim:N`, N counting the posts in time order. Raises ValueError for a campaign that
    starts outside the simulated window.
    """
    rng = np.random.default_rng(sim.seed)
    start_us = datetime_to_us(sim.start)
    end_us = start_us + round(sim.hours * 3600 * _US)
    planted, truth = _plant(rng, sim, start_us, end_us)
    return truth, _chunks(rng, sim, planted, _account_creation(sim, truth), start_us, end_us)


def generate(sim: Simulation) -> tuple[pa.Table, list[dict]]:
    """The whole stream as one table in POST_SCHEMA, sorted by time, and the planted campaigns' truth."""
    truth, chunks = stream(sim)
    tables = [chunk.select(POST_SCHEMA.names) for chunk in chunks]
    return (pa.concat_tables(tables) if tables else POST_SCHEMA.empty_table()), truth


def _chunks(
    rng: np.random.Generator,
    sim: Simulation,
    planted: _Planted,
    created: tuple[np.ndarray, dict[str, int]],
    start_us: int,
    end_us: int,
) -> Iterator[pa.Table]:
    organic_created, planted_created = created
    words = np.array(_WORDS, dtype=object)
    # People do not write the same sentence word for word: a pool sentence and a word of their own.
    sentences = pa.array([" ".join(row) for row in words[rng.integers(0, len(words), (4096, 7))]], pa.string())
    recent = _Recent.empty()  # the background originals that reposts in the next chunks can point at
    viral = _Recent.empty()  # the viral originals of the last hours, newest first
    planted_ids = np.empty(len(planted.times), dtype=object)  # filled as campaign posts are written
    counter = 0
    for chunk_start in range(start_us, end_us, _CHUNK_MINUTES * 60 * _US):
        chunk_end = min(chunk_start + _CHUNK_MINUTES * 60 * _US, end_us)
        times = _background_times(rng, sim, chunk_start, chunk_end)
        first, last = np.searchsorted(planted.times, [chunk_start, chunk_end])
        # Ids count posts in time order; campaign posts go after background posts of the same time.
        all_times = np.concatenate([times, planted.times[first:last]])
        order = np.argsort(all_times, kind="stable")
        ids = np.empty(len(all_times), dtype=object)
        ids[order] = np.char.add("sim:", np.arange(counter, counter + len(all_times)).astype(str)).astype(object)
        counter += len(all_times)
        planted_ids[first:last] = ids[len(times) :]
        background, recent, viral = _background_chunk(
            rng, sim, times, ids[: len(times)], (recent, viral), organic_created, sentences
        )
        campaign = _planted_chunk(planted, first, last, planted_ids, planted_created)
        yield pa.concat_tables([background, campaign]).take(pa.array(order))


def _background_times(rng: np.random.Generator, sim: Simulation, start_us: int, end_us: int) -> np.ndarray:
    """Post times (µs) in [start_us, end_us) with a daily cycle: Poisson counts per minute around a
    sinusoidal rate."""
    t = np.arange(start_us, end_us, 60 * _US)
    hour_of_day = (t // _US % 86_400) / 3600.0
    rate = sim.posts_per_hour / 60.0 * (1 + sim.daily_amplitude * np.sin(2 * np.pi * (hour_of_day - 10) / 24))
    counts = rng.poisson(rate)
    times = np.repeat(t, counts) + rng.integers(0, 60 * _US, counts.sum())
    return np.sort(times[times < end_us])


@dataclass
class _Recent:
    """Background posts as reposts see them: each post's original (itself, unless it is a repost)."""

    ids: np.ndarray
    authors: np.ndarray
    times: np.ndarray
    author_created: np.ndarray
    texts: np.ndarray
    tags: pa.ListArray

    @classmethod
    def empty(cls) -> _Recent:
        nothing = np.empty(0, dtype=object)
        return cls(nothing, nothing, np.empty(0, np.int64), np.empty(0, np.int64), nothing, pa.array([], _TAGS))

    def __len__(self) -> int:
        return len(self.ids)

    def then(self, more: _Recent) -> _Recent:
        """These posts followed by `more`."""
        return _Recent(
            np.concatenate([self.ids, more.ids]),
            np.concatenate([self.authors, more.authors]),
            np.concatenate([self.times, more.times]),
            np.concatenate([self.author_created, more.author_created]),
            np.concatenate([self.texts, more.texts]),
            pa.concat_arrays([self.tags, more.tags]),
        )

    def take(self, positions: np.ndarray) -> _Recent:
        return _Recent(
            self.ids[positions],
            self.authors[positions],
            self.times[positions],
            self.author_created[positions],
            self.texts[positions],
            self.tags.take(pa.array(positions)),
        )


def _background_chunk(
    rng: np.random.Generator,
    sim: Simulation,
    times: np.ndarray,
    ids: np.ndarray,
    remembered: tuple[_Recent, _Recent],
    organic_created: np.ndarray,
    sentences: pa.Array,
) -> tuple[pa.Table, _Recent, _Recent]:
    """A chunk of background posts (Zipf authors and hashtags, a share of reposts of recent posts,
    which carry their original's text and hashtags), and the originals the next chunk can repost:
    recent ones, and the viral ones of the last hours."""
    recent, viral = remembered
    n = len(times)
    authors = _zipf_choice(rng, sim.accounts, sim.account_zipf, n)
    n_tags = np.where(rng.random(n) < sim.tagged_share, rng.choice([1, 1, 1, 2, 2, 3], n), 0)
    offsets = np.concatenate([[0], np.cumsum(n_tags)]).astype(np.int32)
    ranks = _zipf_choice(rng, sim.hashtags, sim.zipf, int(offsets[-1]))
    names = pc.binary_join_element_wise("t", pa.array(ranks).cast(pa.string()), "")
    texts = pc.binary_join_element_wise(
        sentences.take(pa.array(rng.integers(0, len(sentences), n))),
        pc.binary_join_element_wise("w", pa.array(rng.integers(0, 10**9, n)).cast(pa.string()), ""),
        " ",
    )
    own = _Recent(
        ids=ids,
        authors=np.char.add("u", authors.astype(str)).astype(object),
        times=times,
        author_created=organic_created[authors],
        texts=texts.to_numpy(zero_copy_only=False),
        tags=pa.ListArray.from_arrays(pa.array(offsets), names),
    )
    # A repost points at an earlier post, mostly a recent one; a repost of a repost at the original.
    # Positions count the remembered posts of earlier chunks, then this chunk's.
    before = len(recent)
    position = np.arange(before, before + n)
    target = position - np.minimum(rng.geometric(1 / 200, n), _REACH)
    is_repost = (rng.random(n) < sim.repost_share) & (target >= 0)
    target = np.where(is_repost, target, position)
    while np.any(chained := (target >= before) & is_repost[np.maximum(target - before, 0)]):
        target = np.where(chained, target[np.maximum(target - before, 0)], target)
    # Viral reposts pick among the viral posts of the last hours, the newest the likeliest (Zipf by age).
    # Without them no random number is drawn, so that a simulation stays the same for a given seed.
    if sim.viral_share > 0 and len(viral):
        goes_viral = is_repost & (rng.random(n) < sim.viral_share)
        target = np.where(goes_viral, before + n + _zipf_choice(rng, len(viral), 1.0, n), target)
    originals = recent.then(own).then(viral).take(target)
    table = _table(
        ids=ids,
        times=times,
        authors=own.authors,
        author_created=own.author_created,
        texts=originals.texts,
        tags=originals.tags,
        is_repost=is_repost,
        ref_ids=originals.ids,
        ref_authors=originals.authors,
        ref_times=originals.times,
        ref_author_created=originals.author_created,
    )
    keep = recent.then(originals)
    if sim.viral_share > 0:
        seeds = rng.choice(np.flatnonzero(~is_repost), min(_VIRAL_PER_CHUNK, int((~is_repost).sum())), replace=False)
        viral = own.take(seeds).then(viral)
    return (
        table,
        keep.take(np.arange(max(len(keep) - _REACH, 0), len(keep))),
        viral.take(np.arange(min(len(viral), _VIRAL_KEPT))),
    )


def _planted_chunk(planted: _Planted, first: int, last: int, ids: np.ndarray, created: dict[str, int]) -> pa.Table:
    """The campaign posts of a chunk (positions first to last of `planted`)."""
    refs = planted.refs[first:last]
    authors = planted.authors[first:last]
    originals = np.where(refs >= 0, refs, np.arange(first, last))
    return _table(
        ids=ids[first:last],
        times=planted.times[first:last],
        authors=authors,
        author_created=[created[a] for a in authors],
        texts=planted.texts[first:last],
        tags=[[planted.tags[i]] for i in range(first, last)],
        is_repost=refs >= 0,
        ref_ids=ids[originals],
        ref_authors=[planted.authors[o] for o in originals],
        ref_times=planted.times[originals],
        ref_author_created=[created[planted.authors[o]] for o in originals],
    )


def _table(*, ids, times, authors, author_created, texts, tags, is_repost, ref_ids, ref_authors, ref_times,
           ref_author_created) -> pa.Table:  # fmt: skip
    """Posts in POST_SCHEMA plus `_ORIGINAL_COLUMNS`; the ref_* columns are kept for reposts only."""
    n = len(ids)
    repost = pa.array(is_repost, pa.bool_())

    def of_reposts(values, kind) -> pa.Array:
        return pc.if_else(repost, pa.array(values, kind), pa.nulls(n, kind))

    return pa.table(
        {
            "post_id": pa.array(ids, pa.string()),
            "platform": pa.array(["sim"] * n, pa.string()),
            "created_at": pa.array(times, _TIMESTAMP),
            "author_id": pa.array(authors, pa.string()),
            "author_handle": pa.array(authors, pa.string()),
            "text": pa.array(texts, pa.string()),
            "lang": pa.array(["en"] * n, pa.string()),
            "kind": pc.if_else(repost, "repost", "post"),
            "ref_post_id": of_reposts(ref_ids, pa.string()),
            "ref_author_id": of_reposts(ref_authors, pa.string()),
            "hashtags": tags if isinstance(tags, pa.Array) else pa.array(tags, _TAGS),
            "urls": pa.array([[]] * n, pa.list_(pa.string())),
            "mentions": pa.array([[]] * n, pa.list_(pa.string())),
            "author_followers": pa.nulls(n, pa.int64()),
            "author_created_at": pa.array(author_created, _TIMESTAMP),
            "source": pa.array(["simulate"] * n, pa.string()),
            "ref_created_at": of_reposts(ref_times, _TIMESTAMP),
            "ref_author_created_at": of_reposts(ref_author_created, _TIMESTAMP),
        },
        schema=pa.schema([*POST_SCHEMA, *(pa.field(k, t) for k, t in _ORIGINAL_COLUMNS.items())]),
    )


# --- writers: the same stream in platform shapes, to run through the real readers --------------------

Posts: TypeAlias = pa.Table | Iterable[pa.Table]  # a whole stream (`generate`), or its chunks (`stream`)
Target: TypeAlias = Path | BinaryIO  # a file to write, or a binary stream (standard output)


@contextlib.contextmanager
def _opened(target: Target) -> Iterator[BinaryIO]:
    if isinstance(target, Path):
        with target.open("wb") as out:
            yield out
    else:
        yield target


def _rows(posts: Posts) -> Iterator[dict]:
    """The posts as dicts, a batch at a time (never the whole stream as Python objects)."""
    for table in [posts] if isinstance(posts, pa.Table) else posts:
        if "ref_created_at" not in table.column_names:
            table = _with_original_times(table)
        for batch in table.to_batches(max_chunksize=10_000):
            yield from batch.to_pylist()


def _with_original_times(table: pa.Table) -> pa.Table:
    """A whole stream in POST_SCHEMA with `_ORIGINAL_COLUMNS`, found by looking each original up."""
    where = pc.index_in(table.column("ref_post_id"), value_set=table.column("post_id"))
    for name, column in (("ref_created_at", "created_at"), ("ref_author_created_at", "author_created_at")):
        table = table.append_column(name, table.column(column).take(where))
    return table


def _original(repost: dict) -> dict:
    """A repost's original, from what the repost row carries (its text and hashtags are the original's)."""
    return repost | {
        "post_id": repost["ref_post_id"],
        "author_id": repost["ref_author_id"],
        "created_at": repost["ref_created_at"],
        "author_created_at": repost["ref_author_created_at"],
        "kind": "post",
    }


def _with_hashtags(text: str, tags: list[str]) -> str:
    """Background texts carry their hashtags only in the hashtags column; put them in the text."""
    missing = [t for t in tags if f"#{t}" not in text.casefold()]
    return " ".join([text, *(f"#{t}" for t in missing)]) if missing else text


def _number(post_id: str) -> int:
    return int(post_id.removeprefix("sim:"))


def _twitter_time(us: int) -> str:
    return us_to_datetime(us).strftime("%a %b %d %H:%M:%S +0000 %Y")


def _v1_status(row: dict, text: str) -> dict:
    created = datetime_to_us(row["created_at"])
    hashtags = []
    for tag in row["hashtags"]:
        at = text.casefold().find(f"#{tag}")
        hashtags.append({"text": tag, "indices": [at, at + len(tag) + 1]})
    author = row["author_id"]
    return {
        "created_at": _twitter_time(created),
        "id": 10**17 + _number(row["post_id"]),
        "id_str": str(10**17 + _number(row["post_id"])),
        "text": text,
        "user": {
            "id_str": author,
            "screen_name": author,
            "followers_count": 100,
            "created_at": _twitter_time(datetime_to_us(row["author_created_at"])),
        },
        "entities": {"hashtags": hashtags, "urls": [], "user_mentions": []},
        "lang": row["lang"],
        "timestamp_ms": str(created // 1000),
    }


def write_twitter_v1(posts: Posts, path: Target) -> int:
    """The stream as X/Twitter API v1.1 JSON lines; a repost embeds its original (`retweeted_status`)."""
    n = 0
    with _opened(path) as out:
        for row in _rows(posts):
            n += 1
            text = _with_hashtags(row["text"], row["hashtags"])
            if row["kind"] == "repost":
                original = _v1_status(_original(row), text)
                status = _v1_status(row, f"RT @{original['user']['screen_name']}: {original['text']}"[:140])
                status["retweeted_status"] = original
            else:
                status = _v1_status(row, text)
            out.write(orjson.dumps(status) + b"\n")
    return n


def did(author_id: str) -> str:
    """The Bluesky account id a simulated author gets in Jetstream output."""
    return f"did:plc:{author_id}"


def _rkey(post_id: str) -> str:
    return f"3sim{_number(post_id):010d}"


def write_jetstream(posts: Posts, path: Target) -> int:
    """The stream as Bluesky Jetstream events (post and repost creates), one per line."""
    n = 0
    with _opened(path) as out:
        for row in _rows(posts):
            n += 1
            time_us = datetime_to_us(row["created_at"])
            created = row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if row["kind"] == "repost":
                subject = f"at://{did(row['ref_author_id'])}/app.bsky.feed.post/{_rkey(row['ref_post_id'])}"
                collection = "app.bsky.feed.repost"
                record = {"$type": collection, "subject": {"uri": subject, "cid": "bafysim"}, "createdAt": created}
            else:
                collection = "app.bsky.feed.post"
                text = _with_hashtags(row["text"], row["hashtags"])
                encoded = text.encode()
                facets = []
                for tag in row["hashtags"]:
                    start = encoded.find(f"#{tag}".encode())
                    facets.append(
                        {
                            "index": {"byteStart": start, "byteEnd": start + len(f"#{tag}".encode())},
                            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
                        }
                    )
                record = {
                    "$type": collection,
                    "text": text,
                    "createdAt": created,
                    "langs": [row["lang"]],
                    "facets": facets,
                }
            event = {
                "did": did(row["author_id"]),
                "time_us": time_us,
                "kind": "commit",
                "commit": {
                    "rev": _rkey(row["post_id"]),
                    "operation": "create",
                    "collection": collection,
                    "rkey": _rkey(row["post_id"]),
                    "record": record,
                    "cid": "bafysim",
                },
            }
            out.write(orjson.dumps(event) + b"\n")
    return n


MASTODON_HOST = "https://sim.example"


def _mastodon_status(row: dict, text: str) -> dict:
    """A status; its local id grows with time, as Mastodon's do (posts are numbered in time order)."""
    author, local_id = row["author_id"], 10**15 + _number(row["post_id"])
    words = [
        f'<a href="{MASTODON_HOST}/tags/{w[1:].lower()}" class="mention hashtag" rel="tag">#<span>{w[1:]}</span></a>'
        if w.startswith("#")
        else html.escape(w)
        for w in text.split(" ")
    ]
    return {
        "id": str(local_id),
        "uri": f"{MASTODON_HOST}/users/{author}/statuses/{local_id}",
        "url": f"{MASTODON_HOST}/@{author}/{local_id}",
        "created_at": row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "account": {
            "id": author,
            "username": author,
            "acct": author,
            "url": f"{MASTODON_HOST}/@{author}",
            "created_at": row["author_created_at"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        },
        "content": f"<p>{' '.join(words)}</p>",
        "tags": [{"name": t, "url": f"{MASTODON_HOST}/tags/{t}"} for t in row["hashtags"]],
        "language": row["lang"],
        "visibility": "public",
        "in_reply_to_id": None,
        "mentions": [],
        "reblog": None,
    }


def write_mastodon(posts: Posts, path: Target) -> int:
    """The stream as Mastodon `Status` objects, one per line, as the REST timelines and the streaming
    API's `update` events carry them; a reblog embeds its original."""
    n = 0
    with _opened(path) as out:
        for row in _rows(posts):
            n += 1
            text = _with_hashtags(row["text"], row["hashtags"])
            if row["kind"] == "repost":
                status = _mastodon_status(row, "")
                status["reblog"] = _mastodon_status(_original(row), text)
                status["content"], status["tags"] = "", []
            else:
                status = _mastodon_status(row, text)
            out.write(orjson.dumps(status) + b"\n")
    return n


WRITERS = {"twitter-v1": write_twitter_v1, "jetstream": write_jetstream, "mastodon": write_mastodon}


def default_campaigns(start: datetime, hours: float = 24.0) -> list[Campaign]:
    """The demo: a grassroots blast at 17:00 UTC and a coordinated push at 09:00 on the first day,
    each where it falls inside the simulated `hours` from `start`."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=hours)
    demo = [
        Campaign("grassroots", "FreeThePress", day + timedelta(hours=17), accounts=400),
        Campaign("coordinated", "PressLies", day + timedelta(hours=9), accounts=40),
    ]
    return [c for c in demo if start <= c.start < end]
