"""Mastodon `Status` objects (REST timelines, streaming `update` payloads, exports of either).

Ids: a status's and an account's local `id` differ from instance to instance, so posts are keyed
by their ActivityPub `uri` and accounts by their profile `url`, which accounts and mentions both carry
(so that replies and mentions join to authors).
A reply names its parent only by the serving instance's local id; that is kept as
`mastodon:local:<id>`, which matches other replies to the same parent in the same collection.
"""

from __future__ import annotations

import re

import orjson
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from swell.model import Post
from swell.normalise import normalize_hashtags, normalize_urls
from swell.readers.base import BadRecord, Sink, count_or_none, require_str, strings, text_or_none
from swell.times import parse_iso_time

NAME = "mastodon"
PLATFORM = "mastodon"
_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)*")


def matches(rec: dict) -> bool:
    if "event" in rec and "payload" in rec:  # a streaming API message
        return True
    return "account" in rec and "content" in rec and "uri" in rec


def parse(rec: dict, source: str, sink: Sink) -> None:
    if "event" in rec and "payload" in rec:
        _stream_message(rec, source, sink)
    else:
        sink.post(status_to_post(rec, source))


def _stream_message(message: dict, source: str, sink: Sink) -> None:
    """`{"event": "update", "payload": "<status JSON>"}` from /api/v1/streaming; deletes name the
    serving instance's local id, recorded as such; other events (edits, notifications) are counted."""
    event, payload = message["event"], message["payload"]
    if event == "update":
        status = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
        if not isinstance(status, dict):
            raise BadRecord("update payload is not a status object")
        sink.post(status_to_post(status, source))
    elif event == "delete":
        sink.deletion(f"mastodon:local:{require_str(payload, 'payload')}", None, source)
    else:
        sink.ignore(f"{NAME} stream {event} event")


_BLOCKS = "p, li, pre, blockquote, h1, h2, h3, h4, h5, h6, div, ul, ol"


def html_to_text(html: str) -> tuple[str, list[str]]:
    """Mastodon's HTML to plain text (blocks such as paragraphs and list items separated by a blank
    line, <br> as a newline, entities decoded), and the links it holds other than mentions and hashtags."""
    tree = HTMLParser(html)
    links = [
        a.attributes.get("href") or ""
        for a in tree.css("a")
        if not {"mention", "hashtag"} & set((a.attributes.get("class") or "").split())
    ]
    for br in tree.css("br"):
        br.replace_with("\n")
    for block in tree.css(_BLOCKS):
        block.insert_after("\n\n")
    text = tree.body.text() if tree.body is not None else ""
    return _BLANK_LINES.sub("\n\n", text).strip(), links


def account_id(account: dict) -> str:
    return require_str(account.get("url") or account.get("uri"), "account.url")


def status_to_post(status: dict, source: str) -> Post:
    account = status["account"]
    author_id = account_id(account)
    reblog = status.get("reblog")
    shown = reblog if isinstance(reblog, dict) else status  # a reblog's content is the original's
    content = shown.get("content")
    if not isinstance(content, str):
        raise BadRecord("status has no content")
    ref_post_id: str | None
    ref_author_id: str | None
    if isinstance(reblog, dict):
        kind = "repost"
        ref_post_id = f"mastodon:{require_str(reblog['uri'], 'reblog.uri')}"
        ref_author_id = account_id(reblog["account"])
    elif status.get("in_reply_to_id"):
        kind = "reply"
        ref_post_id = f"mastodon:local:{status['in_reply_to_id']}"
        ref_author_id = _reply_author(status, account, author_id)
    elif isinstance(status.get("quote"), dict) and isinstance(status["quote"].get("quoted_status"), dict):
        kind = "quote"  # Mastodon 4.5 quote posts
        quoted = status["quote"]["quoted_status"]
        ref_post_id = f"mastodon:{require_str(quoted['uri'], 'quote.quoted_status.uri')}"
        ref_author_id = account_id(quoted["account"])
    else:
        kind, ref_post_id, ref_author_id = "post", None, None
    text, links = html_to_text(content)
    card = shown.get("card")
    if isinstance(card, dict):
        links.append(card.get("url") or "")
    created = account.get("created_at")
    return Post(
        post_id=f"mastodon:{require_str(status['uri'], 'uri')}",
        platform=PLATFORM,
        created_at=parse_iso_time(status["created_at"]),
        author_id=author_id,
        author_handle=text_or_none(account.get("acct")),
        text=text,
        lang=text_or_none(shown.get("language")),
        kind=kind,
        ref_post_id=ref_post_id,
        ref_author_id=ref_author_id,
        hashtags=normalize_hashtags(t["name"] for t in shown.get("tags") or ()),
        urls=normalize_urls(links),
        mentions=strings([m.get("url") or m.get("acct") for m in shown.get("mentions") or () if isinstance(m, dict)]),
        author_followers=count_or_none(account.get("followers_count"), "account.followers_count"),
        author_created_at=parse_iso_time(created) if created else None,
        source=source,
    )


def _reply_author(status: dict, account: dict, author_id: str) -> str | None:
    """The replied-to account's global id, found among the status's mentions by local id."""
    local_id = status.get("in_reply_to_account_id")
    if local_id is None:
        return None
    if local_id == account.get("id"):
        return author_id
    for mention in status.get("mentions") or ():
        if isinstance(mention, dict) and mention.get("id") == local_id:
            return text_or_none(mention.get("url"))
    return f"mastodon:local:{local_id}"
