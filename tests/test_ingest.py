"""`swell ingest` as a whole: detection from content, compression, layouts, idempotence, bad input, resume."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import lzma
import random
import signal
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import orjson
import polars as pl
import pytest
import zstandard

import corpus
from conftest import DATA, ingest, rejects, rows, swell
from swell import Store, ingest_files
from swell.errors import NotPosts
from swell.sources import InputFile

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


def by_line(db: Path) -> list[dict]:
    """The posts of a store, each's source its line alone: the same posts read from two files compare."""
    return [r | {"source": r["source"].rsplit(":", 1)[1]} for r in rows(db)]


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


def test_a_file_of_another_format_is_said_once_and_the_others_are_read(db, tmp_path):
    """Archives, other compressors, databases, and Parquet where it cannot be read (inside gzip, on
    standard input) hold no posts swell reads: one error naming the file and what it is, no rejected
    "line" for each newline byte of its binary."""
    ingest(db, FLAT)
    swell("export", "--db", db, "--parquet", tmp_path / "exported")
    parquet = next((tmp_path / "exported").rglob("*.parquet"))
    with zipfile.ZipFile(tmp_path / "flat.zip", "w") as archive:
        archive.write(FLAT, FLAT.name)
    with tarfile.open(tmp_path / "flat.tar.gz", "w:gz") as archive:
        archive.add(FLAT, FLAT.name)
    (tmp_path / "flat.jsonl.bz2").write_bytes(bz2.compress(FLAT.read_bytes()))
    (tmp_path / "flat.jsonl.xz").write_bytes(lzma.compress(FLAT.read_bytes()))
    (tmp_path / "parquet.gz").write_bytes(gzip.compress(parquet.read_bytes()))  # told inside the gzip
    with sqlite3.connect(tmp_path / "posts.sqlite") as con:
        con.execute("CREATE TABLE posts (id TEXT, text TEXT)")
    said = {
        tmp_path / "flat.zip": "a ZIP archive",
        tmp_path / "flat.tar.gz": "a tar archive",
        tmp_path / "flat.jsonl.bz2": "bzip2-compressed",
        tmp_path / "flat.jsonl.xz": "xz-compressed",
        tmp_path / "parquet.gz": "a Parquet file, which swell reads from a file of its own",
        tmp_path / "posts.sqlite": "a SQLite database",
        db: "a DuckDB database: a swell store is named with --db, not ingested",
    }
    other = tmp_path / "other.duckdb"
    result = ingest(other, *said, FLAT)
    shown = " ".join(result.output.split())
    for path, what in said.items():
        assert f"could not read {path}: {what}" in shown
    assert ids(other) == FLAT_IDS
    assert rejects(other) == []
    for piped in (parquet.read_bytes(), gzip.compress(parquet.read_bytes())):
        with pytest.raises(NotPosts, match="not from standard input"):
            InputFile.standard_input(io.BytesIO(piped))


