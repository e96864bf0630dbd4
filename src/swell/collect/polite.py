"""Asking a public service for pages, politely: one User-Agent that names swell, the waits a service
asks for, backoff when it is failing, and a clear stop when it says no.

- 429: wait as long as `Retry-After` says (seconds or an HTTP date), or until `ratelimit-reset`
  (Bluesky: seconds since 1970) or `X-RateLimit-Reset` (Mastodon: an ISO time), then ask again
  (a wait the server asked for is not counted among the attempts);
- 3xx: followed (an instance that moved);
- 5xx, a dropped connection, a page cut short: ask again after an exponential wait with jitter
  (tenacity's `wait_random_exponential`), so that many clients do not come back at once;
- any other 4xx: no retry will change it: `CollectRefused`, with the URL and what the server said.

After `attempts` failures the last is a `CollectRefused` too, saying how often it was tried.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from swell import __version__
from swell.errors import SwellError, UsageError
from swell.escapes import visible
from swell.ratelimits import rate_limit_wait_s

DEFAULT_USER_AGENT = f"swell/{__version__} (swell collect; hashtag campaign research)"
BODY_SHOWN = 300  # characters of a refusal's body quoted in the error


class CollectRefused(SwellError):
    """A service refused a request in a way that asking again will not change (a 4xx other than 429,
    or failures past the number of attempts)."""


class CollectStopped(SwellError):
    """A collection stopped (Ctrl-C, SIGTERM) before the end: the store holds part of what was asked."""


class _Retry(Exception):
    """A failure worth another try; `wait_s` is the wait the server asked for, if it said."""

    def __init__(self, what: str, wait_s: float | None = None):
        super().__init__(what)
        self.wait_s = wait_s


@dataclass
class Politeness:
    user_agent: str = DEFAULT_USER_AGENT
    attempts: int = 8  # failures of one page before giving up
    waits: int = 100  # ... or rate limits saying how long to wait
    backoff_s: tuple[float, float] = (1.0, 120.0)  # the first and the longest wait after a 5xx or a drop
    longest_asked_s: float = 3_600.0  # a rate limit asking for longer than this stops the collection
    timeout_s: float = 30.0
    retries: Counter = field(default_factory=Counter)  # "429", "5xx", "dropped": how often each was met

    def client(self, base_url: str = "") -> httpx.AsyncClient:
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=self.timeout_s, follow_redirects=True)

    async def get_json(self, client: httpx.AsyncClient, url: str, params: dict[str, Any]) -> Any:
        """The JSON body of GET url?params, asked again as the failures above say."""
        backoff = wait_random_exponential(multiplier=self.backoff_s[0], max=self.backoff_s[1])

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            if isinstance(failure, _Retry) and failure.wait_s is not None:
                return failure.wait_s
            return backoff(state)

        failures = waits = 0

        def stop(state: RetryCallState) -> bool:
            # A wait the server asked for is no failure, but a server asking for ever is given up on.
            nonlocal failures, waits
            failure = state.outcome.exception() if state.outcome else None
            asked = isinstance(failure, _Retry) and failure.wait_s is not None
            failures, waits = failures + (not asked), waits + asked
            return failures >= self.attempts or waits >= self.waits

        retrying = AsyncRetrying(
            retry=retry_if_exception_type((_Retry, httpx.TransportError)),
            wait=wait,
            stop=stop,
            before_sleep=self._count,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._get(client, url, params)
        except (_Retry, httpx.TransportError) as exc:
            tried = f"{failures} failures" + (f" and {waits} rate limits" if waits else "")
            raise CollectRefused(f"{_where(client, url)}: gave up after {tried} ({exc})") from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _get(self, client: httpx.AsyncClient, url: str, params: dict[str, Any]) -> Any:
        response = await client.get(url, params=params)
        status = response.status_code
        if status == 429:
            asked = rate_limit_wait_s(response.headers, time.time())
            if asked is not None and asked > self.longest_asked_s:
                raise CollectRefused(f"{_where(client, url)}: rate limited for {asked:,.0f} s; run the command later")
            raise _Retry("429 rate limited", asked)
        if status >= 500:
            raise _Retry(f"{status} {response.reason_phrase}")
        if status >= 400:
            said = response.text[:BODY_SHOWN]
            raise CollectRefused(f"{_where(client, url)}: {status} {response.reason_phrase}: {said}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:  # a page cut short by a proxy or a failing server
            raise _Retry(f"not JSON ({exc})") from exc

    def _count(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        what = str(failure)
        if isinstance(failure, httpx.TransportError) or what.startswith("not JSON"):
            self.retries["dropped"] += 1
        else:
            self.retries["429" if what.startswith("429") else "5xx"] += 1


def checked_url(url: str, what: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """The URL without a trailing slash; `UsageError` when it is not an absolute URL of one of
    `schemes` (`mastodon.social` would otherwise be retried as a connection failure)."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        shown = " or ".join(f"{s}://" for s in schemes)
        raise UsageError(f"{what} {visible(url)!r} is not a URL starting with {shown} (e.g. {schemes[-1]}://host)")
    return url.rstrip("/")


def _where(client: httpx.AsyncClient, url: str) -> str:
    return f"{client.base_url}{url}" if not url.startswith("http") else url
