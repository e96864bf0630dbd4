"""Synthetic post streams with planted campaigns, for tests, demos and evaluation.

The background is made to look like a real hashtag stream: hashtag popularity is Zipf-distributed,
volume follows a daily cycle, account activity is heavy-tailed (a few accounts post a lot), and a
share of posts are reposts of recent posts. Onto it, campaigns are planted and recorded:

- grassroots: many independent accounts join over minutes (a ramp, not a step), each posts once or
  twice with its own words, and some repost what others posted minutes earlier;
- coordinated: a small set of accounts posts in bursts, all within seconds of each other, with
  identical or near-identical text, and reposts the burst's first post within seconds.

`generate` builds the stream as an Arrow table in the unified post schema (vectorised, so that
benchmarks can make tens of millions of posts); `write_twitter_v1` and `write_jetstream` serialise it
in those platforms' shapes so that it also runs through the real readers.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from swell.model import POST_SCHEMA, datetime_to_us, normalize_hashtag, us_to_datetime

KINDS = ("grassroots", "coordinated")
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


@dataclass
class Campaign:
    """A planted campaign: `kind` is "grassroots" or "coordinated"."""

    kind: str
    hashtag: str
    start: datetime
    accounts: int = 300
    minutes: float = 30.0  # grassroots: how long accounts keep joining; coordinated: span of the bursts
    bursts: int = 6  # coordinated only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"campaign kind must be one of {KINDS}, not {self.kind!r}")
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)


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
    daily_amplitude: float = 0.5  # volume swings by +-50% over the day, lowest at 04:00 UTC
    seed: int = 0
    campaigns: list[Campaign] = field(default_factory=list)


def _zipf_choice(rng: np.random.Generator, n_items: int, exponent: float, size: int) -> np.ndarray:
    """Indices in [0, n_items) drawn with probability proportional to 1 / (rank ** exponent)."""
    weights = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    return np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right").clip(0, n_items - 1)


def _background_times(rng: np.random.Generator, sim: Simulation) -> np.ndarray:
    """Post times (µs) with a daily cycle: Poisson counts per minute around a sinusoidal rate."""
    start_us = datetime_to_us(sim.start)
    minutes = math.ceil(sim.hours * 60)
    t = start_us + np.arange(minutes) * 60 * _US
    hour_of_day = (t // _US % 86_400) / 3600.0
    rate = sim.posts_per_hour / 60.0 * (1 + sim.daily_amplitude * np.sin(2 * np.pi * (hour_of_day - 10) / 24))
    counts = rng.poisson(rate)
    times = np.repeat(t, counts) + rng.integers(0, 60 * _US, counts.sum())
    return np.sort(times)


def _background(rng: np.random.Generator, sim: Simulation) -> tuple[np.ndarray, np.ndarray, pa.ListArray, np.ndarray]:
    """Times, author ranks, hashtag lists and repost targets (index or -1) of the background posts."""
    times = _background_times(rng, sim)
    n = len(times)
    authors = _zipf_choice(rng, sim.accounts, sim.account_zipf, n)
    n_tags = np.where(rng.random(n) < sim.tagged_share, rng.choice([1, 1, 1, 2, 2, 3], n), 0)
    offsets = np.concatenate([[0], np.cumsum(n_tags)]).astype(np.int32)
    ranks = _zipf_choice(rng, sim.hashtags, sim.zipf, int(offsets[-1]))
    names = pc.binary_join_element_wise("t", pa.array(ranks).cast(pa.string()), "")
    tags = pa.ListArray.from_arrays(pa.array(offsets), names)
    # A repost points at an earlier post, mostly a recent one, and carries its hashtags.
    is_repost = (rng.random(n) < sim.repost_share) & (np.arange(n) > 0)
    back = np.minimum(rng.geometric(1 / 200, n), np.arange(n))
    ref = np.where(is_repost, np.arange(n) - back, -1)
    # a repost of a repost points at the original, as on the platforms
    while np.any(chained := (ref >= 0) & (ref[np.maximum(ref, 0)] >= 0)):
        ref = np.where(chained, ref[np.maximum(ref, 0)], ref)
    return times, authors, tags, ref


def _grassroots(rng: np.random.Generator, c: Campaign, index: int) -> tuple[list, dict]:
    start_us = datetime_to_us(c.start)
    join = start_us + (rng.gamma(2.0, c.minutes / 4, c.accounts) * 60 * _US).astype(np.int64)
    accounts = [f"gr{index}-{i}" for i in range(c.accounts)]
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
    posts = []
    for b in range(c.bursts):
        burst_at = start_us + int(b * c.minutes * 60 / max(c.bursts - 1, 1) * _US)
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


def generate(sim: Simulation) -> tuple[pa.Table, list[dict]]:
    """The stream as a table in POST_SCHEMA, sorted by time, and the planted campaigns' truth."""
    rng = np.random.default_rng(sim.seed)
    times, authors, tags, ref = _background(rng, sim)
    n = len(times)
    author_ids = np.char.add("u", authors.astype(str))
    words = np.array(_WORDS, dtype=object)
    sentences = np.array([" ".join(row) for row in words[rng.integers(0, len(words), (4096, 7))]], dtype=object)
    # People do not write the same sentence word for word: a pool sentence and a word of their own.
    texts = pc.binary_join_element_wise(
        pa.array(sentences[rng.integers(0, len(sentences), n)], pa.string()),
        pc.binary_join_element_wise("w", pa.array(rng.integers(0, 10**9, n)).cast(pa.string()), ""),
        " ",
    ).to_numpy(zero_copy_only=False)

    campaign_rows: list[tuple] = []
    truth = []
    for i, c in enumerate(sim.campaigns):
        posts, t = (_grassroots if c.kind == "grassroots" else _coordinated)(rng, c, i)
        base = n + len(campaign_rows)
        tag = normalize_hashtag(c.hashtag)  # as the readers store it
        campaign_rows.extend((when, who, text, base + r if r >= 0 else -1, tag) for when, who, text, r in posts)
        truth.append(t)

    all_times = np.concatenate([times, np.array([r[0] for r in campaign_rows], dtype=np.int64)])
    all_authors = np.concatenate([author_ids.astype(object), np.array([r[1] for r in campaign_rows], dtype=object)])
    all_texts = np.concatenate([texts, np.array([r[2] for r in campaign_rows], dtype=object)])
    all_refs = np.concatenate([ref, np.array([r[3] for r in campaign_rows], dtype=np.int64)])
    campaign_tags = pa.array([[r[4]] for r in campaign_rows], type=pa.list_(pa.string()))
    all_tags = pa.concat_arrays([tags.cast(pa.list_(pa.string())), campaign_tags])

    is_repost = all_refs >= 0
    texts_out = np.where(is_repost, all_texts[np.maximum(all_refs, 0)], all_texts)
    # a repost carries its original's hashtags, as the X/Twitter readers store them
    tag_source = np.where(is_repost, all_refs, np.arange(len(all_refs)))
    all_tags = all_tags.take(pa.array(tag_source))
    ids = np.char.add("sim:", np.arange(len(all_times)).astype(str)).astype(object)
    ref_ids = np.where(is_repost, ids[np.maximum(all_refs, 0)], None)
    ref_authors = np.where(is_repost, all_authors[np.maximum(all_refs, 0)], None)
    created = _account_creation(sim, truth, authors, all_authors)

    table = pa.table(
        {
            "post_id": pa.array(ids, pa.string()),
            "platform": pa.array(np.full(len(ids), "sim", dtype=object), pa.string()),
            "created_at": pa.array(all_times, pa.timestamp("us", tz="UTC")),
            "author_id": pa.array(all_authors, pa.string()),
            "author_handle": pa.array(all_authors, pa.string()),
            "text": pa.array(texts_out, pa.string()),
            "lang": pa.array(np.full(len(ids), "en", dtype=object), pa.string()),
            "kind": pa.array(np.where(is_repost, "repost", "post").astype(object), pa.string()),
            "ref_post_id": pa.array(ref_ids, pa.string()),
            "ref_author_id": pa.array(ref_authors, pa.string()),
            "hashtags": all_tags,
            "urls": pa.array([[]] * len(ids), pa.list_(pa.string())),
            "mentions": pa.array([[]] * len(ids), pa.list_(pa.string())),
            "author_followers": pa.nulls(len(ids), pa.int64()),
            "author_created_at": pa.array(created, pa.timestamp("us", tz="UTC")),
            "source": pa.array(np.full(len(ids), "simulate", dtype=object), pa.string()),
        },
        schema=POST_SCHEMA,
    )
    order = pc.sort_indices(table, [("created_at", "ascending"), ("post_id", "ascending")])
    return table.take(order), truth