WIDE = [DATA / "twitter-v1" / "tweepy-statuses.head.jsonl", DATA / "bluesky" / "twitwi-bluesky-posts.head.json"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32-le"])
def test_json_in_utf16_or_utf32_is_read_as_in_utf8(tmp_path, encoding):
    """As Windows PowerShell 5 writes what `>` redirects (UTF-16 LE with a byte-order mark, CRLF), and
    without a mark: the same posts as from the UTF-8 file, emoji (surrogate pairs in UTF-16) and all."""
    for path in WIDE:
        utf8, wide = tmp_path / f"{path.name}.utf8.duckdb", tmp_path / f"{path.name}.{encoding}.duckdb"
        text = path.read_text("utf-8")
        if encoding == "utf-16":
            text = text.replace("\n", "\r\n")
        recoded = tmp_path / f"{encoding}-{path.name}"
        recoded.write_bytes(text.encode(encoding))
        ingest(utf8, path)
        result = ingest(wide, recoded)
        assert by_line(wide) == by_line(utf8) and len(by_line(wide)) >= 5
        shown = {"utf-16": "UTF-16", "utf-16-be": "UTF-16BE", "utf-32-le": "UTF-32LE"}[encoding]
        assert f"note {recoded}: JSON in {shown}, not UTF-8: decoded as such" in " ".join(result.output.split())


def test_a_bad_character_in_utf16_json_costs_its_line_only(db, tmp_path):
    """Half of a surrogate pair in the second line and an odd byte at the end (a download cut short):
    those two lines are rejected, never changed into something else, and every other post is kept."""
    lines = (DATA / "twitter-v1" / "tweepy-statuses.head.jsonl").read_bytes().splitlines()
    ids = [f"twitter:{orjson.loads(line)['id_str']}" for line in lines]
    wide = [line.decode("utf-8").encode("utf-16-le") for line in lines]
    wide[1] = wide[1][:40] + b"\x3d\xd8" + wide[1][40:]  # a high surrogate with no low one after it
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(codecs.BOM_UTF16_LE + b"\n\x00".join(wide) + b"\x7b")
    ingest(db, cut)
    assert {(r["line"], r["reason"]) for r in rejects(db)} == {
        (2, "invalid UTF-16 at character 21 of the line"),
        (len(lines), f"invalid UTF-16 at character {len(lines[-1].decode()) + 1:,} of the line"),
    }
    assert {r["post_id"] for r in rows(db)} == set(ids) - {ids[1], ids[-1]}


def test_utf16_is_recoded_only_where_the_file_is_read_as_json(tmp_path):
    """A UTF-16 CSV export whose tweet text holds a line like JSON ("{1/3}") is still CSV, decoded by
    its own reader; UTF-16 JSON lines after more than the sniffed lines of log output are still read."""
    ira = (DATA / "ira-2016-09" / "IRAhandle_tweets_sample.csv").read_text("utf-8")
    noise = "".join(f"WARNING rate limit sleeping {i}\n" for i in range(25))
    v1 = DATA / "twitter-v1" / "lines.jsonl"
    for name, text in (("ira.csv", ira.replace("We have a sitting", "We have\n{1/3}\na sitting", 1)),
                       ("noisy.jsonl", noise + v1.read_text("utf-8"))):  # fmt: skip
        (tmp_path / name).write_text(text, "utf-8")
        (tmp_path / f"16-{name}").write_text(text, "utf-16")
        ingest(tmp_path / f"{name}.duckdb", tmp_path / name)
        ingest(tmp_path / f"16-{name}.duckdb", tmp_path / f"16-{name}")
        read = by_line(tmp_path / f"16-{name}.duckdb")
        assert read == by_line(tmp_path / f"{name}.duckdb") and len(read) >= 8
    assert len(rejects(tmp_path / "16-noisy.jsonl.duckdb")) == 25


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_bad_character_in_a_json_document_keeps_the_items_before_it(db, tmp_path, encoding):
    """Half of a surrogate pair in the third status of a JSON array: in UTF-16 a code unit it cannot
    decode; in UTF-8 the three bytes of an encoded surrogate, which the JSON parser lets through."""
    text = (DATA / "mastodon" / "mastodon4j-public_timeline.json").read_text("utf-8")
    statuses = orjson.loads(text)
    at = text.index(statuses[2]["content"][:20])
    bad = {"utf-8": b"\xed\xb3\xbf", "utf-16": b"\x00\xd8"}[encoding]
    damaged = tmp_path / "damaged.json"
    damaged.write_bytes(text[:at].encode(encoding) + bad + text[at:].encode(encoding).removeprefix(codecs.BOM_UTF16))
    ingest(db, damaged)
    assert [r["post_id"] for r in rows(db, "SELECT post_id FROM posts ORDER BY source")] == [
        f"mastodon:{s['uri']}" for s in statuses[:2]
    ]
    assert [(r["line"], r["reason"].split(":")[0]) for r in rejects(db)] == [("item 3", "invalid JSON after item 2")]


def test_a_notebook_shows_an_ingest_as_a_table_with_its_names_escaped(tmp_path):
    hostile = tmp_path / "<img src=x onerror=alert(1)>.jsonl"
    hostile.write_bytes(FLAT.read_bytes() + b"not json\n")
    report = ingest_files([hostile, V2 / "two_tweets.jsonl"], tmp_path / "shown.duckdb")
    shown = report._repr_html_()
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;.jsonl" in shown
    assert shown.count("<tr>") == 1 + 2  # the header, a row a file
    assert "6 new posts stored" in shown and "1 records rejected" in shown


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
    exported = pl.read_parquet(out / "posts" / "**" / "*.parquet", hive_partitioning=True)
    assert exported.height == 6 and set(exported.get_column("platform")) == {"twitter"}
    days = {p.name for p in (out / "posts").iterdir()}
    assert days == {f"day={d}" for d in exported.get_column("created_at").dt.strftime("%Y-%m-%d")}


def _many_lines(n: int) -> bytes:
    """n real flattened tweets, each re-numbered so that every line is a distinct post."""
    templates = [orjson.loads(line) for line in FLAT.read_bytes().splitlines()]
    return b"".join(orjson.dumps(templates[i % len(templates)] | {"id": str(10**15 + i)}) + b"\n" for i in range(n))


def _many_tweets(path: Path, n: int) -> set[str]:
    """`_many_lines` written to `path`; returns their post ids."""
    path.write_bytes(_many_lines(n))
    return {f"twitter:{10**15 + i}" for i in range(n)}


# Ingests FILE into DB in batches of 200 posts and kills itself with SIGKILL (as the OOM killer or a
# power cut would: no clean-up runs) right after the Nth commit: mid-file, whatever the machine's load.
KILLED_AFTER_COMMITS = """
import os, signal, sys
from swell import Ingest, Store

db, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
commits = 0

def on_progress(*_):
    global commits
    commits += 1
    if commits == n:
        os.kill(os.getpid(), signal.SIGKILL)

with Store(db) as store:
    Ingest(store, batch_size=200, on_progress=on_progress).run([path])
"""


@pytest.mark.parametrize("layout", ["jsonl", "parquet"])
def test_killed_ingest_resumes_without_loss_or_duplicates(db, tmp_path, layout):
    big = tmp_path / "big.jsonl"
    expected = _many_tweets(big, 20_000)
    if layout == "parquet":  # the same posts as swell exports them: one file, read row by row
        ingest(tmp_path / "whole.duckdb", big)
        swell("export", "--db", tmp_path / "whole.duckdb", "--parquet", tmp_path / "exported")
        [big] = (tmp_path / "exported" / "posts").rglob("*.parquet")
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_COMMITS, str(db), str(big), "37"])
    assert killed.returncode == -signal.SIGKILL
    [(done, complete)] = [(r["records_done"], r["complete"]) for r in rows(db, "SELECT * FROM ingested_files")]
    assert not complete and done == 37 * 200, "the ingest was not interrupted after its 37th commit"
    assert len(rows(db)) == done  # every committed batch is whole

    result = ingest(db, big)
    assert f"{20_000 - done:,}" in result.output  # the rerun read only what was left
    assert ids(db) == expected
    assert rows(db, "SELECT count(*) AS n, count(DISTINCT post_id) AS d FROM posts") == [{"n": 20_000, "d": 20_000}]


