"""Parquet files as input: swell's own export read back, and typed tables of real exports read
through the same column mappings as their CSV (`swell.readers.parquet`)."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

import swell as swell_api
from conftest import DATA, ingest, rejects, rows, swell
from swell.model import POST_SCHEMA

FIELDS = [name for name in POST_SCHEMA.names if name != "source"]  # where a post was read differs


def posts(db) -> list[dict]:
    """The posts of a store, but where each was read; an empty text is no text (as in CSV)."""
    return [
        r | {"text": r["text"] or None} for r in rows(db, f"SELECT {', '.join(FIELDS)} FROM posts ORDER BY post_id")
    ]


def test_a_store_exported_as_parquet_ingests_back_to_the_same_posts_and_deletions(tmp_path):
    """Every real sample of every format, and a Bluesky post deleted, out with `swell export` and back
    in with `swell ingest FOLDER`: the platform of each file from its `platform=` folder."""
    deleted = {
        "did": "did:plc:7keopgujra55zzcgmvvbmnfm",
        "time_us": 1731623200000000,
        "kind": "commit",
        "commit": {"rev": "3end", "operation": "delete", "collection": "app.bsky.feed.post", "rkey": "3lawvqfat362m"},
    }
    (tmp_path / "deletion.jsonl").write_bytes(orjson.dumps(deleted) + b"\n")
    first, again = tmp_path / "first.duckdb", tmp_path / "again.duckdb"
    ingest(first, DATA, tmp_path / "deletion.jsonl")
    swell("export", "--db", first, "--parquet", tmp_path / "exported")
    result = ingest(again, tmp_path / "exported")
    assert len(posts(again)) > 600 and posts(again) == posts(first)
    assert {r["platform"] for r in rows(again, "SELECT DISTINCT platform FROM posts")} == {
        "twitter",
        "bluesky",
        "mastodon",
    }
    read_back = rows(again, "SELECT post_id, deleted_at FROM deletions")
    assert read_back == rows(first, "SELECT post_id, deleted_at FROM deletions") and len(read_back) == 1
    assert "parquet (swell)" in result.output and "parquet (deletions)" in result.output


def test_the_organic_samples_parquet_is_read_as_the_posts_it_holds(db):
    """tests/corpora/organic-hashtags: 1,180 real posts in swell's table, as a Parquet file of their own."""
    path = DATA.parent / "corpora" / "organic-hashtags" / "posts.parquet"
    ingest(db, path)
    held = pq.read_table(path).select(FIELDS).to_pylist()
    assert posts(db) == sorted(({**r, "text": r["text"] or None} for r in held), key=lambda r: r["post_id"])
    assert len(held) == 1_180


@pytest.mark.parametrize("export", ["4cat/x-api-v2.csv", "4cat/bluesky.csv", "ira-2016-09/IRAhandle_tweets_sample.csv"])
def test_a_typed_parquet_of_a_real_export_reads_as_its_csv(tmp_path, export):
    """The CSV as pyarrow types it (ids as integers, times as timestamps, empty columns as nulls),
    written as Parquet: the same mapping fits its columns and gives the same posts."""
    table = pa_csv.read_csv(DATA / export)
    assert any(pa.types.is_timestamp(t) or pa.types.is_integer(t) for t in table.schema.types)
    pq.write_table(table, tmp_path / "export.parquet")
    ingest(tmp_path / "csv.duckdb", DATA / export)
    result = ingest(tmp_path / "parquet.duckdb", tmp_path / "export.parquet")
    assert posts(tmp_path / "parquet.duckdb") == posts(tmp_path / "csv.duckdb") != []
    assert "parquet (" in result.output


def test_a_bad_row_costs_that_row_and_unknown_columns_say_what_to_map(tmp_path, db):
    struct = pa.table(
        {
            "id": ["1", None, "3"],
            "created_at": ["2024-03-01T17:00:00Z", "2024-03-01T17:01:00Z", "not a time"],
            "author": [{"id": "a1", "username": "one"}, {"id": "a2", "username": "two"}, {"id": "a3", "username": "x"}],
            "text": ["#blast one", "two", "three"],
        }
    )
    pq.write_table(struct, tmp_path / "nested.parquet")
    mapped = swell("ingest", "--db", db, "--map", "id=post_id", "--map", "created_at=created_at",
                   "--map", "author.id=author_id", "--map", "author.username=author_handle",
                   "--map", "text=text", tmp_path / "nested.parquet")  # fmt: skip
    assert [(r["line"], r["reason"]) for r in rejects(db)] == [
        ("row 2", "empty post_id (column 'id')"),
        ("row 3", "bad value (ValueError: Invalid isoformat string: 'not a time')"),
    ]
    assert rows(db, "SELECT post_id, author_id, author_handle, hashtags FROM posts") == [
        {"post_id": "csv:1", "author_id": "a1", "author_handle": "one", "hashtags": ["blast"]}
    ]
    assert "parquet (--map)" in mapped.output
    unknown = ingest(tmp_path / "unknown.duckdb", tmp_path / "nested.parquet", ok=False)
    said = " ".join(unknown.output.split())
    assert unknown.exit_code == 1
    assert "a Parquet file whose columns match no known export" in said
    assert "its columns: id, created_at, author.id, author.username, text" in said


