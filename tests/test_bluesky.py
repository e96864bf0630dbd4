"""Bluesky: real Jetstream events and AppView PostViews (data/bluesky/SOURCE.md)."""

import orjson
import pytest

from conftest import DATA, ingest, post, rejects, rows, utc

BSKY = DATA / "bluesky"
FIREHOSE = BSKY / "twitwi-bluesky-firehose-posts.json"


def _uri(did: str, rkey: str, collection: str = "app.bsky.feed.post") -> str:
    return f"bluesky:at://{did}/{collection}/{rkey}"


def test_jetstream_events(db):
    ingest(db, FIREHOSE)
    assert len(rows(db)) == 9 and rejects(db) == []
    chair = post(db, _uri("did:plc:vckwyfbegq5i4fzdzkxtdzih", "3m7hzqrjojp2o"))
    assert chair["hashtags"] == ["outdoor", "hiking", "cliq", "lightweight"]  # from #tag facets
    assert chair["urls"] == ["https://amazon.com/dp/B0B8H1C4GM?tag=douglas0bd0-20"]  # external embed
    assert chair["lang"] == "en-US" and chair["author_handle"] is None  # Jetstream carries no handle
    assert chair["created_at"] == utc("2025-12-08T12:28:07+00:00")
    reply = post(db, _uri("did:plc:als3olc4h5kbm5ntevl7mexn", "3m7hzqqgw622p"))
    assert reply["kind"] == "reply"
    assert reply["ref_post_id"] == _uri("did:plc:4h65nhr2m7biwnispzw7ewqg", "3m7hfm6ym5s2z")
    assert reply["ref_author_id"] == "did:plc:4h65nhr2m7biwnispzw7ewqg"
    mentions = post(db, _uri("did:plc:ljkrr2d7afnjmx3huawzzhf2", "3m7hzqjyes22l"))
    assert mentions["mentions"] == ["did:plc:dpham6cjmebj2wjaseb55k32", "did:plc:2qbv2k7oxxhkscjrjhqroiwp"]
    # createdAt with nanoseconds: kept to the microsecond
    nano = post(db, _uri("did:plc:uu5mtxzumfsy5hqknfetoyft", "3m7aazmldai25"))
    assert nano["created_at"] == utc("2025-12-05T10:16:59.783492+00:00")


def test_jetstream_lines_reposts_deletes_and_other_collections(db, tmp_path):
    events = orjson.loads(FIREHOSE.read_bytes())
    first = events[1]
    did, rkey = first["did"], first["commit"]["rkey"]
    subject = f"at://{did}/app.bsky.feed.post/{rkey}"
    repost = {
        "did": "did:plc:reposter",
        "time_us": first["time_us"] + 5_000_000,
        "kind": "commit",
        "commit": {
            "rev": "x",
            "operation": "create",
            "collection": "app.bsky.feed.repost",
            "rkey": "3repost",
            "record": {
                "$type": "app.bsky.feed.repost",
                "subject": {"uri": subject, "cid": "c"},
                "createdAt": "2099-01-01T00:00:00Z",
            },
        },
    }
    delete = {
        "did": did,
        "time_us": first["time_us"] + 9_000_000,
        "kind": "commit",
        "commit": {"rev": "y", "operation": "delete", "collection": "app.bsky.feed.post", "rkey": rkey},
    }
    like = {
        "did": did,
        "time_us": 1,
        "kind": "commit",
        "commit": {"operation": "create", "collection": "app.bsky.feed.like", "rkey": "l", "record": {}},
    }
    identity = {"did": did, "time_us": 2, "kind": "identity", "identity": {"handle": "someone.bsky.social"}}
    lines = [*events, repost, delete, like, identity]
    path = tmp_path / "jetstream.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    result = ingest(db, path)
    assert len(rows(db)) == 10
    boost = post(db, _uri("did:plc:reposter", "3repost", "app.bsky.feed.repost"))
    assert boost["kind"] == "repost" and boost["ref_post_id"] == f"bluesky:{subject}"
    assert boost["ref_author_id"] == did
    # a createdAt in the future is clamped to when the network saw the repost
    assert boost["created_at"] == utc("2025-12-08T12:28:13.459879+00:00")
    [deletion] = rows(db, "SELECT * FROM deletions")
    assert deletion["post_id"] == f"bluesky:{subject}"
    assert post(db, f"bluesky:{subject}")["text"]  # recorded, not applied
    output = " ".join(result.output.split())
    assert "jetstream app.bsky.feed.like create 1" in output and "jetstream identity event 1" in output