def test_a_wrongly_typed_value_costs_its_post_only(db, tmp_path):
    """Jetstream records are written by any client: a mention whose did is a number."""
    events = orjson.loads((DATA / "bluesky" / "twitwi-bluesky-firehose-posts.json").read_bytes())
    odd = orjson.loads(orjson.dumps(events[8]))
    odd["commit"]["record"]["facets"][0]["features"][0]["did"] = 12345
    odd["commit"]["rkey"] = "odd"
    path = tmp_path / "firehose.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in [*events, odd]) + b"\n")
    ingest(db, path, FLAT)
    assert len(ids(db)) == 10 + 5  # every post, the odd one too (its bad mention left out), and the next file
    [post] = rows(db, "SELECT mentions FROM posts WHERE post_id LIKE '%/odd'")
    assert post["mentions"] == ["did:plc:2qbv2k7oxxhkscjrjhqroiwp"]


def _complete_lines(decoded: bytes) -> list[bytes]:
    return decoded.split(b"\n")[:-1]  # what follows the last newline is cut short


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_compressed_file_cut_short_keeps_every_complete_line_and_says_where(tmp_path, compression):
    """A collection killed mid-write: every line decoded before the cut is stored, the cut line is
    rejected, and the damage is reported with the byte where the data ends, for gzip and for zstd
    written in several frames (as a streaming writer flushes), where a cut between frames used to
    read as a complete file."""
    raw = _many_lines(400)
    pieces = [raw[i : i + 20_000] for i in range(0, len(raw), 20_000)]
    if compression == "gzip":
        members = [gzip.compress(raw)]
    else:
        members = [zstandard.ZstdCompressor().compress(piece) for piece in pieces]
    whole = b"".join(members)
    for share in (0.3, 0.55, 0.9):
        size = int(len(whole) * share)
        cut = tmp_path / f"cut-{share}.jsonl.{compression}"
        cut.write_bytes(whole[:size])
        # What the cut data decodes to: the whole members before the cut, and what the decoder makes
        # of the member it falls in.
        whole_members = next(k for k in range(len(members) + 1) if len(b"".join(members[: k + 1])) > size)
        rest = whole[len(b"".join(members[:whole_members])) : size]
        if compression == "gzip":
            decoded = zlib.decompressobj(wbits=31).decompress(rest)
        else:
            decoded = b"".join(pieces[:whole_members]) + zstandard.ZstdDecompressor().decompressobj().decompress(rest)
        complete = _complete_lines(decoded)
        db = tmp_path / f"cut-{share}-{compression}.duckdb"
        result = ingest(db, cut)
        assert ids(db) == {f"twitter:{orjson.loads(line)['id']}" for line in complete}
        [end] = [r for r in rejects(db) if r["line"] == "end"]
        assert end["reason"].startswith(f"compressed data cut short: the data ends inside a {compression} member")
        cut_line = [r for r in rejects(db) if r["line"] == len(complete) + 1]
        assert len(cut_line) == (1 if len(decoded) > sum(len(line) + 1 for line in complete) else 0)
        assert result.exit_code == 0


