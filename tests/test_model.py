from datetime import UTC, datetime

import pytest

from swell.model import posts_to_batch
from swell.normalise import hashtags_from_text, normalize_hashtag, normalize_hashtags, normalize_url
from swell.times import parse_iso_time, parse_twitter_time, us_to_datetime


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("#BlackLivesMatter", "blacklivesmatter"),
        ("ＢＬＭ", "blm"),  # fullwidth letters fold under NFKC
        ("＃Straße", "strasse"),  # fullwidth hash stripped, ß case-folds to ss
        ("Ⅻ", "xii"),  # roman numeral compatibility character
        ("Café", "café"),
        ("#", ""),
    ],
)
def test_normalize_hashtag(raw, norm):
    assert normalize_hashtag(raw) == norm


def test_normalize_hashtags_dedupes_in_order_and_drops_empty():
    assert normalize_hashtags(["B", "a", "#b", "#", "A"]) == ["b", "a"]


def test_hashtags_from_text_follows_twitter_rules():
    text = "Join #Blast2024 at 5pm! #1 #1world x#no https://e.com/#anchor &#39; #ＢＬＭ #emoji🔥 #über"
    assert hashtags_from_text(text) == ["blast2024", "1world", "blm", "emoji", "über"]
    assert hashtags_from_text(None) == []


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("HTTP://WWW.Example.com:80/Path/?utm_source=x&id=3#frag", "https://example.com/Path?id=3"),
        ("https://example.com/a/", "https://example.com/a"),
        ("https://example.com:8443/a?fbclid=1", "https://example.com:8443/a"),
        ("not a url", "not a url"),
        ("http://[bad", "http://[bad"),
    ],
)
def test_normalize_url(raw, norm):
    assert normalize_url(raw) == norm


def test_times_are_utc_microseconds():
    expected = datetime(2018, 10, 10, 20, 19, 24, tzinfo=UTC)
    assert us_to_datetime(parse_twitter_time("Wed Oct 10 20:19:24 +0000 2018")) == expected
    # another offset goes the slow way and still lands in UTC
    assert us_to_datetime(parse_twitter_time("Wed Oct 10 22:19:24 +0200 2018")) == expected
    assert us_to_datetime(parse_iso_time("2018-10-10T20:19:24.000Z")) == expected
    assert parse_iso_time("2018-10-10T20:19:24.123456+00:00") % 1_000_000 == 123456
    assert us_to_datetime(parse_iso_time("2018-10-10T20:19:24")) == expected  # no zone means UTC
    with pytest.raises(ValueError):
        parse_twitter_time("Wed Foo 10 20:19:24 +0000 2018")


def test_empty_batch_has_the_schema():
    batch = posts_to_batch([])
    assert batch.num_rows == 0
    assert batch.schema.names[:3] == ["post_id", "platform", "created_at"]
