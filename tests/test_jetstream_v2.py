"""Jetstream v2 (and zstd on both endpoints): the real connector against the local replay server,
which speaks v1 and v2 as Jetstream v2 does, forgets what is older than its lookback, refuses and
drops connections and sends error frames on purpose. Real Jetstream events (tests/data/bluesky) go
through both endpoints with and without compression; a simulated stream is killed with SIGKILL and
restarted, and resumed after the server has forgotten the cursor."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import zstandard
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import DATA, ingest, rows
from swell.live import jetstream_wire as wire
from swell.live.jetstream import JetstreamConnector, JetstreamOptions, stream_key, time_key, watch
from swell.live.replay import Replay, serving
from swell.simulate import write_jetstream
from swell.store import Store, rejects_path
from swell.times import us_to_datetime
from test_live import _committed_through, end_commit, run_watch, simulated_file, started, stored_ids, watched

COLUMNS = "post_id, kind, created_at, author_id, text, lang, hashtags, urls, mentions, ref_post_id"


def v2(url: str) -> str:
    return url.replace(wire.V1_PATH, wire.V2_PATH)


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """Simulated Jetstream events, an identity event at `until_us` after them."""
    return simulated_file(tmp_path_factory.mktemp("v2"), write_jetstream, 200, 1_200, seed=5)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The real Jetstream events of tests/data/bluesky as one file of lines, after an identity and an
    account event of the documented shape, and the end of the stream a millisecond after the last;
    and what `swell ingest` makes of them."""
    tmp = tmp_path_factory.mktemp("real")
    events = json.loads((DATA / "bluesky" / "twitwi-bluesky-firehose-posts.json").read_text())
    events += [json.loads(line) for line in (DATA / "bluesky" / "jetstream-events.jsonl").read_text().splitlines()]
    did, first = events[0]["did"], min(e["time_us"] for e in events)
    when = us_to_datetime(first - 2).isoformat()
    identity = {"did": did, "handle": "someone.bsky.social", "seq": 1, "time": when}
    account = {"active": True, "did": did, "seq": 2, "time": when}
    events[:0] = [
        {"did": did, "time_us": first - 2, "kind": "identity", "identity": identity},
        {"did": did, "time_us": first - 1, "kind": "account", "account": account},
    ]
    path = tmp / "real.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    reference = tmp / "reference.duckdb"
    ingest(reference, path)
    until_us = max(e["time_us"] for e in events) + 1_000
    with path.open("ab") as out:
        out.write(orjson.dumps(end_commit(until_us)) + b"\n")
    return path, rows(reference, f"SELECT {COLUMNS} FROM posts ORDER BY post_id"), until_us


@pytest.mark.parametrize("endpoint", ["v1", "v2"])
@pytest.mark.parametrize("compress", [False, True])
def test_real_events_through_either_endpoint_compressed_or_not(real, endpoint, compress, tmp_path):
    path, expected, until_us = real
    replay = Replay.from_file(path, first_seq=5_000)
    db = tmp_path / "live.duckdb"
    with serving(replay) as url:
        url = v2(url) if endpoint == "v2" else url
        opts = run_watch(db, url, until_us, compress=compress)
    assert len(expected) == 10 and rows(db, f"SELECT {COLUMNS} FROM posts ORDER BY post_id") == expected
    assert opts.stats.rejected == 0 and opts.stats.connections == 1
    # v1 sends identity and account events whatever the filter; v2 is asked for commits only
    other = {k: n for k, n in opts.stats.ignored.items() if k.endswith(" event")}
    assert other == ({} if endpoint == "v2" else {"jetstream identity event": 1, "jetstream account event": 1})
    last_post = max(replay.times[:-1])
    last_seq = 5_000 + len(replay.times) - 2
    with Store(db, read_only=True) as store:
        if endpoint == "v1":  # a time, and the seq reached beside it (the events' `cursor`)
            assert store.live_cursor(stream_key(url)) == last_post
            assert store.live_cursor(stream_key(url) + "#seq") == last_seq
        else:  # a seq, and the time it reached beside it
            assert store.live_cursor(stream_key(url)) == last_seq
            assert store.live_cursor(time_key(url)) == last_post


