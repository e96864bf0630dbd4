"""X/Twitter API v1.1 statuses, as twarc (v1), the streaming API and Gnip's "original format" write them.

A retweet is stored as its own row (who retweeted, when) pointing at the original; its text and
hashtags are the original's full text, because v1.1 truncates the retweet's own `text` and computes
its entities on that truncated text.

Statuses are decoded into typed msgspec structs that declare only the fields swell keeps: a v1.1
line is ~3.6 KB of which swell needs a tenth, and skipping the rest is what lets ingest run near
the JSON parse limit. `parse_line` decodes raw bytes straight into the structs (the fast path);
`parse` takes an already-decoded dict (detection, stream notices) and converts it to the same structs.

Faster still, a block of lines can be read by DuckDB (`swell.ingest`, `Store.append_json_lines`):
`SQL_COLUMNS` is what DuckDB's `read_json` reads of each line and `SQL_POSTS` turns those rows into
the rows `status_to_post` makes, in SQL; any row that SQL does not reproduce exactly (a value of a type
msgspec refuses, a time in another form, a record that is no status) stops it, and the block is read
line by line instead.
"""

from __future__ import annotations

import msgspec

from swell.model import Post
from swell.normalise import normalize_hashtags, normalize_urls
from swell.readers.base import BadRecord, Sink, require_str
from swell.times import EARLIEST_US, LATEST_US, parse_twitter_time

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


# --- The fast path in SQL -------------------------------------------------------------------------
# Every leaf is read as JSON, not VARCHAR: DuckDB would turn a number into a string where msgspec
# refuses it, and only the JSON value tells the two apart (json_type). The structs are those of
# `Status`: msgspec checks every field it declares, used or not, so the SQL checks them all too.
_ENTITIES_SQL = (
    "STRUCT(hashtags STRUCT(text JSON)[], urls STRUCT(url JSON, expanded_url JSON, unwound STRUCT(url JSON))[], "
    "user_mentions STRUCT(id_str JSON)[])"
)
_USER_SQL = "STRUCT(id_str JSON, id JSON, screen_name JSON, followers_count JSON, created_at JSON)"
_STATUS_SQL = {
    "id_str": "JSON",
    "user": _USER_SQL,
    "created_at": "JSON",
    "timestamp_ms": "JSON",
    "text": "JSON",
    "full_text": "JSON",
    "extended_tweet": f"STRUCT(full_text JSON, entities {_ENTITIES_SQL})",
    "entities": _ENTITIES_SQL,
    "lang": "JSON",
    "in_reply_to_status_id_str": "JSON",
    "in_reply_to_user_id_str": "JSON",
    "quoted_status_id_str": "JSON",
    "quoted_status": f"STRUCT(user {_USER_SQL})",
}
# A retweet of a retweet is read only to see that there is none (msgspec would check it as a Status).
_RETWEETED_SQL = "STRUCT(" + ", ".join(f'"{k}" {v}' for k, v in _STATUS_SQL.items()) + ", retweeted_status JSON)"
SQL_COLUMNS = {**_STATUS_SQL, "retweeted_status": _RETWEETED_SQL}

# Python's normalisation of what SQL does not reproduce exactly: hashtags that are not all ASCII
# (NFKC, Unicode case folding) and links other than scheme://host/path (queries are re-encoded).
SQL_FUNCTIONS = {
    "swell_v1_hashtags": (normalize_hashtags, ["VARCHAR[]"], "VARCHAR[]"),
    "swell_v1_urls": (normalize_urls, ["VARCHAR[]"], "VARCHAR[]"),
}

