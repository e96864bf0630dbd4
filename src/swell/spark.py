"""Apache Spark: the same analyses as on DuckDB, when one machine is not enough (`--engine spark`).

The store is a Parquet dataset: `posts/` partitioned by day and platform (the unified schema),
`deletions/`, and what an ingest set aside (`rejects/`, one JSON line per record with its file and
line) and read (`files/`, a summary per input file). `swell ingest --engine spark` writes it from
input files with swell's own readers running on the executors; `swell export` writes the same
layout from a DuckDB store.

The analyses are the DuckDB ones (see `swell.engine`): each query is translated to Spark SQL by
sqlglot, plus the rewrites in `to_spark` for the few functions it does not map.

Needs the `spark` extra (`pip install 'swell[spark]'`) and Java 17 or newer.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import sqlglot
from sqlglot import exp

from swell.engine import Params, RowMap
from swell.errors import StoreNotFound
from swell.model import POST_SCHEMA
from swell.store import FileProgress, PostWriter

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DEFAULT_MASTER = "local[*]"


def session(master: str | None = None, config: dict[str, str] | None = None):
    """A Spark session in UTC, on `master`: by default the one spark-submit was given (it starts
    Python with PYSPARK_GATEWAY_PORT set), else local[*]. In local mode the driver listens on
    127.0.0.1 only and shuffles into two partitions per core; on a cluster its settings apply."""
    from pyspark.sql import SparkSession

    if master is None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        master = DEFAULT_MASTER
    builder = (
        SparkSession.builder.appName("swell")
        .config("spark.sql.session.timeZone", "UTC")
        # Reserved words stay reserved: else Spark reads `FROM posts WHERE (a)` as a table alias `WHERE`.
        .config("spark.sql.ansi.enforceReservedKeywords", "true")
    )
    if master is not None:
        builder = builder.master(master)
    if master is not None and master.startswith("local"):
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(max(2, 2 * (os.cpu_count() or 1))))
        )
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# --- the queries ----------------------------------------------------------------------------------


def _spark_function(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _rewrite(node: exp.Expr) -> exp.Expr:
    """DuckDB functions sqlglot does not translate for Spark, by their Spark equivalents."""
    if isinstance(node, exp.Anonymous) and node.name.upper() == "EPOCH_US":
        return _spark_function("UNIX_MICROS", *node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.upper() == "MAKE_TIMESTAMPTZ" and len(node.expressions) == 1:
        return _spark_function("TIMESTAMP_MICROS", *node.expressions)
    if isinstance(node, exp.ArrayOverlaps):  # sqlglot writes DuckDB's list_has_any as `a && b`
        return _spark_function("ARRAYS_OVERLAP", node.this, node.expression)
    if isinstance(node, exp.ArgMin) and node.args.get("count") is not None:
        # arg_min(value, key, n): the values of the n smallest keys, smallest first.
        value, key, n = (node.args[k].sql("spark") for k in ("this", "expression", "count"))
        return sqlglot.parse_one(
            f"TRANSFORM(SLICE(ARRAY_SORT(COLLECT_LIST(STRUCT({key} AS k, {value} AS v))), 1, {n}), e -> e.v)",
            read="spark",
        )
    return node


@functools.lru_cache(maxsize=256)
def to_spark(query: str) -> str:
    """A query in DuckDB's dialect as Spark SQL. Parameters stay parameters (`?`, `$name` -> `:name`)."""
    tree = sqlglot.parse_one(query, read="duckdb")
    return tree.transform(_rewrite).sql("spark")


