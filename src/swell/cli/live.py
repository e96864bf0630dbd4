"""`swell watch`, `swell serve`, `swell replay`: live streams into the store, a live page over it,
and a local server that plays a file as a live source."""

from __future__ import annotations

from pathlib import Path

import click

from swell.cli.options import CONTEXT, TIME, bucket_option, db_option, flush_option, options, quiet_option

# What every live stream takes: how batches are committed, when to stop, the trends shown.
stream_options = options(
    click.option("--lang", "langs", multiple=True, help="Keep only posts in this language (e.g. en); repeatable."),
    click.option(
        "--batch", "batch_posts", type=int, default=20_000, show_default=True, help="Posts per commit to the store."
    ),
    flush_option,
    click.option("--exit-when-idle", type=float, help="Stop after this many seconds without an event (for replays)."),
    click.option(
        "--until",
        "until_us",
        type=TIME,
        help="Stop at the first event at or after this time (ISO 8601); it is not stored.",
    ),
    bucket_option,
    quiet_option,
)


@click.group(short_help="Read a live stream (Bluesky's Jetstream, a Mastodon instance) into the store.",
             context_settings=CONTEXT)  # fmt: skip
def watch() -> None:
    """Read a live stream into the store, showing what has been read and what is trending, until
    stopped (Ctrl-C, --until, --exit-when-idle). Everything read is committed before it stops, and a
    restart resumes from the cursor committed with the posts: nothing is lost or stored twice.

    \b
    Examples:
      swell watch jetstream --hashtag FreeThePress --lang en
      swell watch mastodon https://mastodon.social --hashtag FreeThePress --until 2024-03-01T19:00
    """


@watch.command("jetstream", short_help="Bluesky's Jetstream (v1 or v2), resumed from its cursor after any drop.")
@click.argument("url", default="wss://jetstream2.us-east.bsky.network/subscribe")
@db_option
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Jetstream collections to ask for (v2 also takes PREFIX.*); repeatable. Default: posts and reposts.",
)
@click.option("--hashtag", "hashtags", multiple=True, help="Keep only posts with this hashtag (and reposts of them).")
@click.option(
    "--compress/--no-compress",
    default=False,
    show_default=True,
    help="zstd-compressed frames (about a third of the bytes, more CPU).",
)
@stream_options
def jetstream(url, db, collections, hashtags, compress, langs, batch_posts, batch_seconds, exit_when_idle, until_us,
              bucket_min, quiet):  # fmt: skip
    """Bluesky's Jetstream at URL (a WebSocket; `swell replay` serves one locally): the v1 endpoint
    (.../subscribe) or the v2 one (.../xrpc/network.bsky.jetstream.subscribeEvents), told by the path.
    Reconnects on any drop and resumes from the cursor stored with the posts (v1: a time, v2: a seq),
    across a restart of swell too. A resume the server no longer has is a gap: said, and stored.

    \b
    Examples:
      swell watch jetstream
      swell watch jetstream wss://jetstream2.us-east.bsky.network/xrpc/network.bsky.jetstream.subscribeEvents --compress
      swell watch jetstream ws://127.0.0.1:6008/subscribe --until 2024-03-01T12:00
    """
    from swell.live.jetstream import DEFAULT_COLLECTIONS, JetstreamOptions
    from swell.live.jetstream import watch as connect
    from swell.normalise import normalize_hashtag

    live = JetstreamOptions(url=url, collections=tuple(collections) or DEFAULT_COLLECTIONS,
                            hashtags=frozenset(normalize_hashtag(h) for h in hashtags), langs=frozenset(langs),
                            compress=compress,
                            batch_posts=batch_posts, batch_seconds=batch_seconds, exit_when_idle_s=exit_when_idle,
                            until_us=until_us)  # fmt: skip
    _watch(lambda stop: connect(db, live, stop), live, bucket_min, quiet)


