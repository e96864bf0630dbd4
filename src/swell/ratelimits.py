"""How long a service that answered 429 asks to be left alone: one reading of its headers for every
client swell has (HTTP collection, Jetstream's handshake)."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping

from swell.times import parse_iso_time


def rate_limit_wait_s(headers: Mapping[str, str], now_s: float) -> float | None:
    """The seconds a 429 asks the client to wait: `Retry-After` (seconds, or an HTTP date), else the
    reset time of Bluesky's `ratelimit-reset` (seconds since 1970) or Mastodon's `X-RateLimit-Reset`
    (ISO 8601); None when it says nothing usable (then the backoff decides)."""
    after = headers.get("retry-after")
    if after:
        if after.strip().isdigit():
            return float(after)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(after).timestamp() - now_s)
        except (TypeError, ValueError):
            pass
    reset = headers.get("ratelimit-reset") or headers.get("x-ratelimit-reset")
    if reset:
        try:
            at = float(reset) if reset.strip().replace(".", "", 1).isdigit() else parse_iso_time(reset) / 1e6
        except ValueError:
            return None
        return max(0.0, at - now_s)
    return None
