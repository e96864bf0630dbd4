"""No input crashes `swell ingest` or silently loses a post.

Files drawn from `tests/corpus.py` (real records of every format mixed with every mutation that
once crashed swell or lost a post, in every layout) are ingested together by the command line, as a
user would. For every file: no traceback; every valid record stored exactly once, as the very posts
it gives when read alone; every malformed record in the rejects file with its file, line and reason
and never stored; a compressed file cut short read up to the cut, with the damage reported; and the
files after a bad one read all the same. The inputs that crashed swell once are regression tests.
"""

from __future__ import annotations

import os
import random
import tempfile
from functools import cache
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corpus
from conftest import DATA, ingest, rejects, rows, swell
from swell import Ingest, Store

POOL = corpus.real_records()


@cache
def reference() -> dict[int, list[dict]]:
    """The posts (without `source`) each real record gives when read alone, for the records that give
    no reject alone and share no post with an earlier record (so that each is stored once)."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, record in enumerate(POOL):
            path = Path(tmp) / f"{i}{'.csv' if record.fmt == 'csv' else '.jsonl'}"
            header = b",".join(h.encode() for h in corpus.csv_header()) + b"\n" if record.fmt == "csv" else b""
            path.write_bytes(header + (corpus.csv_line(record.value) if record.fmt == "csv" else record.line() + b"\n"))
            files.append(path)
        db = Path(tmp) / "reference.duckdb"
        with Store(db) as store:
            summaries = Ingest(store).run(files)
        posts = rows(db, "SELECT * EXCLUDE (source), source FROM posts")
    by_file: dict[str, list[dict]] = {}
    for post in posts:
        by_file.setdefault(post.pop("source").rsplit(":", 1)[0], []).append(post)
    return {
        i: sorted(by_file.get(str(path), []), key=lambda p: p["post_id"])
        for i, (path, summary) in enumerate(zip(files, summaries, strict=True))
        if summary.rejected == 0 and summary.duplicates == 0
    }


def build(seed: int, layouts: list[str], plans: list[list[tuple[str, int]]], cuts: list[float]) -> list:
    """The files of one command. A record's posts can be stored once per command: an entry that
    must give them after another that gave or may have given them (a flipped byte can leave the
    same post with other words) is made a malformed one instead."""
    rng = random.Random(seed)
    usable = [i for i in range(len(POOL)) if i in reference()]
    pool = [POOL[i] for i in usable]
    files, used = [], set()
    for layout, plan, cut in zip(layouts, plans, cuts, strict=True):
        file = corpus.make_file(rng, pool, layout, plan, cut)
        for n, entry in enumerate(file.entries):
            if entry.record is None:
                continue
            entry.record = usable[entry.record]
            if entry.expect == "posts" and entry.record in used:
                spoil = corpus.m_csv_ragged if layout == "csv" else corpus.m_deep
                file.entries[n] = spoil(rng, 0, POOL[entry.record])
            used.add(entry.record)
        files.append(file)
    return files


def check(files: list, tmp: Path) -> None:
    paths = []
    for n, file in enumerate(files):
        path = tmp / f"input-{n}{file.suffix()}"
        path.write_bytes(file.content())
        paths.append(path)
    db = tmp / "fuzz.duckdb"
    result = ingest(db, *paths, ok=False)  # the real command line; an exception fails the test here
    stored: dict[str, list[dict]] = {}
    for post in rows(db, "SELECT * EXCLUDE (source), source FROM posts"):
        stored.setdefault(post.pop("source"), []).append(post)
    rejected: dict[tuple[str, object], list[str]] = {}
    for r in rejects(db):
        assert r["reason"], r
        rejected.setdefault((r["file"], r["line"]), []).append(r["reason"])
    for path, file in zip(paths, files, strict=True):
        for at, entry, state in _entries(file):
            where, key = f"{path}:{at}", (str(path), at)
            # A first line that starts with "[" and is not whole JSON (cut, or nested deeper than
            # orjson reads) is taken for the start of a JSON document: its reject is at "item 1".
            is_rejected = key in rejected or (at == 1 and (str(path), "item 1") in rejected)
            if state == "after the cut":
                assert where not in stored and key not in rejected, f"{where}: after the cut, yet read"
            elif state == "cut":
                assert where not in stored and is_rejected, f"{where} ({entry.mutation}): cut, not rejected"
            elif entry.expect == "posts":
                got = sorted(stored.get(where, []), key=lambda p: p["post_id"])
                assert got == reference()[entry.record], f"{where} ({entry.mutation} of {POOL[entry.record].origin})"
                assert key not in rejected, f"{where} ({entry.mutation}): {rejected[key]}"
            elif entry.expect == "reject":
                assert is_rejected, f"{where} ({entry.mutation}) was not rejected"
                assert where not in stored, f"{where} ({entry.mutation}) was stored"
        if file.layout.endswith("-cut") and file.cut_inside_a_member():
            [damage] = rejected[(str(path), "end")]
            assert damage.startswith("compressed data cut short"), damage
    (deletions,) = rows(db, "SELECT count(*) AS n FROM deletions")
    assert result.exit_code == (0 if stored or deletions["n"] else 1), result.output


def _entries(file) -> list[tuple[object, object, str]]:
    """Each entry of a file with where swell places it, and whether a cut left it whole (`whole`),
    cut it short (`cut`: a reject) or left it out (`after the cut`)."""
    decoded, start, out = file.decoded(), 0, []
    for at, entry in zip(file.positions(), file.entries, strict=True):
        end = start + len(entry.raw)  # the entry's bytes in a JSON-lines body, without its newline
        if not file.layout.endswith("-cut") or end <= len(decoded):
            state = "whole"
        elif start < len(decoded) and decoded[start:].strip():
            state = "cut"
        else:
            state = "after the cut"
        out.append((at, entry, state))
        start = end + 1
    return out


plans = st.lists(st.tuples(st.sampled_from(list(corpus.MUTATIONS)), st.integers(0, 10_000)), min_size=1, max_size=40)


@settings(
    max_examples=int(os.environ.get("SWELL_EXAMPLES", 100)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(0, 2**32),
    files=st.lists(st.tuples(st.sampled_from(corpus.LAYOUTS), plans, st.floats(0.05, 0.98)), min_size=1, max_size=4),
)
def test_every_file_of_a_command_is_read_whatever_is_in_it(seed, files):
    layouts, file_plans, cuts = (list(column) for column in zip(*files, strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        check(build(seed, layouts, file_plans, cuts), Path(tmp))


def test_a_large_corpus_of_every_layout(tmp_path):
    """What the issue measured, at its scale: some 5,000 records, half of them malformed, in every
    layout, in one command."""
    rng = random.Random(12)
    layouts = [corpus.LAYOUTS[n % len(corpus.LAYOUTS)] for n in range(14)]
    plans = [[(rng.choice(list(corpus.MUTATIONS)), rng.randrange(10_000)) for _ in range(360)] for _ in layouts]
    check(build(12, layouts, plans, [rng.uniform(0.2, 0.95) for _ in layouts]), tmp_path)


# --- the inputs that crashed swell, and those it lost posts to ---------------------------------------

V1, V1_NEXT = (DATA / "twitter-v1" / "lines.jsonl").read_bytes().splitlines()[:2]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"[/]": 1}', id="markup-key"),
        pytest.param(b'{"a":' * 300 + b"1" + b"}" * 300, id="object-300-deep"),
        pytest.param(b"[" * 995 + b"]" * 995, id="array-995-deep"),
        pytest.param(b'{"a":' * 1000 + b"1" + b"}" * 1000, id="object-1000-deep"),
        pytest.param(
            V1.replace(b'"followers_count":', b'"followers_count":100000000000000000000,"x":', 1),
            id="followers-beyond-64-bits",
        ),
        pytest.param(V1.replace(b'"screen_name"', b'"screen\xff_name"', 1), id="invalid-utf8-in-a-key"),
        pytest.param(b"x" * 10_000_000, id="a-10-MB-line"),
    ],
)
def test_a_record_that_crashed_swell_is_one_reject_and_the_next_files_are_read(raw, db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(V1 + b"\n" + raw + b"\n" + V1_NEXT + b"\n")
    result = ingest(db, bad, DATA / "twitter-v2" / "flat.jsonl")
    assert "Traceback" not in result.output
    [reject] = rejects(db)
    assert (reject["file"], reject["line"]) == (str(bad), 2)
    assert len(rows(db, f"SELECT post_id FROM posts WHERE source LIKE '{bad}:%'")) == 2  # the lines around it
    flat = (DATA / "twitter-v2" / "flat.jsonl").read_bytes().count(b"\n")
    assert len(rows(db, "SELECT post_id FROM posts WHERE source LIKE '%flat.jsonl:%'")) == flat  # the next file


def test_a_json_document_nested_ten_thousand_deep_is_one_reject(db, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 10_000 + b"]" * 10_000)
    ingest(db, deep, DATA / "twitter-v2" / "two_tweets.jsonl")
    [reject] = rejects(db)
    assert reject["line"] == 1 and reject["reason"].startswith("invalid JSON: depth limit exceeded")
    assert len(rows(db)) == 1


def test_an_integer_beyond_64_bits_does_not_end_a_json_array(db, tmp_path):
    """yajl stopped at such an integer and every later item of the array was lost."""
    tweets = (DATA / "twitter-v2" / "flat.jsonl").read_bytes().splitlines()
    array = tmp_path / "array.json"
    array.write_bytes(b"[\n" + tweets[0] + b',\n{"n": 9223372036854775808},\n' + b",\n".join(tweets[1:]) + b"\n]\n")
    ingest(db, array)
    assert len(rows(db)) == len(tweets)
    assert [r["line"] for r in rejects(db)] == ["item 2"]


def test_a_csv_header_sniffed_from_a_long_json_line_does_not_crash(db, tmp_path):
    """The CSV sniffing of the first line met a field over 131,072 characters, or a bare CR."""
    flat = (DATA / "twitter-v2" / "flat.jsonl").read_bytes().splitlines()
    for name, first in (("long", flat[0][:-1] + b', "pad": "' + b"a," * 100_000 + b'"}'), ("cr", flat[0] + b"\r")):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(first + b"\n" + b"\n".join(flat[1:]) + b"\n")
        ingest(tmp_path / f"{name}.duckdb", path)
        assert len(rows(tmp_path / f"{name}.duckdb")) == len(flat)


def test_jetstream_events_with_wrongly_typed_fields_are_rejects_not_ignored(db, tmp_path):
    events = [orjson.loads(line) for line in (DATA / "bluesky" / "jetstream-events.jsonl").read_bytes().splitlines()]
    post = events[2]
    bad = [post | {"kind": 7}, post | {"commit": post["commit"] | {"operation": ["create"]}},
           post | {"commit": post["commit"] | {"collection": None}}]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in [*bad, post]) + b"\n")
    ingest(db, path)
    assert [r["line"] for r in rejects(db)] == [1, 2, 3]
    assert len(rows(db)) == 1


def test_an_impossible_v1_time_is_a_reject(db, tmp_path):
    status = orjson.loads(V1)
    status.pop("timestamp_ms", None)
    path = tmp_path / "time.jsonl"
    path.write_bytes(orjson.dumps(status | {"created_at": "Fri Mar 01 99:99:99 +0000 2024"}) + b"\n")
    ingest(db, path, ok=False)
    [reject] = rejects(db)
    assert "99:99:99" in reject["reason"] and rows(db) == []


def test_nothing_rejected_makes_no_rejects_file(db):
    ingest(db, DATA / "twitter-v2" / "flat.jsonl")
    assert not db.with_name(db.name + ".rejects.jsonl").exists()


def test_the_corpus_generator_writes_a_corpus(tmp_path):
    """`python tests/corpus.py DIR` (for looking at, or for other tools)."""
    import subprocess
    import sys

    out = tmp_path / "corpus"
    done = subprocess.run([sys.executable, str(Path(corpus.__file__)), str(out), "--files", "7", "--entries", "20"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert len(manifest) == 7 and all(len(entries) == 20 for entries in manifest.values())
    result = swell(
        "ingest", "--db", tmp_path / "c.duckdb", *sorted(p for p in out.iterdir() if p.name != "manifest.json")
    )
    assert result.exit_code == 0


# --- found in review: each once lost posts, memory or a reject's place ----------------------------


def test_a_json_array_with_its_last_item_alone_on_a_line_is_a_document(db, tmp_path):
    tweets = (DATA / "twitter-v2" / "flat.jsonl").read_bytes().splitlines()
    array = tmp_path / "array.json"
    array.write_bytes(b"[" + b",\n".join(tweets) + b"\n]\n")  # the last item is whole on its line
    ingest(db, array)
    assert len(rows(db)) == len(tweets) and rejects(db) == []


def test_damage_says_the_compressed_byte_where_the_data_ends(db, tmp_path):
    import gzip

    lines = b"".join(orjson.dumps({"n": i, "pad": "x" * (i % 97)}) + b"\n" for i in range(4000))
    first, second = gzip.compress(lines[: len(lines) // 2]), gzip.compress(lines[len(lines) // 2 :])
    cut = tmp_path / "two-members.jsonl.gz"
    cut.write_bytes(first + second[: len(second) // 2])
    ingest(db, cut, ok=False)
    [end] = [r for r in rejects(db) if r["line"] == "end"]
    assert f"at byte {len(first) + len(second) // 2:,}" in end["reason"]


def test_padding_after_the_last_member_is_no_damage(db, tmp_path):
    import gzip

    import zstandard

    flat = (DATA / "twitter-v2" / "flat.jsonl").read_bytes()
    for name, packed in (
        ("p.jsonl.gz", gzip.compress(flat)),
        ("p.jsonl.zst", zstandard.ZstdCompressor().compress(flat)),
    ):
        (tmp_path / name).write_bytes(packed + b"\0" * 4096)
        ingest(tmp_path / f"{name}.duckdb", tmp_path / name)
        assert rejects(tmp_path / f"{name}.duckdb") == []


def test_a_pzstd_file_that_begins_with_a_skippable_frame_is_zstd(db, tmp_path):
    import struct

    import zstandard

    flat = (DATA / "twitter-v2" / "flat.jsonl").read_bytes()
    path = tmp_path / "pzstd.jsonl.zst"
    path.write_bytes(struct.pack("<II", 0x184D2A50, 4) + b"\0\0\0\x10" + zstandard.ZstdCompressor().compress(flat))
    ingest(db, path)
    assert len(rows(db)) == flat.count(b"\n") and rejects(db) == []


def test_a_small_file_that_expands_to_a_gigabyte_is_read_in_bounded_memory(tmp_path):
    """A 32 kB zstd file of 1 GiB of one letter (a zip bomb): zstd was fed 64 kB at a time with no bound
    on its output, and the layout sniffer read up to 20 lines of 16 MB each from a file without newlines."""
    import subprocess
    import sys

    import zstandard

    bomb = tmp_path / "bomb.jsonl.zst"
    bomb.write_bytes(zstandard.ZstdCompressor().compress(b"x" * (1 << 30)))
    script = (  # VmHWM, the process's own peak (ru_maxrss would count its parent's before the exec)
        "import sys; from swell import Ingest, Store\n"
        "with Store(sys.argv[1]) as store: Ingest(store).run([sys.argv[2]])\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(status.split('VmHWM:')[1].split()[0]) // 1024)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "b.duckdb"), str(bomb)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert int(done.stdout) < 600  # MB; it was over 1,100 before (the whole GiB held at once)


def test_a_json_document_nested_two_hundred_thousand_deep_is_one_reject(db, tmp_path):
    """ijson's path of prefixes grows with the square of the depth: 200,000 levels took 24 GB."""
    deep = tmp_path / "deep.json"
    deep.write_bytes(
        b"[\n"
        + b"[" * 200_000
        + b"]" * 200_000
        + b",\n"
        + (DATA / "twitter-v2" / "two_tweets.jsonl").read_bytes()
        + b"]"
    )
    ingest(db, deep)
    [reject] = rejects(db)
    assert reject["line"] == "item 1" and reject["reason"].startswith("nested deeper than 1,024 levels")
    assert len(rows(db)) == 1


def test_folders_give_compressed_files_whatever_the_case_of_their_names(db, tmp_path):
    import gzip

    flat = (DATA / "twitter-v2" / "flat.jsonl").read_bytes()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "A.JSONL.GZ").write_bytes(gzip.compress(flat))
    (tmp_path / "in" / "b.gz").write_bytes(gzip.compress((DATA / "twitter-v2" / "two_tweets.jsonl").read_bytes()))
    (tmp_path / "in" / "archive.tar.gz").write_bytes(b"not read")
    ingest(db, tmp_path / "in")
    assert len(rows(db)) == flat.count(b"\n") + 1


def test_a_csv_with_carriage_returns_alone_between_lines(db, tmp_path):
    sample = (DATA / "ira-2016-09" / "IRAhandle_tweets_sample.csv").read_bytes().splitlines()[:4]
    path = tmp_path / "cr.csv"
    path.write_bytes(b"\r".join(sample) + b"\r")
    ingest(db, path)
    assert len(rows(db)) == 3
