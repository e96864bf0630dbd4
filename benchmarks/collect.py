"""Collect throughput: the local stand-ins of `swell.live.archives` -> `swell.collect` -> the store.

    python benchmarks/collect.py [--copies 300] [--runs 3]

The real posts of tests/corpora/collect, copied --copies times (each copy under its own ids, a
second later than the one before), so that there are tens of thousands:

1. Mastodon: the #IchBinHanna statuses on two instances that share half of them
   (`MastodonInstance.sharing`), collected by `collect_mastodon` (both at once, pages of 40);
2. Bluesky search: the #rstats PostViews behind `SearchAppView` with the AppView's cap of 10,000
   results, collected by `collect_bluesky` (everything older than the lookback: search, sliced).

Each into a fresh store, without and then with rate limits (2% of requests answered 429 with
`Retry-After: 1`, 1% 503, 1% dropped halfway: the backoff waits 0 to 1 s, then longer). The peer, in
the same run: the same URLs asked again by a bare httpx client, one after the other, without reading
or storing anything: the pace the stand-in and HTTP allow. Posts/s counts the posts stored (a
status both instances give counts once). The stand-ins serve from threads of this process, so they
share its interpreter lock with the collection. Peak memory: this process's maximum resident set
(the stand-ins included).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from swell.collect import BlueskyCollect, MastodonCollect, collect_bluesky, collect_mastodon
from swell.live.archives import MastodonInstance, Misbehaviour, SearchAppView
from swell.live.replay import serving
from swell.times import parse_iso_time, us_to_datetime

CORPUS = Path(__file__).parent.parent / "tests" / "corpora" / "collect"
LIMITED = {"rate_limited": 0.02, "retry_after_s": 1, "server_errors": 0.01, "dropped": 0.01}


def _iso(us: int) -> str:
    return us_to_datetime(us).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def copied_statuses(copies: int, out: Path) -> Path:
    lines = []
    for line in (CORPUS / "rtoot-ichbinhanna-statuses.jsonl").read_bytes().splitlines():
        status = orjson.loads(line)
        created = parse_iso_time(status["created_at"])
        for k in range(copies):
            at = created + k * 1_000_000
            copy = {**status, "uri": f"{status['uri']}-{k}", "created_at": _iso(at)}
            copy["id"] = str(((at // 1_000) << 16) + k % 65_536)
            lines.append(orjson.dumps(copy))
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out


def copied_views(copies: int) -> list[dict]:
    views = []
    for line in (CORPUS / "atrrr-rstats-appview-posts.jsonl").read_bytes().splitlines():
        view = orjson.loads(line)
        indexed = parse_iso_time(view["indexedAt"])
        for k in range(copies):
            at = _iso(indexed + k * 1_000_000)
            record = {**view["record"], "createdAt": at}
            views.append({**view, "uri": f"{view['uri']}{k}", "indexedAt": at, "record": record})
    return views


async def _peer(urls: list[str]) -> None:
    async with httpx.AsyncClient() as client:
        for url in urls:
            (await client.get(url)).read()


def peer_s(urls: list[str]) -> float:
    started = time.perf_counter()
    asyncio.run(_peer(urls))
    return time.perf_counter() - started


def mastodon_run(statuses: Path, limited: bool) -> tuple[float, int, float]:
    one, two = MastodonInstance.sharing(statuses, misbehaviour=Misbehaviour(**LIMITED) if limited else None)
    with tempfile.TemporaryDirectory() as tmp, serving(one) as a, serving(two) as b:
        todo = MastodonCollect(db=Path(tmp) / "m.duckdb", hashtag="ichbinhanna", instances=(a, b),
                               since_us=parse_iso_time("2020-01-01T00:00:00Z"))  # fmt: skip
        started = time.perf_counter()
        stats = collect_mastodon(todo)
        took = time.perf_counter() - started
        assert stats.new < stats.posts  # the statuses both instances know came twice, and were stored once
        # the peer asks what was answered, of a stand-in that no longer fails (a URL swell asked again is
        # asked once)
        one.misbehaviour = two.misbehaviour = Misbehaviour()
        base = peer_s(sorted(set(one.asked)) + sorted(set(two.asked)))
    return took, stats.new, base


def bluesky_run(views: list[dict], limited: bool) -> tuple[float, int, float, int]:
    server = SearchAppView(views, misbehaviour=Misbehaviour(**LIMITED) if limited else Misbehaviour())
    with tempfile.TemporaryDirectory() as tmp, serving(server) as url:
        since = parse_iso_time("2020-01-01T00:00:00Z")
        todo = BlueskyCollect(db=Path(tmp) / "b.duckdb", hashtag="rstats", since_us=since, service=url, lookback_s=0)
        started = time.perf_counter()
        stats = collect_bluesky(todo)
        took = time.perf_counter() - started
        server.misbehaviour = Misbehaviour()
        base = peer_s(list(dict.fromkeys(server.asked)))
    return took, stats.new, base, stats.slices_done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        statuses = copied_statuses(args.copies, Path(tmp) / "statuses.jsonl")
        views = copied_views(args.copies)
        results: dict[str, list[tuple[float, float]]] = {}
        for n in range(1, args.runs + 1):
            for limited in (False, True):
                label = "with rate limits" if limited else "without"
                took, posts, base = mastodon_run(statuses, limited)
                results.setdefault(f"mastodon, two instances, {label}", []).append((posts / took, posts / base))
                print(f"run {n} mastodon {label}: {posts:,} posts in {took:.1f} s = {posts / took:,.0f} posts/s; "
                      f"the peer's pace {posts / base:,.0f} posts/s", flush=True)  # fmt: skip
                took, posts, base, slices = bluesky_run(views, limited)
                results.setdefault(f"bluesky search, cap 10,000, {label}", []).append((posts / took, posts / base))
                print(f"run {n} bluesky search {label}: {posts:,} posts in {slices} slices, {took:.1f} s = "
                      f"{posts / took:,.0f} posts/s; the peer's {posts / base:,.0f} posts/s", flush=True)  # fmt: skip
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("\n| | swell collect (median) | peer: the same URLs, bare httpx | ratio |\n|---|---|---|---|")
    for label, runs in results.items():
        ours, theirs = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"| {label} | {ours:,.0f} posts/s | {theirs:,.0f} posts/s | {ours / theirs:.2f} |")
    print(f"peak resident memory of the process (stand-ins included): {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
