"""A synthetic X/Twitter API v1.1 JSON-lines corpus with the size and shape of real streaming output.

Each line carries what the v1.1 streaming API writes (full `user` object, entities, `extended_tweet`
for long tweets, an embedded `retweeted_status` for retweets), so parsing cost matches real data:
about 3.6 KB per line on average, as twarc's output measures.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

_WORDS = (
    "the vote people today news breaking watch live support stop must now never again together "
    "truth media freedom rally justice vote city state march strike change future our their"
).split()


def _user(rng: random.Random, uid: int) -> dict:
    created = datetime(2009, 1, 1, tzinfo=UTC) + timedelta(days=uid % 4000)
    return {
        "id": uid,
        "id_str": str(uid),
        "name": f"Account {uid}",
        "screen_name": f"acct{uid}",
        "location": rng.choice(["", "London", "Lagos", "New York, NY", "Berlin"]),
        "url": None,
        "description": " ".join(rng.choices(_WORDS, k=12)),
        "translator_type": "none",
        "protected": False,
        "verified": False,
        "followers_count": rng.randint(0, 50_000),
        "friends_count": rng.randint(0, 5_000),
        "listed_count": rng.randint(0, 100),
        "favourites_count": rng.randint(0, 90_000),
        "statuses_count": rng.randint(1, 200_000),
        "created_at": created.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "utc_offset": None,
        "time_zone": None,
        "geo_enabled": False,
        "lang": None,
        "contributors_enabled": False,
        "is_translator": False,
        "profile_background_color": "F5F8FA",
        "profile_background_image_url": "",
        "profile_background_image_url_https": "",
        "profile_background_tile": False,
        "profile_link_color": "1DA1F2",
        "profile_sidebar_border_color": "C0DEED",
        "profile_sidebar_fill_color": "DDEEF6",
        "profile_text_color": "333333",
        "profile_use_background_image": True,
        "profile_image_url": f"http://pbs.twimg.com/profile_images/{uid}/photo_normal.jpg",
        "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{uid}/photo_normal.jpg",
        "profile_banner_url": f"https://pbs.twimg.com/profile_banners/{uid}/1500000000",
        "default_profile": True,
        "default_profile_image": False,
        "following": None,
        "follow_request_sent": None,
        "notifications": None,
    }


def _status(rng: random.Random, tid: int, when: datetime, uid: int, tags: list[str]) -> dict:
    words = rng.choices(_WORDS, k=rng.randint(8, 40))
    text = " ".join(words) + " " + " ".join(f"#{t}" for t in tags)
    hashtags = []
    for t in tags:
        start = text.index(f"#{t}")
        hashtags.append({"text": t, "indices": [start, start + len(t) + 1]})
    url = f"https://example.org/story/{rng.randint(1, 5000)}"
    entities = {
        "hashtags": hashtags,
        "urls": [{"url": "https://t.co/abcdEFGH12", "expanded_url": url, "display_url": url[8:], "indices": [0, 23]}],
        "user_mentions": [],
        "symbols": [],
    }
    status = {
        "created_at": when.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "id": tid,
        "id_str": str(tid),
        "text": text[:140],
        "source": '<a href="http://twitter.com/download/android" rel="nofollow">Twitter for Android</a>',
        "truncated": len(text) > 140,
        "in_reply_to_status_id": None,
        "in_reply_to_status_id_str": None,
        "in_reply_to_user_id": None,
        "in_reply_to_user_id_str": None,
        "in_reply_to_screen_name": None,
        "user": _user(rng, uid),
        "geo": None,
        "coordinates": None,
        "place": None,
        "contributors": None,
        "is_quote_status": False,
        "quote_count": 0,
        "reply_count": 0,
        "retweet_count": 0,
        "favorite_count": 0,
        "entities": entities,
        "favorited": False,
        "retweeted": False,
        "filter_level": "low",
        "lang": "en",
        "timestamp_ms": str(int(when.timestamp() * 1000)),
    }
    if len(text) > 140:
        status["extended_tweet"] = {"full_text": text, "display_text_range": [0, len(text)], "entities": entities}
    return status


def write_corpus(path: Path, n: int, seed: int = 1) -> Path:
    """Write n tweets: 40% retweets, 10% replies, the rest originals, over one day."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    tags = [f"tag{i}" for i in range(2000)]
    recent: list[dict] = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for i in range(n):
            when = start + timedelta(seconds=86_400 * i / n)
            uid = rng.randint(1, n // 5 + 10)
            status = _status(rng, 10**18 + i, when, uid, rng.sample(tags, rng.choice((0, 1, 1, 2, 3))))
            kind = rng.random()
            if kind < 0.4 and recent:
                original = rng.choice(recent)
                status["retweeted_status"] = original
                status["text"] = f"RT @{original['user']['screen_name']}: {original['text']}"[:140]
                status.pop("extended_tweet", None)
            elif kind < 0.5 and recent:
                parent = rng.choice(recent)
                status["in_reply_to_status_id"] = parent["id"]
                status["in_reply_to_status_id_str"] = parent["id_str"]
                status["in_reply_to_user_id_str"] = parent["user"]["id_str"]
            else:
                recent.append(status)
                if len(recent) > 500:
                    recent.pop(0)
            out.write(orjson.dumps(status) + b"\n")
    return path
