"""The past of a hashtag on Mastodon: `/api/v1/timelines/tag/:hashtag` on several instances at once,
paged back in time with `max_id` (`limit=40`) until the posts are older than `since`.

An instance shows the statuses it knows of, its own and other instances': the same status, seen from
two instances, has two local ids but one ActivityPub `uri`, which is what posts are keyed by
(`swell.readers.mastodon`), so it is stored once. Each instance's paging is a slice of its own; its
`max_id` is committed with the posts it gave.

Mastodon ids are snowflakes: the time in milliseconds, shifted 16 bits, of when the instance got
the status, which for a status from another instance is after it was written (seconds later; days,
for a backfilled one). So a slice starts at the id of its `until` plus `ARRIVAL_SLACK_S` rather
than at the newest status, and it is done at the first id before its `since` (nothing written
after `since` can have an id before it). Other servers' ids (Pleroma, Akkoma, GoToSocial) are not
numbers: each page's oldest id is the next `max_id` all the same, and a slice is done at a page
written wholly before `since`. A server that gives the same page again (it ignores `max_id`) leaves
the slice unfinished, with an error: the statuses before that page are not collected.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import quote

from swell.collect.pages import CollectOptions, Collector, CollectStats, run, until_stopped
from swell.collect.polite import CollectRefused, checked_url
from swell.collect.slices import Slice, stored_slices, uncovered
from swell.escapes import visible
from swell.live.session import together
from swell.readers import mastodon
from swell.readers.base import RECORD_ERRORS, reason_for
from swell.times import parse_iso_time

PAGE = 40  # the most statuses a Mastodon timeline page holds
ARRIVAL_SLACK_S = 86_400  # statuses written before a slice's `until` that reached the instance up to this much later


@dataclass
class MastodonCollect(CollectOptions):
    instances: tuple[str, ...] = ()  # https://instance.example, ...
    page_size: int = PAGE


def collect_mastodon(options: MastodonCollect) -> CollectStats:
    """Collect the hashtag's statuses from `since_us` to `until_us` (now, if None) from every
    instance at once into `options.db`, each status once. An instance that refuses is left, the others
    are collected to their end, then `CollectRefused` says which refused and how. `UsageError` when
    an instance is not a URL."""
    options.instances = tuple(checked_url(i, "the instance") for i in options.instances)
    return run(lambda stop: collect_mastodon_async(options, stop), options)


async def collect_mastodon_async(options: MastodonCollect, stop: asyncio.Event) -> None:
    until = options.fix_until()
    earlier = stored_slices(options.db, options.hashtag)
    jobs = []
    refusals: list[CollectRefused] = []
    async with Collector(options) as collector:
        for instance in dict.fromkeys(options.instances):
            source = f"mastodon:{instance}"
            mine = [s for s in earlier if s.source == source]
            todo = [s for s in mine if not s.done]
            todo += [Slice(source, options.hashtag, a, b) for a, b in uncovered(options.since_us, until, mine)]
            if todo:
                jobs.append(_instance(options, collector, instance, todo, refusals))
        await until_stopped(together(jobs), stop)
    if refusals:  # each said, after the other instances have given what they have
        raise CollectRefused("; ".join(str(r) for r in refusals))


async def _instance(options: MastodonCollect, collector: Collector, instance: str, slices: list[Slice],
                    refusals: list[CollectRefused]) -> None:  # fmt: skip
    """One instance's slices; a refusal ends this instance's, not the others' (it joins `refusals`)."""
    try:
        await _pages(options, collector, instance, slices)
    except CollectRefused as exc:
        refusals.append(exc)


async def _pages(options: MastodonCollect, collector: Collector, instance: str, slices: list[Slice]) -> None:
    politeness = options.politeness
    path = f"/api/v1/timelines/tag/{quote(options.hashtag, safe='')}"
    source = f"mastodon:{instance}"
    async with politeness.client(instance) as client:
        for s in slices:
            while not s.done:
                max_id = s.cursor or str(_snowflake(s.until_us + ARRIVAL_SLACK_S * 1_000_000))
                body = await politeness.get_json(client, path, {"max_id": max_id, "limit": options.page_size})
                if not isinstance(body, list):
                    raise CollectRefused(f"{instance}{path}: the answer is not a timeline (a list of statuses)")
                page = collector.page()
                ids, times = [], []  # ids as given: Pleroma's, Akkoma's and GoToSocial's are not numbers
                for status in body:
                    local_id = _field(status, "id", str)
                    try:
                        mastodon.parse(status, f"{source} id={local_id}", page)
                    except RECORD_ERRORS as exc:
                        page.reject(reason_for(exc), status, f"{source} id={local_id}")
                    if local_id is not None:
                        ids.append(local_id)
                    if (created := _field(status, "created_at", parse_iso_time)) is not None:
                        times.append(created)
                s.fetched += len(body)
                if times:
                    s.reached_us = min(times + ([s.reached_us] if s.reached_us is not None else []))
                if not ids:  # an empty page: nothing older
                    s.done = True
                elif ids[-1] == s.cursor:  # the same page again: the paging cannot go on, and is not done
                    await collector.add(page, [s], source)
                    raise CollectRefused(
                        f"{instance}{path}: max_id={visible(ids[-1])} gave the page before it again (the server "
                        "ignores max_id?); the statuses before it are not collected"
                    )
                else:
                    s.cursor = ids[-1]  # the oldest of the page: Mastodon lists the newest first
                    numbers = [int(i) for i in ids if i.isdigit()]
                    # snowflakes: the first before `since` ends the slice; other ids: a page all older
                    if (numbers and min(numbers) < _snowflake(s.since_us)) or (times and max(times) < s.since_us):
                        s.done = True
                await collector.add(page, [s], source)


def _snowflake(time_us: int) -> int:
    """The lowest Mastodon id of a time."""
    return (time_us // 1_000) << 16


def _field(status, name: str, convert):
    """A status's field converted, or None where it is missing or malformed (the reader says why)."""
    try:
        return convert(status[name])
    except (KeyError, TypeError, ValueError):
        return None
