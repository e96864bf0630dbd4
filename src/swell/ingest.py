"""`swell ingest`: input files -> readers -> batches of posts -> the store.

Every input record ends up in exactly one place: a post (or several, for an API page), a recorded
deletion, an ignored non-post (counted by reason), or the rejects file with its file, line and
reason. Batches are committed with the file's progress, so a killed ingest resumes cleanly.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ijson
import msgspec
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from swell.errors import UsageError
from swell.model import Post, implausible, posts_to_batch_or_reject
from swell.readers import car, detect, formats
from swell.readers import csv as csv_reader
from swell.readers import parquet as parquet_reader
from swell.readers.base import (
    LINKS_LEFT_OUT,
    RECORD_ERRORS,
    BadRecord,
    Reader,
    pseudonymised,
    reason_for,
    without_real_account_links,
)
from swell.rejects import reject_line
from swell.sources import MAX_DEPTH, MAX_LINE, STDIN, InputFile, TooDeep, TooLong, expand_inputs
from swell.store import FileProgress, PostWriter, Store
from swell.times import datetime_to_us, iso, parse_iso_time


def format_choices() -> tuple[str, ...]:
    """What `fmt` (`--input-format`) takes: the registered readers' names, and "csv"."""
    return (*formats(), "csv")


_FAST_PATH_MISSES = (msgspec.MsgspecError, *RECORD_ERRORS)
BATCH_SIZE = 50_000
# DuckDB's share of an ingest's memory (a batch of 50,000 posts is well under it): with Python, the
# libraries and the batch being built, an ingest stays under 1 GiB whatever the size of its files.
INGEST_DUCKDB_MIB = 256


