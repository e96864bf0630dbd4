"""Live: the real Jetstream and Mastodon connectors against the local replay server, which drops
connections at random points and sends malformed frames; `swell watch` killed with SIGKILL and
restarted. After the stream ends the store must hold every post of the stream exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from websockets.sync.client import connect

from conftest import ingest, rows
from swell.errors import NotAStore, StreamRefused
from swell.live import jetstream_wire as wire
from swell.live.jetstream import JetstreamOptions, stream_key, watch
from swell.live.mastodon import MastodonOptions
from swell.live.mastodon import watch as watch_mastodon
from swell.live.replay import MastodonReplay, Replay, serving
from swell.simulate import Campaign, Simulation, generate, write_jetstream, write_mastodon
from swell.store import Store, rejects_path
from swell.times import datetime_to_us, parse_iso_time, us_to_datetime

START = datetime(2024, 3, 1, tzinfo=UTC)


def simulated_file(tmp: Path, write, accounts: int, posts_per_hour: float, seed: int) -> tuple[Path, set[str], int]:
    """Three hours of posts with a grassroots blast planted at 02:25 (still trending when the stream
    ends), written by `write`, then one
    more record a millisecond after the last post (a Jetstream deletion; a Mastodon status with
    the blast's hashtag): a watcher told to stop at its time (`until_us`) has read the whole stream,
    without waiting for the stream to go quiet. Returns the file, the post ids the file reader finds
    before the last record (what a live run must store), and that record's time."""
    blast = Campaign("grassroots", "Blast", START + timedelta(hours=2, minutes=25), accounts=accounts)
    table, _ = generate(Simulation(hours=3, posts_per_hour=posts_per_hour, seed=seed, campaigns=[blast]))
    path = tmp / "stream.jsonl"
    write(table, path)
    # a whole millisecond after the last post: Mastodon statuses carry milliseconds
    until_us = (datetime_to_us(table.column("created_at")[-1].as_py()) // 1_000 + 1) * 1_000
    reference = tmp / "reference.duckdb"
    ingest(reference, path)
    expected = {r["post_id"] for r in rows(reference, "SELECT post_id FROM posts")}
    with path.open("ab") as out:
        out.write(orjson.dumps(_end_marker(write, until_us)) + b"\n")
    return path, expected, until_us


def end_commit(time_us: int) -> dict:
    """The Jetstream event that ends a test's stream: the deletion of a post nobody stored."""
    commit = {"rev": "3end", "operation": "delete", "collection": "app.bsky.feed.post", "rkey": "3end"}
    return {"did": "did:plc:end", "time_us": time_us, "kind": "commit", "commit": commit}


def _end_marker(write, time_us: int) -> dict:
    if write is write_jetstream:  # a commit, which every filter lets through, and a delete: no post
        return end_commit(time_us)
    when = us_to_datetime(time_us).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "id": str(10**16), "uri": "https://sim.example/users/end/statuses/end", "created_at": when,
        "account": {"id": "end", "acct": "end", "url": "https://sim.example/@end"}, "content": "<p>#Blast</p>",
        "tags": [{"name": "Blast", "url": "https://sim.example/tags/blast"}], "reblog": None, "mentions": [],
    }  # fmt: skip


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """Jetstream events."""
    path, ids, until_us = simulated_file(tmp_path_factory.mktemp("live"), write_jetstream, 300, 2_000, seed=7)
    assert len(ids) > 3_900
    return path, ids, until_us


def stored_ids(db: Path) -> list[str]:
    return [r["post_id"] for r in rows(db, "SELECT post_id FROM posts")]


def run_watch(db: Path, url: str, until_us: int, **options) -> JetstreamOptions:
    opts = JetstreamOptions(url=url, batch_seconds=0.2, until_us=until_us, backoff_s=(0.05, 0.5), **options)
    asyncio.run(watch(db, opts, asyncio.Event()))
    return opts


def test_drops_and_malformed_frames_lose_nothing_and_store_nothing_twice(stream, tmp_path):
    path, expected, until_us = stream
    replay = Replay.from_file(path, drop_every=400, bad_frames=500, seed=1)
    db = tmp_path / "live.duckdb"
    with serving(replay) as url:
        opts = run_watch(db, url, until_us)
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    stats = opts.stats
    assert stats.connections >= 5  # it was dropped again and again, and came back each time
    # resumed each time from the seq of the last event read (its `cursor`), which this server gives
    assert replay.cursors[0] is None and all(0 < c < 10**15 for c in replay.cursors[1:])
    assert stats.new == len(expected)
    # every malformed frame was counted and set aside, with a reason, and the connection stayed up
    bad = replay.sent // 500
    rejected = [orjson.loads(line) for line in rejects_path(db).read_bytes().splitlines()]
    reasons = [r["reason"] for r in rejected]
    assert len(rejected) == stats.rejected == sum(1 for n in range(1, bad + 1) if n % 3 != 1)
    assert sum(r.startswith("not JSON") for r in reasons) == sum(1 for n in range(1, bad + 1) if n % 3 == 0)
    assert sum("over the 1,000,000 limit" in r for r in reasons) == sum(1 for n in range(1, bad + 1) if n % 3 == 2)
    assert all(len(r["raw"]) < 20_000 for r in rejected)  # a huge frame is kept in part
    assert stats.ignored["jetstream app.example.unknown create"] == sum(1 for n in range(1, bad + 1) if n % 3 == 1)
    with Store(db, read_only=True) as store:
        last = max(orjson.loads(line)["time_us"] for line in path.read_bytes().splitlines()[:-1])
        assert store.live_cursor(stream_key(url)) == last


def test_filters_keep_the_hashtags_asked_for_and_reposts_of_those_posts(stream, tmp_path):
    """Jetstream reposts carry no hashtags; a repost of a kept post is kept, or co-reposts vanish."""
    path, expected, until_us = stream
    db = tmp_path / "blast.duckdb"
    with serving(Replay.from_file(path)) as url:
        opts = run_watch(db, url, until_us, hashtags=frozenset({"blast"}))
    kept = _blast_and_its_reposts(path, tmp_path)
    assert set(stored_ids(db)) == kept
    assert len(rows(db, "SELECT post_id FROM posts WHERE kind = 'repost'")) > 50
    assert opts.stats.filtered + len(kept) == len(expected)


def _blast_and_its_reposts(path: Path, tmp: Path) -> set[str]:
    """What a watch with --hashtag blast must store of the stream: what `swell ingest` finds."""
    everything = tmp / "everything.duckdb"
    ingest(everything, path)
    wanted = """SELECT post_id FROM posts WHERE list_contains(hashtags, 'blast') OR (kind = 'repost'
                AND ref_post_id IN (SELECT post_id FROM posts WHERE list_contains(hashtags, 'blast')))"""
    return {r["post_id"] for r in rows(everything, wanted)}


def test_replay_honours_cursor_and_collections(stream):
    path, _, _ = stream
    replay = Replay.from_file(path)
    middle = replay.times[len(replay.times) // 2]
    # max_queue=None: the client reads all the server sends, so that its close frame is read at once
    with serving(replay) as url, connect(f"{url}?wantedCollections=app.bsky.feed.repost&cursor={middle}",
                                         max_queue=None) as ws:  # fmt: skip
        events = [json.loads(ws.recv()) for _ in range(50)]
    assert all(e["time_us"] >= middle for e in events)
    assert {e["commit"]["collection"] for e in events} == {"app.bsky.feed.repost"}


def _committed(db: Path, url: str) -> int | None:
    """The cursor the watcher has committed, or None before its first commit."""
    with Store(db, read_only=True, wait_s=120) as store:
        return store.live_cursor(stream_key(url))


def watched(cmd: list, db: Path) -> contextlib.AbstractContextManager[subprocess.Popen]:
    """`swell watch` (`cmd`) started on a store made beforehand, so that looking at the store while
    the watcher runs never meets a file half created."""
    with Store(db):
        pass
    return started(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _committed_through(db: Path, url: str, watcher: subprocess.Popen, replay: Replay | None = None) -> None:
    """Wait until the watcher (a process of its own: its store is all it shows) has committed
    everything before the replay's hold, a state its clock reaches (a batch is due every --flush),
    or, without a hold, anything; it failing first fails the test with its error."""
    if replay is None or replay.hold_at is None:
        target = 0
    else:
        target = replay.first_seq + replay.hold_at - 1 if wire.is_v2(url) else replay.times[replay.hold_at - 1]
    while (_committed(db, url) or -1) < target:
        assert watcher.poll() is None, watcher.stderr.read()
        time.sleep(0.05)


@contextlib.contextmanager
def started(cmd: list, **options) -> Iterator[subprocess.Popen]:
    """A process that is killed on the way out if it is still running (a failing test leaves none)."""
    process = subprocess.Popen(cmd, text=True, **options)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_sigkill_mid_stream_then_restart_loses_nothing(stream, tmp_path):
    """Killed while the stream is held halfway (so that it is mid-stream, whatever the machine's load),
    then started again: nothing lost, nothing stored twice."""
    path, expected, until_us = stream
    db = tmp_path / "killed.duckdb"
    replay = Replay.from_file(path, hold_at=len(expected) // 2)
    with serving(replay) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(db), "--flush", "0.2"]
        with watched(cmd, db) as first:
            _committed_through(db, url, first, replay)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        after_kill = len(stored_ids(db))
        assert 0 < after_kill < len(expected)  # killed mid-stream
        replay.release.set()
        until = us_to_datetime(until_us).isoformat()
        second = subprocess.run([*cmd, "--until", until], capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected


def test_a_hashtag_watch_killed_and_restarted_keeps_reposts_of_the_posts_kept_before(stream, tmp_path):
    """A Jetstream repost carries nothing of its original: the restarted watcher must know the
    posts the killed one kept (from the store) to keep their reposts."""
    path, _, until_us = stream
    kept = _blast_and_its_reposts(path, tmp_path)
    everything = tmp_path / "everything.duckdb"
    blast = rows(everything, "SELECT epoch_us(created_at) AS t FROM posts WHERE list_contains(hashtags, 'blast')")
    halfway = sorted(r["t"] for r in blast)[len(blast) // 2]  # held halfway through the blast
    reposted_across = """SELECT count(*) AS n FROM posts r JOIN posts o ON r.ref_post_id = o.post_id
                         WHERE list_contains(o.hashtags, 'blast') AND epoch_us(o.created_at) < ?
                         AND epoch_us(r.created_at) >= ?"""
    assert rows(everything, reposted_across, [halfway, halfway])[0]["n"] > 20  # what is at stake
    replay = Replay.from_file(path)
    replay.hold_at = next(i for i, t in enumerate(replay.times) if t >= halfway)
    db = tmp_path / "killed.duckdb"
    with serving(replay) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(db), "--flush", "0.2"]
        cmd += ["--hashtag", "blast"]
        with watched(cmd, db) as first:
            _committed_through(db, url, first, replay)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        assert 0 < len(stored_ids(db)) < len(kept)  # killed halfway
        replay.release.set()
        second = subprocess.run([*cmd, "--until", us_to_datetime(until_us).isoformat()], capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
    assert set(stored_ids(db)) == kept


def test_watch_stops_cleanly_on_ctrl_c_with_everything_committed(stream, tmp_path):
    """Ctrl-C (SIGINT) while the stream is held: the watcher commits what it has read and says so."""
    path, expected, _ = stream
    db = tmp_path / "stopped.duckdb"
    replay = Replay.from_file(path, hold_at=len(expected) // 2)
    with serving(replay) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(db), "--flush", "0.2"]
        with watched(cmd, db) as running:
            _committed_through(db, url, running, replay)
            running.send_signal(signal.SIGINT)
            _, err = running.communicate()
    assert running.returncode == 0, err
    committed = int(re.search(r"stopped: ([\d,]+) posts committed", err).group(1).replace(",", ""))
    ids = stored_ids(db)
    assert 0 < len(ids) == committed < len(expected)


def test_the_batch_read_when_stopped_is_committed(stream, tmp_path):
    """Stopped with a batch read but not yet due (its two seconds not up): it is committed, not lost."""
    path, expected, _ = stream
    db = tmp_path / "stopped.duckdb"
    held = len(expected) // 2
    replay = Replay.from_file(path, hold_at=held)

    async def watch_until_held(url: str) -> JetstreamOptions:
        opts = JetstreamOptions(url=url, batch_seconds=3600)  # no batch is due before the stop
        stop = asyncio.Event()
        watching = asyncio.create_task(watch(db, opts, stop))
        while opts.stats.frames < held:  # the connector's own count of what it has read
            await asyncio.sleep(0.01)
        stop.set()
        await watching
        return opts

    with serving(replay) as url:
        opts = asyncio.run(watch_until_held(url))
        replay.release.set()
    assert opts.stats.batches == 1 and opts.stats.frames == held
    assert len(stored_ids(db)) == opts.stats.posts == len({r for r in stored_ids(db)}) > 0


def test_serve_requires_its_token_and_has_no_write_routes(stream, tmp_path):
    from starlette.testclient import TestClient

    from swell.web import create_app

    path, _, _ = stream
    db = tmp_path / "served.duckdb"
    ingest(db, path)
    (blast_posts,) = rows(db, "SELECT count(*) AS n FROM posts WHERE list_contains(hashtags, 'blast')")
    app = create_app(db, token="s3cret", interval_s=0.1)
    with TestClient(app) as client:
        assert client.get("/api/trends").status_code == 401
        assert client.get("/api/trends?token=wrong").status_code == 401
        for header, status in (
            ("Bearer s3cret", 200), ("bearer s3cret", 200), ("BEARER  s3cret ", 200),  # the scheme in any case
            ("s3cret", 401), ("Basic s3cret", 401), ("Bearer", 401), ("Bearers3cret", 401), ("", 401),
        ):  # fmt: skip
            assert client.get("/api/trends", headers={"Authorization": header}).status_code == status, header
        for route in ("/", "/events", "/api/trends", "/api/timeline", "/campaign"):
            assert client.post(f"{route}?token=s3cret").status_code == 405, route
        minutes = client.get("/api/timeline?hashtag=%23Blast&token=s3cret").json()["minutes"]
        assert sum(m["posts"] for m in minutes) == blast_posts["n"]
        app.state.follower.looked.wait()  # its first look at the store
        assert "blast" in {t["hashtag"] for t in client.get("/api/trends?token=s3cret").json()["trending"]}
        report = client.get("/campaign?hashtag=blast&planned=2024-03-01T02:25&token=s3cret")
        assert report.status_code == 200 and "<h1>#blast</h1>" in report.text
        assert client.get("/campaign?hashtag=blast&planned=yesterday&token=s3cret").status_code == 400
    with TestClient(create_app(db), base_url="http://localhost:8000") as client:  # no token: local names only
        assert client.get("/api/trends").status_code == 200
        assert client.get("/api/trends", headers={"Host": "rebound.example"}).status_code == 400


def test_serve_before_the_store_exists(tmp_path):
    """Run beside a watcher that has not committed yet: empty answers, no server error."""
    from starlette.testclient import TestClient

    from swell.web import create_app

    app = create_app(tmp_path / "not-yet.duckdb", interval_s=0.1)
    with TestClient(app, base_url="http://localhost:8000") as client:
        app.state.follower.looked.wait()
        assert client.get("/api/trends").json() == {"at": None, "posts": 0, "trending": []}
        assert client.get("/api/timeline?hashtag=blast").json() == {"hashtag": "blast", "minutes": []}
        missing = client.get("/campaign?hashtag=blast")
        assert missing.status_code == 404 and "holds no posts yet" in missing.text
        assert client.get("/").status_code == 200


@pytest.fixture(scope="module")
def mastodon_stream(tmp_path_factory):
    """Mastodon statuses."""
    return simulated_file(tmp_path_factory.mktemp("mastodon"), write_mastodon, 200, 600, seed=8)


def test_mastodon_catches_up_after_drops_and_stores_each_status_once(mastodon_stream, tmp_path):
    path, expected, until_us = mastodon_stream
    replay = MastodonReplay.from_file(path, rate=2_000, drop_every=150, bad_events=100, seed=3)
    db = tmp_path / "mastodon.duckdb"
    with serving(replay) as url:
        opts = MastodonOptions(url=url, batch_seconds=0.2, until_us=until_us, backoff_s=(0.05, 0.3))
        asyncio.run(watch_mastodon(db, opts, asyncio.Event()))
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    # Dropped after 150 to 300 streamed statuses, and back: how often depends on how many arrive by
    # the stream rather than by the catch-up, which is a matter of speed; at least once.
    assert opts.stats.connections >= 2
    # malformed updates set aside with the reason, unknown events counted, the stream kept
    rejected = [orjson.loads(line) for line in rejects_path(db).read_bytes().splitlines()]
    assert rejected and all(r["reason"].startswith("not JSON") for r in rejected)
    assert len(rejected) == opts.stats.rejected == opts.stats.ignored["mastodon stream announcement event"]
    with Store(db, read_only=True) as store:  # the newest local id read is committed with the posts
        assert store.live_cursor(f"mastodon:{url}/api/v1/streaming/public") == max(
            int(orjson.loads(line)["id"]) for line in path.read_bytes().splitlines()[:-1]
        )


def test_mastodon_hashtag_stream_through_the_command_line(mastodon_stream, tmp_path):
    path, _, until_us = mastodon_stream
    db = tmp_path / "blast.duckdb"
    with serving(MastodonReplay.from_file(path, rate=2_000, drop_every=60)) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "mastodon", url, "--db", str(db), "--hashtag", "#Blast"]
        until = us_to_datetime(until_us).isoformat()
        done = subprocess.run([*cmd, "--flush", "0.2", "--until", until], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    tagged = rows(db, "SELECT count(*) AS n, count(*) FILTER (WHERE list_contains(hashtags, 'blast')) AS t FROM posts")
    statuses = [orjson.loads(line) for line in path.read_bytes().splitlines()[:-1]]
    with_tag = [s for s in statuses if "blast" in {t["name"] for t in (s["reblog"] or s)["tags"]}]
    assert tagged[0]["n"] == tagged[0]["t"] == len(with_tag)


def test_a_timeline_refused_on_catching_up_stops_the_watch_with_the_instances_words(mastodon_stream, tmp_path):
    """A restarted watch catches up from the timeline, which the instance keeps for its users (422,
    as Mastodon says when it does): no retry will change that, so the watch stops and says why."""
    path, _, _ = mastodon_stream
    replay = MastodonReplay.from_file(path, rate=2_000)
    db = tmp_path / "refused.duckdb"

    async def watched_until_refused(url: str, until_us: int | None) -> None:
        stop = asyncio.Event()
        opts = MastodonOptions(url=url, batch_seconds=0.2, until_us=until_us, backoff_s=(0.01, 0.01))
        watching = asyncio.create_task(watch_mastodon(db, opts, stop))
        while not watching.done() and replay.refusals < 3:  # three refusals: it is retrying
            await asyncio.sleep(0.01)
        stop.set()
        await watching

    with serving(replay) as url:
        # a first watch, to commit a cursor to catch up from
        asyncio.run(watched_until_refused(url, parse_iso_time(replay.statuses[50]["created_at"])))
        replay.refuse_timeline = (422, "This method requires an authenticated user\x1b[2J")
        with pytest.raises(StreamRefused) as refused:
            asyncio.run(watched_until_refused(url, None))
    said = str(refused.value)
    assert said.startswith(f"{url}/api/v1/timelines/public?min_id=") and replay.refusals == 1
    assert said.endswith(": 422 This method requires an authenticated user\\x1b[2J")  # shown, not obeyed


def test_replay_server_restarts_mid_stream_and_the_watcher_resumes(stream, tmp_path):
    """The server goes away (killed) and comes back on the same port; the watcher keeps trying, with
    backoff, and resumes from its cursor. The first server has only the first half of the stream, so
    the watcher cannot have finished before it goes."""
    path, expected, until_us = stream
    half = tmp_path / "half.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    half.write_bytes(b"".join(lines[: len(lines) // 2]))
    swell_cmd = [sys.executable, "-m", "swell"]
    db = tmp_path / "restarted.duckdb"
    with started([*swell_cmd, "replay", str(half), "--port", "0"], stderr=subprocess.PIPE) as server:
        url = server.stderr.readline().split(" on ")[-1].strip()  # printed once it accepts connections
        port = url.rsplit(":", 1)[1].split("/")[0]
        until = us_to_datetime(until_us).isoformat()
        watch = [*swell_cmd, "watch", "jetstream", url, "--db", str(db), "--flush", "0.2", "--until", until]
        with watched(watch, db) as watcher:
            _committed_through(db, url, watcher)  # it has connected and read
            server.kill()
            server.wait()
            with started([*swell_cmd, "replay", str(path), "--port", port], stderr=subprocess.DEVNULL):
                _, err = watcher.communicate()
    assert watcher.returncode == 0, err
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert int(re.search(r"([\d,]+)\s+connection", err).group(1)) >= 2


def test_a_store_that_cannot_be_written_stops_the_watcher_with_its_error(stream, tmp_path):
    """The writer fails (here: the store's folder does not exist); the connector must say so and
    stop, not read on into a queue nobody empties."""
    path, _, _ = stream
    db = tmp_path / "no-such-folder" / "live.duckdb"
    with serving(Replay.from_file(path)) as url:
        opts = JetstreamOptions(url=url, batch_posts=100, batch_seconds=0.1, queue_batches=2)
        with pytest.raises(NotAStore, match="no-such-folder"):
            asyncio.run(watch(db, opts, asyncio.Event()))


@pytest.mark.parametrize("legacy", [False, True], ids=["seq", "legacy"])
def test_a_cursor_older_than_the_server_keeps_is_a_gap_said_and_stored(stream, legacy, tmp_path):
    """Jetstream moves a cursor older than its lookback to the oldest event it has, without a word:
    the watcher stopped at 01:00 and resumed after the server had forgotten everything before 02:00.
    The hour in between is missing: a gap in the stats and in the store, with the posts around it.
    The watcher resumes from the seq of the last event read where the server gives one (Jetstream v2
    does), from its time where it does not (legacy Jetstream v1)."""
    path, _, until_us = stream
    replay = Replay.from_file(path, legacy=legacy)
    db = tmp_path / "gap.duckdb"
    stop_us = replay.times[0] + 3_600_000_000  # an hour into the stream
    kept_from = stop_us + 3_600_000_000
    with serving(replay) as url:  # one server, so one stream (its cursor is stored by host and port)
        run_watch(db, url, stop_us)
        with Store(db, read_only=True) as store:
            asked = store.live_cursor(stream_key(url))
        replay.kept_from_us = kept_from  # meanwhile, the server forgot the hour after the cursor
        opts = run_watch(db, url, until_us)
    first = next(t for t in replay.times if t >= kept_from)
    assert replay.cursors[-1] == asked if legacy else replay.cursors[-1] < 10**15  # a time, or a seq
    assert opts.stats.gaps == [(asked, first)]
    gaps = rows(db, "SELECT stream, epoch_us(missing_from) AS f, epoch_us(missing_until) AS u FROM gaps")
    assert [(g["f"], g["u"]) for g in gaps] == [(asked, first)] and gaps[0]["stream"] == stream_key(url)
    # a resume the server can honour is no gap
    again = tmp_path / "nogap.duckdb"
    with serving(Replay.from_file(path)) as url:
        run_watch(again, url, stop_us)
        assert run_watch(again, url, until_us).stats.gaps == []
    assert rows(again, "SELECT * FROM gaps") == []