class SparkEngine:
    """The analyses on Spark, over a Parquet dataset in swell's layout (or any `posts` view)."""

    name = "spark"

    def __init__(self, spark, path: str | None = None):
        self.spark = spark.newSession()  # its own temporary views, beside other engines on the same cluster
        self._kept: dict[str, DataFrame] = {}
        if path is not None:
            self.open(path)

    def open(self, path: str) -> None:
        """Make `posts` and `deletions` the dataset at `path` (a directory or a URI Spark reads)."""
        from pyspark.errors import AnalysisException

        root = path.rstrip("/")
        try:
            posts = self.spark.read.option("basePath", f"{root}/posts").parquet(f"{root}/posts")
        except AnalysisException as exc:  # the path does not exist, or holds no Parquet: say what is expected
            raise StoreNotFound(
                f"no swell Parquet dataset at {path} (expected {root}/posts/day=.../platform=.../*.parquet; "
                f"write one with `swell ingest --engine spark` or `swell export`): {str(exc).splitlines()[0]}"
            ) from exc
        posts.select(*POST_SCHEMA.names).createOrReplaceTempView("posts")
        try:  # a deletion seen twice (in two files) counts once, as in a DuckDB store
            deletions = self.spark.read.parquet(f"{root}/deletions").dropDuplicates(["post_id"])
        except AnalysisException:  # an ingest that met no deletions writes none
            deletions = self.spark.createDataFrame([], "post_id string, deleted_at timestamp, source string")
        deletions.createOrReplaceTempView("deletions")

    def _df(self, query: str, params: Params):
        return self.spark.sql(to_spark(query), args=params or None)

    def frame(self, query: str, params: Params = None) -> pl.DataFrame:
        return pl.DataFrame(self._df(query, params).toArrow())

    def one(self, query: str, params: Params = None) -> tuple | None:
        frame = self.frame(query, params)
        return frame.row(0) if frame.height else None

    def table(self, name: str, query: str, params: Params = None, *, rows: RowMap | None = None) -> None:
        df = self._df(query, params)
        if rows is not None:
            df = _map_rows(df, rows)
        self._keep(name, df)

    def register(self, name: str, frame: pl.DataFrame) -> None:
        self._keep(name, self.spark.createDataFrame(frame.to_arrow()))

    def _keep(self, name: str, df) -> None:
        # Computed now and kept on the executors as a local checkpoint, which cuts its lineage. Cached
        # instead, each table's plan held those of the tables it was made from, and Spark took seconds
        # to plan a query over a hundred rows (the day-long pass: 4.3 s against 0.45 s), more with each
        # analysis run in the session. An executor lost during an analysis fails it: a checkpoint
        # cannot be made again.
        kept = df.localCheckpoint()  # first: if it fails, the old table stays, and stays kept
        kept.createOrReplaceTempView(name)
        old = self._kept.pop(name, None)
        self._kept[name] = kept
        # The old one's blocks freed now, not when the driver's garbage collector finds it unused; on
        # Spark Connect, which has no handle on the JVM, they are left to the collector.
        if old is not None and hasattr(old, "_jdf"):
            old._jdf.queryExecution().logical().rdd().unpersist(False)


def _map_rows(df, rows: RowMap):
    """`rows` run on the executors over Arrow batches; its output schema found by running it on no rows."""
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    empty = pl.DataFrame(to_arrow_schema(df.schema).empty_table())
    schema = from_arrow_schema(rows(empty).to_arrow().schema)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield from rows(pl.DataFrame(batch)).to_arrow().to_batches()

    return df.mapInArrow(run, schema)


# --- ingest -----------------------------------------------------------------------------------------

_ORDER = pa.schema([pa.field("_file", pa.int64()), pa.field("_row", pa.int64())])


