"""`swell campaign` and `swell report`: the figures of a hashtag campaign, or of a whole store, and
their self-contained HTML pages."""

from __future__ import annotations

from pathlib import Path

import click

from swell.cli.options import (
    TIME,
    deprecated,
    detector_option,
    engine_options,
    network_options,
    options,
    output,
    output_options,
    quiet_option,
    selection_options,
    working,
)

# Not the shared `bucket_option`: here no --bucket is not 5 minutes, it lets the timeline choose its
# step for the span (`swell trends` and the live commands keep their 5-minute default).
bucket_option = click.option(
    "--bucket",
    "bucket_min",
    type=click.FloatRange(min=0, min_open=True),
    help="Trend bucket size in minutes (the finest scale, with 1h and 1d where multiples of it) and the "
    "timeline's step. Default: 5-minute buckets, and a timeline step chosen for the span.",
)

# What `swell campaign` and `swell report` share: the store, the range, the analyses, the outputs.
analysis_options = options(
    engine_options,
    selection_options(),
    detector_option,
    bucket_option,
    network_options(method="components"),
    click.option("--top", type=int, default=10, show_default=True, help="Rows in the top-N lists."),
    output_options(("table", "json")),
    click.option(
        "--png", type=click.Path(file_okay=False, path_type=Path), help="Also write each chart as a PNG file here."
    ),
    click.option(
        "--json",
        "json_path",
        type=click.Path(dir_okay=False, allow_dash=True),
        hidden=True,
        help="Deprecated: --format json -o FILE.",
    ),
    quiet_option,
)


def _query(hashtags, planned, since, until, platform, detector, bucket_min, window_s, repeat_window_s, min_weight,
           min_strength, method, top):  # fmt: skip
    from swell.campaign import CampaignQuery

    return CampaignQuery(list(hashtags), planned, since, until, platform, detector, bucket_min, window_s, min_weight,
                         min_strength, method, top, repeat_window_s=repeat_window_s or None)  # fmt: skip


@click.command(short_help="Did a hashtag campaign trend, how fast, who carried it, and was it coordinated.")
@click.argument("hashtags", nargs=-1, required=True)
@click.option(
    "--planned", type=TIME, help="When the campaign was planned to start (ISO 8601); time to trend counts from it."
)
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML report here."
)
@analysis_options
def campaign(hashtags, planned, report_path, db, engine, master, since, until, platform, detector, bucket_min,
             window_s, repeat_window_s, min_weight, min_strength, method, top, fmt, out_path, png, json_path,
             quiet):  # fmt: skip
    """Did a hashtag campaign trend, and how fast; who carried it, how concentrated it was, and how
    much of it came from accounts acting together (evidence, never a verdict on a person).

    HASHTAGS: one or more ('#FreeThePress', FreeThePress); a post with any of them belongs to the
    campaign, and so do reposts of such posts. The report is one HTML file that opens offline.

    The time to trend runs from the planned start (else the first post) to the moment the trend was
    detected: the end of the first bucket, at any scale, in which the detector said trending, when
    someone watching live would have known. The start of the rise (the first post of the buckets
    that made it trend, found by looking back) is reported beside it. Trends are detected in 5-minute
    buckets, hourly and daily (--bucket changes the finest); the timeline's step is --bucket when
    given, else 1 minute to a day, to fit the span.

    The coordination signals are read together as one assessment: a score from 0 (nothing beyond
    what organic campaigns show) to 1, its level in words, and the evidence against each signal's
    reference range (README, "The campaign assessment").

    \b
    Examples:
      swell campaign '#FreeThePress' --planned 2024-03-01T17:00 --report campaign.html
      swell campaign '#FreeThePress' --planned 2024-03-01T17:00 --bucket 15 --report campaign.html
      swell campaign PressLies --format json -o presslies.json
      swell campaign '#a' '#b' --since 2024-03-01 --until 2024-03-02 --png charts/
    """
    with working(quiet, "campaign") as step:  # shown at once: the analyses take a moment to load
        from swell.campaign import analyse
        from swell.engine import open_engine

        q = _query(hashtags, planned, since, until, platform, detector, bucket_min, window_s, repeat_window_s,
                   min_weight, min_strength, method, top)  # fmt: skip
        with open_engine(db, engine, master) as analyses:
            r = analyse(analyses, q, on_step=step)
    from swell.terminal import stderr

    if not r["totals"]["posts"]:
        stderr.print(f"no posts with {' '.join('#' + t for t in r['hashtags'])} in the store for this range")
    _outputs(r, "campaign", report_path, fmt, out_path, png, json_path, quiet)
    if not r["totals"]["posts"]:
        raise click.exceptions.Exit(1)


