"""What every command prints is data, and data is hostile: rich markup (`[/]`, `[bold]`), emoji codes
(`:end:`), escape sequences and right-to-left overrides in hashtags, handles, texts, JSON keys and
file names are printed literally (control characters as visible escapes), and nothing crashes."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from click.testing import CliRunner

from swell.cli import main
from swell.live.replay import Replay, serving
from swell.normalise import normalize_hashtag
from swell.simulate import Campaign, Simulation, generate, write_jetstream
from swell.store import Store
from swell.terminal import visible

START = datetime(2024, 3, 1, tzinfo=UTC)
ESC, RTL = "\x1b", "\u202e"
# A hashtag, an account prefix and a text that try every trick on a terminal.
TAG = f"Blast[/]:end:{ESC}[31m{RTL}"
PUSH = "[bold]push[link=http://evil.example]x[/link]"
ACCOUNT = f"[/]gr{ESC}[2J{RTL}:smile:-"
TEXT = f" [bold]:end:{ESC}]0;owned{chr(7)} {RTL}gnp.exe"


def run(*args, ok: bool = True) -> str:
    """The command's whole output (standard output and error), wide enough that nothing wraps."""
    result = CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "400"}, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def assert_shown_literally(output: str, *expected: str) -> None:
    """No control character reached the terminal, and each expected string is there as itself."""
    assert ESC not in output and RTL not in output and chr(7) not in output
    assert "🔚" not in output and "😄" not in output  # :end: and :smile: were not read as emoji codes
    for text in expected:
        assert visible(text) in output, f"{visible(text)!r} not in the output"


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory) -> Path:
    """A simulated day with a grassroots blast and a coordinated push, hostile hashtags, accounts
    whose ids and handles and posts whose texts are hostile too."""
    campaigns = [
        Campaign("grassroots", TAG, START + timedelta(hours=17), accounts=300),
        Campaign("coordinated", PUSH, START + timedelta(hours=9), accounts=30),
    ]
    table, _ = generate(Simulation(hours=24, posts_per_hour=2_000, seed=4, campaigns=campaigns))
    for column in ("author_id", "author_handle", "ref_author_id"):
        renamed = pc.replace_substring_regex(table.column(column), "^(gr|co)", ACCOUNT + r"\1")
        table = table.set_column(table.schema.get_field_index(column), column, renamed)
    text = pc.binary_join_element_wise(table.column("text"), pa.scalar(TEXT), "")
    table = table.set_column(table.schema.get_field_index("text"), "text", text)
    db = tmp_path_factory.mktemp("hostile") / "hostile.duckdb"
    with Store(db) as store:
        store.append(table.combine_chunks().to_batches()[0])
    return db


def test_info_trends_campaign_coordination_and_report(hostile_store, tmp_path):
    tag, push = normalize_hashtag(TAG), normalize_hashtag(PUSH)
    assert_shown_literally(run("info", "--db", hostile_store, "--top", "100"), f"#{tag}", f"#{push}")
    assert_shown_literally(run("trends", "--db", hostile_store), f"#{tag}", f"#{push}")
    assert_shown_literally(run("trends", "--db", hostile_store, "--at", "2024-03-01T17:10"), f"#{tag}")
    report = tmp_path / "c.html"
    campaign = run("campaign", TAG, "--db", hostile_store, "--planned", "2024-03-01T17:00", "--report", report)
    assert_shown_literally(campaign, f"#{tag}: ", ACCOUNT)
    coordination = run("coordination", "--db", hostile_store, "--hashtag", PUSH, "--min-size", "5")
    assert_shown_literally(coordination, ACCOUNT)
    assert_shown_literally(run("report", "--db", hostile_store, "--report", tmp_path / "r.html"))
    assert_shown_literally(run("export", "--db", hostile_store, "--parquet", tmp_path / "parquet"))


def test_ingest_shows_hostile_keys_file_names_and_reasons(tmp_path):
    name = f"[bold]x[red]{ESC}[31m{RTL}:end:"  # a file name holds no "/"
    bad = tmp_path / f"{name}.jsonl"
    bad.write_bytes(
        b'{"[/]": 1}\n{"[bold]": {"x": 1}, ":end:": 2}\n'
        + orjson.dumps({f"{ESC}[2J": 1, RTL: 2})  # escaped in the JSON, as JSON writers do
        + b"\n"
        + b'{"kind": "commit", "did": "[/]", "time_us": "[bold]"}\n'
    )
    output = run("ingest", "--db", tmp_path / "i.duckdb", bad, ok=False)
    assert_shown_literally(
        output, f"{name}.jsonl:1", "keys: [/]", "keys: :end:, [bold]", f"keys: {ESC}[2J, {RTL}", "got str [bold]"
    )
    # a reject at the end of a damaged file: once shown as an emoji (":end:")
    cut = tmp_path / "cut.jsonl.gz"
    lines = b"".join(orjson.dumps({"a": os.urandom(600).hex()}) + b"\n" for _ in range(3))  # incompressible
    cut.write_bytes(gzip.compress(lines)[:2000])
    assert_shown_literally(run("ingest", "--db", tmp_path / "j.duckdb", cut, ok=False), "cut.jsonl.gz:end:")


def test_simulate_shows_a_hostile_planted_hashtag(tmp_path):
    out = run("simulate", tmp_path / "s.jsonl", "--hours", "3", "--posts-per-hour", "200",
              "--plant", f"grassroots:{TAG}@2024-03-01T01:00/20")  # fmt: skip
    assert_shown_literally(out, f"#{TAG}")


def test_watch_shows_a_hostile_hashtag_trending(tmp_path):
    """The live display of `swell watch`, with a hashtag such as `#[/]x` trending."""
    # Still running when the watcher stops at 03:00: the display shows what is trending now.
    blast = Campaign("grassroots", TAG, START + timedelta(hours=2, minutes=25), accounts=300)
    table, _ = generate(Simulation(hours=3, posts_per_hour=2_000, seed=7, campaigns=[blast]))
    path = tmp_path / "stream.jsonl"
    write_jetstream(table, path)
    with path.open("ab") as out:  # an event at 03:00, where the watcher is told to stop
        out.write(orjson.dumps({"did": "did:plc:end", "time_us": 1709262000000000, "kind": "identity"}) + b"\n")
    with serving(Replay.from_file(path)) as url:
        cmd = [sys.executable, "-m", "swell", "watch", "jetstream", url, "--db", str(tmp_path / "w.duckdb"),
               "--until", "2024-03-01T03:00"]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    assert_shown_literally(done.stderr, f"#{normalize_hashtag(TAG)} (")


def test_serve_and_replay_show_hostile_paths(tmp_path):
    db = tmp_path / f"[bold]{ESC}[31m:end:.duckdb"
    serve = subprocess.Popen([sys.executable, "-m", "swell", "serve", "--db", str(db), "--port", "0"],
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "400"})  # fmt: skip
    try:
        assert_shown_literally(serve.stderr.readline(), f"serving {db} on http://localhost:")
    finally:
        serve.terminate()
        serve.wait()