# Temporary macros (never stored in the file) used by SQL_POSTS.
SQL_MACROS = r"""
CREATE OR REPLACE TEMP MACRO swell_str(j) AS j->>'$';
-- A JSON string is the only JSON value that starts with '"' (cheaper than json_type, which parses it).
CREATE OR REPLACE TEMP MACRO swell_is_str(j) AS j IS NULL OR starts_with(j::VARCHAR, '"');
CREATE OR REPLACE TEMP MACRO swell_has_str(j) AS j IS NOT NULL AND starts_with(j::VARCHAR, '"');
-- A non-negative integer below 2^63 (msgspec takes more; anything else is left to it).
CREATE OR REPLACE TEMP MACRO swell_is_count(j) AS j IS NULL
    OR (json_type(j) = 'UBIGINT' AND j::VARCHAR::UBIGINT < 9223372036854775808);
-- `parse_twitter_time`'s own reading of 'Wed Oct 10 20:19:24 +0000 2018'; NULL for anything that
-- goes to its strptime (another offset, another form), which SQL does not reproduce.
CREATE OR REPLACE TEMP MACRO swell_twitter_time(s) AS CASE
    WHEN length(s) = 30 AND substr(s, 21, 5) = '+0000'
        AND strpos('JanFebMarAprMayJunJulAugSepOctNovDec', substr(s, 5, 3)) % 3 = 1
        AND regexp_full_match(substr(s, 9, 2) || substr(s, 12, 2) || substr(s, 15, 2) || substr(s, 18, 2)
                              || substr(s, 27, 4), '[0-9]{12}')
        AND substr(s, 12, 2) < '24' AND substr(s, 15, 2) < '60' AND substr(s, 18, 2) < '60'
        AND substr(s, 27, 4) >= '0001'
    THEN epoch_us(try_cast(substr(s, 27, 4) || '-'
            || lpad(((strpos('JanFebMarAprMayJunJulAugSepOctNovDec', substr(s, 5, 3)) + 2) // 3)::VARCHAR, 2, '0')
            || '-' || substr(s, 9, 2) AS DATE))
        + (substr(s, 12, 2)::BIGINT * 3600 + substr(s, 15, 2)::BIGINT * 60 + substr(s, 18, 2)::BIGINT) * 1000000
    END;
-- `_user_id`: id_str if not empty, else id; NULL where it raises.
CREATE OR REPLACE TEMP MACRO swell_user_id(u) AS coalesce(nullif(swell_str(u.id_str), ''), u.id::VARCHAR);
CREATE OR REPLACE TEMP MACRO swell_user_ok(u) AS u IS NULL OR (swell_is_str(u.id_str) AND swell_is_count(u.id)
    AND swell_is_str(u.screen_name) AND swell_is_count(u.followers_count) AND swell_is_str(u.created_at));
CREATE OR REPLACE TEMP MACRO swell_entities_ok(e) AS e IS NULL OR (
    coalesce(list_bool_and([swell_has_str(h.text) for h in e.hashtags]), true)
    AND coalesce(list_bool_and([u IS NOT NULL AND swell_is_str(u.url) AND swell_is_str(u.expanded_url)
                                AND (u.unwound IS NULL OR swell_is_str(u.unwound.url)) for u in e.urls]), true)
    AND coalesce(list_bool_and([m IS NOT NULL AND swell_is_str(m.id_str) for m in e.user_mentions]), true));
-- Distinct, not empty, in first-seen order (`normalize_hashtags`, `normalize_urls`).
-- (a list of one, the most common, costs no lambda)
CREATE OR REPLACE TEMP MACRO swell_first_seen(l) AS CASE WHEN len(l) = 0 THEN l WHEN len(l) = 1 THEN
    CASE WHEN l[1] = '' THEN []::VARCHAR[] ELSE l END
    ELSE list_filter(l, lambda x, i: x <> '' AND list_position(l, x) = i) END;
-- `normalize_url` of scheme://host/path: https, host lower-cased without www., no trailing '/'.
CREATE OR REPLACE TEMP MACRO swell_simple_url(u) AS
    regexp_full_match(u, '[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(/[A-Za-z0-9._~%!$&''()*+,;=:@/-]*)?');
CREATE OR REPLACE TEMP MACRO swell_no_www(host) AS
    CASE WHEN starts_with(host, 'www.') THEN substr(host, 5) ELSE host END;
CREATE OR REPLACE TEMP MACRO swell_url_of(rest, slash) AS
    CASE WHEN slash = 0 THEN 'https://' || swell_no_www(lower(rest))
    ELSE 'https://' || swell_no_www(lower(left(rest, slash - 1))) || rtrim(substr(rest, slash), '/') END;
CREATE OR REPLACE TEMP MACRO swell_url(u) AS
    swell_url_of(substr(u, strpos(u, '://') + 3), strpos(substr(u, strpos(u, '://') + 3), '/'));
"""


