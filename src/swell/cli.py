"""The `swell` command."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from swell import __version__
from swell.ingest import BATCH_SIZE, FORMAT_CHOICES, FileSummary, Ingest
from swell.model import us_to_datetime
from swell.readers import csv as csv_reader
from swell.store import DEFAULT_DB, Store

console = Console()
errors = Console(stderr=True)

SHOWN_REJECTS = 10  # reject messages printed; the rest are counted and in the rejects file

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    envvar="SWELL_DB",
    help="The DuckDB store file (or set SWELL_DB).",
)


def fmt_time(us_or_dt) -> str:
    if us_or_dt is None:
        return "-"
    dt = us_to_datetime(us_or_dt) if isinstance(us_or_dt, int) else us_or_dt
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


@click.group()
@click.version_option(__version__, prog_name="swell")
def main() -> None:
    """swell: watch hashtag campaigns - trends, campaigns and coordination, from archives and streams."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(FORMAT_CHOICES), help="Skip detection: read every record as this format."
)
@click.option(
    "--mapping",
    help=f"CSV column mapping: a TOML/JSON file or a shipped name ({', '.join(csv_reader.shipped_names())}).",
)
@click.option(
    "--map", "map_options", multiple=True, metavar="COLUMN=FIELD", help="CSV column for a post field; repeatable."
)
@click.option(
    "--force", is_flag=True, help="Read files again even if already ingested (posts are still never stored twice)."
)
@click.option("--batch-size", default=BATCH_SIZE, show_default=True, help="Posts per committed batch.")
def ingest(files, db, fmt, mapping, map_options, force, batch_size) -> None:
    """Read posts from FILES (JSON lines, JSON, CSV; plain, .gz or .zst) into the store.

    A directory stands for the data files in it and below it (.json, .jsonl, .ndjson, .csv,
    possibly compressed), in name order.

    The format of each record is detected from its content: X/Twitter v1.1 and v2 (twarc, twarc2),
    Bluesky Jetstream and AppView, Mastodon, or CSV through a column mapping. Bad records go to
    <db>.rejects.jsonl with their file, line and reason; everything else is ingested.
    """
    try:
        csv_mapping = load_cli_mapping(mapping, map_options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    shown = 0

    def on_reject(source: str, reason: str) -> None:
        nonlocal shown
        if shown < SHOWN_REJECTS:
            errors.print(f"[yellow]rejected[/] {source}: {reason}", markup=True, highlight=False, soft_wrap=True)
        shown += 1

    total = FileSummary("total")
    failed: list[str] = []
    started = time.perf_counter()
    with Store(db) as store, _progress() as progress:
        task = progress.add_task("", total=None, posts=0, rate="")

        def on_progress(path: str, done: int, size: int, posts: int) -> None:
            elapsed = time.perf_counter() - started
            rate = f"{(total.posts + posts) / elapsed:,.0f} posts/s" if elapsed > 0 else ""
            progress.update(
                task, description=Path(path).name, completed=done, total=size, posts=total.posts + posts, rate=rate
            )

        job = Ingest(
            store,
            fmt=fmt,
            mapping=csv_mapping,
            batch_size=batch_size,
            force=force,
            on_reject=on_reject,
            on_progress=on_progress,
        )
        summaries = []
        for path in expand_inputs(files):
            try:
                summary = job.ingest_file(path)
            except (ValueError, OSError, EOFError) as exc:  # a file we cannot read at all
                errors.print(f"[red]error[/] {path}: {exc or type(exc).__name__}", highlight=False, soft_wrap=True)
                failed.append(str(path))
                continue
            summaries.append(summary)
            total.add(summary)
            for note in summary.notes:
                errors.print(f"[yellow]note[/] {note}", highlight=False, soft_wrap=True)
        rejects_path = store.rejects_path
    elapsed = time.perf_counter() - started
    _print_summary(summaries, total, elapsed)
    if total.rejected:
        more = f" ({total.rejected - SHOWN_REJECTS} not shown above)" if total.rejected > SHOWN_REJECTS else ""
        errors.print(
            f"{total.rejected:,} records rejected{more}; each is in {rejects_path} with its file, line and reason."
        )
    usable = total.posts or total.deletions or any(s.skipped for s in summaries)
    if not usable:
        errors.print("[red]nothing usable was read[/]")
        sys.exit(1)
    if failed:
        errors.print(f"[yellow]{len(failed)} file(s) could not be read:[/] {', '.join(failed)}")


DATA_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv"}


def expand_inputs(paths) -> list[Path]:
    """Files as given; a directory as the data files below it, by extension (READMEs are not data)."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        for found in sorted(path.rglob("*")):
            suffixes = [s for s in found.suffixes if s not in (".gz", ".zst")]
            if found.is_file() and suffixes and suffixes[-1].lower() in DATA_SUFFIXES:
                out.append(found)
    return out


def load_cli_mapping(mapping: str | None, map_options: tuple[str, ...]) -> csv_reader.Mapping | None:
    if mapping is None and not map_options:
        return None
    base = csv_reader.load_mapping(mapping) if mapping else csv_reader.Mapping(name="--map")
    return base.with_options(list(map_options)) if map_options else base


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[posts]:,} posts"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )


def _print_summary(summaries: list[FileSummary], total: FileSummary, elapsed: float) -> None:
    table = Table(title=f"ingest: {len(summaries)} file(s) in {elapsed:,.1f} s", title_justify="left")
    table.add_column("file", overflow="fold")
    for name in ("records", "new", "dup", "rejected", "deleted", "ignored"):
        table.add_column(name, justify="right")
    read = [s for s in summaries if not s.skipped]
    for s in [*read, total] if len(read) > 1 else read:
        name = "[b]total[/]" if s is total else f"{Path(s.path).name} ({s.layout})"
        counts = (s.records, s.new, s.duplicates, s.rejected, s.deletions, sum(s.ignored.values()))
        table.add_row(name, *(f"{n:,}" for n in counts))
    if read:
        console.print(table)
    for s in summaries:
        if s.skipped:
            console.print(f"skipped {s.path}: {s.skipped}", highlight=False)
    if total.posts:
        console.print(f"posts from {fmt_time(total.first_us)} to {fmt_time(total.last_us)}")
    if total.platforms:
        console.print("posts per platform: " + ", ".join(f"{p} {n:,}" for p, n in total.platforms.most_common()))
    if total.formats:
        console.print("records per format: " + ", ".join(f"{p} {n:,}" for p, n in total.formats.most_common()))
    if total.ignored:
        console.print("ignored (not posts): " + ", ".join(f"{r} {n:,}" for r, n in total.ignored.most_common()))


@main.command()
@db_option
@click.option("--top", default=10, show_default=True, help="How many hashtags to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def info(db, top, as_json) -> None:
    """What the store holds: posts per platform and kind, time span, top hashtags."""
    with Store(db, read_only=True) as store:
        facts = store.info(top)
    if as_json:
        click.echo(orjson.dumps(facts, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC).decode())
        return
    console.print(
        f"[b]{db}[/]: {facts['posts']:,} posts by {facts['accounts']:,} accounts, "
        f"{facts['deletions']:,} deletions recorded"
    )
    console.print(f"from {fmt_time(facts['first'])} to {fmt_time(facts['last'])}")
    console.print("platforms: " + ", ".join(f"{p} {n:,}" for p, n in facts["platforms"].items()))
    console.print("kinds: " + ", ".join(f"{k} {n:,}" for k, n in facts["kinds"].items()))
    table = Table("hashtag", "posts", "accounts", title="top hashtags", title_justify="left")
    for row in facts["top_hashtags"]:
        table.add_row(f"#{row['hashtag']}", f"{row['posts']:,}", f"{row['accounts']:,}")
    console.print(table)


@main.command()
@db_option
@click.option(
    "--parquet",
    "parquet_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write.",
)
def export(db, parquet_dir) -> None:
    """Write the posts out as Parquet files, partitioned by platform."""
    with Store(db, read_only=True) as store:
        out = store.export_parquet(parquet_dir)
        n = store.con.execute("SELECT count(*) FROM posts").fetchone()[0]
    console.print(f"wrote {n:,} posts to {out}/ (Parquet, one folder per platform)")
