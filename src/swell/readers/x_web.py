"""X/Twitter web data: the tweet results of X's GraphQL API that the web app receives, as the
Zeeschuimer browser extension captures them (one item a line, in its envelope: `source_platform`
"twitter.com" or "x.com", `data` the tweet result; 4CAT's X import reads the same), or bare.

A tweet result is `{"__typename": "Tweet", "rest_id", "core": {"user_results": {"result": USER}},
"legacy": TWEET, "note_tweet"?}`, or the same wrapped as `{"__typename":
"TweetWithVisibilityResults", "tweet": ...}`. `legacy` is the API v1.1 status without its user, so
each result is turned into a v1.1 status (the user from USER's `legacy`, or its `core` in the newer
layout; a long post's text and entities from `note_tweet`; retweeted and quoted results likewise) and
read by the v1.1 reader: one post, the same fields, whichever way it was collected.
"""

from __future__ import annotations

from typing import Any

import msgspec

from swell.readers import twitter_v1
from swell.readers.base import BadRecord, Sink, account_id, pseudonymised

NAME = "x-web"
_HOSTS = ("twitter.com", "x.com")
_TWEETS = ("Tweet", "TweetWithVisibilityResults")


def matches(rec: dict) -> bool:
    if rec.get("source_platform") in _HOSTS and isinstance(rec.get("data"), dict):
        return True
    return _is_tweet(rec)


def _is_tweet(result: object) -> bool:
    """A tweet result: by its type, or by its keys where Zeeschuimer unwrapped it and left no type
    (4CAT's X datasets are these, with its `__import_meta` beside them)."""
    if not isinstance(result, dict):
        return False
    if result.get("__typename") in _TWEETS:
        return "legacy" in result or "tweet" in result
    return "rest_id" in result and "legacy" in result and "core" in result


def parse(rec: dict, source: str, sink: Sink) -> None:
    result = rec["data"] if rec.get("source_platform") in _HOSTS else rec
    if not _is_tweet(result):  # a tombstone, an unavailable tweet, a user or a cursor the page also held
        kind = result.get("__typename") if isinstance(result, dict) else None
        sink.ignore(f"{NAME} item that is not a tweet: {kind or type(result).__name__}")
        return
    try:
        status = msgspec.convert(to_status(result), twitter_v1.Status)
    except msgspec.ValidationError as exc:
        raise BadRecord(f"{NAME} tweet: {exc}") from None
    sink.post(twitter_v1.status_to_post(status, source))


def _unwrap(result: dict) -> dict:
    """The tweet inside a visibility wrapper."""
    return result["tweet"] if result.get("__typename") == "TweetWithVisibilityResults" else result


def _user(result: dict) -> dict:
    """A v1.1 user from a user result: ids from `rest_id`, the rest from `legacy`, or from `core`
    where X moved the handle and the creation time in 2025."""
    legacy, core = result.get("legacy") or {}, result.get("core") or {}
    followers, created = legacy.get("followers_count"), core.get("created_at") or legacy.get("created_at")
    return {
        "id_str": account_id(result["rest_id"], "rest_id"),
        "screen_name": core.get("screen_name") or legacy.get("screen_name"),
        # unknown where 4CAT's pseudonymisation hashed them, as everything under `user_results`
        "followers_count": None if pseudonymised(followers) else followers,
        "created_at": None if pseudonymised(created) else created,
    }


def to_status(result: dict) -> dict[str, Any]:
    """A tweet result as the v1.1 status it holds."""
    tweet = _unwrap(result)
    legacy = dict(tweet["legacy"])
    status: dict[str, Any] = {k: v for k, v in legacy.items() if not k.endswith("_result")}
    status["id_str"] = tweet.get("rest_id") or legacy.get("id_str")
    status["user"] = _user(_unwrap(tweet["core"]["user_results"]["result"]))
    note = ((tweet.get("note_tweet") or {}).get("note_tweet_results") or {}).get("result")
    if note:  # a long post: legacy holds its first 280 characters
        status["full_text"] = note["text"]
        status["entities"] = note.get("entity_set") or legacy.get("entities")
    retweeted = (legacy.get("retweeted_status_result") or {}).get("result")
    if retweeted and _unwrap(retweeted).get("legacy"):
        status["retweeted_status"] = to_status(retweeted)
    quoted = (tweet.get("quoted_status_result") or {}).get("result")
    if quoted and _unwrap(quoted).get("core"):
        status["quoted_status"] = {"user": _user(_unwrap(_unwrap(quoted)["core"]["user_results"]["result"]))}
    return status
