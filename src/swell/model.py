"""The unified post: one Arrow schema for every platform, and the normalisation of its fields.

Everything after the readers sees only this table (see DESIGN.md). Readers build `Post` tuples;
`PostBatch` turns a list of them into an Arrow record batch in one columnar step.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow as pa

from swell.times import EARLIEST_US, LATEST_US

KINDS = ("post", "repost", "quote", "reply")

POST_SCHEMA = pa.schema(
    [
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("author_id", pa.string(), nullable=False),
        pa.field("author_handle", pa.string()),
        pa.field("text", pa.string()),
        pa.field("lang", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("ref_post_id", pa.string()),
        pa.field("ref_author_id", pa.string()),
        pa.field("hashtags", pa.list_(pa.string())),
        pa.field("urls", pa.list_(pa.string())),
        pa.field("mentions", pa.list_(pa.string())),
        pa.field("author_followers", pa.int64()),
        pa.field("author_created_at", pa.timestamp("us", tz="UTC")),
        pa.field("source", pa.string()),
    ]
)


class Post(NamedTuple):
    """One row of POST_SCHEMA; times are microseconds since the Unix epoch (UTC)."""

    post_id: str
    platform: str
    created_at: int
    author_id: str
    author_handle: str | None
    text: str | None
    lang: str | None
    kind: str
    ref_post_id: str | None
    ref_author_id: str | None
    hashtags: list[str]
    urls: list[str]
    mentions: list[str]
    author_followers: int | None
    author_created_at: int | None
    source: str


def posts_to_batch(posts: list[Post]) -> pa.RecordBatch:
    """Build a record batch column by column (much faster than row by row in pyarrow)."""
    columns = list(zip(*posts, strict=True)) if posts else [[] for _ in POST_SCHEMA]
    arrays = [pa.array(col, type=field.type) for col, field in zip(columns, POST_SCHEMA, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=POST_SCHEMA)


_CONVERSION_ERRORS = (pa.ArrowException, OverflowError, TypeError, ValueError)


_INT64 = 2**63


def implausible(post: Post) -> str | None:
    """Why a post cannot be stored as it is, or None: a time that cannot be right (a unit mistake,
    a broken clock upstream), or a count beyond the store's 64-bit integers."""
    if not EARLIEST_US <= post.created_at < LATEST_US:
        return f"created_at ({post.created_at} µs since 1970) is outside 1970-2200"
    if post.author_created_at is not None and not -_INT64 <= post.author_created_at < _INT64:
        return f"author_created_at ({post.author_created_at} µs since 1970) is out of range"
    if post.author_followers is not None and not 0 <= post.author_followers < _INT64:
        return f"author_followers ({post.author_followers}) is not a count the store can hold (0 to 2^63 - 1)"
    return None


def posts_to_batch_or_reject(posts: list[Post], reject: Callable[[str, Post], None]) -> pa.RecordBatch:
    """The posts as a batch. A value a reader let through with the wrong type fails the conversion;
    then the posts are converted one by one and each failing one goes to `reject(reason, post)`, so
    one bad value costs one post, not the batch."""
    try:
        return posts_to_batch(posts)
    except _CONVERSION_ERRORS:
        good = []
        for post in posts:
            try:
                posts_to_batch([post])
            except _CONVERSION_ERRORS as exc:
                reject(f"bad value in a post field ({type(exc).__name__}: {exc})", post)
            else:
                good.append(post)
        return posts_to_batch(good)


# --- hashtags, urls -------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def normalize_hashtag(tag: str) -> str:
    """NFKC, case-folded, without the leading '#' (or fullwidth '＃'): '#ＢＬＭ' and 'blm' are one tag."""
    return unicodedata.normalize("NFKC", tag).lstrip("#").casefold()


def normalize_hashtags(tags) -> list[str]:
    """Normalise and de-duplicate, keeping first-seen order; empty tags are dropped."""
    out: list[str] = []
    for tag in tags:
        norm = normalize_hashtag(tag)
        if norm and norm not in out:
            out.append(norm)
    return out


# Twitter-text's rule, simplified: a '#' not preceded by a word character, '&' or '/', followed by
# word characters that include at least one non-digit (so '#1' is not a hashtag, '#1world' is).
# Used only where a platform gives no entities (plain text, CSV exports).
_HASHTAG_RE = re.compile(r"(?<![\w&/#＃])[#＃](\w*[^\W\d]\w*)")


def hashtags_from_text(text: str | None) -> list[str]:
    if not text:
        return []
    return normalize_hashtags(_HASHTAG_RE.findall(text))


_TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "igshid", "mc_cid", "mc_eid")


@lru_cache(maxsize=1 << 16)
def normalize_url(url: str) -> str:
    """A canonical form so that the same link shared two ways matches (co-link networks).

    Lower-cased scheme and host, http folded into https, 'www.' and default ports dropped, fragment
    and tracking parameters (utm_*, fbclid, ...) removed, trailing '/' of the path removed.
    A string that does not parse as a URL is returned stripped, never dropped.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url
    if not parts.scheme or not host:
        return url
    scheme = parts.scheme.lower()
    if scheme == "http":
        scheme = "https"
    host = host.removeprefix("www.")
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith(_TRACKING_PARAMS)
        ]
    )
    return urlunsplit((scheme, host, parts.path.rstrip("/"), query, ""))


def normalize_urls(urls) -> list[str]:
    out: list[str] = []
    for url in urls:
        if url:
            norm = normalize_url(url)
            if norm not in out:
                out.append(norm)
    return out
