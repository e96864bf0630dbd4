"""What a JSON reader costs on real-shaped v1.1 lines, before anything is converted or stored: the
readers measured as fast paths for `swell ingest` (issue 16), in one process, CPU time a post.

    python benchmarks/json_readers.py [--lines 200000] [--runs 3]

Reads the first --lines of `benchmarks/data/v1-1000000.jsonl` (`python benchmarks/ingest.py --posts
1000000` writes it), copied to /dev/shm so that no reader waits on the disk, and times, alternating:
- DuckDB `read_json` with the `columns=` of `benchmarks/ingest.py` (the issue's peer), one thread;
- Arrow's `pyarrow.json.read_json` with the same fields as its explicit schema, one thread, 8 MiB blocks;
- msgspec decoding a handful of fields (id, the user's id, handle, creation time and followers, the
  time, the hashtags) into a typed Struct, a line at a time;
- simdjson's lazy parse (pysimdjson, if installed) reading the same handful of fields.
Run it pinned to a core (`taskset -c 1 python benchmarks/json_readers.py`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb
import msgspec
import pyarrow as pa
import pyarrow.json as pj

from ingest import _STATUS  # the fields swell keeps, as DuckDB types

HERE = Path(__file__).parent


def arrow_schema() -> pa.Schema:
    """`_STATUS` as an Arrow schema."""
    s = pa.string()
    entities = pa.struct([
        ("hashtags", pa.list_(pa.struct([("text", s)]))),
        ("urls", pa.list_(pa.struct([("url", s), ("expanded_url", s), ("unwound", pa.struct([("url", s)]))]))),
        ("user_mentions", pa.list_(pa.struct([("id_str", s)]))),
    ])  # fmt: skip
    user = pa.struct([("id_str", s), ("id", pa.int64()), ("screen_name", s), ("followers_count", pa.int64()),
                      ("created_at", s)])  # fmt: skip
    extended = pa.struct([("full_text", s), ("entities", entities)])
    fields = [("id_str", s), ("user", user), ("created_at", s), ("timestamp_ms", s), ("text", s), ("full_text", s),
              ("extended_tweet", extended), ("entities", entities), ("lang", s), ("in_reply_to_status_id_str", s),
              ("in_reply_to_user_id_str", s), ("quoted_status_id_str", s),
              ("quoted_status", pa.struct([("user", user)]))]  # fmt: skip
    retweeted = pa.struct([("id_str", s), ("user", user), ("text", s), ("full_text", s), ("extended_tweet", extended),
                           ("entities", entities)])  # fmt: skip
    schema = pa.schema([*fields, ("retweeted_status", retweeted)])
    assert schema.names == list(_STATUS), "the Arrow schema must declare what benchmarks/ingest.py declares"
    return schema


class _Tag(msgspec.Struct):
    text: str


class _Entities(msgspec.Struct):
    hashtags: list[_Tag] | None = None


class _User(msgspec.Struct):
    id_str: str | None = None
    screen_name: str | None = None
    created_at: str | None = None
    followers_count: int | None = None


class _Few(msgspec.Struct):
    id_str: str
    user: _User
    created_at: str
    entities: _Entities | None = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = Path("/dev/shm") / f"json-readers-{args.lines}.jsonl"
    with (HERE / "data" / "v1-1000000.jsonl").open("rb") as source, path.open("wb") as out:
        for _, line in zip(range(args.lines), source, strict=False):
            out.write(line)
    try:
        lines = path.read_bytes().splitlines()
        con = duckdb.connect()
        con.execute("SET threads = 1")
        columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in _STATUS.items()) + "}"
        query = f"SELECT * FROM read_json(?, format = 'newline_delimited', columns = {columns})"
        schema, decode = arrow_schema(), msgspec.json.Decoder(_Few).decode

        def duckdb_read() -> int:
            return sum(b.num_rows for b in con.sql(query, params=[str(path)]).to_arrow_reader(100_000))

        def arrow_read() -> int:
            options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
            return pj.read_json(path, pj.ReadOptions(use_threads=False, block_size=8 << 20), options).num_rows

        def msgspec_few() -> int:
            return sum(1 for line in lines if decode(line).user is not None)

        readers = {"DuckDB read_json": duckdb_read, "Arrow read_json": arrow_read, "msgspec, a few fields": msgspec_few}
        try:
            import simdjson

            parser_ = simdjson.Parser()

            def simdjson_few() -> int:
                for line in lines:
                    d = parser_.parse(line)
                    user = d["user"]
                    d["id_str"], user["id_str"], user["screen_name"], user["created_at"], user["followers_count"]
                    d["created_at"], d["entities"]["hashtags"]
                    del d, user  # a parser is reused only once its last document is let go
                return len(lines)

            readers["simdjson, a few fields"] = simdjson_few
        except ImportError:
            print("pysimdjson is not installed: its reader is left out")
        times: dict[str, list[float]] = {name: [] for name in readers}
        for _ in range(args.runs):
            for name, read in readers.items():
                started = time.process_time()
                rows = read()
                times[name].append((time.process_time() - started) / rows * 1e6)
        peer = statistics.median(times["DuckDB read_json"])
        for name, runs in times.items():
            print(f"{name:24} {', '.join(f'{t:.2f}' for t in runs)} CPU µs a post; median "
                  f"{statistics.median(runs) / peer:.2f}x DuckDB's", flush=True)  # fmt: skip
    finally:
        path.unlink()


if __name__ == "__main__":
    main()
