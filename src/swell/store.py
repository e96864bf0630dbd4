"""The store: one DuckDB file holding the unified posts table.

Appends are idempotent (`post_id` is the primary key; a post already stored is skipped) and each
batch is one transaction together with the file progress that produced it, so an ingest killed at
any point leaves the store consistent and a rerun resumes where the last committed batch ended.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import duckdb
import polars as pl
import pyarrow as pa

from swell.engine import DEFAULT_DB, DuckDBEngine, one
from swell.errors import NotAStore, StoreBusy, StoreNotFound
from swell.model import POST_SCHEMA
from swell.threads import threads

# The day a post belongs to in the Parquet layout: its UTC date.
DAY_SQL = "strftime(created_at, '%Y-%m-%d')"

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS posts (
    post_id VARCHAR PRIMARY KEY,
    platform VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    author_id VARCHAR NOT NULL,
    author_handle VARCHAR,
    text VARCHAR,
    lang VARCHAR,
    kind VARCHAR NOT NULL,
    ref_post_id VARCHAR,
    ref_author_id VARCHAR,
    hashtags VARCHAR[],
    urls VARCHAR[],
    mentions VARCHAR[],
    author_followers BIGINT,
    author_created_at TIMESTAMPTZ,
    source VARCHAR
);
-- Deletions are recorded, not applied: a post deleted after it trended is evidence too.
CREATE TABLE IF NOT EXISTS deletions (
    post_id VARCHAR PRIMARY KEY,
    deleted_at TIMESTAMPTZ,
    source VARCHAR
);
-- How far each input file got; committed in the same transaction as the posts it produced.
CREATE TABLE IF NOT EXISTS ingested_files (
    path VARCHAR PRIMARY KEY,
    size BIGINT,
    mtime_ns BIGINT,
    records_done BIGINT,
    complete BOOLEAN
);
-- Where each live stream got (Jetstream's time_us); committed with the posts it produced.
CREATE TABLE IF NOT EXISTS live_cursors (
    stream VARCHAR PRIMARY KEY,
    cursor BIGINT
);
-- Time ranges a live stream did not deliver (a resumed cursor older than the server keeps, which it
-- moves forward without saying so): what is missing, said where the posts are.
CREATE TABLE IF NOT EXISTS gaps (
    stream VARCHAR,
    missing_from TIMESTAMPTZ,
    missing_until TIMESTAMPTZ,
    reason VARCHAR,
    PRIMARY KEY (stream, missing_from)
);
-- Where `swell collect` got in each slice of time it asked a source for (`swell.collect.slices`),
-- committed with the posts of that slice: a resumed collection skips what is done and goes on from
-- the cursor of what is not.
CREATE TABLE IF NOT EXISTS collect_slices (
    source VARCHAR,
    query VARCHAR,
    slice_from BIGINT,
    slice_until BIGINT,
    cursor VARCHAR,
    fetched BIGINT,
    reached_us BIGINT,
    done BOOLEAN,
    PRIMARY KEY (source, query, slice_from, slice_until)
);
"""


