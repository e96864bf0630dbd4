"""`swell ingest`, `swell info`, `swell export`: filling a store and saying what it holds."""

from __future__ import annotations

import time
from pathlib import Path

import click

from swell.cli.options import (
    db_option,
    deprecated,
    engine_options,
    options,
    output,
    output_option,
    output_options,
    quiet_option,
)

SHOWN_REJECTS = 10  # reject messages printed as they come; the rest are counted and in the rejects file
READER_NAMES = ("twitter-v1", "twitter-v2", "x-web", "jetstream", "bluesky", "mastodon", "csv")  # checked in test_docs
MAPPING_NAMES = (
    "ira-fivethirtyeight", "ira-by-author", "twarc-csv", "4cat-x-import", "4cat-x-api-v2", "4cat-bluesky", "swell",
)  # fmt: skip


@click.command(short_help="Read posts from files, folders or standard input into the store.")
@click.argument("files", nargs=-1, required=True)
@engine_options
@click.option(
    "--input-format",
    metavar="NAME",
    help=f"Skip detection: read every record as this format ({', '.join(READER_NAMES)}, or a plugin's).",
)
@click.option(
    "--mapping",
    metavar="FILE|NAME",
    help="CSV or Parquet column mapping: a TOML or JSON file, or the name of a shipped one "
    f"({', '.join(MAPPING_NAMES)}) or a plugin's.",
)
@click.option(
    "--map",
    "map_options",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="CSV column for a post field; COLUMN=FIELD~REGEX takes the regex's group; platform=NAME names the "
    "platform. Repeatable.",
)
@click.option("--force", is_flag=True, help="Read files again even if already ingested (no post is stored twice).")
@click.option("--batch-size", type=int, default=50_000, show_default=True, help="Posts per committed batch.")
@options(
    click.option(
        "--format",
        "fmt",
        default="table",
        show_default=True,
        metavar="[table|json]",
        help="What to write about the ingest (the files' own format is --input-format).",
    ),
    output_option,
)
@quiet_option
def ingest(files, db, engine, master, input_format, mapping, map_options, force, batch_size, fmt, out_path, quiet):
    """Read posts from FILES into the store: JSON lines, JSON documents or CSV, plain, gzip or zstd,
    in UTF-8 or UTF-16 (CSV also in Windows code pages), and Parquet. A folder stands for the data files
    below it (.json, .jsonl, .ndjson, .csv, .car, .parquet, compressed or not), in name order; - reads
    JSON lines from standard input. A file of another kind (an archive, a database) is said and not read.

    The format of each record is detected from its content: X/Twitter v1.1 and v2 (twarc, twarc2),
    Bluesky Jetstream and AppView, Mastodon, or CSV and Parquet through a column mapping (`swell`
    for swell's own table: `swell export` ingests back). Bad records go to
    <db>.rejects.jsonl with their file, line and reason; everything else is stored, and each post
    once, however often it is read. An interrupted ingest resumes where it stopped when run again.

    With --engine spark, one Spark task per file writes the Parquet dataset --db (replacing it);
    FILES may then be URIs the executors open (hdfs://, s3a://, gs://).

    \b
    Examples:
      swell ingest tweets.jsonl.gz bluesky/ --db campaign.duckdb
      twarc2 search '#FreeThePress' | swell ingest -
      swell ingest --map tweet_id=post_id --map date=created_at --map user=author_id --map body=text export.csv
    """
    from swell.ingest import format_choices, ingest_files
    from swell.readers.csv import mapping_from_options
    from swell.terminal import stderr

    if fmt not in ("table", "json"):  # the old spelling of --input-format
        deprecated(f"--format {fmt} (the files' format)", f"--input-format {fmt}")
        input_format, fmt = fmt, "table"
    if input_format is not None and input_format not in format_choices():
        raise click.BadParameter(
            f"{input_format!r}; formats are {', '.join(format_choices())}", param_hint="--input-format"
        )
    try:
        csv_mapping = mapping_from_options(mapping, map_options)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mapping/--map") from exc
    shown = _RejectsShown(quiet)
    with _IngestProgress(quiet) as progress:
        report = ingest_files(files, db, engine=engine, master=master, fmt=input_format, mapping=csv_mapping,
                              force=force, batch_size=batch_size, on_reject=shown, on_progress=progress)  # fmt: skip
    if fmt == "json":
        from swell.escapes import json_dumps

        with output(out_path, binary=True) as out:
            out.write(json_dumps(report.to_dict(), indent=True) + b"\n")
    elif not quiet or out_path != "-":
        with output(out_path) as out:
            _print_report(report, out)
    total = report.total
    if total.rejected and not quiet:
        more = f" ({total.rejected - SHOWN_REJECTS:,} not shown above)" if total.rejected > SHOWN_REJECTS else ""
        stderr.print(f"{total.rejected:,} records rejected{more}; each is in {report.rejects} with its file, line "
                     "and reason.", soft_wrap=True)  # fmt: skip
    for path, reason in report.failed:
        stderr.print(_styled_error(f" {path}: {reason}"), soft_wrap=True)
    if not report.usable:
        stderr.print("nothing usable was read", style="red")
        raise click.exceptions.Exit(1)


