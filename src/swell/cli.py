"""The `swell` command."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from swell import __version__, terminal
from swell.coordination import (
    DEFAULT_KINDS,
    KINDS,
    campaign_signals,
    cluster_strength,
    clusters,
    co_action_network,
    purity,
    read_labels,
    write_network,
)
from swell.engine import Engine, one
from swell.errors import SwellError
from swell.ingest import BATCH_SIZE, FORMAT_CHOICES, FileSummary, Ingest
from swell.model import datetime_to_us, normalize_hashtag, us_to_datetime
from swell.readers import csv as csv_reader
from swell.simulate import WRITERS, Campaign, Simulation, default_campaigns, stream
from swell.store import DEFAULT_DB, Store
from swell.terminal import styled
from swell.trends import (
    DETECTORS,
    Trend,
    TrendStream,
    feed_new_posts,
    live_trend_stream,
    make_detector,
    post_filter,
    trends_over_store,
)

console = terminal.stdout
errors = terminal.stderr

SHOWN_REJECTS = 10  # reject messages printed; the rest are counted and in the rejects file

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    envvar="SWELL_DB",
    help="The DuckDB store file (or set SWELL_DB).",
)


ENGINES = ("duckdb", "spark")
DEFAULT_DATASET = "swell.parquet"  # --db with --engine spark, when not given


def store_location(db: str | None, engine: str) -> str:
    """--db, or the engine's default: a DuckDB file, or a Parquet dataset for Spark."""
    return db or (DEFAULT_DATASET if engine == "spark" else DEFAULT_DB)


def engine_options(command):
    """--db, --engine and --master: where the posts are and which engine analyses them."""
    for option in reversed(
        [
            click.option(
                "--db",
                envvar="SWELL_DB",
                help=f"The store: a DuckDB file (default {DEFAULT_DB}), or with --engine spark a Parquet dataset "
                f"(a directory, or a URI such as hdfs://... or s3a://...; default {DEFAULT_DATASET}) written by "
                "`swell ingest --engine spark` or `swell export` (or set SWELL_DB).",
            ),
            click.option(
                "--engine",
                type=click.Choice(ENGINES),
                default="duckdb",
                show_default=True,
                envvar="SWELL_ENGINE",
                help="DuckDB on this machine, or Apache Spark (the `spark` extra) when one machine is not enough.",
            ),
            click.option(
                "--master",
                envvar="SWELL_SPARK_MASTER",
                help="With --engine spark: the cluster's master URL (spark://host:7077, yarn, k8s://...). "
                "Default: the one spark-submit was given, else local[*] (Spark on this machine's cores).",
            ),
        ]
    ):
        command = option(command)
    return command


@contextmanager
def opened(db: str | None, engine: str, master: str | None) -> Iterator[Engine]:
    """The store `db` as the chosen engine sees it, read only."""
    if engine == "duckdb":
        with Store(store_location(db, engine), read_only=True) as store:
            yield store.engine
        return
    session = _spark_session(master)
    from swell import spark  # imports, now that the extra is known to be there

    try:
        yield spark.SparkEngine(session, store_location(db, engine))
    finally:
        session.stop()


def fmt_time(us_or_dt) -> str:
    if us_or_dt is None:
        return "-"
    dt = us_to_datetime(us_or_dt) if isinstance(us_or_dt, int) else us_or_dt
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


