"""Times: everything swell keeps is microseconds since 1970 in UTC; here they are parsed from what
platforms and people write, and written for JSON (ISO 8601) and for people ("2024-03-01 17:00:00 UTC").
One formatter for each, so that every command, report and page shows a time the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from swell.errors import SwellError

EARLIEST_US, LATEST_US = 0, 7_258_118_400_000_000  # 1970-01-01 and 2200-01-01: where a post's time can be
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}


def datetime_to_us(dt: datetime) -> int:
    if dt.tzinfo is None:  # sources that omit the zone mean UTC
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _ONE_US


@lru_cache(maxsize=4096)
def _day_start_us(year: int, month: int, day: int) -> int:
    return datetime_to_us(datetime(year, month, day, tzinfo=UTC))


@lru_cache(maxsize=1 << 16)  # account creation times repeat, and a busy second holds many tweets
def parse_twitter_time(value: str) -> int:
    """'Wed Oct 10 20:19:24 +0000 2018' (API v1.1) to epoch µs.

    The API always writes +0000; that common case is sliced by hand because strptime costs as much
    as a fifth of the whole per-tweet budget. Any other offset goes through strptime.
    """
    if len(value) == 30 and value[20:25] == "+0000":
        month = _MONTHS.get(value[4:7])
        hour, minute, second = value[11:13], value[14:16], value[17:19]
        # An impossible time such as 99:99:99 goes to strptime, which refuses it.
        if month and hour < "24" and minute < "60" and second < "60" and (hour + minute + second).isdigit():
            seconds = int(hour) * 3600 + int(minute) * 60 + int(second)
            return _day_start_us(int(value[26:30]), month, int(value[8:10])) + seconds * 1_000_000
    return datetime_to_us(datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y"))


def parse_iso_time(value: str) -> int:
    """ISO 8601 ('2023-05-01T12:00:00.000Z', with any offset or none) to epoch µs."""
    return datetime_to_us(datetime.fromisoformat(value))


def us_to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def iso(us: int | None) -> str | None:
    """A time for JSON: ISO 8601 in UTC ('2024-03-01T17:00:00+00:00'), or None."""
    return None if us is None else us_to_datetime(int(us)).isoformat()


def shown(value: int | datetime | str | None, *, short: bool = False) -> str:
    """A time for people: '2024-03-01 17:00:00 UTC' from microseconds, a datetime or ISO 8601 text;
    '-' for none. `short`: '03-01 17:00', for tables whose title gives the year and the zone."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif not isinstance(value, datetime):
        value = us_to_datetime(int(value))
    return value.astimezone(UTC).strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S UTC")


class BadTime(SwellError, ValueError):
    """A time given by a user that is not ISO 8601."""


def parse_user_time(value: str | None) -> int | None:
    """A time a user gave ('2016-09-26T21:00', '2016-09-26 21:00:00+02:00'; no zone means UTC) as
    microseconds, or None for none."""
    if value is None:
        return None
    try:
        return datetime_to_us(datetime.fromisoformat(value))
    except ValueError:
        raise BadTime(f"{value!r} is not an ISO 8601 time such as 2016-09-26T21:00 (UTC unless given)") from None