class _RejectsShown:
    """The first rejects on standard error as they come."""

    def __init__(self, quiet: bool):
        self.quiet, self.shown = quiet, 0

    def __call__(self, source: str, reason: str) -> None:
        if not self.quiet and self.shown < SHOWN_REJECTS:
            from swell.terminal import stderr, styled

            stderr.print(styled(("rejected", "yellow"), f" {source}: {reason}"), soft_wrap=True)
        self.shown += 1


class _IngestProgress:
    """A progress bar on standard error (a terminal's, and not --quiet): the file, its bytes, the posts
    read so far in all files, and the rate."""

    def __init__(self, quiet: bool):
        from swell.terminal import stderr

        self.bar = None
        if not quiet and stderr.is_terminal:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                DownloadColumn(),
                TextColumn("{task.fields[posts]:,} posts"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=stderr,
                transient=True,
            )
        self.started = time.perf_counter()
        self.path: str | None = None
        self.before, self.last = 0, 0  # posts of the files done, and of this one so far

    def __enter__(self) -> _IngestProgress:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task("", total=None, posts=0, rate="")
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, path: str, done: int, size: int, posts: int) -> None:
        if self.bar is None:
            return
        from swell.terminal import visible

        if path != self.path:
            self.path, self.before = path, self.before + self.last
        self.last = posts
        read = self.before + posts
        rate = f"{read / (time.perf_counter() - self.started):,.0f} posts/s"
        self.bar.update(self.task, description=visible(Path(path).name), completed=done, total=size or None,
                        posts=read, rate=rate)  # fmt: skip


def _styled_error(text: str):
    from swell.terminal import styled

    return styled(("could not read", "red"), text)


def _print_report(report, out) -> None:
    """The ingest as a person reads it: a table of the files, then totals."""
    from rich.table import Table
    from rich.text import Text

    from swell.terminal import SafeConsole, stderr, styled
    from swell.times import shown

    console = SafeConsole(file=out)
    read = [s for s in report.summaries if not s.skipped]
    total = report.total
    table = Table(title=f"ingest: {len(read)} file(s) in {report.elapsed_s:,.1f} s", title_justify="left")
    table.add_column("file", overflow="fold")
    for column in ("records", "new", "dup", "rejected", "deleted", "ignored"):
        table.add_column(column, justify="right")
    for s in [*read, total] if len(read) > 1 else read:
        name: Text | str = styled(("total", "bold")) if s is total else f"{Path(s.path).name} ({s.layout})"
        counts = (s.records, s.new, s.duplicates, s.rejected, s.deletions, sum(s.ignored.values()))
        table.add_row(name, *(f"{n:,}" for n in counts))
    if read:
        console.print(table)
    for s in report.summaries:
        if s.skipped:
            console.print(f"skipped {s.path}: {s.skipped}")
        for note in s.notes:
            stderr.print(styled(("note", "yellow"), f" {note}"), soft_wrap=True)
    if total.posts:
        console.print(f"posts from {shown(total.first_us)} to {shown(total.last_us)}")
    if total.platforms:
        console.print("posts per platform: " + ", ".join(f"{p} {n:,}" for p, n in total.platforms.most_common()))
    if total.formats:
        console.print("records per format: " + ", ".join(f"{p} {n:,}" for p, n in total.formats.most_common()))
    if total.ignored:
        console.print("ignored (not posts): " + ", ".join(f"{r} {n:,}" for r, n in total.ignored.most_common()))
    if report.rejects.endswith("/rejects/"):  # Spark: the dataset is rewritten
        console.print(f"wrote {report.stored:,} posts to {report.rejects.removesuffix('rejects/')}posts/")


