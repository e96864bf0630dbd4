"""Property tests: random and mutated records never crash a reader, and every input line ends up
somewhere - as posts, a recorded deletion, a counted non-post, or a reject with its line."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATA
from swell.ingest import Ingest
from swell.store import Store

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)


def _real_records() -> list[dict]:
    records = []
    for path in sorted(DATA.glob("*/*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict):
                records.append(value)
    return records


REAL = _real_records()


@st.composite
def mutated(draw) -> bytes:
    """A real record with one part deleted, retyped or replaced, or its line cut short."""
    record = orjson.loads(orjson.dumps(draw(st.sampled_from(REAL))))
    node = record
    for _ in range(draw(st.integers(0, 4))):  # walk down to a random nested object
        children = [v for v in node.values() if isinstance(v, dict)] if isinstance(node, dict) else []
        if not children:
            break
        node = draw(st.sampled_from(children))
    action = draw(st.sampled_from(["delete", "replace", "truncate"]))
    if action != "truncate" and node:
        key = draw(st.sampled_from(sorted(node)))
        if action == "delete":
            del node[key]
        else:
            node[key] = draw(json_values)
    line = orjson.dumps(record)
    if action == "truncate":
        line = line[: draw(st.integers(0, len(line)))]
    return line


lines = st.lists(
    mutated()
    | json_values.map(orjson.dumps)
    | st.binary(max_size=64).filter(lambda b: b"\n" not in b and b"\r" not in b),
    min_size=1,
    max_size=12,
)


def _ingest_lines(raw_lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.jsonl"
        path.write_bytes(b"\n".join(raw_lines) + b"\n")
        db = Path(tmp) / "p.duckdb"
        with Store(db) as store:
            try:
                [summary] = Ingest(store).run([path])
            except ValueError as exc:  # a first line that reads as a CSV header no mapping knows: said, whole
                assert str(exc).startswith(f"{path}: a CSV file") and str(exc).endswith("nothing was read")
                first = raw_lines[0].removeprefix(b"\xef\xbb\xbf")
                assert any(c.isalnum() for c in first.decode("utf-8", "replace")), first  # a header names columns
                with pytest.raises(orjson.JSONDecodeError):  # and is no JSON record
                    orjson.loads(first)
                assert store.con.execute("SELECT count(*) FROM posts").fetchone() == (0,)
                assert not store.rejects_path.exists()
                return
            posted = {s.rsplit(":", 1)[1] for (s,) in store.con.execute("SELECT source FROM posts").fetchall()}
            deleted = {s.rsplit(":", 1)[1] for (s,) in store.con.execute("SELECT source FROM deletions").fetchall()}
        rejected = (
            {str(orjson.loads(r)["line"]) for r in store.rejects_path.read_bytes().splitlines()}
            if store.rejects_path.exists()
            else set()
        )
        ignored = sum(summary.ignored.values())
        if "+" in summary.layout:  # it began with gzip or zstd magic: read as compressed, it is damaged
            assert summary.rejected >= 1
            return
        if summary.layout == "json":  # no line stood alone as JSON: read as one document, items numbered
            assert summary.posts + summary.rejected + ignored >= 1
            return
        raw_lines = [raw_lines[0].removeprefix(b"\xef\xbb\xbf"), *raw_lines[1:]]  # a byte-order mark is no record
        records = {str(i) for i, line in enumerate(raw_lines, 1) if line.strip()}
        accounted = posted | deleted | rejected
        assert accounted <= records
        # A line not found among stored posts, deletions and rejects was counted as a non-post, or
        # holds a post that an earlier line already stored (a duplicate).
        assert len(records - accounted) <= ignored + summary.duplicates
        assert summary.records == len(records)


@settings(
    max_examples=int(os.environ.get("SWELL_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(lines)
def test_every_line_is_a_post_a_deletion_a_non_post_or_a_reject(raw_lines):
    _ingest_lines(raw_lines)
