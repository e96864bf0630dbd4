"""Parquet files as rows for the column mappings that read CSV (`swell.readers.csv`).

A Parquet file is a table, as a CSV export is: the same mappings say which column holds which field
of a post, and one that fits its columns is found the same way (`mapping_for_header`). Its columns
come typed, so each cell is made what a CSV cell would hold: text as it is, numbers and booleans
written out, lists as lists (`split_cell` reads their items as it reads twarc-csv's JSON entity
columns), times kept as times (the mappings' time formats are for text), empty cells as None.
Struct columns are flattened to dotted names, as twarc-csv names its columns (`author.username`),
and the `key=value` folders of a Hive-partitioned dataset (`swell export`'s `platform=bluesky`) are
columns too, as Spark and DuckDB read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROWS_PER_BATCH = 10_000  # rows decoded into Python at a time


def flattened(table: pa.Table) -> pa.Table:
    """Struct columns as one column per field, `parent.child`, to any depth."""
    while any(pa.types.is_struct(column.type) for column in table.columns):
        table = table.flatten()
    return table


def partition_keys(path: Path) -> dict[str, str]:
    """The `key=value` folders of a path, as Hive partitioning names them (values URL-encoded, as DuckDB
    and Spark write `platform=Truth%20Social`)."""
    pairs = (part.split("=", 1) for part in path.parent.parts if "=" in part and not part.startswith("="))
    return {key: unquote(value) for key, value in pairs}


class Unreadable:
    """A cell that cannot be read (not UTF-8, a time beyond what Python holds, text longer than a
    CSV field may be): it costs its row only if a mapping reads its column."""

    def __init__(self, why: str):
        self.why = why


MAX_CELL = 1 << 20  # characters of a text cell; longer is no post (CSV's limit is 131,072)
BATCH_BYTES = 64 << 20  # of a row group's data decoded at a time: wide rows come fewer a batch


def columns(path: Path) -> list[str]:
    """The columns a file's rows have: its own (structs flattened) and its partition keys."""
    schema = flattened(pq.ParquetFile(path).schema_arrow.empty_table()).column_names
    return [*schema, *(key for key in partition_keys(path) if key not in schema)]


def row_count(path: Path) -> int:
    """The rows of a file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows


def _column(array: pa.ChunkedArray) -> list:
    """A column's cells as the mappings read them, converted a column at a time (`_converted`); where
    that fails, a value at a time, each that cannot be read `Unreadable`."""
    try:
        cells = _converted(array)
    except (pa.ArrowException, ValueError, OverflowError):
        cells = [_one(array.slice(i, 1)) for i in range(len(array))]
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return [
            Unreadable(f"text of {len(c):,} characters") if c is not None and len(c) > MAX_CELL else c for c in cells
        ]
    return cells


def _one(array: pa.ChunkedArray) -> Any:
    try:
        return _converted(array)[0]
    except (pa.ArrowException, ValueError, OverflowError) as exc:
        return Unreadable(f"{array.type} value that cannot be read ({exc})")


def _converted(array: pa.ChunkedArray) -> list:
    """Text as it is; numbers, booleans, dates and times of day written out; times as naive datetimes
    in UTC (aware ones cost three times as long to make); lists as lists; None where a cell is empty."""
    kind = array.type
    if pa.types.is_timestamp(kind):
        if kind.tz is not None or kind.unit != "us":  # nanoseconds are cut to the microseconds kept
            array = pc.cast(array, pa.timestamp("us"), safe=kind.unit != "ns")
        return array.to_pylist()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or _is_list(kind):
        return array.to_pylist()
    if (
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind) or pa.types.is_temporal(kind)
    ):  # fmt: skip
        return pc.cast(array, pa.string()).to_pylist()
    return [_cell(value) for value in array.to_pylist()]  # binary and the rare rest, a value at a time


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Unreadable(f"bytes that are not UTF-8 ({exc.reason} at byte {exc.start + 1})")
    return orjson.dumps(value, default=str).decode()  # a map, a union: as JSON


def rows(path: Path, skip: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, row as cells) for each row after the first `skip`, a batch at a time."""
    keys = partition_keys(path)
    parquet = pq.ParquetFile(path)
    number = 0
    for group in range(parquet.num_row_groups):
        meta = parquet.metadata.row_group(group)
        size = meta.num_rows
        if number + size <= skip:  # a resumed ingest: the row groups already read are not decoded
            number += size
            continue
        rows_per_batch = max(1, min(ROWS_PER_BATCH, BATCH_BYTES * size // max(meta.total_byte_size, 1)))
        for batch in parquet.iter_batches(batch_size=rows_per_batch, row_groups=[group]):
            table = flattened(pa.Table.from_batches([batch]))
            for key, value in keys.items():  # a column of its own, unless the file has one so named
                if key not in table.column_names:
                    table = table.append_column(key, pa.array([value] * table.num_rows, pa.string()))
            names = table.column_names
            for values in zip(*(_column(column) for column in table.columns), strict=True):
                number += 1
                if number > skip:
                    yield number, dict(zip(names, values, strict=True))