def test_array_with_one_item_a_line_is_a_document(db, tmp_path):
    tweets = FLAT.read_bytes().splitlines()
    scrapy = tmp_path / "items.json"  # how Scrapy's JSON exporter writes: "[", then "item," lines, "]"
    scrapy.write_bytes(b"[\n" + b",\n".join(tweets) + b"\n]\n")
    ingest(db, scrapy)
    assert ids(db) == FLAT_IDS and rejects(db) == []


def test_a_directory_skips_swells_own_rejects(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "flat.jsonl").write_bytes(FLAT.read_bytes() + b"not json\n")
    (folder / "README.md").write_text("# not data\n")
    db = folder / "swell.duckdb"
    for _ in range(3):
        swell("ingest", "--db", db, "--force", folder)
    assert len(rejects(db)) == 3  # the bad line, once a run: the rejects file itself is never read


def test_impossible_times_are_rejected(db, tmp_path):
    tweets = [orjson.loads(line) for line in FLAT.read_bytes().splitlines()]
    tweets[0]["created_at"] = "9999-01-01T00:00:00.000Z"
    path = tmp_path / "times.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(t) for t in tweets) + b"\n")
    ingest(db, path)
    assert len(ids(db)) == 4
    [bad] = rejects(db)
    assert bad["line"] == 1 and "is outside 1970-2200" in bad["reason"]
    assert bad["raw"]["post_id"] == "twitter:1380242611781386245"


