"""`swell trends`: which hashtags trended and since when, over an archive or as posts arrive."""

from __future__ import annotations

import time

import click

from swell.cli.options import (
    TIME,
    bucket_option,
    detector_option,
    engine_options,
    output,
    output_options,
    quiet_option,
    scales_option,
    selection_options,
    working,
)


@click.command(short_help="Which hashtags are trending, and since when (over the store, or as it fills).")
@engine_options
@selection_options()
@click.option("--at", "at_us", type=TIME, help="What was trending at this time (ISO 8601). Default: every episode.")
@click.option(
    "--history", type=float, default=24.0, show_default=True, help="With --at and no --since: hours before it."
)
@bucket_option
@scales_option
@detector_option
@click.option("--threshold", type=float, help="The detector's trending threshold (see the README).")
@click.option("--min-accounts", type=int, help="Fewest distinct accounts in a bucket for a trend.")
@click.option(
    "--count",
    type=click.Choice(["accounts", "posts"]),
    default="accounts",
    show_default=True,
    help="What the detector scores: distinct accounts per bucket, or posts.",
)
@click.option("--no-reposts", is_flag=True, help="Do not count reposts.")
@click.option(
    "--warmup",
    type=float,
    default=60.0,
    show_default=True,
    help="Minutes at the start, and after a gap in the collection, the detector only learns.",
)
@output_options(("table", "json", "jsonl", "csv"))
@click.option("--follow", is_flag=True, help="Keep looking at the store and print the trends as new posts arrive.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="With --follow: seconds between looks.")
@click.option(
    "--assess",
    is_flag=True,
    help="With each trend, how coordinated its posts look (the assessment `swell campaign` gives): a report a trend.",
)
@quiet_option
def trends(db, engine, master, since, until, platform, at_us, history, bucket_min, scales, detector, threshold,
           min_accounts, count, no_reposts, warmup, fmt, out_path, follow, interval, assess, quiet):  # fmt: skip
    """Which hashtags are trending, and since when.

    Without --at, every trend episode in the range; with --at, the hashtags trending at that time.
    Several time scales are watched at once (5 minutes, an hour and a day by default): a burst is
    caught at the finest within minutes, a slow build at the hour or the day. Each trend has the
    start of its rise, when it became detectable and at which scale, when the hashtag was first
    seen, its score (in the detector's units) and peak, and the posts and distinct accounts since
    it was detected.
    With --follow, the store is looked at again every --interval seconds (beside `swell watch` or an
    ingest) and what is trending is printed after each look, until Ctrl-C.
    With --assess, each trend also has the assessment `swell campaign` gives of its posts, from the
    start of its rise to the end of its last trending bucket (assessed_posts): a score from 0
    (nothing beyond what organic campaigns show) to 1 and its level in words, or "too few posts"
    under 20, fewer than the assessment was calibrated on. It takes a coordination report a trend.

    \b
    Examples:
      swell trends
      swell trends --at 2024-03-01T17:10 --format csv
      swell trends --since 2024-03-01T08:00 --until 2024-03-01T10:00 --detector poisson --format json
      swell trends --follow --format jsonl
      swell trends --assess
    """
    from swell.errors import NotOnThisEngine, UsageError

    if follow and engine != "duckdb":
        raise NotOnThisEngine("--follow looks at a DuckDB store as it fills; Spark's datasets are written whole")
    if follow and assess:
        raise UsageError("--assess takes a coordination report a trend: ask it of the store, not with --follow")
    with working(quiet or follow, "trends") as step:  # shown at once: the analyses take a moment to load
        from swell.engine import open_engine
        from swell.selection import Selection
        from swell.trends import TrendStream, default_scales, trends_over_store

        tuning = {k: v for k, v in (("threshold", threshold), ("min_accounts", min_accounts)) if v is not None}
        stream = TrendStream(
            detector,
            scales=scales or default_scales(bucket_min),
            include_reposts=not no_reposts,
            warmup_min=warmup,
            count=count,
            **tuning,
        )
        if at_us is not None:
            until = at_us - at_us % stream.bucket_us + stream.bucket_us
            if since is None:
                since = at_us - int(history * 3_600_000_000)
        selection = Selection(since, until, platform)
        if not follow:
            with open_engine(db, engine, master) as analyses:
                step("counting and scoring the buckets")
                trends_over_store(analyses, stream, selection)
                now = at_us is not None or stream.last_bucket is None
                found = stream.trending_now() if now else stream.episodes()
                assessments = None
                if assess:
                    from swell.campaign import assess_trends

                    step(f"assessing the coordination of {len(found):,} trends")
                    assessments = assess_trends(analyses, found, platform)
    if follow:
        _follow(db, stream, selection, fmt, out_path, interval)
        return
    from swell.terminal import stderr
    from swell.times import shown

    if stream.late and not quiet:
        stderr.print(f"{stream.late:,} posts arrived after their bucket had closed and were not counted")
    if stream.last_bucket is None and not quiet:
        stderr.print("no posts with hashtags in the store for this range and platform")
    watched = f"{detector} at {stream.scale_labels}"
    gaps = stream.gaps_so_far()
    watched += _gap_note(gaps)
    if now:
        title = f"trending at {shown(stream.last_bucket)} ({watched})"
    else:
        title = f"trend episodes, {shown(since or stream.first_bucket)} to {shown(stream.last_bucket)} ({watched})"
    with output(out_path) as out:
        _write(found, fmt, title, out, assessments, gaps=gaps)


def _follow(db, stream, selection, fmt: str, path: str, interval: float) -> None:
    """Look at the store every `interval` seconds and write what is trending after each look."""
    from swell.follow import StoreFollower
    from swell.times import shown

    follower = StoreFollower(db, stream, selection)
    fmt = "jsonl" if fmt == "json" else fmt  # one JSON value per look, a line each
    with output(path) as out:
        try:
            while True:
                follower.look()
                gaps = stream.gaps_so_far()
                title = f"trending at {shown(stream.last_bucket)}{_gap_note(gaps)}"
                _write(stream.trending_now(), fmt, title, out, gaps=gaps)
                out.flush()
                time.sleep(interval)
        except KeyboardInterrupt:
            pass


def _gap_note(gaps: list[tuple[int, int | None]]) -> str:
    """What a title says of the gaps in the collection (`TrendStream.gaps_so_far`)."""
    from swell.times import shown

    over = sum(1 for _, end in gaps if end is not None)
    note = f"; learning again after {over:,} gap{'s' if over > 1 else ''} in the collection" if over else ""
    if gaps and gaps[-1][1] is None:
        note += f"; no hashtag since {shown(gaps[-1][0])}"
    return note


def _write(found, fmt: str, title: str, out, assessments=None, gaps=()) -> None:
    """The trends as `fmt`; with `assessments` (one a trend), their score and level beside each; JSON
    also lists the `gaps` in the collection (when the detectors knew nothing)."""
    from swell.assessment import MIN_POSTS
    from swell.escapes import json_dumps

    rows = [t.as_dict() for t in found]
    if assessments is not None:
        for row, (posts, a) in zip(rows, assessments, strict=True):
            row.update(assessed_posts=posts, coordination_score=None if a is None else round(a.score, 3),
                       coordination=f"too few posts (under {MIN_POSTS})" if a is None else a.level)  # fmt: skip
    if fmt in ("json", "jsonl"):
        from swell.trends import gaps_as_json

        document = {"title": title, "trends": rows, "gaps": gaps_as_json(gaps)}
        out.write(json_dumps(document, indent=fmt == "json").decode() + "\n")
    elif fmt == "csv":
        import csv

        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["hashtag"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        from swell.assessment import short_level_of
        from swell.terminal import SafeConsole
        from swell.times import shown
        from swell.trends import scale_label

        # Times in UTC without the year (the title has both), so that the table fits 80 columns.
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
        table.add_column("hashtag", overflow="fold", min_width=12)  # gives way first to a narrow screen
        for column in ("rise began", "detected", "scale"):
            table.add_column(column, no_wrap=True)
        # With the assessments, the detector's score and peak give way to their level, so that the table fits
        # 80 columns (JSON and CSV have every figure, the assessment's score too).
        numbers = ("score", "peak", "posts", "accounts") if assessments is None else ("posts", "accounts")
        for column in numbers:
            table.add_column(column, justify="right", no_wrap=True)
        if assessments is not None:
            table.add_column("coordination", no_wrap=True)
        for i, t in enumerate(found):
            values = {"score": f"{t.score:,.1f}", "peak": f"{t.peak:,.1f}", "posts": f"{t.posts:,}",
                      "accounts": f"{t.accounts:,}"}  # fmt: skip
            cells = [f"#{t.hashtag}", shown(t.since_us, short=True), shown(t.detected_us, short=True),
                     scale_label(t.scale_min), *(values[n] for n in numbers)]  # fmt: skip
            if assessments is not None:
                a = assessments[i].assessment
                cells.append("-" if a is None else short_level_of(a.score))
            table.add_row(*cells)
        console = SafeConsole(file=out)
        console.print(Text(f"{title}; times in UTC"))  # above the table, not its title: the title would widen it
        console.print(table)
