from __future__ import annotations

import os

# Two workers run the tests side by side, on as many cores: each with one thread of DuckDB and polars,
# rather than all four racing for two cores (a fifth less work in all). Before swell imports polars.
os.environ.setdefault("SWELL_THREADS", "1")

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from swell.cli import main
from swell.store import Store

DATA = Path(__file__).parent / "data"

# In CI the property tests draw the same examples every run, so a red build can be reproduced;
# locally they keep exploring new ones.
settings.register_profile("ci", derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


def swell(*args: str | Path, ok: bool = True) -> Result:
    """Run the real `swell` command line in-process."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def ingest(db: Path, *files: Path, ok: bool = True) -> Result:
    return swell("ingest", "--db", db, *files, ok=ok)


def rows(db: Path, sql: str = "SELECT * FROM posts ORDER BY post_id", params: list | None = None) -> list[dict]:
    with Store(db, read_only=True) as store:
        cur = store.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def post(db: Path, post_id: str) -> dict:
    found = rows(db, "SELECT * FROM posts WHERE post_id = ?", [post_id])
    assert len(found) == 1, f"{post_id} stored {len(found)} times"
    return found[0]


def rejects(db: Path) -> list[dict]:
    path = db.with_name(db.name + ".rejects.jsonl")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def utc(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)