def _status_ok(s: str) -> str:
    """SQL: whether the status at `s` (a column prefix) has the types `Status` declares."""
    return f"""({s}id_str IS NOT NULL AND json_type({s}id_str) = 'VARCHAR' AND swell_str({s}id_str) <> ''
        AND {s}"user" IS NOT NULL AND swell_user_ok({s}"user") AND swell_has_str({s}created_at)
        AND ({s}timestamp_ms IS NULL OR json_type({s}timestamp_ms) IN ('VARCHAR', 'UBIGINT'))
        AND swell_is_str({s}text) AND swell_is_str({s}full_text)
        AND ({s}extended_tweet IS NULL OR (swell_has_str({s}extended_tweet.full_text)
             AND swell_entities_ok({s}extended_tweet.entities)))
        AND swell_entities_ok({s}entities) AND swell_is_str({s}lang)
        AND swell_is_str({s}in_reply_to_status_id_str) AND swell_is_str({s}in_reply_to_user_id_str)
        AND swell_is_str({s}quoted_status_id_str)
        AND ({s}quoted_status IS NULL OR swell_user_ok({s}quoted_status."user")))"""


def _full_text_sql(s: str) -> str:
    """SQL for `_full_text`'s text at prefix `s` (NULL where it raises)."""
    return f"""CASE WHEN {s}extended_tweet IS NOT NULL THEN swell_str({s}extended_tweet.full_text)
        ELSE coalesce(nullif(swell_str({s}full_text), ''), swell_str({s}text)) END"""


def _entities_sql(s: str) -> str:
    return f"CASE WHEN {s}extended_tweet IS NOT NULL THEN {s}extended_tweet.entities ELSE {s}entities END"