def ingest(spark, paths: list[str], out: str, *, fmt: str | None = None, mapping=None) -> tuple[list, int]:
    """Read input files (local paths, or URIs pyarrow opens: s3://, hdfs://, gs://) into the Parquet
    dataset at `out`, replacing what it held: one Spark task per file runs swell's readers; a post
    read twice is kept once, as first read (files in the order given, then line order), as a DuckDB
    store keeps it. Returns the summary of each file (a FileSummary) and the number of posts stored."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    out = _absolute(out.rstrip("/"))  # the executors must write where the driver reads
    paths = [_absolute(p) for p in paths]
    _clear(out)
    one_per_task = spark.sparkContext.parallelize(list(enumerate(paths)), max(1, len(paths)))
    files = spark.createDataFrame(one_per_task, "file long, path string")
    schema = from_arrow_schema(pa.schema([*POST_SCHEMA, *_ORDER]))
    read = functools.partial(_read_files, out=out, fmt=fmt, mapping=mapping)
    posts = files.mapInArrow(read, schema)
    first = Window.partitionBy("post_id").orderBy("_file", "_row")
    kept = (
        posts.withColumn("_n", F.row_number().over(first))
        .where("_n = 1")
        .drop("_n", "_file", "_row")
        .withColumn("day", F.date_format("created_at", "yyyy-MM-dd"))
    )
    kept.write.mode("overwrite").partitionBy("day", "platform").parquet(f"{out}/posts")
    fs, root = _filesystem(out)
    summaries = sorted(fs.get_file_info(pafs.FileSelector(f"{root}/files")), key=lambda f: f.path)
    stored = spark.read.parquet(f"{out}/posts").count()
    return [_file_summary(orjson.loads(fs.open_input_file(f.path).read())) for f in summaries], stored


def ingest_report(paths: list, out: str, *, master: str | None = None, fmt=None, mapping=None, started: float):
    """`swell.ingest.ingest_files` on Spark: a session on `master`, `ingest`, and what it did as an
    IngestReport (a file that could not be read is in `failed`, not among the summaries)."""
    import time

    from swell.ingest import IngestReport

    spark = session(master)
    try:
        summaries, stored = ingest(spark, [str(p) for p in paths], out, fmt=fmt, mapping=mapping)
    finally:
        spark.stop()
    failed = [(s.path, s.skipped) for s in summaries if s.skipped]
    read = [s for s in summaries if not s.skipped]
    return IngestReport(read, failed, f"{out}/rejects/", stored, time.perf_counter() - started)


def _file_summary(fields: dict):
    from swell.ingest import FileSummary

    summary = FileSummary(fields.pop("path"))
    for name, value in fields.items():
        setattr(summary, name, Counter(value) if isinstance(getattr(summary, name), Counter) else value)
    return summary


def _clear(out: str) -> None:
    """Remove what an earlier ingest wrote beside the posts (Spark overwrites `posts/` itself)."""
    fs, root = _filesystem(out)
    for part in ("deletions", "rejects", "files"):
        info = fs.get_file_info(f"{root}/{part}")
        if info.type == pafs.FileType.Directory:
            fs.delete_dir(f"{root}/{part}")
        fs.create_dir(f"{root}/{part}")


def _read_files(batches: Iterator[pa.RecordBatch], *, out: str, fmt, mapping) -> Iterator[pa.RecordBatch]:
    """On an executor: each file of the batches read by swell's Ingest, its posts yielded as they
    come (a reader thread and a bounded queue), its deletions, rejects and summary written to `out`."""
    for batch in batches:
        for index, path in zip(batch.column("file").to_pylist(), batch.column("path").to_pylist(), strict=True):
            yield from _read_file(index, path, out, fmt, mapping)


def _read_file(index: int, path: str, out: str, fmt, mapping) -> Iterator[pa.RecordBatch]:
    from swell.ingest import UNREADABLE, FileSummary, Ingest

    with tempfile.TemporaryDirectory(prefix="swell-") as tmp:
        collector = _Collector(Path(tmp) / "rejects.jsonl")
        done: list = []

        def run() -> None:
            try:
                local = _local_copy(path, Path(tmp))
                done.append(Ingest(collector, fmt=fmt, mapping=mapping).ingest_file(local, name=path))
            except UNREADABLE as exc:  # as `swell ingest`: the file is reported, the others are read
                done.append(FileSummary(path, skipped=f"could not be read: {exc or type(exc).__name__}"))
            except BaseException as exc:  # a bug: re-raised in the task, which Spark reports
                done.append(exc)
            finally:
                collector.finished()

        reader = threading.Thread(target=run, daemon=True)
        reader.start()
        row = 0
        try:
            while (batch := collector.batches.get()) is not None:
                order = [pa.array([index] * batch.num_rows, pa.int64()), pa.array(range(row, row + batch.num_rows))]
                row += batch.num_rows
                yield pa.RecordBatch.from_arrays([*batch.columns, *order], schema=pa.schema([*POST_SCHEMA, *_ORDER]))
        finally:  # also when Spark stops reading early: the reader must not wait on a full queue forever
            collector.stop.set()
            reader.join()
        if isinstance(done[0], BaseException):
            raise RuntimeError(f"{path}: {done[0]}") from done[0]
        _write_side_outputs(out, index, done[0], collector)


class _Stopped(Exception):
    """The task stopped reading before the file was over."""


def _local_copy(path: str, tmp: Path) -> Path:
    """A local path for the readers: the path itself, or a copy of a remote file."""
    if "://" not in path or path.startswith("file://"):
        return Path(path.removeprefix("file://"))
    fs, remote = _filesystem(path)
    local = tmp / Path(remote).name
    with fs.open_input_stream(remote) as src, local.open("wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    return local


class _Collector(PostWriter):
    """Stands in for the DuckDB store under `Ingest` on an executor: batches go to a bounded queue
    (the task yields them to Spark), deletions are kept for the file's deletions Parquet."""

    def __init__(self, rejects_path: Path):
        self._rejects_path = rejects_path
        self.batches: queue.Queue = queue.Queue(maxsize=4)
        self.deletions: list[tuple[str, int | None, str]] = []
        self.stop = threading.Event()

    @property
    def rejects_path(self) -> Path:
        return self._rejects_path

    def file_progress(self, path: str, size: int, mtime_ns: int) -> FileProgress:
        return FileProgress(path, size, mtime_ns)  # every file is read whole: the output is rewritten

    def append(self, batch: pa.RecordBatch, deletions=(), progress=None, cursor=None, platforms=None, gaps=()) -> int:
        # Duplicates are dropped when the dataset is written: every post of the batch counts here.
        if batch.num_rows:
            self._put(batch)
            if platforms is not None:
                counts = pc.value_counts(batch.column("platform")).to_pylist()
                platforms.update({row["values"]: row["counts"] for row in counts})
        self.deletions.extend(deletions)
        return batch.num_rows

    def finished(self) -> None:
        with contextlib.suppress(_Stopped):
            self._put(None)

    def _put(self, item) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(queue.Full):
                self.batches.put(item, timeout=0.1)
                return
        raise _Stopped