def _account_creation(
    sim: Simulation, truth: list[dict], background_ranks: np.ndarray, all_authors: np.ndarray
) -> np.ndarray:
    """When each post's account was created: organic accounts at any time in the 15 years before the
    stream, a coordinated campaign's accounts within two weeks of each other, a month before it (as
    batches of sock puppets are). Drawn from a generator of its own, so the posts stay as they were."""
    rng = np.random.default_rng([sim.seed, 1])
    start_us = datetime_to_us(sim.start)
    day = 86_400 * _US
    created = np.empty(len(all_authors), dtype=np.int64)
    created[: len(background_ranks)] = (start_us - rng.integers(1, 15 * 365, sim.accounts) * day)[background_ranks]
    per_account: dict[str, int] = {}
    for c, planted in zip(sim.campaigns, truth, strict=True):
        batch_us = datetime_to_us(c.start) - 30 * day
        for account in planted["accounts"]:
            if c.kind == "coordinated":
                per_account[account] = int(batch_us + rng.integers(0, 14 * day))
            else:
                per_account[account] = int(start_us - rng.integers(1, 15 * 365) * day)
    for k in range(len(background_ranks), len(all_authors)):
        created[k] = per_account[all_authors[k]]
    return created


# --- writers: the same stream in platform shapes, to run through the real readers --------------------


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


