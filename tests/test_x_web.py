"""X web data as Zeeschuimer captures it (tests/data/x-web/SOURCE.md): X's GraphQL tweet results,
read through the v1.1 reader's fields."""

from __future__ import annotations

import orjson

from conftest import DATA, ingest, rows, utc

CAPTURE = DATA / "x-web" / "zeeschuimer-x-home-timeline.ndjson"


def test_a_zeeschuimer_capture_of_the_home_timeline(db):
    result = ingest(db, CAPTURE)
    assert "records per format: x-web 32" in result.output
    kinds = {r["kind"]: r["n"] for r in rows(db, "SELECT kind, count(*) AS n FROM posts GROUP BY 1")}
    assert kinds == {"post": 30, "quote": 2}
    [first] = rows(db, "SELECT * FROM posts WHERE post_id = 'twitter:2013296057296527599'")
    # the author as X's 2025 layout has it (the handle under core, the counts under legacy)
    assert (first["author_id"], first["author_handle"], first["author_followers"]) == ("17093617", "hootsuite", 6186532)
    assert first["created_at"] == utc("2026-01-19T17:02:39+00:00")
    assert first["author_created_at"] == utc("2008-10-31T22:26:54+00:00")
    assert first["text"].startswith("See why thousands of enterprise organizations choose Hootsuite")


def test_a_bare_tweet_result_is_read_as_its_envelope_is(db, tmp_path):
    """4CAT's X datasets hold the tweet results without Zeeschuimer's envelope."""
    lines = CAPTURE.read_bytes().splitlines()
    bare = tmp_path / "bare.jsonl"
    bare.write_bytes(b"\n".join(orjson.dumps(orjson.loads(line)["data"]) for line in lines[:5]) + b"\n")
    ingest(db, bare)
    enveloped = tmp_path / "enveloped.jsonl"
    enveloped.write_bytes(b"\n".join(lines[:5]) + b"\n")
    other = tmp_path / "other.duckdb"
    ingest(other, enveloped)
    query = "SELECT * EXCLUDE (source) FROM posts ORDER BY post_id"
    assert rows(db, query) == rows(other, query) and len(rows(db, query)) == 5
