"""X/Twitter API v1.1 statuses, as twarc (v1), the streaming API and Gnip's "original format" write them.

A retweet is stored as its own row (who retweeted, when) pointing at the original; its text and
hashtags are the original's full text, because v1.1 truncates the retweet's own `text` and computes
its entities on that truncated text.
"""

from __future__ import annotations

from swell.model import Post, normalize_hashtags, normalize_urls, parse_twitter_time
from swell.readers.base import BadRecord, Sink, int_or_none, require_str, text_or_none

NAME = "twitter-v1"
PLATFORM = "twitter"

# Streaming API messages that are not statuses; `delete` is handled separately.
_NOTICES = ("limit", "scrub_geo", "status_withheld", "user_withheld", "disconnect", "warning", "friends", "event")


def matches(rec: dict) -> bool:
    if "id_str" in rec and "user" in rec:
        return True
    return "delete" in rec or (len(rec) <= 2 and any(k in rec for k in _NOTICES))


def parse(rec: dict, source: str, sink: Sink) -> None:
    if "delete" in rec:
        status = rec["delete"]["status"]
        ms = rec["delete"].get("timestamp_ms")
        sink.deletion(
            f"twitter:{require_str(status['id_str'], 'delete.status.id_str')}", int(ms) * 1000 if ms else None, source
        )
        return
    if "user" not in rec:
        sink.ignore(f"{NAME} stream notice: {next(iter(rec))}")
        return
    sink.post(status_to_post(rec, source))


def _full_text(status: dict) -> tuple[str, dict]:
    """The untruncated text and the entities computed on it (extended_tweet, full_text or text)."""
    ext = status.get("extended_tweet")
    if ext:
        return ext["full_text"], ext.get("entities") or {}
    text = status.get("full_text") or status.get("text")
    if not isinstance(text, str):
        raise BadRecord("status has no text, full_text or extended_tweet")
    return text, status.get("entities") or {}


def _urls(entities: dict) -> list[str]:
    return normalize_urls(
        (u.get("unwound") or {}).get("url") or u.get("expanded_url") or u.get("url") for u in entities.get("urls") or ()
    )


def _created_at(status: dict) -> int:
    ms = status.get("timestamp_ms")
    if ms:
        return int(ms) * 1000
    return parse_twitter_time(status["created_at"])


def status_to_post(status: dict, source: str) -> Post:
    user = status["user"]
    author_id = require_str(user.get("id_str") or str(user["id"]), "user.id_str")
    post_id = require_str(status["id_str"], "id_str")
    retweeted = status.get("retweeted_status")
    if retweeted:
        kind = "repost"
        ref_post_id = require_str(retweeted["id_str"], "retweeted_status.id_str")
        ref_author_id = retweeted["user"]["id_str"]
        text, entities = _full_text(retweeted)
        text = f"RT @{retweeted['user'].get('screen_name', '')}: {text}"
    else:
        text, entities = _full_text(status)
        if status.get("in_reply_to_status_id_str"):
            kind = "reply"
            ref_post_id = status["in_reply_to_status_id_str"]
            ref_author_id = status.get("in_reply_to_user_id_str")
        elif status.get("quoted_status_id_str"):
            kind = "quote"
            ref_post_id = status["quoted_status_id_str"]
            ref_author_id = ((status.get("quoted_status") or {}).get("user") or {}).get("id_str")
        else:
            kind, ref_post_id, ref_author_id = "post", None, None
    user_created = user.get("created_at")
    return Post(
        post_id=f"twitter:{post_id}",
        platform=PLATFORM,
        created_at=_created_at(status),
        author_id=author_id,
        author_handle=text_or_none(user.get("screen_name")),
        text=text,
        lang=text_or_none(status.get("lang")),
        kind=kind,
        ref_post_id=f"twitter:{ref_post_id}" if ref_post_id else None,
        ref_author_id=ref_author_id or None,
        hashtags=normalize_hashtags(h["text"] for h in entities.get("hashtags") or ()),
        urls=_urls(entities),
        mentions=[m["id_str"] for m in entities.get("user_mentions") or () if m.get("id_str")],
        author_followers=int_or_none(user.get("followers_count")),
        author_created_at=parse_twitter_time(user_created) if user_created else None,
        source=source,
    )
