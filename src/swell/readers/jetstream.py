"""Bluesky Jetstream events: `{"did", "time_us", "kind": "commit", "commit": {...}}`.

Post creates become posts and repost creates become repost rows. Deletes are recorded in the store's
`deletions` table, not applied: the post stays, because a deleted post is evidence too (a burst
of posts deleted after trending is a signal worth seeing). Other collections (likes, follows) and
identity/account events are counted as ignored.
"""

from __future__ import annotations

from swell.model import Post
from swell.readers.base import BadRecord, Sink, require_str
from swell.readers.bluesky import record_to_post, repost_to_post
from swell.times import EARLIEST_US, LATEST_US, parse_iso_time

NAME = "jetstream"

_POST = "app.bsky.feed.post"
_REPOST = "app.bsky.feed.repost"


def matches(rec: dict) -> bool:
    return "did" in rec and "time_us" in rec and "kind" in rec


def parse(rec: dict, source: str, sink: Sink) -> None:
    kind = require_str(rec["kind"], "kind")
    if kind != "commit":
        sink.ignore(f"{NAME} {kind} event")
        return
    did = require_str(rec["did"], "did")
    time_us = rec["time_us"]
    if type(time_us) is not int or not EARLIEST_US <= time_us < LATEST_US:
        raise BadRecord(f"time_us must be microseconds since 1970 (to 2200), got {type(time_us).__name__} {time_us}")
    commit = rec["commit"]
    if not isinstance(commit, dict):
        raise BadRecord(f"commit must be an object, got {type(commit).__name__}")
    collection = require_str(commit["collection"], "commit.collection")
    operation = require_str(commit["operation"], "commit.operation")
    if collection not in (_POST, _REPOST):
        sink.ignore(f"{NAME} {collection} {operation}")
        return
    uri = f"at://{did}/{collection}/{require_str(commit['rkey'], 'commit.rkey')}"
    if operation == "delete":
        sink.deletion(f"bluesky:{uri}", time_us, source)
    elif operation != "create":
        sink.ignore(f"{NAME} {collection} {operation}")
    elif collection == _POST:
        sink.post(
            record_to_post(
                uri=uri, author_id=did, author_handle=None, record=commit["record"], seen_us=time_us, source=source
            )
        )
    else:
        sink.post(_repost(uri, did, commit["record"], time_us, source))


def _repost(uri: str, did: str, record: dict, time_us: int, source: str) -> Post:
    subject = require_str(record["subject"]["uri"], "record.subject.uri")
    created = record.get("createdAt")
    created_us = min(parse_iso_time(created), time_us) if isinstance(created, str) else time_us
    return repost_to_post(
        uri=uri, author_id=did, author_handle=None, subject_uri=subject, created_us=created_us, source=source
    )