@click.command(short_help="The whole store in one page: what it holds, its trends, its coordinated clusters.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="swell-report.html",
    show_default=True,
    help="Write the HTML report here.",
)
@analysis_options
def report(report_path, db, engine, master, since, until, platform, detector, bucket_min, window_s, repeat_window_s,
           min_weight, min_strength, method, top, fmt, out_path, png, json_path, quiet):  # fmt: skip
    """The whole store (or a range of it) in one page: what it holds, the main trend episodes, the
    busiest accounts and the largest coordinated clusters.

    Trends are detected in 5-minute buckets, hourly and daily (--bucket changes the finest); the
    timeline's step is --bucket when given, else 1 minute to a day, to fit the span.

    \b
    Examples:
      swell report
      swell report --db campaign.duckdb --since 2024-03-01 --report march.html
      swell report --bucket 60 --report hourly.html
      swell report --format json -o store.json
    """
    with working(quiet, "report") as step:  # shown at once: the analyses take a moment to load
        from swell.campaign import overview
        from swell.engine import open_engine

        q = _query((), None, since, until, platform, detector, bucket_min, window_s, repeat_window_s, min_weight,
                   min_strength, method, top)  # fmt: skip
        with open_engine(db, engine, master) as analyses:
            r = overview(analyses, q, on_step=step)
    _outputs(r, "store", report_path, fmt, out_path, png, json_path, quiet)


def _outputs(r: dict, kind: str, report_path, fmt: str, path: str, png, json_path, quiet: bool) -> None:
    """The figures printed or written as JSON, the HTML page, the charts as PNG; what was written said
    on standard error."""
    from swell import html_report
    from swell.escapes import json_dumps
    from swell.terminal import stderr

    if json_path is not None:  # the old spelling: the JSON to a file, the summary printed as before
        deprecated("--json FILE", "--format json -o FILE")
        with output(json_path, binary=True) as out:
            out.write(json_dumps(r, indent=True) + b"\n")
    with output(path, binary=fmt == "json") as out:
        if fmt == "json":
            out.write(json_dumps(r, indent=True) + b"\n")
        elif r["totals"]["posts"] and not (quiet and path == "-"):
            (_print_campaign if kind == "campaign" else _print_store)(r, out)
    page, charts = (
        (html_report.campaign_page, html_report.campaign_charts)
        if kind == "campaign"
        else (html_report.store_page, html_report.store_charts)
    )
    if report_path:
        with working(quiet, "rendering the report"):
            report_path.write_text(page(r), encoding="utf-8")
        if not quiet:
            stderr.print(f"wrote the report to {report_path.resolve()}", soft_wrap=True)
    if png:
        from swell.charts import write_png

        with working(quiet, "rendering the charts"):
            written = write_png(charts(r), png)
        if not quiet:
            stderr.print(f"wrote {len(written)} charts as PNG to {png}/", soft_wrap=True)


def _print_campaign(r: dict, out) -> None:
    from swell.terminal import SafeConsole, styled
    from swell.times import shown

    console = SafeConsole(file=out)
    t, trend, c, s = r["totals"], r["trend"], r["concentration"], r["coordination"]["signals"]
    console.print(
        styled(
            (" ".join("#" + h for h in r["hashtags"]), "bold"),
            f": {t['posts']:,} posts by {t['accounts']:,} accounts ({t['originals']:,} originals, "
            f"{t['reposts']:,} reposts, {t['replies']:,} replies, {t['quotes']:,} quotes)",
        )
    )
    first = r["first_post"]
    console.print(
        f"first post {shown(first['time'])} by {first['author_handle'] or first['author_id']}; "
        f"busiest minute {shown(r['peak_minute']['minute'])} with {r['peak_minute']['posts']:,} posts"
    )
    if trend["trended"]:
        console.print(_trended(trend, "the planned start" if r["planned"] else "the first post"))
    else:
        console.print(f"did not trend ({trend['detector']}, {', '.join(trend['scales'])} scales)")
    console.print(
        f"top 1% of accounts: {c['share_by_top_1pct']:.1%} of posts; Gini {c['gini']:.3f}; accounts in coordinated "
        f"clusters: {s['coordinated_accounts']:,}, {s['share_by_coordinated_accounts']:.1%} of posts"
    )
    assessment = r["coordination"]["assessment"]
    console.print(f"coordination: {assessment['level']} (score {assessment['score']:.2f} of 1)")


def _trended(trend: dict, start: str) -> str:
    """'trending: detected 2024-03-01 17:05:00 UTC at the 5m scale (signitrend), 5.0 minutes after the
    planned start; the rise began at 17:01:10 UTC'."""
    from swell.times import shown

    minutes = trend["minutes_to_trend"]
    when = f"at {start}" if minutes == 0 else f"{abs(minutes)} minutes {'after' if minutes > 0 else 'before'} {start}"
    detected, rise = shown(trend["detected_at"]), shown(trend["rise_start"])
    if rise[:10] == detected[:10]:  # the same day: the time is enough
        rise = rise[11:]
    return (
        f"trending: detected {detected} at the {trend['scale']} scale ({trend['detector']}), {when}; "
        f"the rise began at {rise}"
    )


def _print_store(r: dict, out) -> None:
    from swell.terminal import SafeConsole

    episodes = len(r.get("trends", {}).get("episodes", []))
    clusters = r.get("coordination", {}).get("signals", {}).get("coordinated_clusters", 0)
    SafeConsole(file=out).print(
        f"{r['totals']['posts']:,} posts; {episodes:,} trend episodes shown; {clusters:,} coordinated clusters"
    )