@watch.command("mastodon", short_help="Mastodon instances' streaming API, caught up from their timelines.")
@click.argument("url", nargs=-1, required=True)
@db_option
@click.option("--token", envvar="MASTODON_TOKEN", help="An access token, where the instance asks for one.")
@click.option("--hashtag", help="The hashtag's stream (and timeline) instead of the public one.")
@click.option("--local", is_flag=True, help="Only the instance's own posts.")
@stream_options
def mastodon(url, db, token, hashtag, local, langs, batch_posts, batch_seconds, exit_when_idle, until_us, bucket_min,
             quiet):  # fmt: skip
    """The streaming API of a Mastodon instance at URL (https://instance.example; `swell replay` serves
    one locally), or of several at once. After every connection it catches up from the instance's
    timeline since the newest status read, which is stored with the posts: a drop or a restart loses
    nothing. A status that several instances deliver is stored once.

    \b
    Examples:
      swell watch mastodon https://mastodon.social https://fosstodon.org --hashtag FreeThePress
      swell watch mastodon https://fosstodon.org --local --lang en
    """
    from swell.live.mastodon import MastodonOptions, watch_many

    urls = list(url)
    if token and len(urls) > 1:  # a token is one instance's: it must not be sent to the others
        raise click.BadParameter("a token is for one instance; watch that one alone", param_hint="--token")
    # `url`: the title shown; each instance is watched at its own
    live = MastodonOptions(url=", ".join(urls), token=token, hashtag=hashtag.lstrip("#") if hashtag else None,
                           local=local, langs=frozenset(langs), batch_posts=batch_posts, batch_seconds=batch_seconds,
                           exit_when_idle_s=exit_when_idle, until_us=until_us)  # fmt: skip
    _watch(lambda stop: watch_many(db, live, urls, stop), live, bucket_min, quiet)


def _watch(start, live, bucket_min: float, quiet: bool) -> None:
    """Run the watch with its counts and trends on standard error: redrawn in place on a terminal,
    printed once at the end elsewhere (and not at all with --quiet)."""
    from rich.live import Live
    from rich.table import Table

    from swell.live.session import watch_live
    from swell.terminal import stderr, styled
    from swell.times import shown

    def _gaps(gaps) -> str:
        return "; ".join(f"{shown(start)} to {shown(end)}" for start, end in gaps)

    def view(stats, trends) -> Table:
        table = Table(title=f"watching {live.url}", title_justify="left", show_header=False)
        table.add_row("events read", f"{stats.frames:,}")
        table.add_row("posts committed (new)", f"{stats.posts:,} ({stats.new:,})")
        table.add_row("left out by filters / rejected", f"{stats.filtered:,} / {stats.rejected:,}")
        table.add_row("connections / waits for the store", f"{stats.connections:,} / {stats.waits:,}")
        table.add_row("cursor committed", shown(stats.cursor) if stats.cursor_is_time else str(stats.cursor or "-"))
        trending = ", ".join(f"#{t.hashtag} ({t.accounts})" for t in trends.trending_now()[:10])
        table.add_row("trending now", trending or "-")
        if stats.gaps:
            table.add_row(styled(("missing (gaps)", "bold red")), _gaps(stats.gaps))
        return table

    if quiet:
        stats, _ = watch_live(start, live, bucket_min=bucket_min)
        if stats.gaps:  # said even with --quiet: posts are missing
            stderr.print(f"warning: the stream did not deliver {_gaps(stats.gaps)} (table gaps in the store)")
        return
    with Live(console=stderr, auto_refresh=False) as screen:
        stats, _ = watch_live(start, live, bucket_min=bucket_min,
                              on_update=lambda s, t: screen.update(view(s, t), refresh=True))  # fmt: skip
    if not stderr.is_terminal:  # rich leaves the last table of a non-terminal without its newline
        stderr.print()
    stderr.print(
        f"stopped: {stats.posts:,} posts committed ({stats.new:,} new), {stats.deletions:,} deletions, "
        f"{stats.rejected:,} frames set aside, {stats.connections:,} connection(s)"
    )
    if stats.gaps:
        stderr.print(
            f"warning: the stream did not deliver {_gaps(stats.gaps)}: the cursor was older than the server keeps; "
            "those posts are missing (recorded in the store's gaps table)",
            soft_wrap=True,
        )


