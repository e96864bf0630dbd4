"""What every member of a family must do, checked on every registered member (river's habit): every
reader (swell's own and those packages register by entry point) and every trend detector. A new
reader or detector is covered as soon as it is registered.

Readers: an empty record is not theirs; their real example records give posts in the unified
schema, the same each time; a record with a field taken away or given the wrong type is a reject
(one of RECORD_ERRORS), never another exception; `matches` never raises. swell's readers take their
examples from tests/data; a registered reader from elsewhere must offer `examples()`.

Detectors: an empty bucket gives no verdicts; any bucket gives verdicts in the verdict schema, with
positive finite scores for tags of the bucket; odd counts (zero, huge) do not break them; the same
buckets give the same verdicts; the factory takes any bucket size.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import corpus
from swell.detectors import DETECTORS, NO_SCORED, VERDICT_SCHEMA, Prior, make_detector
from swell.model import implausible, posts_to_batch
from swell.readers import BUILTIN, registered
from swell.readers.base import RECORD_ERRORS

REAL = corpus.real_records()


class Collected:
    """A sink that keeps what a reader gives."""

    def __init__(self):
        self.posts, self.deletions, self.ignored, self.rejected = [], [], [], []

    def post(self, post):
        self.posts.append(post)

    def deletion(self, post_id, deleted_at, source):
        self.deletions.append(post_id)

    def ignore(self, reason):
        self.ignored.append(reason)

    def reject(self, reason, raw, source):
        self.rejected.append(reason)


def examples(reader) -> list[dict]:
    if reader in BUILTIN:
        return [r.value for r in REAL if r.fmt == reader.NAME]
    offered = getattr(reader, "examples", None)
    assert offered is not None, f"reader {reader.NAME} offers no examples() for its conformance tests"
    return list(offered())


def read(reader, record: dict) -> Collected:
    sink = Collected()
    reader.parse(record, "conformance:1", sink)
    return sink


READERS = registered()


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.NAME)
def test_a_reader_does_not_take_an_empty_record(reader):
    assert reader.matches({}) is False


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.NAME)
def test_a_reader_gives_posts_in_the_unified_schema_the_same_each_time(reader):
    records = examples(reader)
    assert records, f"no example records for {reader.NAME}"
    posts = 0
    for record in records:
        assert reader.matches(record), record
        first, second = read(reader, record), read(reader, record)
        assert first.posts == second.posts and first.deletions == second.deletions  # deterministic
        batch = posts_to_batch(first.posts)  # the unified schema, every value of its type
        assert batch.num_rows == len(first.posts)
        for post in first.posts:
            assert post.post_id.startswith(f"{post.platform}:") and post.author_id and implausible(post) is None
            assert post.kind in ("post", "repost", "quote", "reply")
            assert all(tag == tag.casefold() and not tag.startswith("#") for tag in post.hashtags)
        posts += len(first.posts)
    assert posts > 0, f"no example of {reader.NAME} gave a post"


def _spoilt(record: dict):
    """The record with each of its top-level fields taken away, then given values of the wrong type."""
    for key in record:
        yield {k: v for k, v in record.items() if k != key}
        for wrong in (None, 7, "x", [], {}, [{}], 1e300):
            yield {**record, key: wrong}


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.NAME)
def test_a_bad_record_is_a_reject_never_another_exception(reader):
    for record in examples(reader)[:8]:
        for bad in _spoilt(record):
            if not reader.matches(bad):
                continue
            try:
                sink = read(reader, bad)
            except RECORD_ERRORS:
                continue
            posts_to_batch(sink.posts)  # what it did take is in the schema


KEYS = ["id", "id_str", "did", "time_us", "kind", "uri", "record", "author", "user", "data", "text", "account",
        "content", "event", "payload", "posts", "feed", "created_at", "delete", "errors", "commit"]  # fmt: skip
VALUES = st.none() | st.integers() | st.text() | st.lists(st.integers()) | st.dictionaries(st.text(), st.text())


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES))
def test_matches_never_raises(record):
    for reader in READERS:
        assert reader.matches(record) in (True, False)


# --- detectors ------------------------------------------------------------------------------------

MIN = 60_000_000


def counts(young: tuple[str, ...] = (), **accounts: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"tag": list(accounts), "posts": list(accounts.values()), "accounts": list(accounts.values()),
         "first_us": [0] * len(accounts), "young": [tag in young for tag in accounts]},
        schema={"tag": pl.String, "posts": pl.Int64, "accounts": pl.Int64, "first_us": pl.Int64, "young": pl.Boolean},
    )  # fmt: skip


# Quiet buckets, huge counts, a tag gone to zero, young tags, the first hour (learning) and after.
BUCKETS = [counts(a=3, b=1), counts(), counts(("c",), a=40, b=2, c=15), counts(a=0, d=10**12), counts(c=15, e=1)]
PRIORS = [Prior(3, 3.0, learning=True), Prior(3, 1.0), Prior(5, 0.5), Prior(12, 0.1, 0.01), Prior(3, 0.05)]


def run(name: str, bucket_min: float = 5.0) -> list[pl.DataFrame]:
    detector = make_detector(name, bucket_min)
    return [
        detector.update(i * int(bucket_min * MIN), bucket, prior)
        for i, (bucket, prior) in enumerate(zip(BUCKETS, PRIORS, strict=True))
    ]


@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_detector_gives_no_verdict_for_an_empty_bucket(name):
    detector = make_detector(name, 5.0)
    assert detector.update(0, NO_SCORED, PRIORS[0]).is_empty()  # the first bucket, and one after it
    assert detector.update(5 * MIN, NO_SCORED, PRIORS[1]).is_empty()


@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_detector_gives_verdicts_in_the_schema_for_tags_it_has_seen(name):
    """A verdict may be for a tag of an earlier bucket (Mastodon's scorer keeps a decaying peak)."""
    seen: set[str] = set()
    for bucket, verdicts in zip(BUCKETS, run(name), strict=True):
        seen |= set(bucket.get_column("tag"))
        assert dict(verdicts.schema) == VERDICT_SCHEMA
        assert set(verdicts.get_column("tag")) <= seen
        assert all(0 < score < math.inf for score in verdicts.get_column("score"))


@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_detector_gives_the_same_verdicts_for_the_same_buckets(name):
    assert all(a.equals(b) for a, b in zip(run(name), run(name), strict=True))


@pytest.mark.parametrize("name", list(DETECTORS))
@pytest.mark.parametrize("bucket_min", [1.0, 5.0, 60.0, 1440.0])
def test_a_detector_takes_any_bucket_size(name, bucket_min):
    assert len(run(name, bucket_min)) == len(BUCKETS)


@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_detector_never_calls_trending_a_tag_below_the_floor(name):
    """The prior's floor is the fewest accounts a hashtag needs in a bucket to trend, whatever the
    detector: two accounts can be a conversation, and in a firehose fifteen can be noise. (Once
    trending, a tag may be held by a decaying score, as Mastodon's is.)"""
    called: set[str] = set()
    for bucket, prior, verdicts in zip(BUCKETS, PRIORS, run(name), strict=True):
        x = dict(zip(bucket.get_column("tag"), bucket.get_column("accounts"), strict=True))
        trending = set(verdicts.filter("trending").get_column("tag"))
        assert all(x.get(tag, 0) >= prior.floor for tag in trending - called)
        called |= trending