def test_a_cell_that_cannot_be_read_costs_its_row_only_where_it_is_read(tmp_path, db):
    """A time beyond what Python holds and bytes that are not UTF-8: the rows whose mapped columns
    hold them are rejected (saying which column), the same in a column no mapping reads changes nothing."""
    table = pa.table(
        {
            "id": ["1", "2", "3"],
            "created_at": pa.array([1_709_312_400, 10**12, 1_709_312_460], pa.timestamp("s")),
            "author_id": ["a1", "a2", "a3"],
            "text": pa.array([b"fine", b"fine too", b"\xff not utf-8"], pa.binary()),
            "unused": pa.array([10**12, 10**12, 10**12], pa.timestamp("s")),
        }
    )
    pq.write_table(table, tmp_path / "odd.parquet")
    mapped = ["--map", "id=post_id", "--map", "created_at=created_at", "--map", "author_id=author_id"]
    swell("ingest", "--db", db, *mapped, "--map", "text=text", tmp_path / "odd.parquet")
    assert [r["post_id"] for r in rows(db)] == ["csv:1"]
    reasons = {r["line"]: r["reason"] for r in rejects(db)}
    assert set(reasons) == {"row 2", "row 3"}
    assert reasons["row 2"].startswith("column 'created_at': timestamp[")  # Parquet keeps seconds as ms
    assert "value that cannot be read (date value out of range)" in reasons["row 2"]
    assert reasons["row 3"].startswith("column 'text': bytes that are not UTF-8")


def test_a_file_damaged_part_way_keeps_the_rows_before_the_damage(tmp_path, db):
    organic = pq.read_table(DATA.parent / "corpora" / "organic-hashtags" / "posts.parquet")
    damaged = tmp_path / "damaged.parquet"
    pq.write_table(organic, damaged, row_group_size=200, compression="snappy")
    text = organic.schema.get_field_index("text")
    page = pq.ParquetFile(damaged).metadata.row_group(3).column(text).data_page_offset
    with damaged.open("r+b") as f:  # the text of the fourth row group overwritten
        f.seek(page + 40)
        f.write(bytes(range(256)) * 4)
    ingest(db, damaged)
    assert len(rows(db)) == 600
    [reject] = rejects(db)
    assert reject["line"] == "row 601" and reject["reason"].startswith("unreadable Parquet after row 600")


def test_platform_folders_are_decoded_and_names_starting_with_dot_or_underscore_skipped(tmp_path):
    """A platform named with a space and a slash, as DuckDB writes its folder (platform=Truth%20Social%2F2);
    an export's deletions read with the mapping named and below a folder that looks like a partition;
    macOS's ._ files and a Spark attempt's _temporary/ are not data."""
    csv = tmp_path / "p.csv"
    csv.write_text("id,date,user,body\n1,2024-03-01T17:00:00Z,u1,#blast one\n", encoding="utf-8")
    first = tmp_path / "first.duckdb"
    swell("ingest", "--db", first, "--map", "id=post_id", "--map", "date=created_at", "--map", "user=author_id",
          "--map", "body=text", "--map", "platform=Truth Social/2", csv)  # fmt: skip
    with swell_api.Store(first) as store:
        store.append(pa.RecordBatch.from_pylist([], schema=POST_SCHEMA), [("Truth Social/2:9", None, "test")])
    exported = tmp_path / "batch=7" / "exported"
    swell("export", "--db", first, "--parquet", exported)
    (exported / "posts" / "._junk.parquet").write_bytes(b"\x00\x05\x16\x07 not parquet")
    (exported / "_temporary" / "0").mkdir(parents=True)
    (exported / "_temporary" / "0" / "part-0.parquet").write_bytes(b"PAR1 cut short")
    again = tmp_path / "again.duckdb"
    result = ingest(again, exported)
    assert "could not read" not in result.output and rejects(again) == []
    assert posts(again) == posts(first)
    assert rows(again, "SELECT post_id, platform FROM posts") == [
        {"post_id": "Truth Social/2:1", "platform": "Truth Social/2"}
    ]
    named = tmp_path / "named.duckdb"
    swell("ingest", "--db", named, "--mapping", "swell", exported)
    assert rows(named, "SELECT post_id FROM deletions") == [{"post_id": "Truth Social/2:9"}]


def test_a_parquet_file_without_columns_is_said_and_the_next_file_read(tmp_path, db):
    pq.write_table(pa.table({}), tmp_path / "empty.parquet")
    result = ingest(db, tmp_path / "empty.parquet", DATA / "twitter-v2" / "flat.jsonl")
    assert "a Parquet file with no columns" in " ".join(result.output.split())
    assert len(rows(db)) == 5
