"""X/Twitter API v2 as twarc2 writes it: response pages (`data` + `includes`) and flattened tweets.

A page's tweets name their authors and referenced tweets by id; both are looked up in the page's
`includes`. twarc2's flattened lines carry them inline (`author`, full `referenced_tweets`), and so
do 4CAT's X API v2 datasets (`author_user`, full `referenced_tweets`, one tweet a line).
A line holding only `errors` (a stream disconnect, a failed request) is rejected with the API's message.
"""

from __future__ import annotations

from swell.model import Post
from swell.normalise import normalize_hashtags, normalize_urls
from swell.readers.base import (
    RECORD_ERRORS,
    BadRecord,
    Sink,
    account_id,
    author_time_or_none,
    count_or_none,
    reason_for,
    require_str,
    strings,
    text_or_none,
)
from swell.times import parse_iso_time

NAME = "twitter-v2"
PLATFORM = "twitter"

# v2 names the relation; the unified schema keeps one kind, a retweet winning over a reply over a quote.
_KIND_ORDER = (("retweeted", "repost"), ("replied_to", "reply"), ("quoted", "quote"))


def matches(rec: dict) -> bool:
    if "data" in rec or "errors" in rec:  # a response page; not another tool's envelope around `data`
        return "id_str" not in rec and "did" not in rec and "source_platform" not in rec
    return "id" in rec and "text" in rec and ("author_id" in rec or "edit_history_tweet_ids" in rec)


def parse(rec: dict, source: str, sink: Sink) -> None:
    if "data" not in rec and "text" not in rec:
        errors = rec.get("errors") or [{}]
        first = errors[0] if isinstance(errors[0], dict) else {}
        message = first.get("detail") or first.get("message") or first.get("title") or "no detail"
        raise BadRecord(f"{NAME} API error response: {message}")
    if "data" not in rec:  # a flattened tweet: everything it references is inline
        if rec.get("resource_type") == "tweet" and "detail" in rec:
            # 4CAT's stand-in for a tweet an id lookup could not have: the API's error, the time of
            # the lookup as created_at and "UNKNOWN" as author; nothing of a post.
            sink.ignore(f"{NAME} tweet that could not be had (4CAT's error placeholder)")
            return
        sink.post(tweet_to_post(rec, _NO_INCLUDES, source))
        return
    data = rec["data"]
    tweets = data if isinstance(data, list) else [data]
    if not tweets:
        sink.ignore(f"{NAME} page with no tweets")
    includes = Includes(rec.get("includes"))
    for _ in rec.get("errors") or ():  # beside data: referenced tweets or users that could not be had
        sink.ignore(f"{NAME} partial error in a page (an unavailable referenced tweet or user)")
    for tweet in tweets:
        try:
            sink.post(tweet_to_post(tweet, includes, source))
        except RECORD_ERRORS as exc:  # one bad tweet does not cost the rest of its page
            sink.reject(reason_for(exc), tweet, source)


def _text_and_entities(tweet: dict) -> tuple[str, dict]:
    """Long tweets keep their full text and its entities in `note_tweet`."""
    note = tweet.get("note_tweet")
    if note and note.get("text"):
        return note["text"], note.get("entities") or {}
    text = tweet.get("text")
    if not isinstance(text, str):
        raise BadRecord("tweet has no text")
    return text, tweet.get("entities") or {}


class Includes:
    """A page's `includes`, indexed: users by id and by username, referenced tweets by id."""

    def __init__(self, includes: dict | None = None):
        includes = includes or {}
        self.users = {u["id"]: u for u in includes.get("users") or () if isinstance(u, dict) and "id" in u}
        self.user_ids = {u.get("username"): uid for uid, u in self.users.items()}
        self.tweets = {t["id"]: t for t in includes.get("tweets") or () if isinstance(t, dict) and "id" in t}


_NO_INCLUDES = Includes()


def _inline_author(tweet: dict) -> dict:
    """The author a flattened tweet carries: twarc2's `author`, 4CAT's `author_user`."""
    author = tweet.get("author") or tweet.get("author_user")
    return author if isinstance(author, dict) else {}


def tweet_to_post(tweet: dict, includes: Includes, source: str) -> Post:
    post_id = require_str(tweet["id"], "id")
    author = _inline_author(tweet) or includes.users.get(tweet.get("author_id")) or {}
    author_id = account_id(tweet.get("author_id") or author.get("id"), "author_id")
    text, entities = _text_and_entities(tweet)

    kind, ref = "post", None
    refs = {r.get("type"): r for r in tweet.get("referenced_tweets") or () if isinstance(r, dict)}
    for ref_type, ref_kind in _KIND_ORDER:
        if ref_type in refs:
            kind, ref = ref_kind, refs[ref_type]
            break
    ref_post_id = ref_author_id = None
    if ref is not None:
        ref_post_id = require_str(ref["id"], "referenced_tweets.id")
        full_ref = includes.tweets.get(ref_post_id) or ref  # flattened lines carry the whole tweet inline
        ref_author_id = text_or_none(full_ref.get("author_id") or _inline_author(full_ref).get("id"))
        if kind == "reply" and not ref_author_id:
            ref_author_id = text_or_none(tweet.get("in_reply_to_user_id"))
        if kind == "repost" and not ref_author_id:  # original not included: the "RT @user:" mention names it
            first = (entities.get("mentions") or [{}])[0]
            ref_author_id = text_or_none(first.get("id") or includes.user_ids.get(first.get("username")))
        if kind == "repost" and "text" in full_ref:
            # The retweet's own text is truncated and its entities computed on the truncation.
            ref_author = _inline_author(full_ref) or includes.users.get(ref_author_id) or {}
            ref_text, entities = _text_and_entities(full_ref)
            text = f"RT @{ref_author.get('username', '')}: {ref_text}"

    mentions = [m for m in entities.get("mentions") or () if isinstance(m, dict)]
    followers = (author.get("public_metrics") or {}).get("followers_count")
    author_created = author.get("created_at")
    return Post(
        post_id=f"twitter:{post_id}",
        platform=PLATFORM,
        created_at=parse_iso_time(tweet["created_at"]),
        author_id=author_id,
        author_handle=text_or_none(author.get("username")),
        text=text,
        lang=text_or_none(tweet.get("lang")),
        kind=kind,
        ref_post_id=f"twitter:{ref_post_id}" if ref_post_id else None,
        ref_author_id=ref_author_id or None,
        hashtags=normalize_hashtags(h["tag"] for h in entities.get("hashtags") or ()),
        urls=normalize_urls(
            u.get("unwound_url") or u.get("expanded_url") or u.get("url") for u in entities.get("urls") or ()
        ),
        mentions=strings(
            [m.get("id") or includes.user_ids.get(m.get("username"), m.get("username")) for m in mentions]
        ),
        author_followers=count_or_none(followers, "author.public_metrics.followers_count"),
        author_created_at=author_time_or_none(author_created),
        source=source,
    )