def test_posts_per_platform_counts_what_was_stored(tmp_path):
    """A file that holds each tweet twice, then a copy of it: the summary counts the posts stored, not
    the records read (a user compares it with the store)."""
    from swell import ingest_files

    lines = (DATA / "twitter-v1" / "lines.jsonl").read_bytes()
    twice, again = tmp_path / "twice.jsonl", tmp_path / "again.jsonl"
    twice.write_bytes(lines + lines)
    again.write_bytes(lines)
    db = tmp_path / "p.duckdb"
    first = ingest_files([twice], db).total
    stored = len(rows(db))
    assert first.posts == 2 * stored and first.new == stored > 0
    assert dict(first.platforms) == {"twitter": stored}
    assert not ingest_files([again], db).total.platforms  # nothing new
    assert f"posts per platform: twitter {stored:,}" in ingest(tmp_path / "q.duckdb", twice).output


def test_the_fast_path_stores_what_the_general_path_stores(tmp_path):
    """X v1.1 and v2 records, real and made wrong in every way that keeps them JSON, stored from JSON
    lines (where a reader's fast path decodes the bytes itself) and from the same records as one
    JSON array (read item by item, each through `parse`): the same posts, the same records set aside.
    (Not always for the same reason: the array's parser reads a number with a fraction or beyond 64
    bits exactly, as a Decimal or a big integer, where a line's parser makes it a float.)"""
    rng = random.Random(7)
    mutations = (corpus.m_valid, corpus.m_wrong_type, corpus.m_huge_kept, corpus.m_impossible_time,
                 corpus.m_huge_ignored, corpus.m_unknown_shape)  # fmt: skip
    pool = [(i, r) for i, r in enumerate(corpus.real_records()) if r.fmt in ("twitter-v1", "twitter-v2")]
    lines = [e.raw for i, r in pool for m in mutations if (e := m(rng, i, r)) is not None]
    assert len(lines) > 60
    (tmp_path / "lines.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "array.json").write_bytes(b"[\n" + b",\n".join(lines) + b"\n]")
    stored, set_aside = {}, {}
    for name in ("lines.jsonl", "array.json"):
        db = tmp_path / f"{name}.duckdb"
        ingest(db, tmp_path / name)
        stored[name] = rows(db, "SELECT * EXCLUDE (source) FROM posts ORDER BY post_id")
        set_aside[name] = sorted(int(str(r["line"]).removeprefix("item ")) for r in rejects(db))
    assert len(stored["lines.jsonl"]) > 20 and len(set_aside["lines.jsonl"]) > 20
    assert stored["lines.jsonl"] == stored["array.json"]
    assert set_aside["lines.jsonl"] == set_aside["array.json"]


def test_a_store_being_created_is_waited_for_and_a_text_file_is_no_store(tmp_path):
    """While another process creates a store, its file holds DuckDB's main header before the two
    database headers after it: a reader waits its turn (and says the store is being created), where
    any other file that DuckDB cannot open is no store, said at once."""
    import duckdb

    from swell.errors import NotAStore, StoreBusy

    whole = tmp_path / "whole.duckdb"
    duckdb.connect(str(whole)).close()
    creating = tmp_path / "creating.duckdb"
    creating.write_bytes(whole.read_bytes()[:4096] + bytes(8192))  # the main header alone, so far
    with pytest.raises(StoreBusy, match="being created"):
        Store(creating, read_only=True, wait_s=0)
    text = tmp_path / "posts.duckdb"
    text.write_text('{"id": 1}\n')
    with pytest.raises(NotAStore, match="cannot be opened as a swell store"):
        Store(text, read_only=True, wait_s=0)
