"""Parquet files as rows for the column mappings that read CSV (`swell.readers.csv`).

A Parquet file is a table, as a CSV export is: the same mappings say which column holds which field
of a post, and one that fits its columns is found the same way (`mapping_for_header`). Its columns
come typed, so each cell is made what a CSV cell would hold: text as it is, numbers and booleans
written out, lists and structs as JSON (which `split_cell` reads as twarc-csv's entity columns), times
kept as times (the mappings' time formats are for text). Struct columns are flattened to dotted names,
as twarc-csv names its columns (`author.username`), and the `key=value` folders of a Hive-partitioned
dataset (`swell export`'s `platform=bluesky`) are columns too, as Spark and DuckDB read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_BATCH = 10_000  # rows decoded into Python at a time


def flattened(table: pa.Table) -> pa.Table:
    """Struct columns as one column per field, `parent.child`, to any depth."""
    while any(pa.types.is_struct(column.type) for column in table.columns):
        table = table.flatten()
    return table


def partition_keys(path: Path) -> dict[str, str]:
    """The `key=value` folders of a path, as Hive partitioning names them."""
    return dict(part.split("=", 1) for part in path.parent.parts if "=" in part and not part.startswith("="))


def columns(path: Path) -> list[str]:
    """The columns a file's rows have: its own (structs flattened) and its partition keys."""
    schema = flattened(pq.ParquetFile(path).schema_arrow.empty_table()).column_names
    return [*schema, *(key for key in partition_keys(path) if key not in schema)]


def row_count(path: Path) -> int:
    """The rows of a file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | datetime):
        return "" if value is None else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return orjson.dumps(value, default=str).decode()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    return str(value)


def rows(path: Path, skip: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, row as cells) for each row after the first `skip`, a batch at a time."""
    keys = partition_keys(path)
    parquet = pq.ParquetFile(path)
    number = 0
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        if number + size <= skip:  # a resumed ingest: the row groups already read are not decoded
            number += size
            continue
        for batch in parquet.iter_batches(batch_size=ROWS_PER_BATCH, row_groups=[group]):
            for row in flattened(pa.Table.from_batches([batch])).to_pylist():
                number += 1
                if number > skip:
                    yield number, {**keys, **{name: _cell(value) for name, value in row.items()}}
