"""Bluesky AppView objects: `PostView`s, alone or in `getPosts`/`searchPosts` (`posts`) and
`getAuthorFeed`/`getTimeline` (`feed`) responses, where a `reasonRepost` becomes a repost row.

The same objects as the atproto Python SDK's `model_dump()` writes them (what 4CAT's Bluesky
search keeps, one a line, with its `4CAT_metadata`) are read too: their keys are snake_case
(`indexed_at`, `created_at`) and the type of an object is `py_type`, not `$type` (`_get`).

`record_to_post` turns an `app.bsky.feed.post` record into a post; the Jetstream reader uses it too.
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

NAME = "bluesky"
PLATFORM = "bluesky"

_TAG = "app.bsky.richtext.facet#tag"
_LINK = "app.bsky.richtext.facet#link"
_MENTION = "app.bsky.richtext.facet#mention"
_REASON_REPOST = "app.bsky.feed.defs#reasonRepost"


# The lexicon's names and what the atproto Python SDK's model_dump() calls them.
_SNAKE = {"$type": "py_type", "indexedAt": "indexed_at", "createdAt": "created_at", "followersCount": "followers_count"}


def _get(obj: dict, name: str):
    """A field by its lexicon name, or by the atproto Python SDK's name for it."""
    value = obj.get(name)
    return obj.get(_SNAKE[name]) if value is None and name in _SNAKE else value


def matches(rec: dict) -> bool:
    if "uri" in rec and "record" in rec and "author" in rec:
        return True
    post = rec.get("post")
    if isinstance(post, dict) and "uri" in post and "record" in post:
        return True
    return isinstance(rec.get("posts"), list) or isinstance(rec.get("feed"), list)


def parse(rec: dict, source: str, sink: Sink) -> None:
    items = rec.get("posts") or rec.get("feed")
    if isinstance(items, list) and "uri" not in rec:
        if not items:
            sink.ignore(f"{NAME} response with no posts")
        for item in items:
            try:
                _parse_item(item, source, sink)
            except RECORD_ERRORS as exc:  # one bad item does not cost the rest of the response
                sink.reject(reason_for(exc), item, source)
        return
    _parse_item(rec, source, sink)


def _parse_item(item: dict, source: str, sink: Sink) -> None:
    """A PostView, or a feed item: its post and, for a repost reason, the repost (both or neither)."""
    view = item["post"] if "post" in item and "uri" not in item else item
    post = post_view_to_post(view, source)
    reason = item.get("reason")
    repost = None
    if isinstance(reason, dict) and _get(reason, "$type") == _REASON_REPOST:
        by = reason["by"]
        reposter = account_id(by["did"], "reason.by.did")
        # Older AppViews give no uri for the repost record; an account can repost a post only once,
        # so (reposter, post) identifies it.
        repost_uri = reason.get("uri") or f"repost:{reposter}:{view['uri']}"
        repost = repost_to_post(
            uri=repost_uri,
            author_id=reposter,
            author_handle=text_or_none(by.get("handle")),
            subject_uri=view["uri"],
            created_us=parse_iso_time(_get(reason, "indexedAt")),
            source=source,
            author_followers=count_or_none(_get(by, "followersCount"), "reason.by.followersCount"),
        )
    sink.post(post)
    if repost is not None:
        sink.post(repost)


def repost_to_post(
    *,
    uri: str,
    author_id: str,
    author_handle: str | None,
    subject_uri: str,
    created_us: int,
    source: str,
    author_followers: int | None = None,
) -> Post:
    """A repost row: who reposted which post, when; the text and hashtags stay with the original."""
    return Post(
        post_id=f"bluesky:{uri}",
        platform=PLATFORM,
        created_at=created_us,
        author_id=author_id,
        author_handle=author_handle,
        text=None,
        lang=None,
        kind="repost",
        ref_post_id=f"bluesky:{subject_uri}",
        ref_author_id=did_of(subject_uri),
        hashtags=[],
        urls=[],
        mentions=[],
        author_followers=author_followers,
        author_created_at=None,
        source=source,
    )


