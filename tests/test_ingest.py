"""`swell ingest` as a whole: detection from content, compression, layouts, idempotence, bad input, resume."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl
import zstandard

from conftest import DATA, ingest, rejects, rows, swell
from swell import Store

V2 = DATA / "twitter-v2"
FLAT = V2 / "flat.jsonl"
FLAT_IDS = {
    "twitter:1380242611781386245",
    "twitter:1380242597881409537",
    "twitter:1380242596900044806",
    "twitter:1380242586288328707",
    "twitter:1380242584816128001",
}


def ids(db: Path) -> set[str]:
    return {r["post_id"] for r in rows(db)}


def test_ingesting_twice_changes_nothing(db):
    ingest(db, FLAT)
    before = rows(db)
    again = ingest(db, FLAT)
    assert "already ingested" in again.output
    forced = swell("ingest", "--db", db, "--force", FLAT)
    assert rows(db) == before
    assert "5 │   0 │   5" in forced.output  # records, new, duplicates


def test_compression_and_names_do_not_matter(db, tmp_path):
    raw = FLAT.read_bytes()
    gz = tmp_path / "flat.data"  # no telling extension: the content decides
    gz.write_bytes(gzip.compress(raw))
    zst = tmp_path / "flat.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(raw))
    for path in (gz, zst):
        store = tmp_path / f"{path.name}.duckdb"
        ingest(store, path)
        assert ids(store) == FLAT_IDS


def test_json_documents_pretty_printed_and_arrays(db, tmp_path):
    tweets = [orjson.loads(line) for line in FLAT.read_bytes().splitlines()]
    array = tmp_path / "array.json"
    array.write_bytes(orjson.dumps(tweets, option=orjson.OPT_INDENT_2))
    page = orjson.loads((V2 / "two_tweets.jsonl").read_bytes())
    pretty = tmp_path / "page.json"
    pretty.write_bytes(
        orjson.dumps(page, option=orjson.OPT_INDENT_2) + b"\n" + orjson.dumps(page, option=orjson.OPT_INDENT_2)
    )
    ingest(db, array, pretty)
    assert ids(db) == FLAT_IDS | {"twitter:1394735776701816833"}


def test_bad_records_are_set_aside_with_file_line_and_reason(db, tmp_path):
    good = FLAT.read_bytes().splitlines()
    tweet = orjson.loads(good[1])
    no_time = {k: v for k, v in tweet.items() if k != "created_at"} | {"id": "1"}
    int_id = tweet | {"id": 2}
    bad_time = tweet | {"id": "3", "created_at": "yesterday"}
    lines = [
        good[0],
        good[1][: len(good[1]) // 2],  # truncated
        b"this is not json",
        b"",  # blank lines are not records
        orjson.dumps(no_time),
        orjson.dumps(int_id),
        orjson.dumps(bad_time),
        b'{"some": "thing else"}',
        b"[1, 2]",
        b'{"errors": [{"title": "operational-disconnect", "detail": "This stream has been disconnected."}]}',
        good[2],
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    result = ingest(db, mixed)
    assert ids(db) == {"twitter:1380242611781386245", "twitter:1380242596900044806"}
    by_line = {r["line"]: r for r in rejects(db)}
    assert len(rejects(db)) == 9 and sorted(by_line) == [2, 3, 5, 6, 7, 8, 9, 10]  # line 9 holds two values
    assert by_line[2]["reason"].startswith("invalid JSON")
    assert by_line[3]["raw"] == "this is not json"
    assert by_line[5]["reason"] == "missing field 'created_at'"
    assert "id must be a non-empty string" in by_line[6]["reason"]
    assert "yesterday" in by_line[7]["reason"]
    assert by_line[8]["reason"] == "unknown record shape (keys: some)"
    assert by_line[9]["reason"] == "not a JSON object but int"
    assert by_line[10]["reason"] == "twitter-v2 API error response: This stream has been disconnected."
    assert all(r["file"] == str(mixed) for r in by_line.values())
    assert f"{mixed}:2: invalid JSON" in " ".join(result.output.split())
    assert result.exit_code == 0


def test_nothing_usable_exits_non_zero(db, tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"a": 1}\nnot json\n')
    result = ingest(db, junk, ok=False)
    assert result.exit_code == 1
    assert len(rejects(db)) == 2


def test_forced_format_rejects_what_does_not_fit(db):
    result = swell("ingest", "--db", db, "--format", "mastodon", FLAT, ok=False)
    assert result.exit_code == 1
    assert [r["reason"] for r in rejects(db)] == ["missing field 'account'"] * 5


def test_python_api_and_parquet_export(db, tmp_path):
    ingest(db, FLAT, V2 / "two_tweets.jsonl")
    with Store(db, read_only=True) as store:
        table = store.posts("kind = ?", ["repost"])
        frame = store.posts_polars()
    assert table.column("post_id").to_pylist() == ["twitter:1380242611781386245", "twitter:1394735776701816833"]
    assert frame.height == 6 and frame.schema["hashtags"] == pl.List(pl.String)
    out = tmp_path / "parquet"
    result = swell("export", "--db", db, "--parquet", out)
    assert "wrote 6 posts" in result.output
    assert pl.read_parquet(out / "platform=twitter" / "*.parquet").height == 6


def _many_tweets(path: Path, n: int) -> set[str]:
    """n real flattened tweets, each re-numbered so that every line is a distinct post."""
    templates = [orjson.loads(line) for line in FLAT.read_bytes().splitlines()]
    with path.open("wb") as out:
        for i in range(n):
            out.write(orjson.dumps(templates[i % len(templates)] | {"id": str(10**15 + i)}) + b"\n")
    return {f"twitter:{10**15 + i}" for i in range(n)}


def test_killed_ingest_resumes_without_loss_or_duplicates(db, tmp_path):
    big = tmp_path / "big.jsonl"
    expected = _many_tweets(big, 20_000)
    cmd = [sys.executable, "-m", "swell", "ingest", "--db", str(db), "--batch-size", "200", str(big)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wal = db.with_name(db.name + ".wal")
    deadline = time.monotonic() + 60
    while not (wal.exists() and wal.stat().st_size > 1_000_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [(done, complete)] = [(r["records_done"], r["complete"]) for r in rows(db, "SELECT * FROM ingested_files")]
    assert not complete and 0 < done < 20_000, "the ingest was not interrupted mid-file"
    assert len(rows(db)) == done  # every committed batch is whole

    result = ingest(db, big)
    assert f"{20_000 - done:,}" in result.output  # the rerun read only what was left
    assert ids(db) == expected
    assert rows(db, "SELECT count(*) AS n, count(DISTINCT post_id) AS d FROM posts") == [{"n": 20_000, "d": 20_000}]