def test_v2_drops_refusals_error_frames_and_bad_frames_lose_nothing(stream, tmp_path):
    """Dropped after a ConsumerTooSlow frame again and again, refused with 429 and 503 every third
    handshake, malformed frames among compressed ones: every post once, the bad frames set aside."""
    path, expected, until_us = stream
    replay = Replay.from_file(path, drop_every=300, refuse_every=3, error_frame="ConsumerTooSlow", bad_frames=400)
    db = tmp_path / "live.duckdb"
    with serving(replay) as url:
        opts = run_watch(db, v2(url), until_us, compress=True)
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert opts.stats.connections >= 4 and replay.handshakes > opts.stats.connections  # some were refused
    bad = replay.sent // 400
    reasons = [orjson.loads(line)["reason"] for line in rejects_path(db).read_bytes().splitlines()]
    assert len(reasons) == opts.stats.rejected == sum(1 for n in range(1, bad + 1) if n % 3 != 1)
    assert opts.stats.ignored["jetstream app.example.unknown create"] == sum(1 for n in range(1, bad + 1) if n % 3 == 1)
    with Store(db, read_only=True) as store:
        assert store.live_cursor(stream_key(v2(url))) == len(replay.times) - 1  # the last post's seq


def test_v2_sigkill_mid_stream_then_restart_loses_nothing(stream, tmp_path):
    path, expected, until_us = stream
    db = tmp_path / "killed.duckdb"
    replay = Replay.from_file(path, hold_at=len(expected) // 2)
    with serving(replay) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", v2(url), "--compress", "--db", str(db)]
        cmd += ["--flush", "0.2"]
        with watched(cmd, db) as first:
            _committed_through(db, v2(url), first, replay)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        assert 0 < len(stored_ids(db)) < len(expected)  # killed mid-stream
        replay.release.set()
        second = subprocess.run([*cmd, "--until", us_to_datetime(until_us).isoformat()], capture_output=True, text=True)
        assert second.returncode == 0, second.stderr
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    with Store(db, read_only=True) as store:  # the restart resumed from the seq committed before the kill
        assert replay.cursors[0] is None and 0 < replay.cursors[1] <= store.live_cursor(stream_key(v2(url)))


def test_a_dictionary_retrained_mid_watch_is_fetched_by_the_id_the_refusal_names(stream, tmp_path):
    """The server retrains its dictionary while the watcher is connected: the next connection, with
    the old id, is refused (UnknownZstdDictionary, naming the new id), which is fetched; nothing lost."""
    path, expected, until_us = stream
    replay = Replay.from_file(path, hold_at=100, drop_every=200)  # held before the first drop
    samples = replay.v2_frames[::4]
    retrained = zstandard.train_dictionary(16_384, samples, dict_id=20_261_201)
    db = tmp_path / "retrained.duckdb"

    async def watch_across_the_retraining(url: str) -> JetstreamOptions:
        opts = JetstreamOptions(url=url, compress=True, until_us=until_us, batch_seconds=0.2, backoff_s=(0.05, 0.5))
        watching = asyncio.create_task(watch(db, opts, asyncio.Event()))
        while opts.stats.frames < 100:  # the first connection, compressed with the first dictionary, is held
            await asyncio.sleep(0.01)
        replay.retrain(retrained)
        replay.release.set()
        await watching
        return opts

    with serving(replay) as url:
        opts = asyncio.run(watch_across_the_retraining(v2(url)))
    ids = stored_ids(db)
    assert len(ids) == len(set(ids)) and set(ids) == expected and opts.stats.rejected == 0
    assert replay.handshakes > opts.stats.connections >= 2  # the old id was refused, then the new one taken


def test_a_served_dictionary_that_cannot_be_loaded_stops_the_watch_with_a_clear_error(stream, tmp_path):
    """A dictionary with a valid zstd header (a new id) before contents zstd cannot load: the server's
    fault, said in one line through the command, exit status 1, no traceback."""
    path, _, until_us = stream
    replay = Replay.from_file(path)
    good = replay.dictionary.as_bytes()
    replay.dictionary = zstandard.ZstdCompressionDict(good[:4] + (7_777).to_bytes(4, "little") + bytes(200))
    db = tmp_path / "refused.duckdb"
    with serving(replay) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", v2(url), "--compress", "--db", str(db), "--quiet"]
        done = subprocess.run([*cmd, "--until", us_to_datetime(until_us).isoformat()], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    said = " ".join(done.stderr.split())
    assert said.startswith("error: ") and "getZstdDictionary sent a zstd dictionary that cannot be loaded" in said
    assert replay.handshakes == 0  # refused before connecting


def _kept(path: Path, tmp: Path, keep) -> set[str]:
    """The post ids `swell ingest` finds among the events (but the last) whose time `keep` keeps."""
    lines = path.read_bytes().splitlines()[:-1]
    part = tmp / "part.jsonl"
    part.write_bytes(b"\n".join(line for line in lines if keep(orjson.loads(line)["time_us"])) + b"\n")
    ingest(tmp / "part.duckdb", part)
    return set(stored_ids(tmp / "part.duckdb"))


@pytest.mark.parametrize("first_endpoint", ["v2", "v1"])
def test_a_resume_older_than_the_server_keeps_is_a_gap_with_its_range(stream, first_endpoint, tmp_path):
    """Watched an hour into the stream, then the server forgot everything before 02:00. v2 refuses
    the seq cursor (CursorTooOld, naming its oldest seq): the watcher resumes from that seq. A v2
    watch that follows a v1 one resumes from v1's time, which v2 moves forward with an #info
    OutdatedCursor. Either way the hour between is a gap, stored with the posts around it."""
    path, _, until_us = stream
    replay = Replay.from_file(path)
    db = tmp_path / "gap.duckdb"
    stop_us = replay.times[0] + 3_600_000_000
    kept_from = stop_us + 3_600_000_000
    with serving(replay) as url:
        run_watch(db, v2(url) if first_endpoint == "v2" else url, stop_us)
        with Store(db, read_only=True) as store:
            reached = store.live_cursor(time_key(v2(url)) if first_endpoint == "v2" else stream_key(url))
        replay.kept_from_us = kept_from
        opts = run_watch(db, v2(url), until_us, compress=True)
    first = next(t for t in replay.times if t >= kept_from)
    assert reached == max(t for t in replay.times if t < stop_us)
    assert opts.stats.gaps == [(reached, first)]
    gaps = rows(db, "SELECT stream, epoch_us(missing_from) AS f, epoch_us(missing_until) AS u, reason FROM gaps")
    assert [(g["stream"], g["f"], g["u"]) for g in gaps] == [(stream_key(v2(url)), reached, first)]
    assert ("CursorTooOld" if first_endpoint == "v2" else "OutdatedCursor") in gaps[0]["reason"]
    ids = stored_ids(db)
    assert len(ids) == len(set(ids))
    assert set(ids) == _kept(path, tmp_path, lambda t: t < stop_us or t >= kept_from)


def test_a_watch_stopped_before_any_event_after_cursor_too_old_keeps_the_gap_for_the_next(stream, tmp_path):
    """Stopped in the backoff after the CursorTooOld refusal, before any event came: the oldest seq
    the refusal named is not committed as the cursor (a restart from it would skip the forgotten
    hour without a word), so the next run is refused too and records the gap."""
    path, _, until_us = stream
    replay = Replay.from_file(path)
    db = tmp_path / "gap.duckdb"
    stop_us = replay.times[0] + 3_600_000_000
    kept_from = stop_us + 3_600_000_000

    async def stopped_after_the_refusal(url: str) -> None:
        stop = asyncio.Event()
        watching = asyncio.create_task(watch(db, JetstreamOptions(url=url, backoff_s=(3600, 3600)), stop))
        while replay.handshakes < 2:  # the refused one: the connector sits in its hour of backoff
            await asyncio.sleep(0.01)
        stop.set()
        await watching

    with serving(replay) as url:
        run_watch(db, v2(url), stop_us)
        with Store(db, read_only=True) as store:
            seq, reached = store.live_cursor(stream_key(v2(url))), store.live_cursor(time_key(v2(url)))
        replay.kept_from_us = kept_from
        asyncio.run(stopped_after_the_refusal(v2(url)))
        with Store(db, read_only=True) as store:
            assert store.live_cursor(stream_key(v2(url))) == seq  # not moved to the floor
        assert replay.connections == 1 and rows(db, "SELECT * FROM gaps") == []
        opts = run_watch(db, v2(url), until_us)
    first = next(t for t in replay.times if t >= kept_from)
    assert opts.stats.gaps == [(reached, first)]
    gaps = rows(db, "SELECT epoch_us(missing_from) AS f, epoch_us(missing_until) AS u, reason FROM gaps")
    assert [(g["f"], g["u"]) for g in gaps] == [(reached, first)] and "CursorTooOld" in gaps[0]["reason"]


def test_the_numbers_refusals_name_are_read_by_their_names():
    """The oldest seq of a CursorTooOld message and the current dictionary of an UnknownZstdDictionary
    one, wherever they stand among other numbers; a message that does not name one gives none."""
    said = "cursor 5 is below the oldest seq 101 kept for 36 hours"
    assert wire.named_number(said, "oldest") == 101
    assert wire.named_number("unknown dictionary 7; the current one is 20261201", "current") == 20_261_201
    assert wire.named_number("cursor 5 is too old (36 hours kept)", "oldest") is None


def test_v1_then_v2_on_a_server_that_keeps_everything_is_seamless(stream, tmp_path):
    path, expected, until_us = stream
    replay = Replay.from_file(path)
    db = tmp_path / "switched.duckdb"
    with serving(replay) as url:
        run_watch(db, url, replay.times[len(replay.times) // 2], compress=True)
        opts = run_watch(db, v2(url), until_us)
    ids = stored_ids(db)
    assert opts.stats.gaps == [] and rows(db, "SELECT * FROM gaps") == []
    assert len(ids) == len(set(ids)) and set(ids) == expected


@pytest.mark.parametrize(
    ("query", "options", "said"),
    [
        # the server's words are data: an escape sequence in them is shown, not obeyed
        ("", {"drop_every": 50, "error_frame": "Meltdown\x1b[2J"}, "ended the stream: Meltdown\\x1b[2J on purpose"),
        ("?wantedCollections=app.bsky.feed.post", {}, "InvalidRequest wantedCollections is a v1 parameter"),
    ],
)
def test_error_frames_and_refusals_stop_the_watch_with_the_servers_words(stream, query, options, said, tmp_path):
    """An error frame other than ConsumerTooSlow, or a refusal other than a rate limit or a server
    error: one line saying what the server said, exit status 1, no traceback; what was read is kept."""
    path, _, until_us = stream
    db = tmp_path / "refused.duckdb"
    with serving(Replay.from_file(path, **options)) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", v2(url) + query, "--db", str(db), "--quiet"]
        done = subprocess.run([*cmd, "--until", us_to_datetime(until_us).isoformat()], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and said in " ".join(done.stderr.split())
    kept = len(stored_ids(db)) if db.exists() else 0
    assert 50 <= kept <= 100 if options else kept == 0  # the error frame came after 50 to 100 events


def test_replay_speaks_v2_as_the_lexicon_says(stream):
    """Filters, refusals before the upgrade, the dictionary endpoint, and v1's seq cursor."""
    path, _, _ = stream
    replay = Replay.from_file(path, first_seq=100)
    with serving(replay) as url:
        base = url.removesuffix(wire.V1_PATH)
        http = base.replace("ws://", "http://")
        reposts = f"{v2(url)}?kinds=commit&collections=app.bsky.feed.repost"
        # max_queue=None: the client reads all the server sends, so that its close frame is read at once
        with connect(reposts, subprotocols=["xrpc.v1.json"], max_queue=None) as ws:
            assert ws.subprotocol == "xrpc.v1.json"
            payloads = [json.loads(ws.recv())["payload"] for _ in range(20)]
        assert {p["$type"] for p in payloads} == {"network.bsky.jetstream.subscribeEvents#commit"}
        assert {p["collection"] for p in payloads} == {"app.bsky.feed.repost"}
        assert [p["seq"] for p in payloads] == sorted(p["seq"] for p in payloads)
        did = replay.dids[10]
        with connect(
            f"{v2(url)}?dids={did}&collections=app.bsky.feed.*&cursor={replay.times[5]}", max_queue=None
        ) as ws:
            first = json.loads(ws.recv())["payload"]
        assert first["did"] == did and first["seq"] >= 105
        assert wire.v1_event(first)[1]["time_us"] == replay.times[first["seq"] - 100]
        with connect(f"{url}?cursor=150", max_queue=None) as ws:  # v1: a seq cursor, and each event says its own
            assert json.loads(ws.recv())["cursor"] == 150
        for query, error in [
            ("kinds=like", "InvalidRequest"),
            ("kinds=identity&collections=app.bsky.feed.post", "InvalidRequest"),
            ("wantedDids=did:plc:x", "InvalidRequest"),
            ("zstdDictionary=7", "UnknownZstdDictionary"),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                connect(f"{v2(url)}?{query}")
            assert refused.value.response.status_code == 400
            assert orjson.loads(refused.value.response.body)["error"] == error, query
        current = httpx.get(f"{http}{wire.DICTIONARY_PATH}")
        assert current.content == (Path(wire.__file__).parent / "dictionaries" / wire.V2_DICTIONARY).read_bytes()
        missing = httpx.get(f"{http}{wire.DICTIONARY_PATH}?id=7")
        assert missing.status_code == 404 and missing.json()["error"] == "DictionaryNotFound"


def test_swell_replay_serves_v2_with_a_lookback_floor(stream, tmp_path):
    """The command: v2's URL printed beside v1's; --kept-from makes a seq cursor older than the floor a
    CursorTooOld refusal naming the oldest seq, and an older time an #info OutdatedCursor first frame."""
    path, _, _ = stream
    replay = Replay.from_file(path)
    kept_from = replay.times[100]
    cmd = [sys.executable, "-m", "swell", "replay", str(path), "--port", "0"]
    with started([*cmd, "--kept-from", us_to_datetime(kept_from).isoformat()], stderr=subprocess.PIPE) as server:
        url = server.stderr.readline().split(" on ")[-1].strip()
        v2_url = server.stderr.readline().split(" on ")[-1].strip()
        assert v2_url == v2(url)
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{v2_url}?cursor=5")
        body = orjson.loads(refused.value.response.body)
        assert body["error"] == "CursorTooOld" and f"oldest seq {101} (" in body["message"]
        with connect(f"{v2_url}?cursor={replay.times[0]}", max_queue=None) as ws:
            info, first = (json.loads(ws.recv())["payload"] for _ in range(2))
        assert info["name"] == "OutdatedCursor" and first["seq"] == 101
        assert wire.v1_event(first)[1]["time_us"] == kept_from


class _Waits(JetstreamConnector):
    """The connector, its waits before reconnecting recorded and not waited (nothing here depends on time)."""

    waits: list[float]

    async def back_off(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_a_rate_limited_handshake_waits_as_long_as_retry_after_says(stream, tmp_path):
    """Refused with 429 and `Retry-After: 30` and with 503 in turn: each 429 is followed by a wait of
    30 s at least, each 503 by the backoff alone (under a second, the connection before was up)."""
    path, expected, until_us = stream
    replay = Replay.from_file(path, drop_every=300, refuse_every=2, retry_after="30")
    db = tmp_path / "limited.duckdb"
    with serving(replay) as url:
        connector = _Waits(JetstreamOptions(url=v2(url), until_us=until_us), asyncio.Event())
        connector.waits = []
        asyncio.run(connector.watch(db))
    assert set(stored_ids(db)) == expected
    refusals = replay.handshakes // 2
    limited = (refusals + 1) // 2  # the first, third, ... refusal is a 429
    assert limited >= 2 and sum(w >= 30 for w in connector.waits) == limited, connector.waits
