"""Every command as a user meets it: -h, a store that is not there, output to standard output with
-o -, standard input for ingest, the old spellings of options, and the exit statuses the README
documents (0 done, 1 failed or nothing usable, 2 usage)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from conftest import DATA, ingest, rows, swell
from swell.cli import main
from swell.errors import UsageError
from swell.store import Store

ROOT = Path(__file__).parent.parent
spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "docs" / "cli_reference.py")
cli_reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cli_reference)
FLAT = DATA / "twitter-v2" / "flat.jsonl"


def run(*args, input: bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False,
                              env={"COLUMNS": "200"})  # fmt: skip


@pytest.mark.parametrize("words", cli_reference.commands(main), ids=" ".join)
def test_dash_h_is_help(words):
    result = run(*words, "-h")
    assert result.exit_code == 0 and result.output.startswith(f"Usage: main {' '.join(words)}")


@pytest.mark.parametrize(
    "args",
    [("info",), ("trends",), ("campaign", "#x"), ("report",), ("coordination",), ("export", "--parquet", "out")],
    ids=lambda a: a[0],
)
def test_a_store_that_is_not_there_is_one_line_and_status_1(args, tmp_path):
    result = run(*args, "--db", tmp_path / "nowhere.duckdb")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("error: no store at "), result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "store.duckdb"
    ingest(db, DATA / "twitter-v2", DATA / "mastodon")
    return db


def test_output_to_standard_output_and_to_a_file(store, tmp_path):
    facts = orjson.loads(run("info", "--db", store, "--format", "json", "-o", "-").stdout)
    assert facts["posts"] == len(rows(store, "SELECT post_id FROM posts"))
    assert run("info", "--db", store, "--format", "json", "-o", tmp_path / "info.json").stdout == ""
    assert orjson.loads((tmp_path / "info.json").read_bytes()) == facts
    trends = orjson.loads(run("trends", "--db", store, "--format", "json", "-o", "-").stdout)
    assert set(trends) == {"title", "trends", "gaps"}
    network = run("coordination", "--db", store, "--format", "gexf", "-o", "-", "--window", "86400").stdout
    assert network.startswith("<?xml") and "<gexf" in network
    report = orjson.loads(run("report", "--db", store, "--report", tmp_path / "r.html", "--format", "json").stdout)
    assert report["totals"]["posts"] == facts["posts"] and (tmp_path / "r.html").exists()
    # Samples collected years apart: info, the report and trends say alike where the detectors knew nothing.
    assert report["trends"]["gaps"] == trends["gaps"] == facts["gaps"] and len(trends["gaps"]) >= 2
    assert f"learnt again after {len(trends['gaps'])} gaps" in (tmp_path / "r.html").read_text()


def test_ingest_reads_standard_input(tmp_path):
    db = tmp_path / "stdin.duckdb"
    result = run("ingest", "--db", db, "-", "--format", "json", "-q", input=FLAT.read_bytes())
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary["files"][0]["path"] == "stdin" and summary["stored"] == FLAT.read_bytes().count(b"\n")
    assert {r["source"].rsplit(":", 1)[0] for r in rows(db, "SELECT source FROM posts")} == {"stdin"}
    again = run("ingest", "--db", db, "-", "-q", input=FLAT.read_bytes())  # never "already ingested"
    assert again.exit_code == 0 and len(rows(db)) == summary["stored"]


def test_old_spellings_work_with_a_note(store, tmp_path):
    old = run("ingest", "--db", tmp_path / "old.duckdb", "--format", "twitter-v2", FLAT)
    assert old.exit_code == 0 and "deprecated: --format twitter-v2" in old.output
    info = run("info", "--db", store, "--json")
    assert "deprecated: --json" in info.output and '"posts"' in info.output
    campaign = run("campaign", "#rstats", "--db", store, "--json", tmp_path / "c.json")
    assert "deprecated: --json FILE" in campaign.output and orjson.loads((tmp_path / "c.json").read_bytes())


def test_exit_statuses(store, tmp_path):
    assert run("ingest", "--db", tmp_path / "x.duckdb", tmp_path / "missing.jsonl").exit_code == 2  # usage
    assert run("trends", "--db", store, "--since", "yesterday").exit_code == 2
    assert run("trends", "--db", store, "--bogus").exit_code == 2
    nothing = tmp_path / "nothing.jsonl"
    nothing.write_bytes(b"not json\n")
    assert run("ingest", "--db", tmp_path / "n.duckdb", nothing).exit_code == 1  # nothing usable
    spark = run("trends", "--db", store, "--engine", "spark", "--follow")
    assert spark.exit_code == 2 and spark.output.startswith("error: --follow looks at a DuckDB store")
    refused = run("watch", "mastodon", "not a url", "--db", tmp_path / "w.duckdb", "-q")
    assert refused.exit_code == 1 and refused.output.startswith("error: "), refused.output


def test_swell_threads_bounds_duckdb_and_polars(store, monkeypatch):
    monkeypatch.setenv("SWELL_THREADS", "3")
    with Store(store, read_only=True) as opened:
        assert opened.con.execute("SELECT current_setting('threads')").fetchone() == (3,)
    # polars reads its bound once, at its first import: in a Python of its own
    code = "import swell.store, polars; print(polars.thread_pool_size())"
    env = {**os.environ, "SWELL_THREADS": "3"}
    env.pop("POLARS_MAX_THREADS", None)
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout == "3\n"
    for bad in ("two", "0", "²", "100000"):
        monkeypatch.setenv("SWELL_THREADS", bad)
        said = run("serve", "--db", store)  # said before a command starts, even one that opens stores in threads
        assert said.exit_code == 2
        assert said.output == f"error: SWELL_THREADS must be a whole number of threads from 1 to 1024, not {bad!r}\n"
        with pytest.raises(UsageError):
            Store(store, read_only=True)


def test_swell_help_lists_every_command_untruncated():
    listed = swell("--help").output
    for words in cli_reference.commands(main):
        if len(words) == 1:
            assert f"  {words[0]} " in listed
    assert "..." not in listed.split("Commands:")[1]
