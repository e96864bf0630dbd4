"""The unified post: one Arrow schema for every platform (its hashtags and URLs normalised by
`swell.normalise`).

Everything after the readers sees only this table (see DESIGN.md). Readers build `Post` tuples;
`posts_to_batch` turns a list of them into an Arrow record batch in one columnar step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

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
    columns: list = list(zip(*posts, strict=True)) if posts else [[] for _ in POST_SCHEMA]
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