@click.command(short_help="What the store holds: posts per platform and kind, time span and its gaps, top hashtags.")
@engine_options
@click.option("--top", type=int, default=10, show_default=True, help="How many hashtags to list.")
@output_options(("table", "json"))
@click.option("--json", "as_json", is_flag=True, hidden=True, help="Deprecated: --format json.")
def info(db, engine, master, top, fmt, out_path, as_json):
    """What the store holds: posts per platform and kind, accounts, time span and the gaps in it (a day
    or more without a hashtag, as `swell trends` finds them), deletions, top hashtags.

    \b
    Examples:
      swell info
      swell info --db campaign.duckdb --top 30
      swell info --format json -o store.json
    """
    from swell.contents import describe
    from swell.engine import open_engine, store_location

    if as_json:
        deprecated("--json", "--format json")
        fmt = "json"
    with open_engine(db, engine, master) as analyses:
        facts = describe(analyses, top)
    with output(out_path, binary=fmt == "json") as out:
        if fmt == "json":
            from swell.escapes import json_dumps

            out.write(json_dumps(facts, indent=True, naive_utc=True) + b"\n")
            return
        _print_facts(facts, store_location(db, engine), out)


def _print_facts(facts: dict, where: str, out) -> None:
    from rich.table import Table

    from swell.terminal import SafeConsole, styled
    from swell.times import shown

    console = SafeConsole(file=out)
    console.print(
        styled(
            (where, "bold"),
            f": {facts['posts']:,} posts by {facts['accounts']:,} accounts, {facts['deletions']:,} deletions recorded",
        )
    )
    gaps = facts["gaps"]
    console.print(
        f"from {shown(facts['first'])} to {shown(facts['last'])}"
        + (f", with {len(gaps):,} gap{'s' if len(gaps) > 1 else ''} in the collection" if gaps else "")
    )
    for gap in gaps[:5]:
        console.print(f"  no hashtag from {shown(gap['from'])} to {shown(gap['until'])}")
    if len(gaps) > 5:
        console.print(f"  and {len(gaps) - 5:,} more (--format json lists them)")
    console.print("platforms: " + ", ".join(f"{p} {n:,}" for p, n in facts["platforms"].items()))
    console.print("kinds: " + ", ".join(f"{k} {n:,}" for k, n in facts["kinds"].items()))
    table = Table("hashtag", "posts", "accounts", title="top hashtags", title_justify="left")
    for row in facts["top_hashtags"]:
        table.add_row(f"#{row['hashtag']}", f"{row['posts']:,}", f"{row['accounts']:,}")
    console.print(table)


@click.command(short_help="Write the store out as Parquet, by day and platform (what --engine spark reads).")
@db_option
@click.option(
    "--parquet",
    "parquet_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write (what it held is replaced).",
)
@quiet_option
def export(db, parquet_dir, quiet):
    """Write the store out as Parquet: posts/ partitioned by day and platform, and deletions/, the
    layout that --engine spark reads and that any Spark, DuckDB or polars can read.

    \b
    Examples:
      swell export --parquet posts.parquet
      swell export --db campaign.duckdb --parquet s3-staging/campaign
    """
    from swell.store import Store
    from swell.terminal import stderr

    with Store(db, read_only=True) as store:
        out = store.export_parquet(parquet_dir)
        (n,) = store.engine.one("SELECT count(*) FROM posts") or (0,)
    if not quiet:
        stderr.print(f"wrote {n:,} posts to {out}/ (Parquet, by day and platform)", soft_wrap=True)
