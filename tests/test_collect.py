"""`swell collect`: real posts (#rstats PostViews from atrrr's recorded searchPosts answers, #IchBinHanna
statuses from rtoot's recorded tag timelines) served by the local stand-ins of `swell.live.archives`,
which rate-limit, fail and drop connections on purpose; Jetstream by the live replay server. Every
post of the time asked for must be stored exactly once: across search's cap, across instances that
share statuses, across a SIGKILL and a restart."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from conftest import DATA, ingest, rows, swell
from swell import __version__
from swell.collect import BlueskyCollect, CollectRefused, MastodonCollect, Politeness, collect_bluesky, collect_mastodon
from swell.collect.bluesky import LOOKBACK_MARGIN_S
from swell.collect.polite import rate_limit_wait_s
from swell.live import jetstream_wire as wire
from swell.live.archives import MastodonInstance, Misbehaviour, SearchAppView
from swell.live.replay import MastodonReplay, Replay, serving
from swell.simulate import write_jetstream, write_mastodon
from swell.store import Store, rejects_path
from swell.times import parse_iso_time, us_to_datetime
from test_live import simulated_file, started, stored_ids

CORPUS = DATA.parent / "corpora" / "collect"  # real posts, apart from the samples of tests/data
POSTS = CORPUS / "atrrr-rstats-appview-posts.jsonl"
STATUSES = CORPUS / "rtoot-ichbinhanna-statuses.jsonl"
SINCE, UNTIL = parse_iso_time("2024-01-01T00:00:00Z"), parse_iso_time("2025-07-04T08:00:00Z")
FAST = {"backoff_s": (0.001, 0.01)}  # the backoff's waits, short: the test servers fail on purpose, and often
UNSTABLE = {"rate_limited": 0.1, "server_errors": 0.1, "dropped": 0.1}


def expected_ids(tmp: Path, path: Path, tag: str, since: int = SINCE, until: int = UNTIL) -> set[str]:
    """The posts of the file with the hashtag, within the time, as the file reader finds them."""
    reference = tmp / f"reference-{path.stem}.duckdb"
    ingest(reference, path)
    found = rows(reference, "SELECT post_id, epoch_us(created_at) AS t FROM posts WHERE list_contains(hashtags, ?)",
                 [tag])  # fmt: skip
    return {r["post_id"] for r in found if since <= r["t"] < until}


def exactly_once(db: Path, expected: set[str]) -> None:
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected


def slices(db: Path) -> list[dict]:
    return rows(db, "SELECT * FROM collect_slices ORDER BY source, slice_from, slice_until")


def test_search_is_sliced_under_its_cap_and_every_post_stored_once_through_failures(tmp_path):
    expected = expected_ids(tmp_path, POSTS, "rstats")
    assert len(expected) > 60
    server = SearchAppView.from_file(POSTS, cap=20, misbehaviour=Misbehaviour(**UNSTABLE, seed=1))
    db = tmp_path / "search.duckdb"
    with serving(server) as url:
        todo = BlueskyCollect(db=db, hashtag="rstats", since_us=SINCE, until_us=UNTIL, service=url, page_size=7,
                              cap=20, lookback_s=0, politeness=Politeness(**FAST))  # fmt: skip
        stats = collect_bluesky(todo)
        before = server.misbehaviour.requests
        collect_bluesky(todo)  # asked again, the collection is done: the service is not asked at all
        assert server.misbehaviour.requests == before
    exactly_once(db, expected)
    done = sorted(slices(db), key=lambda s: -s["slice_until"])  # in the order they were asked
    # each slice was followed by one from its start to the oldest post it reached, until one ended
    # under the cap, and the one after it found nothing older
    assert [s["fetched"] >= 20 for s in done] == [True] * (len(done) - 2) + [False, False]
    assert done[-1]["reached_us"] // 1_000 == done[-2]["reached_us"] // 1_000
    assert len(done) > len(expected) // 20 and all(s["done"] and s["slice_from"] == SINCE for s in done)
    for s, after in itertools.pairwise(done):
        assert after["slice_until"] == s["reached_us"] // 1_000 * 1_000 + 1_000
    # every failure the server made was met, counted and recovered from
    assert server.misbehaviour.failures == todo.politeness.retries
    assert min(server.misbehaviour.failures[k] for k in ("429", "5xx", "dropped")) >= 1
    assert stats.new == len(expected) and "no reposts" in " ".join(stats.notes)
    assert server.agents == {f"swell/{__version__} (swell collect; hashtag campaign research)"}


@pytest.mark.parametrize("endpoint", ["v1", "v2"])
def test_within_the_lookback_jetstream_gives_posts_and_reposts_of_them(endpoint, tmp_path):
    """Jetstream replayed from the cursor `since` to `until`: the hashtag's posts and the reposts of
    them, which search does not give (co-reposts need them). Simulated, as in test_live: the real
    Jetstream samples are three events. Through v2, the slice's cursor is the seq read, with the time
    reached beside it (not `since`, which a resume would read again from)."""
    path, _, until_us = simulated_file(tmp_path, write_jetstream, 300, 2_000, seed=7)
    replay = Replay.from_file(path, drop_every=400, seed=2)
    since = replay.times[len(replay.times) // 3]
    everything = tmp_path / "everything.duckdb"
    ingest(everything, path)
    tagged = "list_contains(hashtags, 'blast') AND epoch_us(created_at) >= ?"
    wanted = rows(
        everything,
        f"""SELECT post_id FROM posts WHERE {tagged} OR (kind = 'repost' AND ref_post_id IN
                  (SELECT post_id FROM posts WHERE {tagged}) AND epoch_us(created_at) >= ?)""",
        [since, since, since],
    )
    db = tmp_path / "jetstream.duckdb"
    with serving(replay) as url:
        url = url if endpoint == "v1" else url.replace(wire.V1_PATH, wire.V2_PATH)
        todo = BlueskyCollect(db=db, hashtag="blast", since_us=since, until_us=until_us, jetstream=url,
                              lookback_s=10**10, batch_seconds=0.2)  # fmt: skip
        todo.politeness.user_agent = "study (me@example.org)"
        stats = collect_bluesky(todo)
    assert replay.agents == {"study (me@example.org)"}  # Jetstream is told who asks, as search is
    exactly_once(db, {r["post_id"] for r in wanted})
    assert len(rows(db, "SELECT * FROM posts WHERE kind = 'repost'")) > 50
    assert stats.connections >= 2 and stats.notes == []
    assert [(s["source"], s["done"]) for s in slices(db)] == [(f"jetstream:{url}", True)]
    cursors = {r["stream"]: r["cursor"] for r in rows(db, "SELECT * FROM live_cursors")}
    key = f"collect:jetstream:{url}#blast@{since}-{until_us}"
    if endpoint == "v2":
        assert set(cursors) == {key, key + "#time_us"}
        assert cursors[key] == len(replay.times) - 1  # the seq of the last event before `until`
        assert since < cursors[key + "#time_us"] < until_us
    else:
        assert set(cursors) == {key, key + "#seq"} and since < cursors[key] < until_us


def test_search_before_the_lookback_and_jetstream_within_it_meet_without_a_gap(tmp_path):
    """The same real posts, as the AppView and as Jetstream events: the older part from search, the
    rest from Jetstream, each post once."""
    views = [orjson.loads(line) for line in POSTS.read_bytes().splitlines()]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(_event(v)) for v in views) + b"\n")
    expected = expected_ids(tmp_path, POSTS, "rstats")
    boundary = parse_iso_time("2025-07-01T00:00:00Z")  # posts on both sides of it
    lookback_s = _lookback_to(boundary, views)
    db = tmp_path / "both.duckdb"
    with serving(SearchAppView(views, cap=30)) as service, serving(Replay.from_file(events)) as jetstream:
        todo = BlueskyCollect(db=db, hashtag="rstats", since_us=SINCE, until_us=UNTIL, service=service,
                              jetstream=jetstream, lookback_s=lookback_s, batch_seconds=0.2)  # fmt: skip
        stats = collect_bluesky(todo)
    exactly_once(db, expected)
    sources = {s["source"].split(":")[0] for s in slices(db)}
    assert sources == {"bluesky-search", "jetstream"} and stats.frames > 0 and stats.pages > 0


def _lookback_to(boundary: int, views: list[dict]) -> float:
    """The lookback that puts the boundary between search and Jetstream there, give or take the time
    until the collection computes it from the clock: the posts are days away from it, so that the
    result does not depend on how long that takes."""
    near = [v for v in views for t in ("indexedAt", "createdAt") if abs(parse_iso_time(v.get(t) or v["record"][t])
                                                                         - boundary) < 86_400 * 1_000_000]  # fmt: skip
    assert near == []
    return time.time() - boundary / 1e6 + LOOKBACK_MARGIN_S


def _event(view: dict) -> dict:
    """A PostView as Jetstream sends the post: its record, its author, the time it was indexed."""
    did, collection, rkey = view["uri"][len("at://") :].split("/")
    commit = {"rev": "r", "operation": "create", "collection": collection, "rkey": rkey, "record": view["record"],
              "cid": view["cid"]}  # fmt: skip
    return {"did": did, "time_us": parse_iso_time(view["indexedAt"]), "kind": "commit", "commit": commit}


def test_two_instances_sharing_statuses_store_each_once_through_failures(tmp_path):
    first, second = MastodonInstance.sharing(STATUSES, misbehaviour=Misbehaviour(**UNSTABLE))
    uris = [{s["uri"] for s in i.statuses} for i in (first, second)]
    assert uris[0] & uris[1] and uris[0] - uris[1] and uris[1] - uris[0]
    since, until = parse_iso_time("2025-01-01T00:00:00Z"), parse_iso_time("2025-06-01T00:00:00Z")
    expected = expected_ids(tmp_path, STATUSES, "ichbinhanna", since, until)
    db = tmp_path / "mastodon.duckdb"
    with serving(first) as one, serving(second) as two:
        todo = MastodonCollect(db=db, hashtag="ichbinhanna", since_us=since, until_us=until, instances=(one, two),
                               page_size=10, politeness=Politeness(**FAST))  # fmt: skip
        stats = collect_mastodon(todo)
    exactly_once(db, expected)
    assert stats.posts > len(expected) > 40  # the shared statuses came twice, and were stored once
    failures = first.misbehaviour.failures + second.misbehaviour.failures
    assert failures == todo.politeness.retries and min(failures.values()) >= 1


def test_sigkill_mid_collection_then_the_same_command_finishes_with_each_status_once(tmp_path):
    """Both instances hold their third request until released: the collection is killed after its
    first commits, then run again with the same command; nothing lost, nothing stored twice, and the
    finished run, asked again, asks nothing."""
    hold = Misbehaviour(hold_after=2)
    first, second = MastodonInstance.sharing(STATUSES, misbehaviour=hold)
    since = parse_iso_time("2025-01-01T00:00:00Z")
    until = "2025-06-01T00:00:00Z"
    expected = expected_ids(tmp_path, STATUSES, "ichbinhanna", since, parse_iso_time(until))
    db = tmp_path / "killed.duckdb"
    with serving(first) as one, serving(second) as two:
        cmd = [sys.executable, "-m", "swell", "collect", "mastodon", "#IchBinHanna", "--instance", one, "--instance",
               two, "--since", "2025-01-01", "--until", until, "--db", str(db), "--flush", "0"]  # fmt: skip
        killed_after_first_commits(cmd, db)
        assert 0 < len(stored_ids(db)) < len(expected)
        hold.release.set()
        swell(*cmd[3:])  # the same command again (in this process: it is not killed)
        exactly_once(db, expected)
        asked = first.misbehaviour.requests + second.misbehaviour.requests
        collect_mastodon(MastodonCollect(db=db, hashtag="ichbinhanna", since_us=since, until_us=parse_iso_time(until),
                                         instances=(one, two)))  # fmt: skip
        assert first.misbehaviour.requests + second.misbehaviour.requests == asked


def test_sigkill_mid_search_then_the_same_command_resumes_from_the_committed_cursor(tmp_path):
    """Search killed mid-way (the stand-in holds its fourth request), then run again: each post once,
    and the second run does not ask again for the slice finished before the kill."""
    expected = expected_ids(tmp_path, POSTS, "rstats")
    hold = Misbehaviour(hold_after=3)
    server = SearchAppView.from_file(POSTS, cap=30, misbehaviour=hold)
    db = tmp_path / "killed.duckdb"
    with serving(server) as url:
        cmd = [sys.executable, "-m", "swell", "collect", "bluesky", "#rstats", "--since", "2024-01-01", "--until",
               "2025-07-04T08:00", "--service", url, "--lookback", "0", "--db", str(db), "--flush", "0"]  # fmt: skip
        killed_after_first_commits(cmd, db)
        committed = rows(db, "SELECT done FROM collect_slices")
        assert 0 < len(stored_ids(db)) < len(expected) and any(c["done"] for c in committed)
        hold.release.set()
        swell(*cmd[3:])  # the same command again (in this process: it is not killed)
    exactly_once(db, expected)
    first_pages = [u for u in server.asked if "cursor=" not in u][:1]  # asked once: the run before the kill
    assert len([u for u in server.asked if u in first_pages]) == 1


def killed_after_first_commits(cmd: list, db: Path) -> None:
    """Start the command, wait for its first committed page, then SIGKILL it."""
    with started(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as running:
        _wait_for_commits(running, db)
        os.kill(running.pid, signal.SIGKILL)
        running.wait()


def _committed_pages(db: Path) -> int:
    if not db.exists():
        return 0
    with Store(db, read_only=True, wait_s=120) as store:
        found = store.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'collect_slices'").fetchone()
        return store.con.execute("SELECT count(*) FROM collect_slices").fetchone()[0] if found[0] else 0


def test_a_refusal_is_one_clear_line_and_exit_1_with_what_was_read_kept(tmp_path):
    """Since 2025 the public AppView answers unauthenticated search with 403: a clear error, no retry."""
    server = SearchAppView.from_file(POSTS, misbehaviour=Misbehaviour(refuse=403))
    db = tmp_path / "refused.duckdb"
    with serving(server) as url:
        cmd = [sys.executable, "-m", "swell", "collect", "bluesky", "rstats", "--since", "2024-01-01", "--until",
               "2025-01-01", "--service", url, "--lookback", "0", "--db", str(db),
               "--user-agent", "study (me@example.org)"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: {url}/xrpc/app.bsky.feed.searchPosts: 403 Forbidden" in done.stderr
    assert "Authentication Required" in done.stderr and server.misbehaviour.requests == 1
    assert "\ncollected 0 posts (0 new) in 0 pages" in done.stderr  # the summary on a line of its own
    assert server.agents == {"study (me@example.org)"}
    with pytest.raises(CollectRefused, match="404"), serving(server) as url:
        todo = MastodonCollect(db=db, hashtag="rstats", since_us=SINCE, instances=(url,))
        collect_mastodon(todo)  # not a Mastodon instance


def test_rate_limit_waits_as_each_service_says_them():
    now = 1_700_000_000.0
    assert rate_limit_wait_s(httpx.Headers({"Retry-After": "7"}), now) == 7
    assert rate_limit_wait_s(httpx.Headers({"Retry-After": "Tue, 14 Nov 2023 22:13:40 GMT"}), now) == 20
    assert rate_limit_wait_s(httpx.Headers({"ratelimit-reset": str(int(now) + 30)}), now) == 30  # Bluesky
    reset = us_to_datetime(int((now + 45) * 1e6)).isoformat()
    assert rate_limit_wait_s(httpx.Headers({"X-RateLimit-Reset": reset}), now) == 45  # Mastodon
    assert rate_limit_wait_s(httpx.Headers({"Retry-After": "soon"}), now) is None
    assert rate_limit_wait_s(httpx.Headers({}), now) is None


def test_watch_mastodon_on_two_instances_stores_each_status_once(tmp_path):
    """`swell watch mastodon` on two instances at once (each a replay of the same statuses, as two
    instances that both know them): every status once, a cursor per instance."""
    path, expected, until_us = simulated_file(tmp_path, write_mastodon, 100, 600, seed=8)
    db = tmp_path / "two.duckdb"
    with (
        serving(MastodonReplay.from_file(path, rate=5_000)) as one,
        serving(MastodonReplay.from_file(path, rate=5_000)) as two,
    ):
        until = us_to_datetime(until_us).isoformat()
        cmd = [sys.executable, "-m", "swell", "watch", "mastodon", one, two, "--db", str(db), "--until", until,
               "--flush", "0.2"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        refused = subprocess.run([*cmd, "--token", "s3cret"], capture_output=True, text=True)
    exactly_once(db, expected)
    cursors = rows(db, "SELECT stream FROM live_cursors ORDER BY stream")
    assert [c["stream"] for c in cursors] == sorted(f"mastodon:{u}/api/v1/streaming/public" for u in (one, two))
    assert refused.returncode == 2 and "a token is for one instance" in refused.stderr


def test_a_malformed_status_is_set_aside_with_its_instance_and_the_rest_stored(tmp_path):
    """Hostile data: a status without content and one whose account is a string, among real ones."""
    lines = STATUSES.read_bytes().splitlines()[:30]
    spoiled = [orjson.loads(line) for line in lines]
    del spoiled[3]["content"]
    spoiled[7]["account"] = "not an account \x1b[31m"
    path = tmp_path / "spoiled.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(s) for s in spoiled) + b"\n")
    good = tmp_path / "good.jsonl"
    good.write_bytes(b"\n".join(orjson.dumps(s) for i, s in enumerate(spoiled) if i not in (3, 7)) + b"\n")
    since, until = parse_iso_time("2024-01-01T00:00:00Z"), parse_iso_time("2026-01-01T00:00:00Z")
    expected = expected_ids(tmp_path, good, "ichbinhanna", since, until)
    db = tmp_path / "spoiled.duckdb"
    with serving(MastodonInstance([orjson.loads(line) for line in path.read_bytes().splitlines()])) as url:
        todo = MastodonCollect(db=db, hashtag="ichbinhanna", since_us=since, until_us=until, instances=(url,))
        stats = collect_mastodon(todo)
    exactly_once(db, expected)
    rejected = [orjson.loads(line) for line in rejects_path(db).read_bytes().splitlines()]
    assert stats.rejected == len(rejected) == 2
    reasons = sorted(r["reason"] for r in rejected)
    assert reasons[0].startswith("bad value (") and reasons[1] == "status has no content"
    assert all(r["at"].startswith(f"mastodon:{url} id=") for r in rejected)


def test_sigterm_stops_cleanly_and_exits_1_even_quiet(tmp_path):
    """`swell collect ... && swell campaign ...` must not go on after a collection stopped half-way:
    SIGTERM commits what was read and exits 1, with the reason said even with --quiet."""
    hold = Misbehaviour(hold_after=2)
    first, second = MastodonInstance.sharing(STATUSES, misbehaviour=hold)
    db = tmp_path / "stopped.duckdb"
    with serving(first) as one, serving(second) as two:
        cmd = [sys.executable, "-m", "swell", "collect", "mastodon", "IchBinHanna", "--instance", one, "--instance",
               two, "--since", "2025-01-01", "--until", "2025-06-01", "--db", str(db), "--flush", "0",
               "--quiet"]  # fmt: skip
        with started(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as running:
            _wait_for_commits(running, db)
            os.kill(running.pid, signal.SIGTERM)
            out, err = running.communicate()
        hold.release.set()
    assert running.returncode == 1 and out == "" and "Traceback" not in err
    assert err.strip() == "error: stopped before the end: the same command goes on from where it was"
    assert stored_ids(db)


def test_a_refusing_search_does_not_cancel_jetstream(tmp_path):
    """The public AppView refuses search without an account (403); Jetstream's part of the time asked
    is collected all the same, then the refusal is raised."""
    views = [orjson.loads(line) for line in POSTS.read_bytes().splitlines()]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(_event(v)) for v in views) + b"\n")
    boundary = parse_iso_time("2025-07-01T00:00:00Z")
    lookback_s = _lookback_to(boundary, views)
    within = {f"bluesky:{v['uri']}" for v in views if parse_iso_time(v["indexedAt"]) >= boundary}  # Jetstream's
    refusing = SearchAppView(views, misbehaviour=Misbehaviour(refuse=403))
    db = tmp_path / "half.duckdb"
    with serving(refusing) as service, serving(Replay.from_file(events)) as jetstream:
        todo = BlueskyCollect(db=db, hashtag="rstats", since_us=SINCE, until_us=UNTIL, service=service,
                              jetstream=jetstream, lookback_s=lookback_s, batch_seconds=0.2)  # fmt: skip
        with pytest.raises(CollectRefused, match="403 Forbidden"):
            collect_bluesky(todo)
    expected = expected_ids(tmp_path, POSTS, "rstats") & within
    assert expected and refusing.misbehaviour.requests == 1
    exactly_once(db, expected)
    assert [(s["source"], s["done"]) for s in slices(db)] == [(f"jetstream:{jetstream}", True)]  # search: to ask again


def test_one_refusing_instance_leaves_the_others_to_finish(tmp_path):
    statuses = [orjson.loads(line) for line in STATUSES.read_bytes().splitlines()]
    since, until = parse_iso_time("2025-01-01T00:00:00Z"), parse_iso_time("2025-06-01T00:00:00Z")
    expected = expected_ids(tmp_path, STATUSES, "ichbinhanna", since, until)
    db = tmp_path / "one.duckdb"
    good, refusing = MastodonInstance(statuses), MastodonInstance(statuses, Misbehaviour(refuse=401))
    with serving(good) as one, serving(refusing) as two:
        cmd = ["collect", "mastodon", "ichbinhanna", "--instance", two, "--instance", one, "--since", "2025-01-01",
               "--until", "2025-06-01", "--db", str(db), "--flush", "0", "--quiet"]  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "swell", *cmd], capture_output=True, text=True)
    assert done.returncode == 1 and f"error: {two}/api/v1/timelines/tag/ichbinhanna" in done.stderr
    assert "401 Unauthorized" in done.stderr and refusing.misbehaviour.requests == 1
    exactly_once(db, expected)
    assert {s["source"]: s["done"] for s in slices(db)} == {f"mastodon:{one}": True}


def _wait_for_commits(running: subprocess.Popen, db: Path) -> None:
    _wait_for(running, lambda: _committed_pages(db) > 0)


def _wait_for(running: subprocess.Popen, committed: Callable[[], bool]) -> None:
    """Until the running collector has committed (the store is its only sign), or has ended: then
    the test fails with what it said, rather than waiting for ever."""
    while not committed():
        assert running.poll() is None, running.stderr.read()
        time.sleep(0.05)  # a poll, not a deadline


def test_an_unreachable_jetstream_is_given_up_after_the_attempts_not_retried_forever(tmp_path):
    with serving(SearchAppView([])) as free:  # a port that was served and is no longer
        pass
    url = free.replace("http://", "ws://") + "/subscribe"
    db = tmp_path / "unreachable.duckdb"
    todo = BlueskyCollect(db=db, hashtag="rstats", since_us=SINCE, until_us=UNTIL, jetstream=url, lookback_s=10**10,
                          politeness=Politeness(attempts=3, **FAST))  # fmt: skip
    with pytest.raises(CollectRefused, match=f"{url}: gave up after 3 connections in a row that failed"):
        collect_bluesky(todo)
    assert todo.stats.connections == 0 and [s["done"] for s in slices(db)] == [False]


def test_a_jetstream_played_out_before_until_stops_when_idle_with_an_error(tmp_path):
    """A Jetstream with nothing up to `until` (here a replay played out) would be waited on forever:
    after `idle_s` without an event the collection stops, says so, and keeps what it read."""
    path, _, _ = simulated_file(tmp_path, write_jetstream, 20, 200, seed=3)
    replay = Replay.from_file(path)
    db = tmp_path / "idle.duckdb"
    with serving(replay) as url:
        todo = BlueskyCollect(db=db, hashtag="blast", since_us=replay.times[0], until_us=replay.times[-1] + 1,
                              jetstream=url, lookback_s=10**10, idle_s=1.0, batch_seconds=0.2)  # fmt: skip
        with pytest.raises(CollectRefused, match=f"{url}: no event for 1 s before"):
            collect_bluesky(todo)
    assert [s["done"] for s in slices(db)] == [False] and todo.stats.frames > 0  # the same command goes on
    ids = stored_ids(db)
    assert len(ids) == len(set(ids))
    assert replay.times[0] < todo.stats.reached_us[f"jetstream:{url}"] <= replay.times[-1]  # the time reached


def test_redirects_are_followed_and_waits_asked_for_are_not_failures(tmp_path):
    """An instance that moved (301) is followed to where it is; five 429s in a row, each saying how
    long to wait, are waited out even with 3 attempts: only failures count."""
    statuses = [orjson.loads(line) for line in STATUSES.read_bytes().splitlines()]
    since, until = parse_iso_time("2025-01-01T00:00:00Z"), parse_iso_time("2025-06-01T00:00:00Z")
    expected = expected_ids(tmp_path, STATUSES, "ichbinhanna", since, until)
    db = tmp_path / "moved.duckdb"
    instance = MastodonInstance(statuses, Misbehaviour(rate_limited_first=5))
    with serving(instance) as url:
        todo = MastodonCollect(db=db, hashtag="ichbinhanna", since_us=since, until_us=until,
                               instances=(f"{url}/moved",), politeness=Politeness(attempts=3, **FAST))  # fmt: skip
        collect_mastodon(todo)
    exactly_once(db, expected)
    assert todo.politeness.retries == {"429": 5}
    with serving(MastodonInstance(statuses, Misbehaviour(rate_limited_first=5))) as url:  # asking for ever
        todo = MastodonCollect(db=tmp_path / "limited.duckdb", hashtag="ichbinhanna", since_us=since, until_us=until,
                               instances=(url,), politeness=Politeness(attempts=3, waits=4, **FAST))  # fmt: skip
        with pytest.raises(CollectRefused, match="gave up after 0 failures and 4 rate limits"):
            collect_mastodon(todo)


@pytest.mark.parametrize("option", ["--instance", "--service", "--jetstream"])
def test_a_url_without_its_scheme_is_a_usage_error(option, tmp_path):
    network = "mastodon" if option == "--instance" else "bluesky"
    cmd = ["collect", network, "rstats", option, "mastodon.social", "--since", "2025-01-01", "--db",
           str(tmp_path / "no.duckdb")]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "swell", *cmd], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'mastodon.social' is not a URL starting with" in done.stderr


def test_search_goes_on_past_moderated_posts_left_out_of_its_pages(tmp_path):
    """The AppView leaves moderated posts out of its pages, without `hitsTotal`: a capped slice then
    holds fewer than the cap, and a page may be empty with a cursor. Neither ends the collection."""
    server = SearchAppView.from_file(POSTS, cap=20, moderated=4, hits_total=False)
    expected = expected_ids(tmp_path, POSTS, "rstats") - {f"bluesky:{uri}" for uri in server.hidden}
    assert len(server.hidden) > 10 and len(expected) > 50
    db = tmp_path / "moderated.duckdb"
    with serving(server) as url:
        todo = BlueskyCollect(db=db, hashtag="rstats", since_us=SINCE, until_us=UNTIL, service=url, page_size=1,
                              cap=20, lookback_s=0)  # fmt: skip
        collect_bluesky(todo)
    exactly_once(db, expected)


def test_paging_that_does_not_move_back_is_an_error_not_a_finished_slice(tmp_path):
    """A server that ignores max_id gives the newest page again: the slice is left unfinished and
    the command says why (it was marked done, the older statuses silently missing)."""
    statuses = [orjson.loads(line) for line in STATUSES.read_bytes().splitlines()]
    db = tmp_path / "stuck.duckdb"
    with serving(MastodonInstance(statuses, ignores_max_id=True)) as url:
        todo = MastodonCollect(db=db, hashtag="ichbinhanna", since_us=SINCE, until_us=UNTIL, instances=(url,))
        with pytest.raises(CollectRefused, match="gave the page before it again"):
            collect_mastodon(todo)
    assert [(s["done"], s["fetched"]) for s in slices(db)] == [(False, 80)]


def test_swell_replay_pages_its_tag_timeline_back_with_max_id(tmp_path):
    """`swell replay`'s Mastodon mode serves the tag timeline as an instance does: `collect mastodon`
    against it stores every tagged status (it stored the newest 80 of 131)."""
    since, until = parse_iso_time("2025-01-01T00:00:00Z"), parse_iso_time("2025-06-01T00:00:00Z")
    expected = expected_ids(tmp_path, STATUSES, "ichbinhanna", since, until)
    replay = MastodonReplay.from_file(STATUSES, rate=1e15)
    db = tmp_path / "replayed.duckdb"
    with serving(replay) as url:
        httpx.get(f"{url}/api/v1/timelines/tag/ichbinhanna")  # publishes the file (all of it, at that rate)
        todo = MastodonCollect(db=db, hashtag="ichbinhanna", since_us=since, until_us=until, instances=(url,),
                               page_size=10)  # fmt: skip
        collect_mastodon(todo)
    exactly_once(db, expected)
    assert len(expected) > 40 and [s["done"] for s in slices(db)] == [True]


def test_ids_that_are_not_numbers_are_paged_through_too(tmp_path):
    """Pleroma, Akkoma and GoToSocial ids are not numbers: the slice pages on all the same (it
    ended after the first page, marked done)."""
    statuses = [orjson.loads(line) for line in STATUSES.read_bytes().splitlines()]
    since, until = parse_iso_time("2025-01-01T00:00:00Z"), parse_iso_time("2025-06-01T00:00:00Z")
    expected = expected_ids(tmp_path, STATUSES, "ichbinhanna", since, until)
    db = tmp_path / "opaque.duckdb"
    with serving(MastodonInstance(statuses, opaque_ids=True)) as url:
        todo = MastodonCollect(db=db, hashtag="ichbinhanna", since_us=since, until_us=until, instances=(url,),
                               page_size=10)  # fmt: skip
        collect_mastodon(todo)
    exactly_once(db, expected)
    assert [s["done"] for s in slices(db)] == [True] and slices(db)[0]["cursor"].startswith("A")


def test_jetstream_keeps_only_posts_written_within_the_time_asked_as_search_does(tmp_path):
    """Jetstream replays by the time an event was indexed: a real post indexed 68 minutes after it
    was written comes after a cursor set between the two, and is outside the time asked for."""
    views = [orjson.loads(line) for line in POSTS.read_bytes().splitlines()]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(_event(v)) for v in views) + b"\n")
    since = parse_iso_time("2025-07-03T10:30:00Z")
    late = [v for v in views if parse_iso_time(v["record"]["createdAt"]) < since <= parse_iso_time(v["indexedAt"])]
    assert len(late) == 1
    db = tmp_path / "within.duckdb"
    # (the events are sparse: the first after the cursor looks like a gap, which search is asked for)
    with serving(Replay.from_file(events)) as jetstream, serving(SearchAppView(views)) as service:
        todo = BlueskyCollect(db=db, hashtag="rstats", since_us=since, until_us=UNTIL, jetstream=jetstream,
                              service=service, lookback_s=10**10, batch_seconds=0.2)  # fmt: skip
        stats = collect_bluesky(todo)
    exactly_once(db, expected_ids(tmp_path, POSTS, "rstats", since, UNTIL))
    assert stats.outside == 1


def test_what_jetstream_no_longer_has_is_asked_of_search(tmp_path):
    """A Jetstream slice whose start Jetstream no longer keeps (its lookback moved on: a slice
    resumed days later) is a gap; the collection fills it from search, and still says it."""
    views = [orjson.loads(line) for line in POSTS.read_bytes().splitlines()]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(_event(v)) for v in views) + b"\n")
    kept_from = parse_iso_time("2025-07-03T00:00:00Z")
    db = tmp_path / "clamped.duckdb"
    with serving(SearchAppView(views)) as service, serving(Replay.from_file(events, kept_from_us=kept_from)) as url:
        todo = BlueskyCollect(db=db, hashtag="rstats", since_us=SINCE, until_us=UNTIL, service=service, jetstream=url,
                              lookback_s=10**10, batch_seconds=0.2)  # fmt: skip
        stats = collect_bluesky(todo)
    exactly_once(db, expected_ids(tmp_path, POSTS, "rstats"))
    assert len(stats.gaps) == 1 and stats.gaps[0][0] == SINCE and stats.gaps[0][1] >= kept_from
    searched = [s for s in slices(db) if s["source"] == f"bluesky-search:{service}"]
    assert searched and all(s["done"] for s in searched) and "asked of searchPosts" in " ".join(stats.notes)


def test_sigkill_mid_jetstream_slice_then_the_same_command_finishes_it(tmp_path):
    """Jetstream's part killed mid-slice (the replay holds halfway), then the same command: the
    slice goes on from its committed cursor, each post once."""
    path, _, until_us = simulated_file(tmp_path, write_jetstream, 300, 2_000, seed=7)
    tagged_at = [i for i, frame in enumerate(Replay.from_file(path).frames) if b"blast" in frame]
    replay = Replay.from_file(path, hold_at=tagged_at[len(tagged_at) // 2])  # held amid the campaign
    since = replay.times[len(replay.times) // 3]
    everything = tmp_path / "everything.duckdb"
    ingest(everything, path)
    query = "SELECT post_id FROM posts WHERE list_contains(hashtags, 'blast') AND epoch_us(created_at) >= ?"
    tagged = {r["post_id"] for r in rows(everything, query, [since])}
    reposts = {r["post_id"] for r in rows(everything, "SELECT post_id FROM posts WHERE kind = 'repost'")}
    of_tagged = {  # the reposts of those posts, also those of posts kept before the kill
        r["post_id"]
        for r in rows(
            everything, f"SELECT post_id FROM posts WHERE kind = 'repost' AND ref_post_id IN ({query})", [since]
        )
    }
    db = tmp_path / "killed.duckdb"
    with serving(replay) as url:
        cmd = [sys.executable, "-m", "swell", "collect", "bluesky", "blast", "--since",
               us_to_datetime(since).isoformat(), "--until", us_to_datetime(until_us).isoformat(), "--jetstream", url,
               "--lookback", "1e9", "--db", str(db), "--flush", "0"]  # fmt: skip
        with started(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as running:
            _wait_for(running, lambda: db.exists() and _committed_posts(db) > 0)
            os.kill(running.pid, signal.SIGKILL)
            running.wait()
        assert 0 < _committed_posts(db) < len(tagged)
        replay.release.set()
        swell(*cmd[3:])
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) - reposts == tagged and set(ids) & reposts == of_tagged
    assert [s["done"] for s in slices(db)] == [True] and replay.cursors[0] == since != replay.cursors[-1]  # resumed


def _committed_posts(db: Path) -> int:
    with Store(db, read_only=True, wait_s=120) as store:
        return store.con.execute("SELECT count(*) FROM posts").fetchone()[0]
