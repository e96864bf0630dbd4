"""Jetstream's two wires, as the connector reads them and `swell replay` writes them.

- v1, `/subscribe`: one JSON event a frame, `{"did", "time_us", "cursor", "kind", "commit": {...}}`
  (`cursor`, the event's sequence number, since Jetstream v2 serves this endpoint too); with
  `compress=true`, binary frames compressed with zstd and the legacy dictionary, which a client ships
  (`dictionaries/legacy_subscribe.zdict`).
- v2, `/xrpc/network.bsky.jetstream.subscribeEvents` (the `xrpc.v1.json` framing of atproto proposal
  0015): `{"$type": "message", "payload": {"$type": "...#commit", "seq", "did", "time", ...}}` or a
  terminal `{"$type": "error", "error", "message"}`; with `zstdDictionary=ID`, binary frames
  compressed with the dictionary `getZstdDictionary` serves under that id.

A cursor is a sequence number below 10^15 and unix microseconds from there (both endpoints take both).
The v2 payload is turned into the v1 event shape, so one reader (`swell.readers.jetstream`) reads both.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import orjson
import zstandard

from swell.readers.base import BadRecord, require_str
from swell.times import parse_iso_time, us_to_datetime

V1_PATH = "/subscribe"
V2_PATH = "/xrpc/network.bsky.jetstream.subscribeEvents"
DICTIONARY_PATH = "/xrpc/network.bsky.jetstream.getZstdDictionary"
SUBPROTOCOL = "xrpc.v1.json"
MESSAGE_PREFIX = "network.bsky.jetstream.subscribeEvents#"
KINDS = ("commit", "identity", "account", "sync")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # how every zstd frame begins
TIME_CURSOR_FROM = 10**15  # a cursor this large is unix microseconds, not a sequence number
LEGACY_DICTIONARY = "legacy_subscribe.zdict"
V2_DICTIONARY = "subscribe_events_20260811.zdict"  # the v2 dictionary when swell was written


def is_v2(url: str) -> bool:
    return urlsplit(url).path.rstrip("/") == V2_PATH


def dictionary_url(stream_url: str, dictionary_id: int | None) -> str:
    """Where the server of a v2 stream serves its zstd dictionaries (http for ws, https for wss)."""
    parts = urlsplit(stream_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    query = "" if dictionary_id is None else f"id={dictionary_id}"
    return urlunsplit((scheme, parts.netloc, DICTIONARY_PATH, query, ""))


@cache
def packaged_dictionary(name: str) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict((resources.files("swell.live") / "dictionaries" / name).read_bytes())


def decompress(frame: bytes, decompressor: zstandard.ZstdDecompressor, limit: int) -> bytes:
    """One zstd frame, refused (ValueError) when it would come to more than `limit` bytes: the
    header says the size, and a frame without one is cut at the limit, not inflated without end."""
    size = zstandard.frame_content_size(frame)
    if size > limit:
        raise ValueError(f"decompresses to {size:,} bytes, over the {limit:,} limit")
    out = decompressor.decompress(frame, max_output_size=limit + 1)
    if len(out) > limit:
        raise ValueError(f"decompresses to more than the {limit:,} byte limit")
    return out


def rfc3339(time_us: int) -> str:
    """The v2 `time`: UTC with exactly six fractional digits."""
    return us_to_datetime(time_us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def v2_message(event: dict, seq: int) -> dict:
    """A v1 event as the v2 message frame the server would send (`swell replay`)."""
    kind = event["kind"]
    payload = {"$type": MESSAGE_PREFIX + kind, "seq": seq, "did": event["did"], "time": rfc3339(event["time_us"])}
    if kind == "commit":
        payload |= event["commit"]
    else:
        payload[kind] = event.get(kind)
    return {"$type": "message", "payload": payload}


def v1_event(payload: dict) -> tuple[int, dict]:
    """A v2 message payload (not `#info`) as its seq and the v1 event the reader takes; BadRecord
    when it lacks what the lexicon requires."""
    kind = require_str(payload.get("$type"), "$type").removeprefix(MESSAGE_PREFIX)
    seq = payload.get("seq")
    if type(seq) is not int or not 0 <= seq < TIME_CURSOR_FROM:
        raise BadRecord(f"seq must be a sequence number, got {type(seq).__name__} {seq!r}")
    try:
        time_us = parse_iso_time(require_str(payload.get("time"), "time"))
    except ValueError as exc:
        raise BadRecord(f"time is not an RFC 3339 datetime: {exc}") from exc
    event = {"did": payload.get("did"), "time_us": time_us, "kind": kind}
    if kind == "commit":
        event["commit"] = {k: v for k, v in payload.items() if k not in ("$type", "seq", "did", "time")}
    elif kind in KINDS:
        event[kind] = payload.get(kind)
    else:
        raise BadRecord(f"not a Jetstream message: $type {kind!r}")
    return seq, event


def xrpc_error(body: bytes) -> tuple[str, str]:
    """The error name and message of an XRPC error envelope (or of whatever a server sent instead)."""
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", body[:300].decode("utf-8", errors="replace")
    if not isinstance(envelope, dict):
        return "", ""
    return str(envelope.get("error") or ""), str(envelope.get("message") or "")[:300]


def named_number(message: str, name: str) -> int | None:
    """The number an error message gives as `name` (CursorTooOld's "oldest seq N", UnknownZstdDictionary's
    "the current one is N"): the first after that word, or None when the message does not say, since
    taking any number in it could be a count or a duration read as a cursor."""
    found = re.search(rf"\b{name}\b\D{{0,20}}?(\d+)", message, re.IGNORECASE)
    return int(found.group(1)) if found else None