def write_twitter_v1(table: pa.Table, path: Path) -> int:
    """The stream as X/Twitter API v1.1 JSON lines; a repost embeds its original (`retweeted_status`)."""
    rows = table.to_pylist()
    originals: dict[str, dict] = {}
    with path.open("wb") as out:
        for row in rows:
            text = _with_hashtags(row["text"], row["hashtags"])
            if row["kind"] == "repost":
                original = originals[row["ref_post_id"]]
                status = _v1_status(row, f"RT @{original['user']['screen_name']}: {original['text']}"[:140])
                status["retweeted_status"] = original
            else:
                status = originals[row["post_id"]] = _v1_status(row, text)
            out.write(orjson.dumps(status) + b"\n")
    return len(rows)


def did(author_id: str) -> str:
    """The Bluesky account id a simulated author gets in Jetstream output."""
    return f"did:plc:{author_id}"


def _rkey(post_id: str) -> str:
    return f"3sim{_number(post_id):010d}"


def write_jetstream(table: pa.Table, path: Path) -> int:
    """The stream as Bluesky Jetstream events (post and repost creates), one per line."""
    rows = table.to_pylist()
    authors = {row["post_id"]: row["author_id"] for row in rows}
    with path.open("wb") as out:
        for row in rows:
            time_us = datetime_to_us(row["created_at"])
            created = row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if row["kind"] == "repost":
                subject = f"at://{did(authors[row['ref_post_id']])}/app.bsky.feed.post/{_rkey(row['ref_post_id'])}"
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
    return len(rows)


MASTODON_HOST = "https://sim.example"


def _mastodon_status(row: dict, local_id: int, text: str) -> dict:
    author = row["author_id"]
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


def write_mastodon(table: pa.Table, path: Path) -> int:
    """The stream as Mastodon `Status` objects, one per line, as the REST timelines and the streaming
    API's `update` events carry them; local ids grow with time (as Mastodon's do), a reblog embeds
    its original."""
    rows = table.to_pylist()
    originals: dict[str, dict] = {}
    with path.open("wb") as out:
        for local_id, row in enumerate(rows, 10**15):
            if row["kind"] == "repost":
                status = _mastodon_status(row, local_id, "")
                status["reblog"] = originals[row["ref_post_id"]]
                status["content"], status["tags"] = "", []
            else:
                status = originals[row["post_id"]] = _mastodon_status(
                    row, local_id, _with_hashtags(row["text"], row["hashtags"])
                )
            out.write(orjson.dumps(status) + b"\n")
    return len(rows)


WRITERS = {"twitter-v1": write_twitter_v1, "jetstream": write_jetstream, "mastodon": write_mastodon}


def default_campaigns(start: datetime) -> list[Campaign]:
    """The demo: a grassroots blast at 17:00 UTC on the first day, and a coordinated push at 09:00."""
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return [
        Campaign("grassroots", "FreeThePress", day + timedelta(hours=17), accounts=400),
        Campaign("coordinated", "PressLies", day + timedelta(hours=9), accounts=40),
    ]
