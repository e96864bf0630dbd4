"""What several commands share: their options (declared once), time values, where output goes, and
what is shown while they work. Light on imports: every command's help comes through here."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import click

from swell.engine import DEFAULT_DATASET, DEFAULT_DB, ENGINES

Decorator = Callable[[Callable], Callable]
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 120}  # every command's


def options(*decorators: Decorator) -> Decorator:
    """Several options as one decorator, listed in help in the order given."""

    def apply(command: Callable) -> Callable:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


class Time(click.ParamType):
    """A time in ISO 8601 (UTC unless a zone is given), as microseconds since 1970."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        from swell.times import BadTime, parse_user_time

        try:
            return parse_user_time(value)
        except BadTime as exc:
            self.fail(str(exc), param, ctx)


TIME = Time()

# How often what a live stream or a collection has read is committed.
flush_option = click.option(
    "--flush",
    "batch_seconds",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds after which what is read is committed, however little (0: at once).",
)

db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    show_default=True,
    envvar="SWELL_DB",
    help="The store: a DuckDB file (or set SWELL_DB).",
)

engine_options = options(
    click.option(
        "--db",
        envvar="SWELL_DB",
        help=f"The store: a DuckDB file (default {DEFAULT_DB}), or with --engine spark a Parquet dataset (a "
        f"folder, or a URI such as s3a://...; default {DEFAULT_DATASET}) (or set SWELL_DB).",
    ),
    click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="duckdb",
        show_default=True,
        envvar="SWELL_ENGINE",
        help="DuckDB on this machine, or Apache Spark (the spark extra) when one machine is not enough.",
    ),
    click.option(
        "--master",
        envvar="SWELL_SPARK_MASTER",
        help="With --engine spark: the cluster's master URL (spark://host:7077, yarn, k8s://...). Default: the "
        "one spark-submit was given, else local[*].",
    ),
)


def selection_options(*, hashtags: bool = False) -> Decorator:
    """--since, --until and --platform (and --hashtag): which posts are looked at."""
    chosen = [
        click.option("--since", type=TIME, help="Start of the range (ISO 8601, UTC unless a zone is given)."),
        click.option("--until", type=TIME, help="End of the range (ISO 8601, exclusive)."),
        click.option("--platform", help="Only posts of this platform (twitter, bluesky, mastodon, ...)."),
    ]
    if hashtags:
        chosen.append(
            click.option(
                "--hashtag",
                "hashtags",
                multiple=True,
                help="Only posts with this hashtag, and reposts of them; repeatable (any of those given).",
            )
        )
    return options(*chosen)


bucket_option = click.option(
    "--bucket",
    "bucket_min",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Trend bucket size in minutes: the finest time scale (with the hour and the day where they are "
    "multiples of it).",
)


def _scales(ctx, param, value):
    if value is None:
        return None
    from swell.trends import parse_scales

    try:
        return parse_scales(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


scales_option = click.option(
    "--scales",
    callback=_scales,
    help="The time scales watched at once, finest first, e.g. 5m,1h,1d (m, h, d); each a multiple of the "
    "finest, which replaces --bucket. Default: --bucket, 1h and 1d.",
)
# What `--detector` takes; tests/test_docs.py checks that it is every registered detector.
DETECTOR_NAMES = ("signitrend", "signitrend-hashed", "poisson", "mastodon")
detector_option = click.option(
    "--detector",
    type=click.Choice(DETECTOR_NAMES),
    default="signitrend",
    show_default=True,
    help="Trend detector (see the README for each one's score).",
)


def network_options(method: str) -> Decorator:
    """The co-action network and its clusters (`method` is the command's default)."""
    return options(
        click.option(
            "--window",
            "window_s",
            type=float,
            default=60.0,
            show_default=True,
            help="Seconds within which two accounts' actions on the same object count as a co-action.",
        ),
        click.option(
            "--repeat-window",
            "repeat_window_s",
            type=click.FloatRange(min=0),
            default=86_400.0,
            show_default=True,
            help="Seconds within which co-actions repeated more often than chance allows also link two "
            "accounts: the kinds asked for, and hashtags (0: not at all).",
        ),
        click.option("--min-weight", type=int, default=2, show_default=True, help="Fewest co-actions for an edge."),
        click.option(
            "--min-strength",
            type=float,
            default=10.0,
            show_default=True,
            help="Co-actions per account that make a cluster count as coordinated.",
        ),
        click.option(
            "--method",
            type=click.Choice(["components", "leiden", "louvain"]),
            default=method,
            show_default=True,
            help="Clusters: connected components of the network, or communities (modularity) within them.",
        ),
    )


output_option = click.option(
    "-o",
    "--output",
    "out_path",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    help="Where to write it: a file, or - for standard output.",
)


def output_options(formats: tuple[str, ...], default: str | None = None) -> Decorator:
    """--format (what is written) and -o/--output (where: a file, or - for standard output)."""
    return options(
        click.option(
            "--format",
            "fmt",
            type=click.Choice(formats),
            default=default or formats[0],
            show_default=True,
            help="What to write.",
        ),
        output_option,
    )


quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="Show no progress, notes or summaries: only the output and errors."
)


@contextlib.contextmanager
def output(path: str, binary: bool = False) -> Iterator[IO]:
    """The stream a command's output goes to: standard output for "-" (where it is a terminal, with
    what would act on it made visible), else the file (replaced)."""
    if path == "-":
        stream = sys.stdout.buffer if binary else sys.stdout
        if sys.stdout.isatty():
            from swell.terminal import VisibleWriter

            stream = VisibleWriter(stream, binary=binary)
        yield stream  # type: ignore[misc]
        return
    with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
        yield f


def to_stdout(path: str) -> bool:
    return path == "-"


@contextlib.contextmanager
def working(quiet: bool, what: str) -> Iterator[Callable[[str], None]]:
    """A spinner on standard error with what is being done, where that is a terminal and not --quiet;
    yields the function that says the next step."""
    from swell.terminal import stderr, visible

    if quiet or not stderr.is_terminal:
        yield lambda _step: None
        return
    with stderr.status(visible(what)) as status:
        yield lambda step: status.update(visible(f"{what}: {step}"))


def deprecated(old: str, new: str) -> None:
    """Say on standard error that an option's old spelling still works, for this release only."""
    from swell.terminal import stderr, styled

    stderr.print(styled(("deprecated:", "yellow"), f" {old} works in this release only; use {new}"), soft_wrap=True)