def test_postviews_from_a_truncated_array(db):
    path = BSKY / "twitwi-bluesky-posts.head.json"
    ingest(db, path)
    assert len(rows(db)) == 7
    [cut] = rejects(db)  # the copy stops mid-array: what came before is kept, the end is reported
    assert cut["line"] == "item 8" and cut["reason"].startswith("invalid JSON after item 7")
    quote = post(db, _uri("did:plc:jitewfrw6ppganrowtvqtkwy", "3lkgoqgzhg22k"))
    assert quote["author_handle"] == "servannemarzin.bsky.social" and quote["kind"] == "quote"
    assert quote["ref_post_id"] == _uri("did:plc:7g4ic3vzf6ts42dmpy5usg4l", "3lkgnjzh6ec2g")
    assert quote["hashtags"] == ["hceres"] and quote["lang"] == "fr"
    tagged = rows(db, "SELECT count(*) AS n FROM posts WHERE list_contains(hashtags, 'hceres')")
    assert tagged == [{"n": 4}]


def test_repository_exports_as_car_files(db, tmp_path):
    """Two real repositories (tests/data/bluesky-car/SOURCE.md): a current export (commit v3), and an
    old staging one (v2) that also carries 28 earlier commits; only the current records are read."""
    from swell import ingest_files

    report = ingest_files([DATA / "bluesky-car"], db)
    by_file = {s.path.rsplit("/", 1)[-1]: s for s in report.summaries}
    current, old = by_file["bnewbold.robocracy.org.20250310005405.car"], by_file["paul_staging.repo.car"]
    assert (current.layout, current.records, current.posts, current.rejected) == ("car", 38, 24, 0)
    assert (old.records, old.posts, old.rejected) == (185, 116, 0)  # 101 posts and 15 reposts
    assert current.ignored["bluesky-car app.bsky.feed.like"] == 2
    did = "did:plc:nhxcyu4ewwhl5pqil4dotqjo"
    kinds = {
        r["kind"]: r["n"]
        for r in rows(db, "SELECT kind, count(*) AS n FROM posts WHERE author_id = ? GROUP BY 1", [did])
    }
    assert kinds == {"post": 20, "reply": 2, "quote": 1, "repost": 1}
    [first] = rows(db, "SELECT * FROM posts WHERE author_id = ? ORDER BY created_at LIMIT 1", [did])
    assert first["post_id"] == f"bluesky:at://{did}/app.bsky.feed.post/3kly5whjwmc2v"
    assert (first["text"], first["lang"], first["created_at"]) == (
        "does it work?",
        "en",
        utc("2024-02-22T04:35:10.072+00:00"),
    )
    # once stored, read again: nothing new; a file cut short is one error, the others still read
    assert ingest_files([DATA / "bluesky-car"], db, force=True).stored == 0
    cut = tmp_path / "cut.car"
    cut.write_bytes((DATA / "bluesky-car" / "paul_staging.repo.car").read_bytes()[:50_000])
    failed = ingest_files([cut], tmp_path / "cut.duckdb").failed
    assert len(failed) == 1 and failed[0][0] == str(cut)


def test_a_hostile_repository_tree_is_one_clear_error_never_a_crash():
    """The tree of a CAR as a hostile file could make it: a node linking to itself is walked once; a
    node or an entry of the wrong shape makes the file fail as a whole (ValueError, which ingest
    reports as a file it could not read), before any of its records is read."""
    from swell.readers.car import _walk

    record = b"\x01record"
    looped = {b"root": {"e": [{"p": 0, "k": b"app.bsky.feed.post/a", "v": record, "t": b"root"}], "l": b"root"}}
    assert _walk(looped, b"root") == [("app.bsky.feed.post/a", record)]
    for bad in ({"e": {"p": 0}}, {"e": [{"p": "0", "k": b"x", "v": record}]}, {"e": [], "l": ["not", "a", "cid"]}, "x"):
        with pytest.raises(ValueError, match="a malformed repository tree"):
            _walk({b"root": bad}, b"root")
