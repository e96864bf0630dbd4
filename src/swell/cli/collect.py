"""`swell collect`: the past of a hashtag on Bluesky or Mastodon, from public services, into the store."""

from __future__ import annotations

import click

from swell.cli.options import CONTEXT, TIME, db_option, flush_option, options, quiet_option

collect_options = options(
    click.option("--since", "since_us", type=TIME, required=True, help="The start of the time to collect (ISO 8601)."),
    click.option("--until", "until_us", type=TIME, help="Its end (ISO 8601; not included). Default: now."),
    click.option(
        "--user-agent",
        help="The User-Agent sent (default: one naming swell); say who you are if a service asks.",
    ),
    flush_option,
    db_option,
    quiet_option,
)


@click.group(short_help="Fetch the past of a hashtag from Bluesky or Mastodon into the store.",
             context_settings=CONTEXT)  # fmt: skip
def collect() -> None:
    """Fetch a hashtag's posts of a time in the past from public services that need no account, into
    the store; then analyse them as any other (`swell campaign`, `swell coordination`). Stopped
    anywhere (Ctrl-C, a kill, a service that refuses), the same command goes on where it was:
    every page is committed with how far it got, and nothing is stored twice.

    \b
    Examples:
      swell collect bluesky blast --since 2024-03-01T15:00 && swell campaign blast --planned 2024-03-01T17:00
      swell collect mastodon blast --instance https://mastodon.social --instance https://mas.to --since 2024-03-01
    """


@collect.command("bluesky", short_help="Jetstream within its 36 hours, searchPosts before them.")
@click.argument("hashtag")
@collect_options
@click.option("--service", default="https://public.api.bsky.app", show_default=True,
              help="The AppView whose searchPosts is asked for posts older than Jetstream keeps.")  # fmt: skip
@click.option("--jetstream", default="wss://jetstream2.us-east.bsky.network/subscribe", show_default=True,
              help="The Jetstream replayed for the last 36 hours (posts and reposts).")  # fmt: skip
@click.option("--lookback", type=float, default=36.0, show_default=True,
              help="Hours of the past the Jetstream keeps; older posts come from search.")  # fmt: skip
def bluesky(hashtag, since_us, until_us, user_agent, batch_seconds, db, quiet, service, jetstream, lookback):
    """Collect HASHTAG's Bluesky posts from --since to --until. Within Jetstream's lookback, Jetstream
    is replayed from a time cursor: posts and reposts, with no cap. Before it, the AppView's
    searchPosts, sliced in time so that no slice meets search's cap of about 10,000 results; search
    gives no reposts, so co-reposts before the lookback are not seen.

    \b
    Examples:
      swell collect bluesky '#FreeThePress' --since 2024-03-01T15:00 --until 2024-03-01T21:00
      swell collect bluesky rstats --since 2025-01-01 --jetstream wss://jetstream1.us-west.bsky.network/subscribe
    """
    from swell.collect import BlueskyCollect, collect_bluesky

    todo = BlueskyCollect(db=db, hashtag=_tag(hashtag), since_us=since_us, until_us=until_us, service=service,
                          jetstream=jetstream, lookback_s=lookback * 3_600, batch_seconds=batch_seconds)  # fmt: skip
    _collect(collect_bluesky, todo, user_agent, quiet, f"#{todo.hashtag} on Bluesky")


@collect.command("mastodon", short_help="The hashtag's timeline on several instances at once, each post once.")
@click.argument("hashtag")
@click.option("--instance", "instances", multiple=True, required=True,
              help="An instance to ask (https://mastodon.social); repeatable, asked at once.")  # fmt: skip
@collect_options
def mastodon(hashtag, instances, since_us, until_us, user_agent, batch_seconds, db, quiet):
    """Collect HASHTAG's statuses from --since to --until from the tag timeline of every --instance at
    once, paged back in time. A status seen from two instances is stored once (by its ActivityPub
    uri); each instance shows the statuses it knows of, so asking several finds more.

    \b
    Examples:
      swell collect mastodon '#FreeThePress' --instance https://mastodon.social --since 2024-03-01
      swell collect mastodon blast --instance https://fosstodon.org --since 2024-03-01T12:00 --flush 0
    """
    from swell.collect import MastodonCollect, collect_mastodon

    todo = MastodonCollect(db=db, hashtag=_tag(hashtag), since_us=since_us, until_us=until_us,
                           instances=tuple(instances), batch_seconds=batch_seconds)  # fmt: skip
    _collect(collect_mastodon, todo, user_agent, quiet, f"#{todo.hashtag} on Mastodon")


def _tag(hashtag: str) -> str:
    from swell.normalise import normalize_hashtag

    tag = normalize_hashtag(hashtag.lstrip("#"))
    if not tag:
        raise click.BadParameter(f"{hashtag!r} is not a hashtag", param_hint="HASHTAG")
    return tag


def _collect(run, todo, user_agent: str | None, quiet: bool, what: str) -> None:
    """Run the collection with its progress on standard error: redrawn in place on a terminal,
    printed once at the end elsewhere (and not at all with --quiet, but for the warnings). Stopped
    before the end (Ctrl-C, SIGTERM), it exits 1."""
    if todo.until_us is not None and todo.until_us <= todo.since_us:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    from rich.live import Live
    from rich.table import Table

    from swell.collect import CollectStopped
    from swell.terminal import stderr, styled
    from swell.times import shown

    if user_agent:
        todo.politeness.user_agent = user_agent

    def view(stats) -> Table:
        table = Table(title=f"collecting {what}", title_justify="left", show_header=False)
        table.add_row("pages / Jetstream events", f"{stats.pages:,} / {stats.frames:,}")
        table.add_row("posts committed (new)", f"{stats.posts:,} ({stats.new:,})")
        for source, reached in sorted(stats.reached_us.items()):
            table.add_row(styled(f"reached in {source}"), shown(reached))
        retries = todo.politeness.retries
        tried = " / ".join(f"{retries[k]:,}" for k in ("429", "5xx", "dropped"))
        table.add_row("retried (429 / 5xx / dropped)", tried)
        return table

    def summary() -> None:
        stats = todo.stats
        stderr.print(
            f"collected {stats.posts:,} posts ({stats.new:,} new) in {stats.pages:,} pages and {stats.frames:,} "
            f"Jetstream events; {stats.rejected:,} records set aside, {stats.slices_done:,} slices finished"
        )
        for note in stats.notes:
            stderr.print(styled(("note:", "yellow"), f" {note}"), soft_wrap=True)

    def warnings() -> None:  # said even with --quiet: posts are missing
        if todo.stats.gaps:
            gaps = "; ".join(f"{shown(a)} to {shown(b)}" for a, b in todo.stats.gaps)
            stderr.print(styled(("warning:", "bold red"), f" Jetstream did not deliver {gaps} (table gaps)"))

    try:
        if quiet:
            run(todo)
        else:
            with Live(console=stderr, auto_refresh=False) as screen:
                todo.on_progress = lambda stats: screen.update(view(stats), refresh=True)
                run(todo)
    finally:
        if not quiet:
            if not stderr.is_terminal:  # rich leaves the last table of a non-terminal without its newline
                stderr.print()
            summary()
        warnings()
    if todo.stats.stopped:  # exit 1, so that `swell collect ... && swell campaign ...` does not go on
        raise CollectStopped("stopped before the end: the same command goes on from where it was")