# `status_to_post` in SQL, over `statuses` (read_json with SQL_COLUMNS, WITH ORDINALITY: a row's line in
# the block) and the parameters $name (the file as sources name it) and $before (the line before the
# block's first).
# `exact` is false where SQL would not store what status_to_post does (or it raises): error() then
# stops the statement, and nothing of the block is stored.
SQL_POSTS = f"""
WITH s AS (
    SELECT ordinality, "user", lang, retweeted_status IS NOT NULL AS rt,
        {_status_ok("")} AND (retweeted_status IS NULL
            OR ({_status_ok("retweeted_status.")} AND retweeted_status.retweeted_status IS NULL)) AS typed,
        swell_str(id_str) AS id,
        CASE WHEN json_type(timestamp_ms) = 'VARCHAR' AND swell_str(timestamp_ms) <> ''
                THEN CASE WHEN regexp_full_match(swell_str(timestamp_ms), '[0-9]{{1,15}}')
                     THEN swell_str(timestamp_ms)::BIGINT * 1000 END
             WHEN json_type(timestamp_ms) = 'UBIGINT' AND timestamp_ms::VARCHAR <> '0'
                THEN CASE WHEN length(timestamp_ms::VARCHAR) <= 15 THEN timestamp_ms::VARCHAR::BIGINT * 1000 END
             ELSE swell_twitter_time(swell_str(created_at)) END AS created_us,
        CASE WHEN retweeted_status IS NOT NULL
             THEN 'RT @' || coalesce(swell_str(retweeted_status."user".screen_name), '') || ': '
                  || {_full_text_sql("retweeted_status.")}
             ELSE {_full_text_sql("")} END AS text,
        CASE WHEN retweeted_status IS NOT NULL THEN 'repost'
             WHEN swell_str(in_reply_to_status_id_str) <> '' THEN 'reply'
             WHEN swell_str(quoted_status_id_str) <> '' THEN 'quote' ELSE 'post' END AS kind,
        CASE WHEN retweeted_status IS NOT NULL THEN swell_str(retweeted_status.id_str)
             WHEN swell_str(in_reply_to_status_id_str) <> '' THEN swell_str(in_reply_to_status_id_str)
             WHEN swell_str(quoted_status_id_str) <> '' THEN swell_str(quoted_status_id_str) END AS ref_id,
        CASE WHEN retweeted_status IS NOT NULL THEN swell_user_id(retweeted_status."user")
             WHEN swell_str(in_reply_to_status_id_str) <> '' THEN swell_str(in_reply_to_user_id_str)
             WHEN swell_str(quoted_status_id_str) <> '' AND quoted_status."user" IS NOT NULL
                THEN swell_user_id(quoted_status."user") END AS ref_author,
        -- where _user_id raises: a retweet's or a quote's author without an id
        CASE WHEN retweeted_status IS NOT NULL THEN swell_user_id(retweeted_status."user") IS NULL
             WHEN swell_str(in_reply_to_status_id_str) <> '' THEN false
             WHEN swell_str(quoted_status_id_str) <> '' AND quoted_status."user" IS NOT NULL
                THEN swell_user_id(quoted_status."user") IS NULL
             ELSE false END AS ref_author_missing,
        CASE WHEN retweeted_status IS NOT NULL THEN {_entities_sql("retweeted_status.")}
             ELSE {_entities_sql("")} END AS entities
    FROM statuses
), p AS (
    SELECT *,
        coalesce([swell_str(h.text) for h in entities.hashtags], []::VARCHAR[]) AS tags,
        coalesce([coalesce(nullif(swell_str(u.unwound.url), ''), nullif(swell_str(u.expanded_url), ''),
                           nullif(swell_str(u.url), '')) for u in entities.urls], []::VARCHAR[]) AS links,
        swell_user_id("user") AS author_id,
        nullif(swell_str("user".created_at), '') AS author_created,
        swell_twitter_time(nullif(swell_str("user".created_at), '')) AS author_created_us
    FROM s
), exact AS (
    SELECT *, coalesce(typed AND text IS NOT NULL AND author_id IS NOT NULL AND NOT ref_author_missing
        AND created_us IS NOT NULL AND created_us >= {EARLIEST_US} AND created_us < {LATEST_US}
        AND (author_created IS NULL OR author_created_us IS NOT NULL), false) AS exact
    FROM p
)
SELECT
    CASE WHEN exact THEN 'twitter:' || id ELSE error('not read exactly by SQL') END AS post_id,
    '{PLATFORM}' AS platform,
    make_timestamptz(created_us) AS created_at,
    author_id,
    nullif(swell_str("user".screen_name), '') AS author_handle,
    text,
    nullif(swell_str(lang), '') AS lang,
    kind,
    'twitter:' || nullif(ref_id, '') AS ref_post_id,
    nullif(ref_author, '') AS ref_author_id,
    CASE WHEN strlen(array_to_string(tags, '')) = length(array_to_string(tags, ''))
         THEN swell_first_seen([lower(ltrim(t, '#')) for t in tags])
         ELSE swell_v1_hashtags(tags) END AS hashtags,
    CASE WHEN list_bool_and([swell_simple_url(u) for u in links if u IS NOT NULL]) IS NOT false
         THEN swell_first_seen([swell_url(u) for u in links if u IS NOT NULL])
         ELSE swell_v1_urls(links) END AS urls,
    coalesce([swell_str(m.id_str) for m in entities.user_mentions if swell_str(m.id_str) <> ''],
             []::VARCHAR[]) AS mentions,
    "user".followers_count::VARCHAR::BIGINT AS author_followers,
    make_timestamptz(author_created_us) AS author_created_at,
    $name || ':' || ($before + ordinality) AS source
FROM exact
"""