def _write_side_outputs(out: str, index: int, summary, collector: _Collector) -> None:
    fs, root = _filesystem(out)
    name = f"{index:06d}"
    if collector.deletions:
        ids, times, sources = zip(*collector.deletions, strict=True)
        table = pa.table(
            {
                "post_id": pa.array(ids, pa.string()),
                "deleted_at": pa.array(times, pa.timestamp("us", tz="UTC")),
                "source": pa.array(sources, pa.string()),
            }
        )
        import pyarrow.parquet as pq

        pq.write_table(table, f"{root}/deletions/{name}.parquet", filesystem=fs)
    if collector.rejects_path.exists() and collector.rejects_path.stat().st_size:
        with collector.rejects_path.open("rb") as src, fs.open_output_stream(f"{root}/rejects/{name}.jsonl") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    with fs.open_output_stream(f"{root}/files/{name}.json") as f:
        f.write(orjson.dumps(vars(summary)))


def _absolute(location: str) -> str:
    """A local path made absolute (the executors' working directories differ); URIs as they are."""
    return location if "://" in location else os.path.abspath(location)


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's file system and path for a local path or a URI (Hadoop's s3a:// is pyarrow's s3://)."""
    if "://" in location and not location.startswith("file://"):
        return pafs.FileSystem.from_uri(location.replace("s3a://", "s3://", 1))
    return pafs.LocalFileSystem(), location.removeprefix("file://")
