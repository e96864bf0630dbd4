"""The engines that run the analyses: DuckDB on one machine, Apache Spark when one is not enough.

Every analysis is written once, as SQL in DuckDB's dialect over the `posts` table (see DESIGN.md,
"One definition, two engines"). `DuckDBEngine` runs it as written. `SparkEngine` (in
`swell.spark`) translates it with sqlglot, plus the few rewrites in `to_spark`, and runs it with
Spark SQL; values always travel as parameters, never inside the SQL text.

Both engines answer in polars frames and plain rows, so what comes after the SQL (the trend
detectors, the clustering, the report) is the same Python code whichever engine ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from swell.errors import MissingExtra

if TYPE_CHECKING:  # imported where they are used: the command line starts without them
    import duckdb
    import polars as pl

Params = list | dict | None
# A function applied to a table batch by batch (a row's result depends on that row alone), so that
# Spark can run it on its executors; DuckDB too applies it a batch at a time.
RowMap = Callable[["pl.DataFrame"], "pl.DataFrame"]
# Of a query's result passed through a RowMap at a time: DuckDB's row group (`row_group_size`), which
# it reads and appends whole fastest.
ROWS_PER_BATCH = 122_880


class Engine(Protocol):
    name: str

    def frame(self, query: str, params: Params = None) -> pl.DataFrame:
        """The result of a query."""

    def one(self, query: str, params: Params = None) -> tuple | None:
        """The first row of a query, or None."""

    def table(self, name: str, query: str, params: Params = None, *, rows: RowMap | None = None) -> None:
        """Keep a query's result as the temporary table `name` for the queries that follow; with
        `rows`, the result passed through it (its output columns are what `rows` returns)."""

    def register(self, name: str, frame: pl.DataFrame) -> None:
        """Make a small frame from Python queryable as `name`."""


def one(con: duckdb.DuckDBPyConnection, query: str, params: Params = None) -> tuple | None:
    """The first row of a query on a DuckDB connection, or None; the result is read to its end,
    because DuckDB refuses new work on a connection whose last result was left half read."""
    rows = con.execute(query, params or []).fetchall()
    return rows[0] if rows else None


def one_row(engine: Engine, query: str, params: Params = None) -> tuple:
    """The one row of an aggregate query (which always has one)."""
    found = engine.one(query, params)
    if found is None:
        raise LookupError(f"no row from a query that always has one: {query}")
    return found


def rows(engine: Engine, query: str, params: Params = None) -> list[dict]:
    """A query's result as a list of dicts."""
    return engine.frame(query, params).to_dicts()


class DuckDBEngine:
    """The analyses on a DuckDB connection (a store's)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        con.execute("SET enable_progress_bar = false")

    def frame(self, query: str, params: Params = None) -> pl.DataFrame:
        import polars as pl

        frame = self.con.sql(query, params=params or None).pl()
        # DuckDB sums integers as 128-bit integers (decimals in polars); Spark as 64-bit ones.
        whole = [n for n, t in frame.schema.items() if isinstance(t, pl.Decimal) and t.scale == 0]
        return frame.with_columns(pl.col(whole).cast(pl.Int64)) if whole else frame

    def one(self, query: str, params: Params = None) -> tuple | None:
        return one(self.con, query, params)

    def table(self, name: str, query: str, params: Params = None, *, rows: RowMap | None = None) -> None:
        if rows is None:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {query}", params or [])
            return
        import polars as pl

        # A batch at a time, as on Spark: the result is kept by DuckDB (within its memory limit, spilling
        # past it) and at most two batches of it are in Python's memory at once. (A result cannot be read
        # batch by batch while the batches are written: DuckDB runs one query at a time a connection.)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_input AS {query}", params or [])
        (count,) = one_row(self, f"SELECT count(*) FROM {name}_input")  # rowids 0 .. count - 1
        self.register(name, rows(self.frame(f"SELECT * FROM {name}_input LIMIT 0")))
        page = f"SELECT * FROM {name}_input WHERE rowid >= $first AND rowid < $first + $rows"
        held: list[pl.DataFrame] = []
        for first in range(0, count, ROWS_PER_BATCH):
            held.append(rows(self.frame(page, {"first": first, "rows": ROWS_PER_BATCH})))
            # Appended in whole row groups but for the last: an append that leaves one part filled costs
            # the next append about 50 ms (0.47 s against 0.12 s for the 755,090 texts of a million posts).
            ready = sum(map(len, held))
            if first + ROWS_PER_BATCH < count:
                ready -= ready % ROWS_PER_BATCH
            if ready:
                out = pl.concat(held, how="vertical_relaxed")
                self.con.register(f"{name}_batch", out.head(ready).to_arrow())
                self.con.execute(f"INSERT INTO {name} SELECT * FROM {name}_batch")
                self.con.unregister(f"{name}_batch")
                held = [out.slice(ready)]
        self.con.execute(f"DROP TABLE {name}_input")

    def register(self, name: str, frame: pl.DataFrame) -> None:
        self.con.register(f"{name}_frame", frame.to_arrow())
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_frame")
        self.con.unregister(f"{name}_frame")


ENGINES = ("duckdb", "spark")
DEFAULT_DB = "swell.duckdb"  # the store, with the DuckDB engine
DEFAULT_DATASET = "swell.parquet"  # the store, with the Spark engine


def store_location(db: str | Path | None, engine: str = "duckdb") -> str:
    """The store named, or the engine's default: a DuckDB file, or a Parquet dataset for Spark."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; engines are {', '.join(ENGINES)}")
    return str(db) if db is not None else DEFAULT_DATASET if engine == "spark" else DEFAULT_DB


def spark_module() -> ModuleType:
    """`swell.spark`, or MissingExtra when PySpark is not installed."""
    try:
        from swell import spark
    except ImportError as exc:
        raise MissingExtra(f"the Spark engine needs the spark extra: pip install 'swell[spark]' ({exc})") from None
    return spark


@contextmanager
def open_engine(db: str | Path | None = None, engine: str = "duckdb", master: str | None = None) -> Iterator[Engine]:
    """The analyses' view of a store, read only: a DuckDB file (default swell.duckdb), or with
    engine="spark" a Parquet dataset (a folder or a URI; default swell.parquet) on the Spark `master`
    (default: spark-submit's, else local[*]). Raises StoreNotFound when there is no store there."""
    location = store_location(db, engine)
    if engine == "duckdb":
        from swell.store import Store

        with Store(location, read_only=True) as store:
            yield store.engine
        return
    spark = spark_module()
    session = spark.session(master)
    try:
        yield spark.SparkEngine(session, location)
    finally:
        session.stop()
