"""A corpus of hostile input for `swell ingest`, made from the real records in tests/data.

Valid records of every format (X v1.1 and v2, Jetstream, Bluesky AppView, Mastodon, CSV) are mixed
with malformed records made from them by every mutation that once crashed swell or lost a post:
truncated lines, invalid UTF-8, NUL bytes, flipped bytes, wrongly typed fields, records nested a
thousand levels deep, integers beyond 64 bits (in fields swell keeps and in fields it ignores),
impossible times, shapes no reader knows, ragged CSV rows; in every layout (JSON lines plain, gzip
and zstd, those cut short; JSON arrays; CSV). Each entry says what swell must make of it:

- `posts`: exactly the posts its record gives when read alone (the reference), no reject;
- `reject`: a reject with its file and line, and no post;
- `any`: accounted for somehow (a flipped byte can leave valid JSON with other words in it).

`tests/test_fuzz.py` draws files from it with hypothesis. `python tests/corpus.py DIR [--seed N]
[--files N]` writes a corpus to DIR with `manifest.json` (what each file's lines must give), to look
at or to feed to other tools.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import gzip
import io
import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import zstandard

DATA = Path(__file__).parent / "data"
CSV_SAMPLE = DATA / "ira-2016-09" / "IRAhandle_tweets_sample.csv"


@dataclass(frozen=True)
class Record:
    """One real record: `fmt` is the reader that reads it (or "csv"), `value` the parsed JSON value
    (for CSV: the row as a dict)."""

    fmt: str
    value: dict
    origin: str  # file and position in tests/data

    def line(self) -> bytes:
        return orjson.dumps(self.value)


def _reader_of(value: dict) -> str | None:
    from swell.readers import detect

    reader = detect(value)
    return reader.NAME if reader else None


def real_records() -> list[Record]:
    """Every JSON record in tests/data (lines of JSON-lines files, items of JSON documents) that a
    reader recognises, and every row of the fivethirtyeight IRA sample."""
    records = []
    for path in sorted(p for p in DATA.rglob("*") if p.suffix in (".json", ".jsonl", ".ndjson")):
        raw = path.read_bytes()
        try:
            values = [orjson.loads(raw)]
        except orjson.JSONDecodeError:
            values = []
            for line in raw.splitlines():
                try:
                    values.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue  # the cut-off line of a stream capture
        if len(values) == 1 and isinstance(values[0], list):
            values = values[0]
        for i, value in enumerate(values, 1):
            if isinstance(value, dict) and (fmt := _reader_of(value)):
                records.append(Record(fmt, value, f"{path.relative_to(DATA)}:{i}"))
    with CSV_SAMPLE.open(newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f), 2):
            records.append(Record("csv", row, f"{CSV_SAMPLE.relative_to(DATA)}:{i}"))
    return records


def csv_header() -> list[str]:
    with CSV_SAMPLE.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def csv_line(row: dict | list) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(list(row.values()) if isinstance(row, dict) else row)
    return out.getvalue().encode()


@dataclass
class Entry:
    """One line (or array item) of a file, and what swell must make of it."""

    raw: bytes  # a JSON line, or a CSV record (with its newline); for arrays, one JSON value
    expect: str  # "posts", "reject" or "any"
    record: int | None = None  # for "posts": the record (an index into the pool) it must give; for
    # "any": the record it was made from, whose posts it may give (with other words in them)
    mutation: str = "valid"


# --- mutations: each turns a real record into an entry ------------------------------------------------

# Fields each format keeps, as paths into its record: set to a value of the wrong type, or to an
# integer beyond 64 bits, the record must be a reject.
_REQUIRED = {
    "twitter-v1": [("id_str",), ("user",), ("created_at",)],
    "twitter-v2": [("created_at",), ("id",)],
    "jetstream": [("kind",), ("did",), ("time_us",), ("commit", "operation"), ("commit", "collection")],
    "bluesky": [("uri",), ("author",), ("record",)],
    "mastodon": [("uri",), ("created_at",), ("account",)],
}
_COUNTS = {
    "twitter-v1": ("user", "followers_count"),
    "twitter-v2": ("author", "public_metrics", "followers_count"),
    "jetstream": ("time_us",),
    "bluesky": ("author", "followersCount"),
    "mastodon": ("account", "followers_count"),
}
_WRONG = [{"an": "object"}, ["a", "list"], 3.5, True]
_HUGE = [10**20, -(10**20), 2**64, 18446744073709551616]
_IMPOSSIBLE_TIMES = {
    "twitter-v1": "Fri Mar 01 99:99:99 +0000 2024",
    "twitter-v2": "2024-03-01T99:99:99.000Z",
    "mastodon": "2024-13-45T10:00:00.000Z",
}
HOSTILE_KEYS = ["[/]", "[bold]x[/bold]", ":end:", "\x1b[31mred", "\u202eevil", "[link=http://x]y[/link]"]


def _single(record: Record) -> bool:
    """A record that gives one post (not a page of them, whose other posts a bad field would not touch,
    nor 4CAT's stand-in for a tweet it could not have, which gives none whatever its fields say)."""
    v = record.value
    pages = "data" in v or "posts" in v or "feed" in v or "event" in v
    return record.fmt != "csv" and not pages and "resource_type" not in v


def _set(value: dict, path: tuple[str, ...], new) -> bool:
    node = value
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return False
    if path[-1] not in node:
        return False
    node[path[-1]] = new
    return True


def _copy(value):
    return orjson.loads(orjson.dumps(value))


def _nested(depth: int, array: bool) -> bytes:
    return (b"[" * depth + b"]" * depth) if array else (b'{"a":' * depth + b"1" + b"}" * depth)


def m_valid(rng: random.Random, i: int, r: Record) -> Entry:
    return Entry(r.line() if r.fmt != "csv" else csv_line(r.value), "posts", i)


def m_truncated(rng: random.Random, i: int, r: Record) -> Entry:
    line = r.line()
    return Entry(line[: rng.randrange(1, len(line))], "reject", mutation="truncated")


def m_invalid_utf8(rng: random.Random, i: int, r: Record) -> Entry:
    line = r.line()
    at = rng.randrange(1, len(line))
    return Entry(line[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8"]) + line[at:], "reject",
                 mutation="invalid-utf8")  # fmt: skip


def m_nul(rng: random.Random, i: int, r: Record) -> Entry:
    line = r.line()
    at = rng.randrange(1, len(line))
    return Entry(line[:at] + b"\x00" + line[at:], "reject", mutation="nul")


def m_flipped(rng: random.Random, i: int, r: Record) -> Entry:
    line = bytearray(r.line())
    line[rng.randrange(len(line))] ^= 1 << rng.randrange(8)
    return Entry(bytes(line).replace(b"\n", b" ").replace(b"\r", b" "), "any", i, "flipped-byte")


def m_wrong_type(rng: random.Random, i: int, r: Record) -> Entry | None:
    value = _copy(r.value)
    paths = [p for p in _REQUIRED.get(r.fmt, ()) if _single(r)]
    if not paths or not _set(value, rng.choice(paths), rng.choice(_WRONG)):
        return None
    return Entry(orjson.dumps(value), "reject", mutation="wrong-type")


def m_huge_kept(rng: random.Random, i: int, r: Record) -> Entry | None:
    value = _copy(r.value)
    if not _single(r) or r.fmt not in _COUNTS or not _set(value, _COUNTS[r.fmt], rng.choice(_HUGE)):
        return None
    return Entry(json.dumps(value).encode(), "reject", mutation="huge-int-kept")  # orjson cannot write it


def m_huge_ignored(rng: random.Random, i: int, r: Record) -> Entry | None:
    if r.fmt == "csv":
        return None
    big = rng.choice(_HUGE)  # orjson cannot write it: splice it in as text
    line = r.line()
    return Entry(line[:-1] + b',"swell_fuzz_count":' + str(big).encode() + b"}", "posts", i, "huge-int-ignored")


def m_deep_ignored(rng: random.Random, i: int, r: Record) -> Entry | None:
    if r.fmt == "csv":
        return None
    depth = rng.choice([50, 300, 900])
    return Entry(r.line()[:-1] + b',"swell_fuzz_deep":' + _nested(depth, rng.random() < 0.5) + b"}", "posts", i,
                 "deep-ignored")  # fmt: skip


def m_deep(rng: random.Random, i: int, r: Record) -> Entry:
    return Entry(_nested(rng.choice([255, 300, 995, 1000, 1024, 1100, 5000]), rng.random() < 0.5), "reject",
                 mutation="deep")  # fmt: skip


def m_impossible_time(rng: random.Random, i: int, r: Record) -> Entry | None:
    value = _copy(r.value)
    if not _single(r) or r.fmt not in _IMPOSSIBLE_TIMES or not _set(value, ("created_at",), _IMPOSSIBLE_TIMES[r.fmt]):
        return None
    value.pop("timestamp_ms", None)  # v1.1 prefers it to created_at
    return Entry(orjson.dumps(value), "reject", mutation="impossible-time")


def m_unknown_shape(rng: random.Random, i: int, r: Record) -> Entry:
    key = rng.choice(HOSTILE_KEYS)
    return Entry(orjson.dumps(rng.choice([{key: 1}, {key: {"id": key}}, [key], key, 12, None])), "reject",
                 mutation="unknown-shape")  # fmt: skip


def m_jetstream_types(rng: random.Random, i: int, r: Record) -> Entry | None:
    if r.fmt != "jetstream":
        return None
    value = _copy(r.value)
    path = rng.choice([("kind",), ("commit", "operation"), ("commit", "collection")])
    if not _set(value, path, rng.choice([7, None, ["commit"], {"x": 1}])):
        return None
    return Entry(orjson.dumps(value), "reject", mutation="jetstream-types")


def m_csv_ragged(rng: random.Random, i: int, r: Record) -> Entry | None:
    if r.fmt != "csv":
        return None
    cells = list(r.value.values())
    cells = [*cells, "extra"] if rng.random() < 0.5 else cells[: rng.randrange(1, len(cells))]
    return Entry(csv_line(cells), "reject", mutation="csv-ragged")


def m_csv_bytes(rng: random.Random, i: int, r: Record) -> Entry | None:
    if r.fmt != "csv":
        return None
    line = csv_line(r.value)
    at = rng.randrange(1, len(line) - 1)
    if rng.random() < 0.2:  # CSV has no rule against a NUL in a cell: the row may be read with it
        return Entry(line[:at] + b"\x00" + line[at:], "any", i, "csv-nul")
    return Entry(line[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]) + line[at:], "reject",
                 mutation="csv-bytes")  # fmt: skip


def m_csv_fields(rng: random.Random, i: int, r: Record) -> Entry | None:
    if r.fmt != "csv":
        return None
    row = dict(r.value)  # the ira-fivethirtyeight mapping takes ids from article_url, times from publish_date
    row[rng.choice(["publish_date", "article_url"])] = rng.choice(["", "99/99/99 99:99", "[/] :end:"])
    return Entry(csv_line(row), "reject", mutation="csv-fields")


Mutation = Callable[[random.Random, int, Record], Entry | None]
MUTATIONS: dict[str, Mutation] = {
    "valid": m_valid,
    "truncated": m_truncated,
    "invalid-utf8": m_invalid_utf8,
    "nul": m_nul,
    "flipped-byte": m_flipped,
    "wrong-type": m_wrong_type,
    "huge-int-kept": m_huge_kept,
    "huge-int-ignored": m_huge_ignored,
    "deep-ignored": m_deep_ignored,
    "deep": m_deep,
    "impossible-time": m_impossible_time,
    "unknown-shape": m_unknown_shape,
    "jetstream-types": m_jetstream_types,
    "csv-ragged": m_csv_ragged,
    "csv-bytes": m_csv_bytes,
    "csv-fields": m_csv_fields,
}
# What an item of a JSON array can be: nothing that breaks the document around it.
ARRAY_MUTATIONS = ("valid", "wrong-type", "huge-int-kept", "huge-int-ignored", "deep", "impossible-time",
                   "unknown-shape", "jetstream-types", "deep-ignored")  # fmt: skip
CSV_MUTATIONS = ("valid", "csv-ragged", "csv-bytes", "csv-fields")


# --- files ----------------------------------------------------------------------------------------

LAYOUTS = ("jsonl", "jsonl.gz", "jsonl.zst", "jsonl.gz-cut", "jsonl.zst-cut", "json", "csv")


@dataclass
class CorpusFile:
    """A file to write: its layout, entries, and for a cut file the share of its bytes kept."""

    layout: str
    entries: list[Entry] = field(default_factory=list)
    cut: float = 1.0

    def suffix(self) -> str:
        return {"json": ".json", "csv": ".csv"}.get(self.layout, "." + self.layout.removesuffix("-cut"))

    def body(self) -> bytes:
        """The file's content, uncompressed."""
        if self.layout == "json":  # an API response saved whole: a pretty-printed array
            return b"[\n" + b",\n".join(e.raw for e in self.entries) + b"\n]\n"
        if self.layout == "csv":
            # UTF-8 declared by a byte-order mark (as Excel's "CSV UTF-8" writes it): without it, a file
            # whose only non-ASCII byte is a stray 0xFF reads as cp1252 text, not as a corrupt record.
            header = codecs.BOM_UTF8 + ",".join(csv_header()).encode() + b"\n"
            return header + b"".join(e.raw for e in self.entries)
        return b"".join(e.raw + b"\n" for e in self.entries)

    def content(self) -> bytes:
        body = self.body()
        if self.layout.startswith("jsonl.gz"):
            data = gzip.compress(body)
        elif self.layout.startswith("jsonl.zst"):  # a frame per 4 kB, as a streaming writer flushes
            compressor = zstandard.ZstdCompressor()
            data = b"".join(compressor.compress(body[i : i + 4096]) for i in range(0, len(body), 4096))
        else:
            return body
        # Cut after the magic number at least: three bytes of zstd's four are no zstd file, just bytes.
        return data[: max(4, int(len(data) * self.cut))] if self.layout.endswith("-cut") else data

    def decoded(self) -> bytes:
        """What a decoder makes of the file's bytes: for a cut file, what precedes the cut."""
        return self._decode()[0]

    def cut_inside_a_member(self) -> bool:
        """Whether the file's compressed data ends inside a gzip member or zstd frame. A cut that falls
        between two of the 4 kB frames leaves complete frames: no reader can tell that more were due."""
        return not self._decode()[1]

    def _decode(self) -> tuple[bytes, bool]:
        """What the file's bytes decode to, and whether the last member or frame was complete."""
        data = self.content()
        if self.layout.startswith("jsonl.gz"):
            decoder = zlib.decompressobj(wbits=31)
            return decoder.decompress(data), decoder.eof
        if self.layout.startswith("jsonl.zst"):
            out, rest, complete = [], data, True
            while rest:  # frame by frame; the last may be cut short
                decoder = zstandard.ZstdDecompressor().decompressobj()
                out.append(decoder.decompress(rest))
                rest, complete = (decoder.unused_data, True) if decoder.eof else (b"", False)
            return b"".join(out), complete
        return data, True

    def positions(self) -> list[int | str]:
        """Where swell places each entry: its line (a CSV record's first line), or `item N`."""
        if self.layout == "json":
            return [f"item {i}" for i in range(1, len(self.entries) + 1)]
        line = 2 if self.layout == "csv" else 1
        out = []
        for e in self.entries:
            out.append(line)
            line += e.raw.count(b"\n") if self.layout == "csv" else 1
        return out


def make_file(
    rng: random.Random, pool: list[Record], layout: str, plan: list[tuple[str, int]], cut: float
) -> CorpusFile:
    """A file of `layout` with an entry per (mutation, record) of `plan`; a mutation that does not
    apply to its record (a CSV mutation of a JSON record...) gives the record's valid entry."""
    allowed = CSV_MUTATIONS if layout == "csv" else ARRAY_MUTATIONS if layout == "json" else tuple(MUTATIONS)
    file = CorpusFile(layout, cut=cut if layout.endswith("-cut") else 1.0)
    for mutation, k in plan:
        candidates = [i for i, r in enumerate(pool) if (r.fmt == "csv") == (layout == "csv")]
        i = candidates[k % len(candidates)]
        entry = MUTATIONS[mutation](rng, i, pool[i]) if mutation in allowed else None
        file.entries.append(entry or m_valid(rng, i, pool[i]))
    return file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--entries", type=int, default=200, help="entries per file")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    pool = real_records()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for n in range(args.files):
        layout = LAYOUTS[n % len(LAYOUTS)]
        plan = [(rng.choice(list(MUTATIONS)), rng.randrange(len(pool))) for _ in range(args.entries)]
        file = make_file(rng, pool, layout, plan, rng.uniform(0.2, 0.95))
        path = args.out / f"{n:03d}{file.suffix()}"
        path.write_bytes(file.content())
        manifest[path.name] = [
            {"at": at, "expect": e.expect, "mutation": e.mutation, "record": e.record and pool[e.record].origin}
            for at, e in zip(file.positions(), file.entries, strict=True)
        ]
    (args.out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    counts = {}
    for entries in manifest.values():
        for e in entries:
            counts[e["expect"]] = counts.get(e["expect"], 0) + 1
    print(f"wrote {args.files} files to {args.out}: " + ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