class _Commands(click.Group):
    """swell's commands, with one error boundary: what the user can fix (`SwellError`) is one line on
    standard error and exit status 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SwellError as exc:
            errors.print(styled(("error:", "red"), f" {exc}"), soft_wrap=True)
            ctx.exit(1)


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="swell")
def main() -> None:
    """swell: watch hashtag campaigns - trends, campaigns and coordination, from archives and streams."""


@main.command()
@click.argument("files", nargs=-1, required=True)
@engine_options
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
def ingest(files, db, engine, master, fmt, mapping, map_options, force, batch_size) -> None:
    """Read posts from FILES (JSON lines, JSON, CSV; plain, .gz or .zst) into the store.

    A directory stands for the data files in it and below it (.json, .jsonl, .ndjson, .csv,
    possibly compressed), in name order.

    The format of each record is detected from its content: X/Twitter v1.1 and v2 (twarc, twarc2),
    Bluesky Jetstream and AppView, Mastodon, or CSV through a column mapping. Bad records go to
    <db>.rejects.jsonl with their file, line and reason; everything else is ingested.

    With --engine spark, one Spark task per file writes the Parquet dataset --db (replacing it):
    posts partitioned by day and platform, rejects in <db>/rejects/. FILES may then also be URIs
    (hdfs://, s3://, gs://) the executors can open. --force and --batch-size do not apply there:
    every file is read whole, every time.
    """
    try:
        csv_mapping = load_cli_mapping(mapping, map_options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    remote = [f for f in files if "://" in f]
    missing = [f for f in files if "://" not in f and not Path(f).exists()]
    if missing:
        raise click.BadParameter(f"no such file or directory: {', '.join(missing)}", param_hint="FILES")
    if remote and engine != "spark":
        raise click.BadParameter(f"URIs need --engine spark: {', '.join(remote)}", param_hint="FILES")
    # in the order given: when a post is read twice, the first read is kept
    inputs = [p for f in files for p in ([f] if "://" in f else expand_inputs([Path(f)]))]
    db = store_location(db, engine)
    if engine == "spark":
        _ingest_on_spark(inputs, db, master, fmt, csv_mapping)
        return
    shown = 0

    def on_reject(source: str, reason: str) -> None:
        nonlocal shown
        if shown < SHOWN_REJECTS:
            errors.print(styled(("rejected", "yellow"), f" {source}: {reason}"), soft_wrap=True)
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
                task,
                description=terminal.visible(Path(path).name),
                completed=done,
                total=size,
                posts=total.posts + posts,
                rate=rate,
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
        for path in inputs:
            try:
                summary = job.ingest_file(path)
            except (ValueError, OSError, EOFError) as exc:  # a file we cannot read at all
                errors.print(styled(("error", "red"), f" {path}: {exc or type(exc).__name__}"), soft_wrap=True)
                failed.append(str(path))
                continue
            summaries.append(summary)
            total.add(summary)
            for note in summary.notes:
                errors.print(styled(("note", "yellow"), f" {note}"), soft_wrap=True)
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
        errors.print("nothing usable was read", style="red")
        sys.exit(1)
    if failed:
        errors.print(styled((f"{len(failed)} file(s) could not be read:", "yellow"), f" {', '.join(failed)}"))


def _spark_session(master: str | None):
    try:
        from swell import spark
    except ImportError as exc:
        raise click.UsageError(f"--engine spark needs the spark extra: pip install 'swell[spark]' ({exc})") from exc
    return spark.session(master)


def _ingest_on_spark(inputs: list, out: str, master: str | None, fmt: str | None, mapping) -> None:
    started = time.perf_counter()
    session = _spark_session(master)
    from swell import spark  # imports, now that the extra is known to be there

    try:
        summaries, stored = spark.ingest(session, [str(p) for p in inputs], out, fmt=fmt, mapping=mapping)
    finally:
        session.stop()
    failed = [s for s in summaries if s.skipped]
    for summary in failed:
        errors.print(styled(("error", "red"), f" {summary.path}: {summary.skipped}"), soft_wrap=True)
    summaries = [s for s in summaries if not s.skipped]
    total = FileSummary("total")
    for summary in summaries:
        total.add(summary)
    _print_summary(summaries, total, time.perf_counter() - started)
    console.print(f"wrote {stored:,} posts to {out}/posts/ (Parquet, by day and platform)")
    if total.rejected:
        errors.print(f"{total.rejected:,} records rejected; each is in {out}/rejects/ with its file, line and reason.")
    if not (total.posts or total.deletions):
        errors.print("nothing usable was read", style="red")
        sys.exit(1)
    if failed:
        errors.print(
            styled((f"{len(failed)} file(s) could not be read:", "yellow"), f" {', '.join(s.path for s in failed)}")
        )


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
            rejects = found.name.endswith(".rejects.jsonl")  # swell's own output is not input
            if found.is_file() and suffixes and suffixes[-1].lower() in DATA_SUFFIXES and not rejects:
                out.append(found)
    return out


def load_cli_mapping(mapping: str | None, map_options: tuple[str, ...]) -> csv_reader.Mapping | None:
    if mapping is None and not map_options:
        return None
    base = csv_reader.load_mapping(mapping) if mapping else csv_reader.Mapping(name="--map")
    return base.with_options(list(map_options)) if map_options else base


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
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
        name = styled(("total", "bold")) if s is total else f"{Path(s.path).name} ({s.layout})"
        counts = (s.records, s.new, s.duplicates, s.rejected, s.deletions, sum(s.ignored.values()))
        table.add_row(name, *(f"{n:,}" for n in counts))
    if read:
        console.print(table)
    for s in summaries:
        if s.skipped:
            console.print(f"skipped {s.path}: {s.skipped}")
    if total.posts:
        console.print(f"posts from {fmt_time(total.first_us)} to {fmt_time(total.last_us)}")
    if total.platforms:
        console.print("posts per platform: " + ", ".join(f"{p} {n:,}" for p, n in total.platforms.most_common()))
    if total.formats:
        console.print("records per format: " + ", ".join(f"{p} {n:,}" for p, n in total.formats.most_common()))
    if total.ignored:
        console.print("ignored (not posts): " + ", ".join(f"{r} {n:,}" for r, n in total.ignored.most_common()))


@main.command()
@engine_options
@click.option("--top", default=10, show_default=True, help="How many hashtags to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def info(db, engine, master, top, as_json) -> None:
    """What the store holds: posts per platform and kind, time span, top hashtags."""
    from swell.campaign import describe

    with opened(db, engine, master) as analyses:
        facts = describe(analyses, top)
    if as_json:
        click.echo(orjson.dumps(facts, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC).decode())
        return
    console.print(
        styled(
            (store_location(db, engine), "bold"),
            f": {facts['posts']:,} posts by {facts['accounts']:,} accounts, {facts['deletions']:,} deletions recorded",
        )
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
    """Write the store out as Parquet: posts partitioned by day and platform, and deletions (the layout
    that --engine spark reads)."""
    with Store(db, read_only=True) as store:
        out = store.export_parquet(parquet_dir)
        n = one(store.con, "SELECT count(*) FROM posts")[0]
    console.print(f"wrote {n:,} posts to {out}/ (Parquet, by day and platform)")


# --- trends -----------------------------------------------------------------------------------------


def parse_time(value: str | None) -> int | None:
    """ISO 8601 ('2016-09-26T21:00', '2016-09-26 21:00:00+02:00') to epoch µs; no zone means UTC."""
    if value is None:
        return None
    try:
        return datetime_to_us(datetime.fromisoformat(value))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2016-09-26T21:00") from exc


def _print_trends(trends: list[Trend], fmt: str, title: str) -> None:
    rows = [t.as_dict() for t in trends]
    if fmt == "json":
        click.echo(orjson.dumps({"title": title, "trends": rows}, option=orjson.OPT_INDENT_2).decode())
    elif fmt == "jsonl":
        click.echo(orjson.dumps({"title": title, "trends": rows}).decode())
    elif fmt == "csv":
        out = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["hashtag"])
        out.writeheader()
        out.writerows(rows)
    else:
        table = Table(title=title, title_justify="left")
        for name in ("hashtag", "trending since", "first seen", "score", "peak", "posts", "accounts"):
            table.add_column(name, justify="left" if name in ("hashtag", "trending since", "first seen") else "right")
        for t in trends:
            table.add_row(
                f"#{t.hashtag}",
                fmt_time(t.since_us),
                fmt_time(t.first_seen_us),
                f"{t.score:,.1f}",
                f"{t.peak:,.1f}",
                f"{t.posts:,}",
                f"{t.accounts:,}",
            )
        console.print(table)


@main.command()
@engine_options
@click.option(
    "--at", "at", help="Trending at this time (ISO 8601, UTC unless a zone is given). Default: the last post."
)
@click.option(
    "--since", help="Start of the range (ISO 8601). Default: the first post (with --at: --history before it)."
)
@click.option("--until", help="End of the range (ISO 8601, exclusive). Default: the last post.")
@click.option("--history", default=24.0, show_default=True, help="With --at and no --since: hours of data before it.")
@click.option("--bucket", default=5.0, show_default=True, help="Bucket size in minutes.")
@click.option(
    "--detector",
    type=click.Choice(list(DETECTORS)),
    help="Trend detector. Default: signitrend over archives, mastodon with --follow.",
)
@click.option("--threshold", type=float, help="The detector's trending threshold (see the README).")
@click.option("--min-accounts", type=int, help="Fewest distinct accounts in a bucket for a trend.")
@click.option(
    "--count",
    type=click.Choice(["accounts", "posts"]),
    default="accounts",
    show_default=True,
    help="What the detector scores: distinct accounts per bucket, or posts.",
)
@click.option("--platform", help="Only posts of this platform.")
@click.option("--no-reposts", is_flag=True, help="Do not count reposts.")
@click.option("--warmup", default=60.0, show_default=True, help="Minutes at the start the detector only learns.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--follow", is_flag=True, help="Keep watching the store and print the trends as new posts arrive.")
@click.option("--interval", default=5.0, show_default=True, help="With --follow: seconds between looks at the store.")
def trends(
    db,
    engine,
    master,
    at,
    since,
    until,
    history,
    bucket,
    detector,
    threshold,
    min_accounts,
    count,
    platform,
    no_reposts,
    warmup,
    fmt,
    follow,
    interval,
) -> None:
    """Which hashtags are trending, and since when.

    Without --at, lists every trend episode in the range; with --at, the hashtags trending at that
    time. Each trend has the bucket in which it started trending, when the hashtag was first seen,
    its score (detector units) and peak, and the posts and distinct accounts while it trended.
    """
    options = {k: v for k, v in (("threshold", threshold), ("min_accounts", min_accounts)) if v is not None}
    options["count"] = count
    name = detector or ("mastodon" if follow else "signitrend")
    stream = TrendStream(
        make_detector(name, bucket, **options), bucket_min=bucket, include_reposts=not no_reposts, warmup_min=warmup
    )
    at_us, since_us, until_us = parse_time(at), parse_time(since), parse_time(until)
    if at_us is not None:
        until_us = at_us - at_us % stream.bucket_us + stream.bucket_us
        if since_us is None:
            since_us = at_us - int(history * 3_600_000_000)
    if follow:
        if engine != "duckdb":
            raise click.BadParameter("--follow watches a DuckDB store; it does not run on Spark", param_hint="--engine")
        _follow(store_location(db, engine), stream, since_us, platform, fmt, interval)
        return
    with opened(db, engine, master) as analyses:
        trends_over_store(analyses, stream, since_us=since_us, until_us=until_us, platform=platform)
    if stream.late:
        errors.print(f"{stream.late:,} posts arrived after their bucket had closed and were not counted")
    if stream.last_bucket is None:
        errors.print("no posts with hashtags in the store for this range and platform")
    if at_us is not None or stream.last_bucket is None:
        title = f"trending at {fmt_time(stream.last_bucket)} ({name}, {bucket:g}-minute buckets)"
        _print_trends(stream.trending_now(), fmt, title)
    else:
        title = (
            f"trend episodes, {fmt_time(since_us or stream.first_bucket)} to {fmt_time(stream.last_bucket)} ({name})"
        )
        _print_trends(stream.episodes(), fmt, title)


def _follow(
    db: Path, stream: TrendStream, since_us: int | None, platform: str | None, fmt: str, interval: float
) -> None:
    """Poll the store for posts added since the last look (by row order, so late arrivals are seen and
    counted as late), feed them through the same stream, print the trends after each look."""
    last_row = -1
    fmt = "jsonl" if fmt == "json" else fmt
    try:
        while True:
            with Store(db, read_only=True) as store:
                last_row = feed_new_posts(store, stream, last_row, since_us, platform)
            _print_trends(stream.trending_now(), fmt, f"trending at {fmt_time(stream.last_bucket)}")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


# --- simulate ---------------------------------------------------------------------------------------


def _plant(value: str) -> Campaign:
    """KIND:HASHTAG@TIME[/ACCOUNTS], e.g. grassroots:FreeThePress@2024-03-01T17:00/400."""
    try:
        kind, rest = value.split(":", 1)
        tag, rest = rest.split("@", 1)
        when, _, accounts = rest.partition("/")
        start = datetime.fromisoformat(when)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: expected KIND:HASHTAG@TIME[/ACCOUNTS]") from exc
    return Campaign(kind, tag.lstrip("#"), start, **({"accounts": int(accounts)} if accounts else {}))


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(list(WRITERS)), default="twitter-v1", show_default=True)
@click.option("--start", default="2024-03-01T00:00", show_default=True, help="Start of the stream (UTC).")
@click.option("--hours", default=24.0, show_default=True)
@click.option("--posts-per-hour", default=20_000.0, show_default=True, help="Background volume, averaged over the day.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--plant",
    "plants",
    multiple=True,
    metavar="KIND:HASHTAG@TIME[/ACCOUNTS]",
    help="A campaign to plant (grassroots or coordinated); repeatable. Default: a coordinated push at 09:00 and "
    "a grassroots blast at 17:00 on the first day, those inside the simulated hours.",
)
@click.option("--no-campaigns", is_flag=True, help="Background only.")
def simulate(out, fmt, start, hours, posts_per_hour, seed, plants, no_campaigns) -> None:
    """Write a synthetic stream with planted campaigns to OUT, and what was planted to OUT.truth.json.

    The stream runs through the real readers: `swell ingest OUT`.
    """
    begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
    try:
        campaigns = [] if no_campaigns else [_plant(p) for p in plants] or default_campaigns(begin, hours)
        sim = Simulation(start=begin, hours=hours, posts_per_hour=posts_per_hour, seed=seed, campaigns=campaigns)
        truth, chunks = stream(sim)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--plant") from exc
    n = WRITERS[fmt](chunks, out)
    truth_path = out.with_name(out.name + ".truth.json")
    truth_path.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
    console.print(f"wrote {n:,} posts ({fmt}) to {out}, and the {len(truth)} planted campaign(s) to {truth_path}")
    for c in truth:
        console.print(f"  {c['kind']:<11} #{c['hashtag']} from {c['start']}, {len(c['accounts'])} accounts")


# --- coordination -----------------------------------------------------------------------------------


@main.command()
@engine_options
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(KINDS),
    help=f"Co-action kinds; repeatable. Default: {', '.join(DEFAULT_KINDS)}.",
)
@click.option(
    "--window", default=60.0, show_default=True, help="Seconds within which two actions count as one co-action."
)
@click.option("--min-weight", default=2, show_default=True, help="Fewest co-actions for an edge.")
@click.option(
    "--hashtag", "hashtags", multiple=True, help="Only posts with this hashtag (any of those given); repeatable."
)
@click.option("--since", help="Start of the range (ISO 8601).")
@click.option("--until", help="End of the range (ISO 8601, exclusive).")
@click.option("--platform", help="Only posts of this platform.")
@click.option("--method", type=click.Choice(["leiden", "louvain", "components"]), default="leiden", show_default=True)
@click.option("--min-size", default=3, show_default=True, help="Smallest cluster reported, in accounts.")
@click.option(
    "--min-strength",
    default=10.0,
    show_default=True,
    help="Co-actions per account that make a cluster count as coordinated in the campaign signals.",
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of known account labels (e.g. the IRA authors.csv) to report the clusters' purity.",
)
@click.option("--label-column", default="account_category", show_default=True)
@click.option("--account-column", help="The labels file's account column (ids or handles). Default: its first.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Write edges, nodes, clusters and graphs here."
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def coordination(
    db,
    engine,
    master,
    kinds,
    window,
    min_weight,
    hashtags,
    since,
    until,
    platform,
    method,
    min_size,
    min_strength,
    labels,
    label_column,
    account_column,
    out,
    fmt,
) -> None:
    """Networks of accounts that repost the same post, post the same text, share the same link or reply
    to the same post within seconds; their clusters; and how much of the posts they produce.

    Evidence, not verdicts: every edge comes with sample pairs of posts behind it.
    """
    where, params = post_filter(parse_time(since), parse_time(until), platform)
    if hashtags:
        where += " AND list_has_any(hashtags, ?)"
        params.append([normalize_hashtag(h) for h in hashtags])
    if engine == "spark" and "near-duplicate" in kinds:
        raise click.BadParameter("near-duplicate runs on DuckDB only (its MinHash index is in memory)", "--kind")
    with opened(db, engine, master) as analyses:
        network = co_action_network(
            analyses,
            where=where,
            params=params,
            kinds=kinds or DEFAULT_KINDS,
            window_s=window,
            min_weight=min_weight,
        )
        found = clusters(network, method=method, min_size=min_size)
        signals = campaign_signals(analyses, found, min_strength=min_strength)
    report = {
        "window_s": window,
        "min_weight": min_weight,
        "kinds": list(network.kinds),
        "edges": network.edges.height,
        "edges_per_kind": dict(network.edges.group_by("kind").len().iter_rows()),
        "signals": signals,
        "clusters": [_cluster_dict(c) for c in found],
    }
    if labels:
        try:
            known = read_labels(labels, label_column, account_column)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--labels") from exc
        # a cluster's accounts by id, and by handle for label files that name handles
        handles = dict(network.accounts.select("account", "handle").drop_nulls().iter_rows())
        by_key = {a: known.get(a) or known.get((handles.get(a) or "").lower()) for c in found for a in c.accounts}
        report["purity"] = purity(found, {a: label for a, label in by_key.items() if label})
    if out:
        written = write_network(network, found, report, out)
        errors.print(f"wrote {', '.join(p.name for p in written)} to {out}/")
    if fmt == "json":
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
        return
    per_kind = ", ".join(f"{k} {n:,}" for k, n in report["edges_per_kind"].items()) or "none"
    console.print(
        f"{network.edges.height:,} edges ({per_kind}) among {signals.get('accounts', 0):,} accounts "
        f"and {signals.get('posts', 0):,} posts, window {window:g} s"
    )
    table = Table(title="clusters, strongest first", title_justify="left")
    for name in ("cluster", "accounts", "co-actions/account", "kinds", "first", "last", "accounts (sample)"):
        table.add_column(
            name, justify="right" if name in ("cluster", "accounts", "co-actions/account") else "left", overflow="fold"
        )
    for c in sorted(found, key=lambda c: -cluster_strength(c))[:20]:
        table.add_row(
            str(c.id),
            f"{len(c.accounts):,}",
            f"{cluster_strength(c):,.1f}",
            ", ".join(f"{k} {n}" for k, n in sorted(c.kinds.items())),
            fmt_time(int(c.first_s * 1e6)) if c.first_s else "-",
            fmt_time(int(c.last_s * 1e6)) if c.last_s else "-",
            ", ".join(c.accounts[:4]) + (" ..." if len(c.accounts) > 4 else ""),
        )
    console.print(table)
    console.print("signals: " + ", ".join(f"{k} {_number(v)}" for k, v in signals.items()))
    if "purity" in report:
        p = report["purity"]
        console.print(
            f"purity against {labels.name}: {_number(p['purity'])} over {p['labelled_accounts']:,} labelled accounts"
        )


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _cluster_dict(c) -> dict:
    return {
        "id": c.id,
        "accounts": c.accounts,
        "co_actions_per_account": round(cluster_strength(c), 3),
        "weight": c.weight,
        "kinds": c.kinds,
        "first": us_to_datetime(int(c.first_s * 1e6)).isoformat() if c.first_s else None,
        "last": us_to_datetime(int(c.last_s * 1e6)).isoformat() if c.last_s else None,
        "samples": c.samples,
    }


# --- campaign and store reports ---------------------------------------------------------------------


def report_options(command):
    """The options `swell campaign` and `swell report` share: the range, the detectors, the outputs."""
    for option in reversed(
        [
            click.option("--since", help="Start of the range (ISO 8601). Default: the first post."),
            click.option("--until", help="End of the range (ISO 8601, exclusive). Default: the last post."),
            click.option("--platform", help="Only posts of this platform."),
            click.option(
                "--detector",
                type=click.Choice(list(DETECTORS)),
                default="signitrend",
                show_default=True,
                help="Trend detector, as in `swell trends`.",
            ),
            click.option(
                "--bucket", "bucket_min", default=5.0, show_default=True, help="Trend bucket size in minutes."
            ),
            click.option("--window", "window_s", default=60.0, show_default=True, help="Co-action window in seconds."),
            click.option("--min-weight", default=2, show_default=True, help="Fewest co-actions for an edge."),
            click.option(
                "--min-strength",
                default=10.0,
                show_default=True,
                help="Co-actions per account that make a cluster count as coordinated.",
            ),
            click.option(
                "--method",
                type=click.Choice(["components", "leiden", "louvain"]),
                default="components",
                show_default=True,
                help="Clusters: connected components of the co-action network, or communities within them.",
            ),
            click.option("--top", default=10, show_default=True, help="Rows in the top-N lists."),
            click.option(
                "--json",
                "json_out",
                type=click.Path(dir_okay=False, allow_dash=True),
                help="Write the numbers as JSON ('-': standard output).",
            ),
            click.option(
                "--png",
                type=click.Path(file_okay=False, path_type=Path),
                help="Also write each chart as a PNG file here.",
            ),
        ]
    ):
        command = option(command)
    return engine_options(command)


def _query(hashtags: list[str], planned: str | None, *, since, until, **options):
    """The analysis options of `swell campaign` and `swell report`, times parsed."""
    from swell.campaign import CampaignQuery

    return CampaignQuery(hashtags, parse_time(planned), parse_time(since), parse_time(until), **options)


def _write_outputs(r: dict, html: str | None, report_path: Path | None, json_out: str | None, png, specs) -> None:
    if report_path:
        report_path.write_text(html, encoding="utf-8")
        errors.print(f"wrote the report to {report_path.resolve()}")
    if json_out == "-":
        click.echo(orjson.dumps(r, option=orjson.OPT_INDENT_2).decode())
    elif json_out:
        Path(json_out).write_bytes(orjson.dumps(r, option=orjson.OPT_INDENT_2))
        errors.print(f"wrote the numbers to {json_out}")
    if png:
        from swell.charts import write_png

        written = write_png(specs, png)
        errors.print(f"wrote {len(written)} charts as PNG to {png}/")


@main.command()
@click.argument("hashtags", nargs=-1, required=True)
@click.option("--planned", help="When the campaign was planned to start (ISO 8601); time-to-trend counts from it.")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here."
)
@report_options
def campaign(hashtags, planned, report_path, db, engine, master, json_out, png, **options) -> None:
    """Did a hashtag campaign trend, how fast, who carried it, and how much came from coordinated accounts.

    HASHTAGS: one or more ('#FreeThePress', FreeThePress); a post with any of them belongs to the
    campaign, and so do reposts of such posts.
    """
    from swell.campaign import analyse
    from swell.html_report import campaign_charts, campaign_page

    q = _query(list(hashtags), planned, **options)
    with opened(db, engine, master) as analyses:
        r = analyse(analyses, q)
    if not r["totals"]["posts"]:
        errors.print(f"no posts with {' '.join('#' + t for t in r['hashtags'])} in the store for this range")
    else:
        _print_campaign(r, errors if json_out == "-" else console)  # JSON alone on standard output
    html = campaign_page(r) if report_path else None
    _write_outputs(r, html, report_path, json_out, png, campaign_charts(r) if png else {})
    if not r["totals"]["posts"]:
        sys.exit(1)


def _print_campaign(r: dict, out: terminal.SafeConsole) -> None:
    t, trend, c, s = r["totals"], r["trend"], r["concentration"], r["coordination"]["signals"]
    out.print(
        styled(
            (" ".join("#" + h for h in r["hashtags"]), "bold"),
            f": {t['posts']:,} posts by {t['accounts']:,} accounts ({t['originals']:,} originals, "
            f"{t['reposts']:,} reposts, {t['replies']:,} replies, {t['quotes']:,} quotes)",
        )
    )
    first = r["first_post"]
    out.print(
        f"first post {_iso_time(first['time'])} by {first['author_handle'] or first['author_id']}; "
        f"busiest minute {_iso_time(r['peak_minute']['minute'])} with {r['peak_minute']['posts']:,} posts"
    )
    if trend["trended"]:
        since = "the planned start" if r["planned"] else "the first post"
        out.print(
            f"trending from {_iso_time(trend['trending_since'])} ({trend['detector']}), "
            f"{trend['minutes_from_start']} minutes after {since}"
        )
    else:
        out.print(f"did not trend ({trend['detector']})")
    out.print(
        f"top 1% of accounts: {c['share_by_top_1pct']:.1%} of posts; Gini {c['gini']:.3f}; accounts in coordinated "
        f"clusters: {s['coordinated_accounts']:,}, {s['share_by_coordinated_accounts']:.1%} of posts"
    )


def _iso_time(value: str | None) -> str:
    return fmt_time(datetime.fromisoformat(value)) if value else "-"


@main.command()
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="swell-report.html",
    show_default=True,
    help="Write the HTML report here.",
)
@report_options
def report(report_path, db, engine, master, json_out, png, **options) -> None:
    """The whole store in one page: what it holds, the main trends, the largest coordinated clusters."""
    from swell.campaign import overview
    from swell.html_report import store_charts, store_page

    q = _query([], None, **options)
    with opened(db, engine, master) as analyses:
        r = overview(analyses, q)
    (errors if json_out == "-" else console).print(
        f"{r['totals']['posts']:,} posts; {len(r.get('trends', {}).get('episodes', [])):,} trend episodes shown; "
        f"{r.get('coordination', {}).get('signals', {}).get('coordinated_clusters', 0):,} coordinated clusters"
    )
    _write_outputs(r, store_page(r), report_path, json_out, png, store_charts(r) if png else {})


# --- live -------------------------------------------------------------------------------------------


@main.group()
def watch() -> None:
    """Read a live stream into the store, showing counts and what is trending, until stopped (Ctrl-C)."""


@watch.command("jetstream")
@click.argument("url", default="wss://jetstream2.us-east.bsky.network/subscribe")
@db_option
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Jetstream collections to ask for; repeatable. Default: posts and reposts.",
)
@click.option("--hashtag", "hashtags", multiple=True, help="Keep only posts with this hashtag; repeatable.")
@click.option("--lang", "langs", multiple=True, help="Keep only posts in this language (e.g. en); repeatable.")
@click.option("--batch", "batch_posts", default=20_000, show_default=True, help="Posts per commit to the store.")
@click.option("--flush", "batch_seconds", default=2.0, show_default=True, help="Seconds before a batch is committed.")
@click.option("--exit-when-idle", type=float, help="Stop after this many seconds without an event (for replays).")
@click.option("--until", help="Stop at the first event at or after this time (ISO 8601); it is not stored.")
@click.option("--bucket", default=5.0, show_default=True, help="Trend bucket size in minutes.")
def watch_jetstream(
    url, db, collections, hashtags, langs, batch_posts, batch_seconds, exit_when_idle, until, bucket
) -> None:
    """Bluesky's Jetstream (a WebSocket URL; `swell replay` serves one locally). Reconnects on any drop
    and resumes from the cursor stored with the posts, so nothing is lost or stored twice, across a
    restart of swell too."""
    from swell.live.jetstream import DEFAULT_COLLECTIONS, JetstreamOptions
    from swell.live.jetstream import watch as watch_stream

    options = JetstreamOptions(
        url=url,
        collections=tuple(collections) or DEFAULT_COLLECTIONS,
        hashtags=frozenset(normalize_hashtag(h) for h in hashtags),
        langs=frozenset(langs),
        batch_posts=batch_posts,
        batch_seconds=batch_seconds,
        exit_when_idle_s=exit_when_idle,
        until_us=parse_time(until),
    )
    _run_live(lambda stop: watch_stream(db, options, stop), options, bucket)


@watch.command("mastodon")
@click.argument("url")
@db_option
@click.option("--token", envvar="MASTODON_TOKEN", help="An access token, where the instance asks for one.")
@click.option("--hashtag", help="The hashtag stream (and its timeline) instead of the public one.")
@click.option("--local", is_flag=True, help="Only the instance's own posts.")
@click.option("--lang", "langs", multiple=True, help="Keep only posts in this language (e.g. en); repeatable.")
@click.option("--batch", "batch_posts", default=20_000, show_default=True, help="Posts per commit to the store.")
@click.option("--flush", "batch_seconds", default=2.0, show_default=True, help="Seconds before a batch is committed.")
@click.option("--exit-when-idle", type=float, help="Stop after this many seconds without an event (for replays).")
@click.option("--until", help="Stop at the first status created at or after this time (ISO 8601); it is not stored.")
@click.option("--bucket", default=5.0, show_default=True, help="Trend bucket size in minutes.")
def watch_mastodon(
    url, db, token, hashtag, local, langs, batch_posts, batch_seconds, exit_when_idle, until, bucket
) -> None:
    """A Mastodon instance's streaming API (URL: https://instance.example; `swell replay` serves one
    locally). Reconnects on any drop and catches up from the instance's timeline since the newest
    status read, which is stored with the posts, so nothing is lost or stored twice."""
    from swell.live.mastodon import MastodonOptions
    from swell.live.mastodon import watch as watch_stream

    options = MastodonOptions(
        url=url,
        token=token,
        hashtag=hashtag.lstrip("#") if hashtag else None,
        local=local,
        langs=frozenset(langs),
        batch_posts=batch_posts,
        batch_seconds=batch_seconds,
        exit_when_idle_s=exit_when_idle,
        until_us=parse_time(until),
    )
    _run_live(lambda stop: watch_stream(db, options, stop), options, bucket)


def _run_live(start, options, bucket: float) -> None:
    """Run a connector with a live display of its counts and of the trends in what it has committed;
    Ctrl-C or SIGTERM stops it cleanly, everything read committed first."""
    import asyncio
    import signal
    from queue import SimpleQueue

    from rich.live import Live

    committed: SimpleQueue = SimpleQueue()
    options.on_commit = committed.put  # called in the writer's thread; the display drains it here
    stream = live_trend_stream(bucket)
    stats = options.stats

    def view() -> Table:
        table = Table(title=f"watching {options.url}", title_justify="left", show_header=False)
        table.add_row("events read", f"{stats.frames:,}")
        table.add_row("posts committed (new)", f"{stats.posts:,} ({stats.new:,})")
        table.add_row("left out by filters / rejected", f"{stats.filtered:,} / {stats.rejected:,}")
        table.add_row("connections / waits for the store", f"{stats.connections:,} / {stats.waits:,}")
        table.add_row("cursor committed", fmt_time(stats.cursor))
        trending = ", ".join(f"#{t.hashtag} ({t.accounts})" for t in stream.trending_now()[:10])
        table.add_row("trending now", trending or "-")
        return table

    async def main_loop() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        task = asyncio.create_task(start(stop))
        with Live(view(), console=errors, auto_refresh=False) as live:
            while not task.done():
                await asyncio.wait({task}, timeout=1.0)
                while not committed.empty():
                    stream.feed(committed.get())
                live.update(view(), refresh=True)
        await task

    from swell.live.connector import Fatal

    try:
        asyncio.run(main_loop())
    except Fatal as exc:
        errors.print(styled(("cannot watch:", "red"), f" {exc}"))
        sys.exit(2)
    errors.print(
        f"stopped: {stats.posts:,} posts committed ({stats.new:,} new), {stats.deletions:,} deletions, "
        f"{stats.rejected:,} frames set aside, {stats.connections:,} connection(s)"
    )


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=6008, show_default=True, help="0: a free port (the URL printed says which).")
@click.option("--rate", default=0.0, help="Events per second (default: as fast as the client reads).")
@click.option("--drop-every", default=0, help="Close each connection after about this many events (tests).")
@click.option("--bad-frames", default=0, help="Every this many events, also send a malformed frame (tests).")
@click.option("--seed", default=0, show_default=True)
def replay(file, host, port, rate, drop_every, bad_frames, seed) -> None:
    """Serve FILE as a live source. Jetstream events (`swell simulate --format jetstream`) go out over
    a local WebSocket as Jetstream sends them, ws://HOST:PORT/subscribe, honouring `cursor` and
    `wantedCollections`. Mastodon statuses (`--format mastodon`) are published at --rate a second
    (default 1,000) as an instance's streaming API and timelines at http://HOST:PORT."""
    from swell.live.replay import Replay, load, run

    try:
        served = load(file, drop_every=drop_every, bad_frames=bad_frames, rate=rate, seed=seed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from exc
    if isinstance(served, Replay):
        what = f"serving {len(served.frames):,} Jetstream events"
    else:
        what = f"publishing {len(served.statuses):,} Mastodon statuses"
    run(served, host, port, lambda url: errors.print(f"{what} on {url}", soft_wrap=True))


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Beyond localhost a token is required.")
@click.option("--port", default=8000, show_default=True, help="0: a free port (the URL printed says which).")
@click.option("--token", envvar="SWELL_TOKEN", help="Required of every request (or set SWELL_TOKEN).")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between looks at the store.")
@click.option("--bucket", default=5.0, show_default=True, help="Trend bucket size in minutes.")
@click.option("--history", default=6.0, show_default=True, help="Hours before the newest post to start from.")
def serve(db, host, port, token, interval, bucket, history) -> None:
    """A read-only web app: what is trending now (updated live), a live timeline per hashtag, and the
    campaign report of any hashtag. Run it beside `swell watch` on the same store."""
    import secrets

    from swell.web import LOOPBACK, create_app, listen, run, url

    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(18)
    app = create_app(db, token=token, interval_s=interval, bucket_min=bucket, history_h=history)
    sock = listen(host, port)
    errors.print(f"serving {db} on {url(host, sock, token)}", soft_wrap=True)
    run(app, sock)
