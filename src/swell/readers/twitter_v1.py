"""X/Twitter API v1.1 statuses, as twarc (v1), the streaming API and Gnip's "original format" write them.

A retweet is stored as its own row (who retweeted, when) pointing at the original; its text and
hashtags are the original's full text, because v1.1 truncates the retweet's own `text` and computes
its entities on that truncated text.

Statuses are decoded into typed msgspec structs that declare only the fields swell keeps: a v1.1
line is ~3.6 KB of which swell needs a tenth, and skipping the rest is what lets ingest run near
the JSON parse limit. `parse_line` decodes raw bytes straight into the structs (the fast path);
`parse` takes an already-decoded dict (detection, stream notices) and converts it to the same structs.
"""

from __future__ import annotations

import msgspec

from swell.model import Post
from swell.normalise import normalize_hashtags, normalize_urls
from swell.readers.base import BadRecord, Sink, require_str
from swell.times import parse_twitter_time

NAME = "twitter-v1"
PLATFORM = "twitter"

# Streaming API messages that are not statuses; `delete` is handled separately.
_NOTICES = ("limit", "scrub_geo", "status_withheld", "user_withheld", "disconnect", "warning", "friends", "event")


class _Hashtag(msgspec.Struct):
    text: str


class _Unwound(msgspec.Struct):
    url: str | None = None


class _Url(msgspec.Struct):
    url: str | None = None
    expanded_url: str | None = None
    unwound: _Unwound | None = None


class _Mention(msgspec.Struct):
    id_str: str | int | None = None


class _Entities(msgspec.Struct):
    hashtags: list[_Hashtag] | None = None
    urls: list[_Url] | None = None
    user_mentions: list[_Mention] | None = None


class _Extended(msgspec.Struct):
    full_text: str
    entities: _Entities | None = None


class _User(msgspec.Struct):
    id_str: str | int | None = None
    id: int | None = None
    screen_name: str | None = None
    followers_count: int | None = None
    created_at: str | None = None


class _Quoted(msgspec.Struct):
    user: _User | None = None


class Status(msgspec.Struct):
    # Some collectors rewrote ids and times as numbers: take either.
    id_str: str | int
    user: _User
    created_at: str
    timestamp_ms: str | int | None = None
    text: str | None = None
    full_text: str | None = None
    extended_tweet: _Extended | None = None
    entities: _Entities | None = None
    lang: str | None = None
    in_reply_to_status_id_str: str | None = None
    in_reply_to_user_id_str: str | None = None
    quoted_status_id_str: str | None = None
    quoted_status: _Quoted | None = None
    retweeted_status: Status | None = None


_decode_status = msgspec.json.Decoder(Status).decode
_NO_ENTITIES = _Entities()


def matches(rec: dict) -> bool:
    if "id_str" in rec and "user" in rec:
        return True
    # A notice is a one-key object such as {"limit": {...}}; "event" alone would also match
    # Mastodon's streaming messages, whose values are strings.
    return "delete" in rec or (len(rec) <= 2 and any(isinstance(rec.get(k), dict) for k in _NOTICES))


def parse_line(line: bytes, source: str, sink: Sink) -> None:
    """The fast path: raw JSON bytes of one status. Raises msgspec errors on anything else."""
    sink.post(status_to_post(_decode_status(line), source))


def parse(rec: dict, source: str, sink: Sink) -> None:
    if "delete" in rec:
        delete = rec["delete"]
        ms = delete.get("timestamp_ms")
        post_id = require_str(delete["status"]["id_str"], "delete.status.id_str")
        sink.deletion(f"twitter:{post_id}", int(ms) * 1000 if ms else None, source)
        return
    if "user" not in rec:
        sink.ignore(f"{NAME} stream notice: {next(iter(rec))}")
        return
    try:
        status = msgspec.convert(rec, Status)
    except msgspec.ValidationError as exc:
        raise BadRecord(f"{NAME} status: {exc}") from None
    sink.post(status_to_post(status, source))


def _full_text(status: Status) -> tuple[str, _Entities]:
    """The untruncated text and the entities computed on it (extended_tweet, full_text or text)."""
    ext = status.extended_tweet
    if ext is not None:
        return ext.full_text, ext.entities or _NO_ENTITIES
    text = status.full_text or status.text
    if text is None:
        raise BadRecord("status has no text, full_text or extended_tweet")
    return text, status.entities or _NO_ENTITIES


def _user_id(user: _User) -> str:
    if user.id_str:
        return str(user.id_str)
    if user.id is not None:
        return str(user.id)
    raise BadRecord("user has no id_str or id")


def status_to_post(status: Status, source: str) -> Post:
    if status.id_str == "":
        raise BadRecord("id_str is empty")
    user = status.user
    retweeted = status.retweeted_status
    ref_post_id: str | None
    ref_author_id: str | None
    if retweeted is not None:
        kind = "repost"
        ref_post_id = str(retweeted.id_str)
        ref_author_id = _user_id(retweeted.user)
        text, entities = _full_text(retweeted)
        text = f"RT @{retweeted.user.screen_name or ''}: {text}"
    else:
        text, entities = _full_text(status)
        if status.in_reply_to_status_id_str:
            kind = "reply"
            ref_post_id = status.in_reply_to_status_id_str
            ref_author_id = status.in_reply_to_user_id_str
        elif status.quoted_status_id_str:
            kind = "quote"
            ref_post_id = status.quoted_status_id_str
            quoted_user = status.quoted_status.user if status.quoted_status else None
            ref_author_id = _user_id(quoted_user) if quoted_user else None
        else:
            kind, ref_post_id, ref_author_id = "post", None, None
    ms = status.timestamp_ms
    return Post(
        post_id=f"twitter:{status.id_str}",
        platform=PLATFORM,
        created_at=int(ms) * 1000 if ms else parse_twitter_time(status.created_at),
        author_id=_user_id(user),
        author_handle=user.screen_name or None,
        text=text,
        lang=status.lang or None,
        kind=kind,
        ref_post_id=f"twitter:{ref_post_id}" if ref_post_id else None,
        ref_author_id=ref_author_id or None,
        hashtags=normalize_hashtags([h.text for h in entities.hashtags or ()]),
        urls=normalize_urls(
            [(u.unwound.url if u.unwound else None) or u.expanded_url or u.url for u in entities.urls or ()]
        ),
        mentions=[str(m.id_str) for m in entities.user_mentions or () if m.id_str],
        author_followers=user.followers_count,
        author_created_at=parse_twitter_time(user.created_at) if user.created_at else None,
        source=source,
    )