@click.command(short_help="A live web page over the store: trending now, timelines, campaign reports.")
@db_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Where to listen; beyond localhost a token is required."
)
@click.option("--port", type=int, default=8000, show_default=True, help="0: a free port (the URL printed says which).")
@click.option(
    "--token", envvar="SWELL_TOKEN", help="Required of every request (or set SWELL_TOKEN); one is made if needed."
)
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between looks at the store.")
@bucket_option
@click.option(
    "--history", type=float, default=6.0, show_default=True, help="Hours before the newest post to start from."
)
def serve(db, host, port, token, interval, bucket_min, history):
    """A read-only web app: what is trending now (updated as posts arrive), a live timeline per
    hashtag, and the campaign report of any hashtag. Run it beside `swell watch` on the same store.

    \b
    Examples:
      swell serve
      swell serve --db live.duckdb --port 0
      swell serve --host 0.0.0.0 --token s3cret
    """
    import secrets

    from swell.terminal import stderr
    from swell.web import LOOPBACK, create_app, listen, run, url

    if host not in LOOPBACK and not token:
        token = secrets.token_urlsafe(18)
    app = create_app(db, token=token, interval_s=interval, bucket_min=bucket_min, history_h=history)
    sock = listen(host, port)
    stderr.print(f"serving {db} on {url(host, sock, token)}", soft_wrap=True)
    run(app, sock)


@click.command(short_help="Serve a file of Jetstream events or Mastodon statuses as a live source.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen.")
@click.option("--port", type=int, default=6008, show_default=True, help="0: a free port (the URL printed says which).")
@click.option("--rate", type=float, default=0.0, help="Events per second (default: as fast as the client reads).")
@click.option("--drop-every", type=int, default=0, help="Close each connection after about this many events (tests).")
@click.option("--bad-frames", type=int, default=0, help="Every this many events, also send a malformed one (tests).")
@click.option(
    "--refuse-every", type=int, default=0, help="Jetstream: refuse every this many connections, 429 and 503 in turn."
)
@click.option(
    "--kept-from",
    "kept_from_us",
    type=TIME,
    help="Jetstream: forget the events before this time (as its lookback does); older cursors are moved.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed drops and spoils the same way.")
def replay(file, host, port, rate, drop_every, bad_frames, refuse_every, kept_from_us, seed):
    """Serve FILE as a live source. Jetstream events (`swell simulate --format jetstream`) go out over a
    WebSocket as Jetstream v2 sends them at both its endpoints: v1 at ws://HOST:PORT/subscribe
    (`cursor`, `wantedCollections`, `compress`), v2 at
    ws://HOST:PORT/xrpc/network.bsky.jetstream.subscribeEvents (`cursor`, `kinds`, `dids`,
    `collections`, `zstdDictionary`; getZstdDictionary beside it). Mastodon statuses (`--format
    mastodon`) are published at --rate a second (default 1,000) as an instance's streaming API and
    timelines at http://HOST:PORT.

    \b
    Examples:
      swell simulate js.jsonl --format jetstream && swell replay js.jsonl
      swell replay statuses.jsonl --rate 500 --drop-every 200 --port 0
    """
    from swell.live.jetstream_wire import V1_PATH, V2_PATH
    from swell.live.replay import Replay, load, run
    from swell.terminal import stderr

    try:
        served = load(file, drop_every=drop_every, bad_frames=bad_frames, rate=rate, seed=seed,
                      refuse_every=refuse_every, kept_from_us=kept_from_us)  # fmt: skip
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from exc
    if isinstance(served, Replay):
        what = f"serving {len(served.frames):,} Jetstream events"
    else:
        what = f"publishing {len(served.statuses):,} Mastodon statuses"

    def ready(address: str) -> None:
        stderr.print(f"{what} on {address}", soft_wrap=True)
        if isinstance(served, Replay):  # the first line names v1's URL (scripts read it); v2's beside it
            stderr.print(f"  and v2 on {address.replace(V1_PATH, V2_PATH)}", soft_wrap=True)

    run(served, host, port, ready)
