"""`swell simulate`: a synthetic stream with planted campaigns, in a platform's shape."""

from __future__ import annotations

import math
from pathlib import Path

import click

from swell.cli.options import TIME, quiet_option

WRITER_NAMES = ("twitter-v1", "jetstream", "mastodon")  # checked in tests/test_docs.py


@click.command(short_help="Write a synthetic stream with planted grassroots and coordinated campaigns.")
@click.argument("out", type=click.Path(dir_okay=False, allow_dash=True, path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(WRITER_NAMES),
    default="twitter-v1",
    show_default=True,
    help="The platform shape to write: X v1.1 statuses, Bluesky Jetstream events or Mastodon statuses.",
)
@click.option("--start", type=TIME, default="2024-03-01T00:00", show_default=True, help="Start of the stream (UTC).")
@click.option("--hours", type=float, default=24.0, show_default=True, help="Length of the stream.")
@click.option(
    "--posts-per-hour", type=float, default=20_000.0, show_default=True, help="Background volume, over the day."
)
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed writes the same stream.")
@click.option(
    "--plant",
    "plants",
    multiple=True,
    metavar="KIND:HASHTAG@TIME[/ACCOUNTS]",
    help="A campaign to plant (grassroots, coordinated or slow); repeatable. Default: a coordinated push at 09:00 and "
    "a grassroots blast at 17:00 on the first day, those inside the simulated hours.",
)
@click.option("--no-campaigns", is_flag=True, help="Background only.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), help="Where the planted truth goes. "
              "Default: OUT.truth.json (none when OUT is -).")  # fmt: skip
@quiet_option
def simulate(out, fmt, start, hours, posts_per_hour, seed, plants, no_campaigns, truth, quiet):
    """Write a synthetic stream to OUT (- for standard output): a background with Zipf hashtags, a daily
    cycle and heavy-tailed accounts, and planted campaigns, whose kind and accounts go to the truth
    file. It runs through the real readers: `swell ingest OUT`. It is written an hour at a time, so
    memory follows the hourly volume, not the length of the stream.

    \b
    Examples:
      swell simulate blast.jsonl --posts-per-hour 2000
      swell simulate js.jsonl --format jetstream --hours 3 --plant grassroots:Blast@2024-03-01T02:00/300
      swell simulate - --hours 1 | swell ingest -
    """
    import sys

    from swell.escapes import json_dumps
    from swell.simulate import WRITERS, Campaign, Simulation, default_campaigns, stream
    from swell.terminal import stderr
    from swell.times import us_to_datetime

    begin = us_to_datetime(start)
    try:
        campaigns = [] if no_campaigns else [Campaign.parse(p) for p in plants] or default_campaigns(begin, hours)
        sim = Simulation(start=begin, hours=hours, posts_per_hour=posts_per_hour, seed=seed, campaigns=campaigns)
        planted, chunks = stream(sim)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--plant") from exc
    target = sys.stdout.buffer if out == "-" else Path(out)
    n = WRITERS[fmt](_counted(chunks, math.ceil(hours), quiet), target)
    truth = truth or (None if out == "-" else Path(out).with_name(Path(out).name + ".truth.json"))
    if truth is not None:
        truth.write_bytes(json_dumps(planted, indent=True))
    if not quiet:
        where = f" and the {len(planted)} planted campaign(s) to {truth}" if truth else ""
        stderr.print(f"wrote {n:,} posts ({fmt}) to {'standard output' if out == '-' else out}{where}", soft_wrap=True)
        for c in planted:
            stderr.print(f"  {c['kind']:<11} #{c['hashtag']} from {c['start']}, {len(c['accounts'])} accounts")


def _counted(chunks, hours: int, quiet: bool):
    """The chunks, an hour each, with the hour reached shown while they are written."""
    from swell.cli.options import working

    with working(quiet, "simulating") as step:
        for hour, chunk in enumerate(chunks, 1):
            step(f"hour {hour} of {hours}")
            yield chunk
