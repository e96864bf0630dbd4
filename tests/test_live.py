"""Live: the real Jetstream and Mastodon connectors against the local replay server, which drops
connections at random points and sends malformed frames; `swell watch` killed with SIGKILL and
restarted. After the stream ends the store must hold every post of the stream exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from websockets.sync.client import connect

from conftest import ingest, rows
from swell.errors import NotAStore
from swell.live.jetstream import JetstreamOptions, stream_key, watch
from swell.live.mastodon import MastodonOptions
from swell.live.mastodon import watch as watch_mastodon
from swell.live.replay import MastodonReplay, Replay, serving
from swell.simulate import Campaign, Simulation, generate, write_jetstream, write_mastodon
from swell.store import Store, rejects_path

START = datetime(2024, 3, 1, tzinfo=UTC)


def simulated_file(tmp: Path, write, accounts: int, posts_per_hour: float, seed: int) -> tuple[Path, set[str]]:
    """Three hours of posts with a grassroots blast planted at 02:00, written by `write`, and the post
    ids the file reader finds in them: what a live run must end up storing."""
    blast = Campaign("grassroots", "Blast", START + timedelta(hours=2), accounts=accounts)
    table, _ = generate(Simulation(hours=3, posts_per_hour=posts_per_hour, seed=seed, campaigns=[blast]))
    path = tmp / "stream.jsonl"
    write(table, path)
    reference = tmp / "reference.duckdb"
    ingest(reference, path)
    return path, {r["post_id"] for r in rows(reference, "SELECT post_id FROM posts")}


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """Jetstream events."""
    path, ids = simulated_file(tmp_path_factory.mktemp("live"), write_jetstream, 300, 2_000, seed=7)
    assert len(ids) > 4_000
    return path, ids


def stored_ids(db: Path) -> list[str]:
    return [r["post_id"] for r in rows(db, "SELECT post_id FROM posts")]


def run_watch(db: Path, url: str, **options) -> JetstreamOptions:
    opts = JetstreamOptions(url=url, batch_seconds=0.2, exit_when_idle_s=1.5, backoff_s=(0.05, 0.5), **options)
    asyncio.run(watch(db, opts, asyncio.Event()))
    return opts


def test_drops_and_malformed_frames_lose_nothing_and_store_nothing_twice(stream, tmp_path):
    path, expected = stream
    replay = Replay.from_file(path, drop_every=400, bad_frames=500, seed=1)
    db = tmp_path / "live.duckdb"
    with serving(replay) as url:
        opts = run_watch(db, url)
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    stats = opts.stats
    assert stats.connections >= 5  # it was dropped again and again, and came back each time
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
        last = max(orjson.loads(line)["time_us"] for line in path.read_bytes().splitlines())
        assert store.live_cursor(stream_key(url)) == last


def test_filters_keep_the_hashtags_asked_for_and_reposts_of_those_posts(stream, tmp_path):
    """Jetstream reposts carry no hashtags; a repost of a kept post is kept, or co-reposts vanish."""
    path, expected = stream
    db = tmp_path / "blast.duckdb"
    with serving(Replay.from_file(path)) as url:
        opts = run_watch(db, url, hashtags=frozenset({"blast"}))
    everything = tmp_path / "everything.duckdb"
    ingest(everything, path)
    wanted = """SELECT post_id FROM posts WHERE list_contains(hashtags, 'blast') OR (kind = 'repost'
                AND ref_post_id IN (SELECT post_id FROM posts WHERE list_contains(hashtags, 'blast')))"""
    kept = {r["post_id"] for r in rows(everything, wanted)}
    assert set(stored_ids(db)) == kept
    assert len(rows(db, "SELECT post_id FROM posts WHERE kind = 'repost'")) > 50
    assert opts.stats.filtered + len(kept) == len(expected)


def test_replay_honours_cursor_and_collections(stream):
    path, _ = stream
    replay = Replay.from_file(path)
    middle = replay.times[len(replay.times) // 2]
    with serving(replay) as url, connect(f"{url}?wantedCollections=app.bsky.feed.repost&cursor={middle}") as ws:
        events = [json.loads(ws.recv(timeout=5)) for _ in range(50)]
    assert all(e["time_us"] >= middle for e in events)
    assert {e["commit"]["collection"] for e in events} == {"app.bsky.feed.repost"}


def test_sigkill_mid_stream_then_restart_loses_nothing(stream, tmp_path):
    path, expected = stream
    db = tmp_path / "killed.duckdb"
    with serving(Replay.from_file(path, rate=1_000)) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(db), "--flush", "0.2"]
        first = subprocess.Popen([*cmd, "--exit-when-idle", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (db.exists() and _committed(db, url)):  # wait for the first commits
            assert time.monotonic() < deadline and first.poll() is None, first.stderr.read().decode()
            time.sleep(0.2)
        time.sleep(0.5)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        after_kill = len(stored_ids(db))
        assert 0 < after_kill < len(expected)  # killed mid-stream
        second = subprocess.run([*cmd, "--exit-when-idle", "2"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected


def _committed(db: Path, url: str) -> bool:
    with Store(db, read_only=True) as store:
        return store.live_cursor(stream_key(url)) is not None


def test_watch_stops_cleanly_on_sigterm_with_everything_committed(stream, tmp_path):
    path, expected = stream
    db = tmp_path / "stopped.duckdb"
    with serving(Replay.from_file(path, rate=1_000)) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(db), "--flush", "5"]
        running = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        running.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = running.communicate(timeout=60)
    assert running.returncode == 0, err
    committed = int(re.search(r"stopped: ([\d,]+) posts committed", err).group(1).replace(",", ""))
    ids = stored_ids(db)
    assert 0 < len(ids) == committed < len(expected)  # the unfinished batch was committed, not lost


def test_serve_requires_its_token_and_has_no_write_routes(stream, tmp_path):
    from starlette.testclient import TestClient

    from swell.web import create_app

    path, _ = stream
    db = tmp_path / "served.duckdb"
    ingest(db, path)
    (blast_posts,) = rows(db, "SELECT count(*) AS n FROM posts WHERE list_contains(hashtags, 'blast')")
    with TestClient(create_app(db, token="s3cret", interval_s=0.1)) as client:
        assert client.get("/api/trends").status_code == 401
        assert client.get("/api/trends?token=wrong").status_code == 401
        assert client.get("/api/trends", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        for route in ("/", "/events", "/api/trends", "/api/timeline", "/campaign"):
            assert client.post(f"{route}?token=s3cret").status_code == 405, route
        minutes = client.get("/api/timeline?hashtag=%23Blast&token=s3cret").json()["minutes"]
        assert sum(m["posts"] for m in minutes) == blast_posts["n"]
        for _ in range(50):  # the follower's first look
            if client.get("/api/trends?token=s3cret").json()["trending"]:
                break
            time.sleep(0.1)
        assert "blast" in {t["hashtag"] for t in client.get("/api/trends?token=s3cret").json()["trending"]}
        report = client.get("/campaign?hashtag=blast&planned=2024-03-01T02:00&token=s3cret")
        assert report.status_code == 200 and "<h1>#blast</h1>" in report.text
        assert client.get("/campaign?hashtag=blast&planned=yesterday&token=s3cret").status_code == 400
    with TestClient(create_app(db), base_url="http://localhost:8000") as client:  # no token: local names only
        assert client.get("/api/trends").status_code == 200
        assert client.get("/api/trends", headers={"Host": "rebound.example"}).status_code == 400


@pytest.fixture(scope="module")
def mastodon_stream(tmp_path_factory):
    """Mastodon statuses."""
    return simulated_file(tmp_path_factory.mktemp("mastodon"), write_mastodon, 200, 600, seed=8)


def test_mastodon_catches_up_after_drops_and_stores_each_status_once(mastodon_stream, tmp_path):
    path, expected = mastodon_stream
    replay = MastodonReplay.from_file(path, rate=2_000, drop_every=150, bad_events=100, seed=3)
    db = tmp_path / "mastodon.duckdb"
    with serving(replay) as url:
        opts = MastodonOptions(url=url, batch_seconds=0.2, exit_when_idle_s=1.5, backoff_s=(0.05, 0.3))
        asyncio.run(watch_mastodon(db, opts, asyncio.Event()))
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert opts.stats.connections >= 3  # dropped, and back each time
    # malformed updates set aside with the reason, unknown events counted, the stream kept
    rejected = [orjson.loads(line) for line in rejects_path(db).read_bytes().splitlines()]
    assert rejected and all(r["reason"].startswith("not JSON") for r in rejected)
    assert len(rejected) == opts.stats.rejected == opts.stats.ignored["mastodon stream announcement event"]
    with Store(db, read_only=True) as store:  # the newest local id read is committed with the posts
        assert store.live_cursor(f"mastodon:{url}/api/v1/streaming/public") == max(
            int(orjson.loads(line)["id"]) for line in path.read_bytes().splitlines()
        )


def test_mastodon_hashtag_stream_through_the_command_line(mastodon_stream, tmp_path):
    path, _ = mastodon_stream
    db = tmp_path / "blast.duckdb"
    with serving(MastodonReplay.from_file(path, rate=2_000, drop_every=60)) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "mastodon", url, "--db", str(db), "--hashtag", "#Blast"]
        done = subprocess.run([*cmd, "--flush", "0.2", "--exit-when-idle", "2"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    tagged = rows(db, "SELECT count(*) AS n, count(*) FILTER (WHERE list_contains(hashtags, 'blast')) AS t FROM posts")
    statuses = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    with_tag = [s for s in statuses if "blast" in {t["name"] for t in (s["reblog"] or s)["tags"]}]
    assert tagged[0]["n"] == tagged[0]["t"] == len(with_tag)


def test_replay_server_restarts_mid_stream_and_the_watcher_resumes(stream, tmp_path):
    """The server goes away (killed) and comes back on the same port; the watcher keeps trying, with
    backoff, and resumes from its cursor."""
    path, expected = stream
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    swell_cmd = [sys.executable, "-m", "swell"]
    replay_cmd = [*swell_cmd, "replay", str(path), "--port", str(port), "--rate", "1500"]
    db = tmp_path / "restarted.duckdb"
    server = subprocess.Popen(replay_cmd, stderr=subprocess.DEVNULL)
    watcher = subprocess.Popen(
        [*swell_cmd, "watch", "jetstream", f"ws://127.0.0.1:{port}/subscribe", "--db", str(db), "--flush", "0.2",
         "--exit-when-idle", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(2.0)
        server.kill()  # mid-stream: 4,000 events at 1,500 a second take nearly three seconds
        server.wait()
        time.sleep(1.0)
        server = subprocess.Popen(replay_cmd, stderr=subprocess.DEVNULL)
        _, err = watcher.communicate(timeout=120)
        assert watcher.returncode == 0, err
    finally:
        server.kill()
        server.wait()
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert int(re.search(r"([\d,]+)\s+connection", err).group(1)) >= 2


def test_a_store_that_cannot_be_written_stops_the_watcher_with_its_error(stream, tmp_path):
    """The writer fails (here: the store's folder does not exist); the connector must say so and
    stop, not read on into a queue nobody empties."""
    path, _ = stream
    db = tmp_path / "no-such-folder" / "live.duckdb"
    with serving(Replay.from_file(path)) as url:
        opts = JetstreamOptions(url=url, batch_posts=100, batch_seconds=0.1, queue_batches=2)
        with pytest.raises(NotAStore, match="no-such-folder"):
            asyncio.run(asyncio.wait_for(watch(db, opts, asyncio.Event()), timeout=30))