def post_view_to_post(view: dict, source: str) -> Post:
    author = view["author"]
    indexed = _get(view, "indexedAt")
    author_created = _get(author, "createdAt")
    return record_to_post(
        uri=require_str(view["uri"], "uri"),
        author_id=account_id(author["did"], "author.did"),
        author_handle=text_or_none(author.get("handle")),
        record=view["record"],
        seen_us=parse_iso_time(indexed) if indexed else None,
        source=source,
        author_followers=count_or_none(_get(author, "followersCount"), "author.followersCount"),
        author_created_at=author_time_or_none(author_created),
    )


def did_of(at_uri: str) -> str | None:
    """'at://did:plc:abc/app.bsky.feed.post/3k' -> 'did:plc:abc'."""
    if not at_uri.startswith("at://"):
        return None
    return at_uri[5:].split("/", 1)[0] or None


def _embedded_uri(embed: dict | None) -> str | None:
    """The post a quote embeds (`embed.record`, or `embed.recordWithMedia`'s inner record)."""
    if not isinstance(embed, dict):
        return None
    record = embed.get("record")
    if isinstance(record, dict) and isinstance(record.get("record"), dict):
        record = record["record"]
    uri = record.get("uri") if isinstance(record, dict) else None
    return uri if isinstance(uri, str) and "/app.bsky.feed.post/" in uri else None


def record_to_post(
    *,
    uri: str,
    author_id: str,
    author_handle: str | None,
    record: dict,
    seen_us: int | None,
    source: str,
    author_followers: int | None = None,
    author_created_at: int | None = None,
) -> Post:
    text = record.get("text")
    if not isinstance(text, str):
        raise BadRecord("post record has no text")
    created = _get(record, "createdAt")
    try:
        created_us = parse_iso_time(created) if isinstance(created, str) else None
    except ValueError:
        created_us = None
    # createdAt is set by the client and can lie; like Bluesky's AppView (sortAt), a post is never
    # placed later than the moment the network saw it.
    if seen_us is not None and (created_us is None or created_us > seen_us):
        created_us = seen_us
    if created_us is None:
        raise BadRecord(f"post record has no valid createdAt ({created!r})")

    # what facets say, kept only where it is a string (`strings`, below)
    tags: list = []
    links: list = []
    mentions: list = []
    # Records are written by any client: a malformed facet loses its own value, not the post.
    for facet in record.get("facets") or ():
        for feature in facet.get("features") or () if isinstance(facet, dict) else ():
            if not isinstance(feature, dict):
                continue
            kind = _get(feature, "$type")
            if kind == _TAG:
                tags.append(feature.get("tag"))
            elif kind == _LINK:
                links.append(feature.get("uri"))
            elif kind == _MENTION:
                mentions.append(feature.get("did"))
    tags.extend(strings(record.get("tags")))  # tags outside the text
    embed = record.get("embed")
    if isinstance(embed, dict) and isinstance(embed.get("external"), dict):
        links.append(embed["external"].get("uri"))

    reply = record.get("reply")
    quoted = _embedded_uri(embed)
    if isinstance(reply, dict) and isinstance(reply.get("parent"), dict):
        kind, ref = "reply", reply["parent"].get("uri")
    elif quoted:
        kind, ref = "quote", quoted
    else:
        kind, ref = "post", None
    langs = record.get("langs")
    return Post(
        post_id=f"bluesky:{uri}",
        platform=PLATFORM,
        created_at=created_us,
        author_id=author_id,
        author_handle=author_handle,
        text=text,
        lang=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None,
        kind=kind,
        ref_post_id=f"bluesky:{ref}" if ref else None,
        ref_author_id=did_of(ref) if ref else None,
        hashtags=normalize_hashtags(strings(tags)),
        urls=normalize_urls(strings(links)),
        mentions=strings(mentions),
        author_followers=author_followers,
        author_created_at=author_created_at,
        source=source,
    )