@dataclass
class FileSummary:
    path: str
    layout: str = ""
    records: int = 0
    posts: int = 0
    new: int = 0
    rejected: int = 0
    deletions: int = 0
    ignored: Counter = field(default_factory=Counter)
    platforms: Counter = field(default_factory=Counter)
    formats: Counter = field(default_factory=Counter)
    first_us: int | None = None
    last_us: int | None = None
    skipped: str | None = None  # why the file was not read at all
    notes: list[str] = field(default_factory=list)  # what a person should know about how it was read

    @property
    def duplicates(self) -> int:
        return self.posts - self.new

    def to_dict(self) -> dict:
        """JSON-ready, times in ISO 8601."""
        return {
            "path": self.path,
            "layout": self.layout,
            "records": self.records,
            "posts": self.posts,
            "new": self.new,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "deletions": self.deletions,
            "ignored": dict(self.ignored),
            "platforms": dict(self.platforms),
            "formats": dict(self.formats),
            "first": iso(self.first_us),
            "last": iso(self.last_us),
            "skipped": self.skipped,
            "notes": self.notes,
        }

    def add(self, other: FileSummary) -> None:
        for name in ("records", "posts", "new", "rejected", "deletions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("ignored", "platforms", "formats"):
            getattr(self, name).update(getattr(other, name))
        self.widen(other.first_us, other.last_us)

    def widen(self, first_us: int | None, last_us: int | None) -> None:
        """Stretch the time span to cover [first_us, last_us]."""
        if first_us is not None:
            self.first_us = first_us if self.first_us is None else min(self.first_us, first_us)
        if last_us is not None:
            self.last_us = last_us if self.last_us is None else max(self.last_us, last_us)


RejectHook = Callable[[str, str], None]  # (source "file:line", reason)
ProgressHook = Callable[[str, int, int, int], None]  # (path, bytes done, bytes total, posts so far)


class _FileSink:
    """Collects what the readers find in one file until the next commit."""

    def __init__(self, summary: FileSummary, on_reject: RejectHook | None):
        self.summary = summary
        self.on_reject = on_reject
        self.posts: list[Post] = []
        self.deletions: list[tuple[str, int | None, str]] = []
        self.rejects: list[bytes] = []

    def post(self, post: Post) -> None:
        if (post.ref_author_id or post.mentions) and pseudonymised(post.author_id):
            post = without_real_account_links(post)
            note = f"{self.summary.path}: {LINKS_LEFT_OUT}"
            if note not in self.summary.notes:
                self.summary.notes.append(note)
        if (problem := implausible(post)) is None:
            self.posts.append(post)
        else:
            self.reject_post(problem, post)

    def reject_post(self, reason: str, post: Post) -> None:
        self.reject(reason, post._asdict(), post.source)

    def deletion(self, post_id: str, deleted_at: int | None, source: str) -> None:
        self.deletions.append((post_id, deleted_at, source))

    def ignore(self, reason: str) -> None:
        self.summary.ignored[reason] += 1

    def reject(self, reason: str, raw: Any, source: str) -> None:
        file, _, line = source.rpartition(":")
        where = int(line) if line.isdigit() else line  # "item N" in a JSON document
        self.rejects.append(reject_line(raw, file=file, line=where, reason=reason))
        self.summary.rejected += 1
        if self.on_reject:
            self.on_reject(source, reason)


class Ingest:
    """Reads input files into a store. `fmt` forces a JSON reader or "csv"; `mapping` is for CSV."""

    def __init__(
        self,
        store: PostWriter,
        *,
        fmt: str | None = None,
        mapping: csv_reader.Mapping | None = None,
        batch_size: int = BATCH_SIZE,
        force: bool = False,
        on_reject: RejectHook | None = None,
        on_progress: ProgressHook | None = None,
    ):
        if fmt is not None and fmt not in format_choices():
            raise ValueError(f"unknown format {fmt!r}; formats are {', '.join(format_choices())}")
        self.store = store
        self.fmt = fmt
        self.mapping = mapping
        self.batch_size = batch_size
        self.force = force
        self.on_reject = on_reject
        self.on_progress = on_progress

    def run(self, paths: Iterable[str | Path]) -> list[FileSummary]:
        """Read files, the data files of folders, and `-` (standard input, as JSON lines), in the order
        given. Raises InputNotFound before reading anything if a path is not there."""
        return [self.ingest_file(p) for p in expand_inputs(paths)]

    @staticmethod
    def _without_gc(read):
        """Run `read` with the cycle collector paused: a batch holds ~20,000 posts of small lists,
        which makes Python's collector rescan them again and again (15% of ingest time); the posts
        have no reference cycles, so reference counting frees them all the same."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            read()
        finally:
            if enabled:
                gc.enable()

    def ingest_file(self, path: str | Path, name: str | None = None) -> FileSummary:
        """Read one file (`-`: standard input); `name` is what sources and rejects call it (default: its
        path), e.g. the URI of a remote file read from a local copy."""
        name = name or ("stdin" if str(path) == STDIN else str(path))
        summary = FileSummary(name)
        if str(path) == STDIN:  # read once, never resumed: its progress is not kept
            progress, opened = FileProgress(STDIN, 0, 0), InputFile.standard_input()
        else:
            path = Path(path)
            stat = path.stat()
            progress = self.store.file_progress(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            if progress.complete and not self.force:
                summary.skipped = "already ingested (same size and modification time); --force reads it again"
                return summary
            opened = InputFile(path)
        if self.force:
            progress.records_done = 0
        with opened as source:
            sink = _FileSink(summary, self.on_reject)
            run = _Run(self, source, sink, progress, name)
            layout = run.layout()
            wide = source.read_as_json() if layout in ("json", "jsonl") else None
            summary.layout = layout if source.compression is None else f"{layout}+{source.compression}"
            read = {
                "csv": run.csv_records,
                "jsonl": run.jsonl_records,
                "car": run.car_records,
                "parquet": run.parquet_records,
            }.get(layout, run.json_items)
            self._without_gc(read)
            if wide is not None and summary.records:  # as Windows PowerShell 5 writes what `>` redirects
                summary.notes.append(f"{name}: JSON in {csv_reader.encoding_name(wide)}, not UTF-8: decoded as such")
            if source.damage is not None:  # e.g. the .gz of a collection killed mid-write: what was read is kept
                sink.reject(
                    f"compressed data {source.damage}; the {summary.records:,} records before it were read",
                    None,
                    f"{name}:end",
                )
            progress.complete = True
            run.flush()
        return summary


class _Run:
    """One pass over one file: the hot loops, and the commit of each batch."""

    def __init__(self, ingest: Ingest, source: InputFile, sink: _FileSink, progress: FileProgress, name: str):
        self.ingest = ingest
        self.source = source
        self.sink = sink
        self.progress = progress
        self.name = name
        self.total = source.size()
        self.forced: Reader | None = formats().get(ingest.fmt) if ingest.fmt else None
        self.last: Reader | None = self.forced
        self.last_name = self.forced.NAME if self.forced else ""
        self.parse_line = getattr(self.forced, "parse_line", None)  # the last format's fast path, if any
        self.delimiter = ","  # a CSV file's, found by `layout`
        self.encoding = "utf-8"  # a CSV file's, found by `layout`
        self.rows_in_file: int | None = None  # a Parquet file's, and how many of them were read
        self.rows_read = 0

    def layout(self) -> str:
        """How to read this file: the sniffed layout, CSV where a mapping is given or fits the header."""
        layout = self.source.layout
        if layout == "parquet":  # its columns are its header (`parquet_records`)
            return layout
        first = (self.source.first_line.splitlines() or [b""])[0]  # a CSV may end its lines with CR alone
        starts_as_json = self.source.first_line.startswith((b"{", b"["))
        sniffed = None if starts_as_json else csv_reader.sniff_header(self._header_line(first))
        header, self.delimiter = sniffed or ([], ",")
        mapping = self.ingest.mapping
        if self.ingest.fmt == "csv" or (mapping is not None and (layout == "text" or mapping.fits(header))):
            return "csv"
        if csv_reader.mapping_for_header(header) is not None:
            return "csv"  # the header of a known export, whatever lines further down look like
        if sniffed is not None and layout == "text":
            return "csv"  # a CSV header no mapping knows: said at once, with the columns (`csv_records`)
        if layout != "text":
            return layout
        # Neither JSON nor a CSV export we know: read as JSON lines, so each line is rejected with its number.
        self.sink.summary.notes.append(
            f"{self.name}: not JSON, and its first line is not the header of a known CSV export "
            f"({', '.join(csv_reader.shipped_names())}); if it is CSV, pass --mapping or --map"
        )
        return "jsonl"

    def _header_line(self, first: bytes) -> str:
        """The first line of a file that may be CSV, in the encoding its bytes are in; standard input
        is read as JSON lines, so it is not looked at."""
        if not self.source.resumable:
            return first.decode("utf-8", errors="replace")
        head = self.source.sample(csv_reader.ENCODING_SAMPLE)
        self.encoding = csv_reader.detect_encoding(head)
        if self.encoding == "utf-8" and head.isascii() and len(head) == csv_reader.ENCODING_SAMPLE:
            # English in its first MiB: the encoding is told where the file first goes beyond ASCII
            self.encoding = csv_reader.detect_encoding(self.source.sample_beyond_ascii(csv_reader.ENCODING_SAMPLE))
        if self.encoding in ("utf-8", "utf-8-sig"):
            return first.decode("utf-8", errors="replace")
        lines = head.decode(self.encoding, errors="replace").lstrip("\ufeff").splitlines()
        return next((line for line in lines if line.strip()), "")

    def flush(self) -> None:
        sink, summary = self.sink, self.sink.summary
        batch = posts_to_batch_or_reject(sink.posts, sink.reject_post)
        if sink.rejects:  # written before the commit: a crash in between repeats a reject, never loses one
            with self.ingest.store.rejects_path.open("ab") as rejects:
                rejects.write(b"\n".join(sink.rejects) + b"\n")
            sink.rejects.clear()
        if batch.num_rows:
            bounds = pc.min_max(batch.column("created_at").cast("int64")).as_py()
            summary.widen(bounds["min"], bounds["max"])
        summary.posts += batch.num_rows
        summary.deletions += len(sink.deletions)
        kept = self.progress if self.source.resumable else None
        # what was stored, per platform: not the posts already there, nor a post the file holds twice
        summary.new += self.ingest.store.append(batch, sink.deletions, kept, platforms=summary.platforms)
        sink.posts.clear()
        sink.deletions.clear()
        if self.ingest.on_progress:
            self.ingest.on_progress(self.name, self.position(), self.total, summary.posts)

    def position(self) -> int:
        """Bytes of the file read so far; of a Parquet file (which pyarrow reads, not `source`), its
        share of the bytes in proportion to the rows read."""
        if self.rows_in_file is None:
            return self.source.position()
        return self.total * self.rows_read // max(self.rows_in_file, 1)

    def _after_record(self, location: int) -> None:
        self.sink.summary.records += 1
        if max(len(self.sink.posts), len(self.sink.deletions)) >= self.ingest.batch_size:
            self.progress.records_done = location
            self.flush()

    def dispatch(self, record: Any, source: str) -> None:
        """Hand one parsed JSON value to the reader that recognises it."""
        sink = self.sink
        if type(record) is list:  # an API response array on one line: its items (arrays in it are not posts)
            if not record:
                sink.ignore("empty JSON array")
            for item in record:
                self._dispatch_object(item, source)
            return
        self._dispatch_object(record, source)

    def _dispatch_object(self, record: Any, source: str) -> None:
        sink = self.sink
        if type(record) is TooDeep:
            sink.reject(f"nested deeper than {MAX_DEPTH:,} levels (at least {record.depth:,})", None, source)
            return
        if type(record) is not dict:
            sink.reject(f"not a JSON object but {type(record).__name__}", record, source)
            return
        reader = self.forced
        if reader is None:
            reader = self.last if self.last is not None and self.last.matches(record) else detect(record)
            if reader is None:
                keys = ", ".join(sorted(record)[:8])
                sink.reject(f"unknown record shape (keys: {keys})", record, source)
                return
            if reader is not self.last:
                self.last, self.last_name = reader, reader.NAME
                self.parse_line = getattr(reader, "parse_line", None)
        sink.summary.formats[reader.NAME] += 1
        try:
            reader.parse(record, source, sink)
        except RECORD_ERRORS as exc:
            sink.reject(reason_for(exc), record, source)

    def jsonl_records(self) -> None:
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        done, name, dispatch, sink = self.progress.records_done, self.name, self.dispatch, self.sink
        posts, batch_size, summary = sink.posts, self.ingest.batch_size, sink.summary
        for lineno, line in enumerate(self.source.lines(), 1):
            if lineno <= done:
                continue
            source = f"{name}:{lineno}"
            if isinstance(line, TooLong):
                sink.reject(f"line of {line.length:,} bytes, longer than {MAX_LINE:,}", line.head, source)
                summary.records += 1
                continue
            if not line.isascii():  # the fast path's decoder would skip a key with a bad byte unseen
                try:
                    line.decode()
                except UnicodeDecodeError as exc:
                    sink.reject(self._undecodable(line, exc), line, source)
                    summary.records += 1
                    continue
            # Fast path: a reader that decodes raw bytes into just the fields it needs, tried with the
            # format of the previous line. Anything it does not take goes the general way below,
            # which detects the shape again and gives a bad record its reject reason.
            if self.parse_line is not None:
                try:
                    self.parse_line(line, source, sink)
                except _FAST_PATH_MISSES:
                    pass
                else:
                    summary.formats[self.last_name] += 1
                    summary.records += 1
                    if len(posts) >= batch_size:
                        self.progress.records_done = lineno
                        self.flush()
                    continue
            try:
                record = loads(line)
            except decode_error as exc:
                if line.strip():
                    sink.reject(f"invalid JSON: {exc}", line, source)
                    summary.records += 1
                continue
            dispatch(record, source)
            self._after_record(lineno)

    def _undecodable(self, line: bytes, error: UnicodeDecodeError) -> str:
        """Why a line is rejected for a character its file's encoding cannot decode."""
        if self.source.encoding is None:
            return f"invalid UTF-8 at byte {error.start + 1:,} of the line"
        # Recoded to UTF-8, where a code unit that was not is a byte 0xFF (`Recoded`).
        shown, at = csv_reader.encoding_name(self.source.encoding), len(line[: error.start].decode()) + 1
        return f"invalid {shown} at character {at:,} of the line"

    def json_items(self) -> None:
        done, name = self.progress.records_done, self.name
        item = 0
        try:
            for item, record in enumerate(self.source.json_items(), 1):
                if item > done:
                    self.dispatch(record, f"{name}:item {item}")
                    self._after_record(item)
        except (ijson.JSONError, UnicodeDecodeError) as exc:  # yajl passes an encoded lone surrogate on
            # A JSON document cannot be resynchronised after an error: say where it stopped.
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.sink.reject(f"invalid JSON after item {item}: {first_line}", None, f"{name}:item {item + 1}")

    def car_records(self) -> None:
        """A Bluesky repository export, record by record in key order (`swell.readers.car`)."""
        _, records = car.repo_records(self.source.stream.read())
        done, name, sink = self.progress.records_done, self.name, self.sink
        for item, (uri, record) in enumerate(records, 1):
            if item <= done:
                continue
            source = f"{name}:record {item}"
            try:
                car.parse(uri, record, source, sink)
            except RECORD_ERRORS as exc:
                sink.reject(reason_for(exc), {"uri": uri}, source)
            sink.summary.formats[car.NAME] += 1
            self._after_record(item)

    def _mapping(self, header: list[str], what: str) -> csv_reader.Mapping:
        """The column mapping for a table's columns: the one asked for, or the known export's that fits;
        raises ValueError (the file is not read) saying which columns there are and how to map them."""
        mapping = self.ingest.mapping or csv_reader.mapping_for_header(header)
        if mapping is None:
            shown = ", ".join(header[:12]) + (f", ... ({len(header)} in all)" if len(header) > 12 else "")
            raise ValueError(
                f"{self.name}: {what} whose columns match no known export "
                f"({', '.join(csv_reader.shipped_names())}); its columns: {shown}. Say which column holds "
                f"each of {', '.join(csv_reader.REQUIRED)} and text, e.g. --map {header[0]}=post_id, or pass "
                "--mapping FILE.toml; nothing was read"
            )
        missing = sorted(mapping.needed_columns() - set(header))
        if missing:
            raise ValueError(f"{self.name}: mapping {mapping.name} names columns not in the header: {missing}")
        return mapping

    def csv_records(self) -> None:
        if self.encoding not in ("utf-8", "utf-8-sig"):
            shown = csv_reader.encoding_name(self.encoding)
            self.sink.summary.notes.append(f"{self.name}: text in {shown}, not UTF-8: decoded as such")
        header, rows = csv_reader.read_rows(self.source.text(self.encoding), self.delimiter, self.encoding)
        mapping = self._mapping(header, f"a CSV file (delimiter {self.delimiter!r})")
        convert = csv_reader.RowConverter(mapping).convert
        sink, done, name = self.sink, self.progress.records_done, self.name
        for lineno, row, raw in rows:
            if lineno <= done:
                continue
            source = f"{name}:{lineno}"
            if isinstance(row, str):
                sink.reject(row, raw, source)
            else:
                try:
                    sink.post(convert(row, source))
                except RECORD_ERRORS as exc:
                    sink.reject(reason_for(exc), row, source)
            sink.summary.formats[f"csv ({mapping.name})"] += 1
            self._after_record(lineno)

    def parquet_records(self) -> None:
        """A Parquet file, row by row, through the column mapping that fits its columns, as a CSV file
        is (`swell.readers.parquet`); a table of deletions as `swell export` writes them is read as
        deletions. A cell that cannot be read costs its row where the mapping reads it; a file that
        stops being readable part way keeps the rows before the damage."""
        path, sink, name = self.source.path, self.sink, self.name
        header, self.rows_in_file = parquet_reader.columns(path), parquet_reader.row_count(path)
        if not header:
            raise ValueError(f"{name}: a Parquet file with no columns; nothing was read")
        own = set(header) - set(parquet_reader.partition_keys(path))
        read: Callable[[dict, str], Post | None]
        if {"post_id", "deleted_at"} <= own <= DELETION_COLUMNS:
            read, label, needed = self._parquet_deletion, "parquet (deletions)", {"post_id", "deleted_at"}
        else:
            mapping = self._mapping(header, "a Parquet file")
            read, label = csv_reader.RowConverter(mapping).convert, f"parquet ({mapping.name})"
            needed = mapping.needed_columns()
        number = self.progress.records_done
        try:
            for number, row in parquet_reader.rows(path, skip=self.progress.records_done):
                source, self.rows_read = f"{name}:row {number}", number
                bad = [(c, v) for c, v in row.items() if isinstance(v, parquet_reader.Unreadable)]
                try:
                    if used := [f"column {c!r}: {v.why}" for c, v in bad if c in needed]:
                        raise BadRecord("; ".join(used))
                    if (post := read(row, source)) is not None:
                        sink.post(post)
                except RECORD_ERRORS as exc:
                    sink.reject(reason_for(exc), {c: None if (c, v) in bad else v for c, v in row.items()}, source)
                sink.summary.formats[label] += 1
                self._after_record(number)
        except (pa.ArrowException, OSError, ValueError, OverflowError) as exc:  # damaged data: pyarrow's own
            # errors, or Python's where it decodes a corrupt page; the rows before are kept, as in a cut JSON document
            sink.reject(f"unreadable Parquet after row {number}: {exc}", None, f"{name}:row {number + 1}")

    def _parquet_deletion(self, row: dict, source: str) -> None:
        if not row["post_id"]:
            raise BadRecord("empty post_id")
        when = row.get("deleted_at") or None
        when_us = None if when is None else datetime_to_us(when) if isinstance(when, datetime) else parse_iso_time(when)
        self.sink.deletion(row["post_id"], when_us, source)


# The columns of the deletions table `swell export` writes (`Store.export_parquet`).
DELETION_COLUMNS = {"post_id", "deleted_at", "source"}

# What makes a whole file unreadable: missing, no permission, not text, a CSV header that no mapping fits.
UNREADABLE = (ValueError, OSError, EOFError)


@dataclass
class IngestReport:
    """What an ingest did: a summary per file read (or skipped), the files that could not be read at
    all (and why), their totals, and where the records set aside are."""

    summaries: list[FileSummary]
    failed: list[tuple[str, str]]
    rejects: str
    stored: int  # posts stored by this ingest (new ones; for Spark, the dataset's posts)
    elapsed_s: float

    @property
    def total(self) -> FileSummary:
        total = FileSummary("total")
        for summary in self.summaries:
            total.add(summary)
        return total

    def to_dict(self) -> dict:
        return {
            "files": [s.to_dict() for s in self.summaries],
            "failed": [{"path": path, "reason": reason} for path, reason in self.failed],
            "total": self.total.to_dict() | {"path": None},
            "stored": self.stored,
            "rejects": self.rejects,
            "seconds": round(self.elapsed_s, 3),
        }

    def _repr_html_(self) -> str:  # how a notebook shows it: the files read, as the command's table
        from swell.html_report import fragment

        return fragment("_ingest.html.j2", r=self.to_dict())

    @property
    def usable(self) -> bool:
        """Whether anything was read that a store can use (posts, deletions, or files already in it)."""
        total = self.total
        return bool(total.posts or total.deletions or any(s.skipped for s in self.summaries))


def ingest_files(
    paths: Iterable[str | Path],
    db: str | Path | None = None,
    *,
    engine: str = "duckdb",
    master: str | None = None,
    fmt: str | None = None,
    mapping: csv_reader.Mapping | None = None,
    force: bool = False,
    batch_size: int = BATCH_SIZE,
    on_reject: RejectHook | None = None,
    on_progress: ProgressHook | None = None,
) -> IngestReport:
    """Read files, folders and `-` (standard input) into the store `db`: a DuckDB file (default
    swell.duckdb), or with engine="spark" a Parquet dataset written by Spark (replaced; paths may then
    be URIs the executors can open, and `force` and `batch_size` do not apply: every file is read
    whole, every time). A file that cannot be read at all is reported in `failed` and the others are
    read; bad records go to the rejects, with their file, line and reason."""
    from swell.engine import store_location

    started = time.perf_counter()
    inputs = expand_inputs(paths)
    db = store_location(db, engine)
    if engine == "spark":
        from swell.engine import spark_module

        return spark_module().ingest_report(inputs, str(db), master=master, fmt=fmt, mapping=mapping, started=started)
    if remote := [str(p) for p in inputs if "://" in str(p)]:
        raise UsageError(f"URIs are read with engine spark (--engine spark): {', '.join(remote)}")
    summaries, failed = [], []
    with Store(db) as store:
        store.cap_memory(INGEST_DUCKDB_MIB)
        job = Ingest(store, fmt=fmt, mapping=mapping, batch_size=batch_size, force=force,
                     on_reject=on_reject, on_progress=on_progress)  # fmt: skip
        for path in inputs:
            try:
                summaries.append(job.ingest_file(path))
            except UNREADABLE as exc:
                failed.append((str(path), str(exc) or type(exc).__name__))
        rejects = str(store.rejects_path)
    stored = sum(s.new for s in summaries)
    return IngestReport(summaries, failed, rejects, stored, time.perf_counter() - started)
