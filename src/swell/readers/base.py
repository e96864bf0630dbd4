"""What every reader shares: the sink it writes to and how a bad record is reported."""

from __future__ import annotations

from typing import Any, Protocol

from swell.model import Post
from swell.times import parse_iso_time


class Reader(Protocol):
    """A JSON input format. `matches` must be cheap (key checks: it runs on every record whose format
    is not the previous record's) and must not raise; `parse` turns one record into what it holds,
    through the sink: posts, deletions, a non-post counted as ignored, or a reject; it raises one of
    RECORD_ERRORS for a record it recognised but cannot read. A reader may also have a fast path,
    `parse_line(line: bytes, source, sink)`, that decodes raw bytes itself and raises on anything
    it does not take (the record then goes the general way)."""

    NAME: str

    def matches(self, record: dict) -> bool: ...

    def parse(self, record: dict, source: str, sink: Sink) -> None: ...


class BadRecord(ValueError):
    """A record a reader recognised but cannot turn into a post; the message is the reject reason."""


class Sink(Protocol):
    """Where a reader puts what it finds in one input record."""

    def post(self, post: Post) -> None: ...

    def deletion(self, post_id: str, deleted_at: int | None, source: str) -> None: ...

    def ignore(self, reason: str) -> None:
        """A valid record that is not a post (a like, a stream notice): counted, not stored."""

    def reject(self, reason: str, raw: Any, source: str) -> None: ...


# Exceptions a reader raises on a malformed record; anything else is a bug in swell and propagates.
# RecursionError: a record nested a thousand levels deep.
RECORD_ERRORS = (BadRecord, KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError)


def reason_for(exc: BaseException) -> str:
    """A reject reason a person can act on, from the exception a malformed record raised."""
    if isinstance(exc, BadRecord):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return f"bad value ({type(exc).__name__}: {exc})"


def author_time_or_none(value: Any) -> int | None:
    """An account's creation time: None when absent or pseudonymised (`pseudonymised`)."""
    return parse_iso_time(value) if value and not pseudonymised(value) else None


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def strings(values: Any) -> list[str]:
    """The non-empty strings of a list (ids, mentions); anything else in it is left out."""
    return [v for v in values if isinstance(v, str) and v] if isinstance(values, list) else []


def pseudonymised(value: Any) -> bool:
    """Whether a value is 4CAT's pseudonym for what was there: its "pseudonymise" option replaces
    every value under an `author*` or `user*` key (a handle, but also a follower count or a creation
    time) by the hex BLAKE2b digest, 24 bytes, of its text. Such a count or time is unknown, not wrong."""
    return isinstance(value, str) and len(value) == 48 and all(c in _HEX for c in value)


_HEX = frozenset("0123456789abcdef")

# 4CAT's pseudonymisation leaves the ids of other accounts that are not under an author* or user* key:
# a reply's in_reply_to_user_id, the DID in a Bluesky at:// URI, mentions.
LINKS_LEFT_OUT = (
    "4CAT pseudonymised export: the accounts its posts reply to, quote, repost or mention are left "
    "empty (4CAT kept their real ids, which would not join its authors' pseudonyms)"
)


def without_real_account_links(post: Post) -> Post:
    """A post of a pseudonymised author without the other accounts' ids 4CAT left real: next to the
    pseudonyms they would make one account two, and undo the pseudonymisation of those it replied to."""
    return post._replace(ref_author_id=None, mentions=[])


def count_or_none(value: Any, what: str) -> int | None:
    """A count such as followers: None when absent or pseudonymised; an integer, or digits as some
    exports write it. Anything else (a float, which is also what a JSON parser makes of an integer
    beyond 64 bits; a word) is a bad record, not a silently missing value. The range is checked with
    the whole post (`swell.model.implausible`)."""
    if value is None or type(value) is int:
        return value
    if pseudonymised(value):
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise BadRecord(f"{what} must be a count, got {type(value).__name__} {str(value)[:40]}")


# 4CAT's "anonymise" option writes this in place of every value under an `author*` or `user*` key:
# no account can be told from another, and swell keys posts, trends and coordination by account.
REDACTED = "REDACTED"
ANONYMISED = "4CAT anonymised export: it has no account ids, which swell needs"


def account_id(value: Any, what: str) -> str:
    """A post's author id: a non-empty string, and not 4CAT's REDACTED (a bad record, said once
    for what it is rather than as whichever of the account's other values fails first)."""
    if value == REDACTED:
        raise BadRecord(ANONYMISED)
    return require_str(value, what)


def require_str(value: Any, what: str) -> str:
    """Ids and handles must be non-empty strings; a number where a string belongs is a bad record."""
    if isinstance(value, str) and value:
        return value
    raise BadRecord(f"{what} must be a non-empty string, got {type(value).__name__}")