def _connect(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another process holds it: DuckDB allows one writing process
    and no readers beside it, so `swell trends --follow` and `swell ingest` take turns."""
    deadline = time.monotonic() + wait_s
    pause = 0.01
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            message = str(exc).splitlines()[0]
            locked = isinstance(exc, duckdb.IOException) and "lock" in message.lower()
            if not locked and not _being_created(path):
                raise NotAStore(f"{path} cannot be opened as a swell store: {message}") from exc
            if time.monotonic() > deadline:
                what = "in use by another process" if locked else "being created by another process"
                raise StoreBusy(f"{path} has been {what} for {wait_s:g} s: {message}") from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.1)  # readers hold the file for moments: look again soon


def _being_created(path: Path) -> bool:
    """Whether a file DuckDB cannot open is one that another process has just begun to write: empty,
    or zeros where DuckDB's main header goes, or that header (its magic "DUCK" at byte 8) with its two
    database headers (the next 4 KiB blocks) not yet written, as a store is for a moment while `swell
    watch` or `swell ingest` creates it (anything else is no store, and is said at once)."""
    try:
        with path.open("rb") as f:
            main, first, second = f.read(4096), f.read(4096), f.read(4096)
    except OSError:
        return False
    if not main.strip(b"\0"):
        return True
    return main[8:12] == b"DUCK" and not (first.strip(b"\0") and second.strip(b"\0"))


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    """The number a counting query (or an INSERT) gives."""
    row = one(con, query)
    return int(row[0]) if row else 0


def rejects_path(db: Path) -> Path:
    """Where the records set aside while filling the store `db` go, with where and why."""
    return db.with_name(db.name + ".rejects.jsonl")


@dataclass
class FileProgress:
    path: str
    size: int
    mtime_ns: int
    records_done: int = 0
    complete: bool = False


class PostWriter(Protocol):
    """Where an ingest writes: the store, or on a Spark executor the collector that hands the posts to
    Spark (`swell.spark`). Each batch comes with the deletions read beside it and how far its file got."""

    @property
    def rejects_path(self) -> Path:
        """Where the records set aside go."""

    def file_progress(self, path: str, size: int, mtime_ns: int) -> FileProgress:
        """What an earlier ingest of this exact file committed (nothing, where there is no resuming)."""

    def append(
        self,
        batch: pa.RecordBatch,
        deletions: Sequence[tuple[str, int | None, str]] = (),
        progress: FileProgress | None = None,
        cursor: tuple[str, int] | Sequence[tuple[str, int]] | None = None,
        platforms: Counter[str] | None = None,
        gaps: Sequence[tuple[str, int, int, str]] = (),
    ) -> int:
        """Write a batch of posts; returns how many were new, and counts them per platform in
        `platforms` when given. `gaps`: (stream, from µs, until µs, reason) a live stream missed."""


class Store(PostWriter):
    """A DuckDB file of posts. Use as a context manager, or call `close()`."""

    def __init__(self, path: str | Path = DEFAULT_DB, *, read_only: bool = False, wait_s: float = 30.0):
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise StoreNotFound(f"no store at {self.path} (make one with `swell ingest --db {self.path} FILES`)")
        bound = threads()
        self.con = _connect(self.path, read_only, wait_s)
        self.con.execute("SET TimeZone = 'UTC'")
        if bound is not None:
            self.con.execute(f"SET threads = {bound}")
        if not read_only:
            self.con.execute(_SCHEMA_SQL)
        elif not _count(self.con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'posts'"):
            self.con.close()
            raise NotAStore(f"{self.path} is a DuckDB file but not a swell store: it has no posts table")

    @cached_property
    def engine(self) -> DuckDBEngine:
        """The analyses' view of this store."""
        return DuckDBEngine(self.con)

    @property
    def rejects_path(self) -> Path:
        return rejects_path(self.path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    # --- writing ----------------------------------------------------------------------------------

    def cap_memory(self, mib: int) -> None:
        """Bound what DuckDB keeps in memory (by default up to 80% of RAM). Writing, it keeps what it
        wrote in its buffers, about 85 bytes a stored post: 850 MiB after 10 million posts, which an
        ingest never reads again. Past the cap it drops them (they are on disk)."""
        self.con.execute(f"SET memory_limit = '{int(mib)}MiB'")

    def append(
        self,
        batch: pa.RecordBatch,
        deletions: Sequence[tuple[str, int | None, str]] = (),
        progress: FileProgress | None = None,
        cursor: tuple[str, int] | Sequence[tuple[str, int]] | None = None,
        platforms: Counter[str] | None = None,
        gaps: Sequence[tuple[str, int, int, str]] = (),
        slices: Sequence[tuple] = (),
    ) -> int:
        """Store a batch of posts (and deletions, and file progress or a live stream's cursor and the
        gaps it noticed, or the progress of `swell collect`'s slices as `collect_slices` rows) in one
        transaction.

        Returns how many posts were new; the rest were already stored (or came twice in the batch).
        With `platforms`, the new ones are also counted per platform in it.
        """
        con = self.con
        con.begin()
        try:
            con.register("_batch", batch)
            added = con.execute("INSERT OR IGNORE INTO posts BY NAME SELECT * FROM _batch RETURNING platform")
            per_platform = Counter(added.fetchnumpy()["platform"].tolist())
            new = sum(per_platform.values())
            if platforms is not None:
                platforms.update(per_platform)
            con.unregister("_batch")
            if deletions:  # as a table, not a statement a row (3 ms each: a table of deletions is many)
                ids, times, sources = (list(column) for column in zip(*deletions, strict=True))
                table = pa.table({"post_id": ids, "at_us": pa.array(times, pa.int64()), "source": sources,
                                  "n": range(len(ids))})  # fmt: skip
                con.register("_deletions", table)
                con.execute(  # the first of a post's deletions in the batch, as a statement a row kept it
                    "INSERT OR IGNORE INTO deletions SELECT post_id, make_timestamptz(at_us), source FROM _deletions "
                    "QUALIFY row_number() OVER (PARTITION BY post_id ORDER BY n) = 1"
                )
                con.unregister("_deletions")
            if progress is not None:
                con.execute(
                    "INSERT OR REPLACE INTO ingested_files VALUES (?, ?, ?, ?, ?)",
                    [progress.path, progress.size, progress.mtime_ns, progress.records_done, progress.complete],
                )
            if gaps:
                con.executemany(
                    "INSERT OR IGNORE INTO gaps VALUES (?, make_timestamptz(?), make_timestamptz(?), ?)",
                    [list(g) for g in gaps],
                )
            if slices:
                con.executemany("INSERT OR REPLACE INTO collect_slices VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                [list(s) for s in slices])  # fmt: skip
            # (stream, cursor), or several: a stream whose cursor is not a time also stores the time reached
            cursors = [cursor] if isinstance(cursor, tuple) else cursor or []
            if cursors:
                con.executemany(  # never backwards, whatever order batches come in
                    """INSERT INTO live_cursors VALUES (?, ?)
                       ON CONFLICT (stream) DO UPDATE SET cursor = greatest(cursor, excluded.cursor)""",
                    [list(c) for c in cursors],
                )
            con.commit()
        except BaseException:
            # A commit that failed (a full disk) has ended the transaction: its error is the one to tell.
            with contextlib.suppress(duckdb.Error):
                con.rollback()
            raise
        return new

    def file_progress(self, path: str, size: int, mtime_ns: int) -> FileProgress:
        """What an earlier ingest of this exact file (same size and mtime) committed."""
        row = one(
            self.con,
            "SELECT records_done, complete FROM ingested_files WHERE path = ? AND size = ? AND mtime_ns = ?",
            [path, size, mtime_ns],
        )
        done, complete = row if row else (0, False)
        return FileProgress(path, size, mtime_ns, done, complete)

    def live_cursor(self, stream: str) -> int | None:
        """The cursor committed last for a live stream, or None."""
        row = one(self.con, "SELECT cursor FROM live_cursors WHERE stream = ?", [stream])
        return row[0] if row else None

    def collect_slices(self, query: str) -> list[tuple]:
        """The `collect_slices` rows of a query, in the table's column order."""
        return self.con.execute("SELECT * FROM collect_slices WHERE query = ? ORDER BY slice_from", [query]).fetchall()

    # --- reading ----------------------------------------------------------------------------------

    def posts(self, where: str = "TRUE", params: list | None = None) -> pa.Table:
        """The posts as an Arrow table with POST_SCHEMA. `where` is SQL over the posts columns;
        put every user-supplied value in `params` (`?` placeholders), never into `where` itself."""
        query = f"SELECT * FROM posts WHERE {where} ORDER BY created_at, post_id"
        return self.con.sql(query, params=params or None).to_arrow_table().cast(POST_SCHEMA)

    def iter_posts(
        self, columns: list[str], where: str = "TRUE", params: list | None = None, batch_size: int = 200_000
    ) -> Iterator[pa.RecordBatch]:
        """Posts in time order as Arrow batches, never all in memory. Same rules for `where` as `posts`."""
        query = f"SELECT {', '.join(columns)} FROM posts WHERE {where} ORDER BY created_at, post_id"
        reader = self.con.sql(query, params=params or None).to_arrow_reader(batch_size)
        yield from reader

    def posts_polars(self, where: str = "TRUE", params: list | None = None) -> pl.DataFrame:
        return pl.DataFrame(self.posts(where, params))

    def export_parquet(self, directory: str | Path) -> Path:
        """Write the posts (`posts/`, partitioned by day and platform) and the deletions (`deletions/`)
        as Parquet: the layout `swell ingest --engine spark` writes and `--engine spark` reads."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.con.execute(
            f"COPY (SELECT *, {DAY_SQL} AS day FROM posts ORDER BY created_at) TO ? "
            "(FORMAT parquet, PARTITION_BY (day, platform), OVERWRITE)",  # what was there goes
            [str(directory / "posts")],
        )
        (directory / "deletions").mkdir(exist_ok=True)
        self.con.execute("COPY deletions TO ? (FORMAT parquet)", [str(directory / "deletions" / "deletions.parquet")])
        return directory
