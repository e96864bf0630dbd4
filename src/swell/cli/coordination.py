"""`swell coordination`: accounts that act together within seconds, their clusters, and how much of
the posts they produce; the network for Gephi and other tools."""

from __future__ import annotations

from pathlib import Path

import click

from swell.cli.options import (
    engine_options,
    network_options,
    output,
    output_options,
    quiet_option,
    selection_options,
    working,
)

# What `--kind` takes; tests/test_docs.py checks that it is every co-action kind.
KIND_NAMES = ("co-repost", "co-post", "co-link", "co-reply", "co-hashtag", "near-duplicate")
DEFAULT_KIND_NAMES = ("co-repost", "co-post", "co-link", "co-reply")


@click.command(short_help="Accounts that act together within seconds, their clusters, and their share of posts.")
@engine_options
@selection_options(hashtags=True)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(KIND_NAMES),
    help=f"Co-action kinds; repeatable. Default: {', '.join(DEFAULT_KIND_NAMES)}.",
)
@network_options(method="leiden")
@click.option("--min-size", type=int, default=2, show_default=True, help="Smallest cluster reported, in accounts.")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of known account labels (such as the IRA authors.csv): report the clusters' purity against them.",
)
@click.option(
    "--label-column", default="account_category", show_default=True, help="The labels file's column of labels."
)
@click.option("--account-column", help="The labels file's column of accounts (ids or handles). Default: its first.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write the bundle here: edges, evidence, nodes and clusters (CSV, JSON), GEXF and GraphML.",
)
@output_options(("table", "json", "gexf", "graphml", "gml", "csv"))
@quiet_option
def coordination(db, engine, master, since, until, platform, hashtags, kinds, window_s, repeat_window_s, min_weight,
                 min_strength, method, min_size, labels, label_column, account_column, out, fmt, out_path,
                 quiet):  # fmt: skip
    """Networks of accounts that repost the same post, post the same text, share the same link or
    reply to the same post within --window seconds; their clusters; and how much of the posts they
    produce. Evidence, not verdicts: every edge comes with sample pairs of posts behind it.

    --format gexf, graphml or gml writes the network (one edge per kind, with its weight and first
    and last co-action), csv its edges, json the clusters and signals.

    \b
    Examples:
      swell coordination
      swell coordination --hashtag PressLies --out net/
      swell coordination --kind co-hashtag --kind near-duplicate --window 30 --min-weight 3 --format json
      swell coordination --format gexf -o network.gexf
    """
    with working(quiet, "coordination") as step:  # shown at once: the analyses take a moment to load
        from swell.coordination import NETWORK_WRITERS, check_kinds, coordination_report, label_purity, read_labels
        from swell.engine import open_engine
        from swell.selection import Selection

        kinds = kinds or DEFAULT_KIND_NAMES
        check_kinds(kinds)  # before Spark takes its seconds to start

        known = None
        if labels:
            try:
                known = read_labels(labels, label_column, account_column)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--labels") from exc
        selection = Selection(since, until, platform, tuple(hashtags))
        with open_engine(db, engine, master) as analyses:
            report = coordination_report(analyses, selection, kinds=kinds, window_s=window_s,
                                         repeat_window_s=repeat_window_s or None,
                                         min_weight=min_weight, method=method, min_size=min_size,
                                         min_strength=min_strength, on_step=step)  # fmt: skip
    from swell.terminal import stderr

    if known is not None:
        report.purity = label_purity(report, known)
    if out:
        from swell.coordination import write_network

        written = write_network(report, out)
        if not quiet:
            stderr.print(f"wrote {', '.join(p.name for p in written)} to {out}/", soft_wrap=True)
    if fmt == "table":
        with output(out_path) as stream:
            _print(report, stream, labels)
        return
    with output(out_path, binary=True) as stream:
        NETWORK_WRITERS[fmt](report, stream)


def _print(report, out, labels: Path | None) -> None:
    from rich.table import Table

    from swell.coordination import cluster_strength
    from swell.terminal import SafeConsole
    from swell.times import shown

    console = SafeConsole(file=out)
    edges, signals = report.network.edges, report.signals
    per_kind = ", ".join(f"{k} {n:,}" for k, n in sorted(edges.group_by("kind").len().iter_rows())) or "none"
    console.print(
        f"{edges.height:,} edges ({per_kind}) among {signals.get('accounts', 0):,} accounts "
        f"and {signals.get('posts', 0):,} posts, window {report.network.window_s:g} s"
    )
    table = Table(title="clusters, strongest first", title_justify="left")
    for name in ("cluster", "accounts", "co-actions/account", "kinds", "first", "last", "accounts (sample)"):
        right = name in ("cluster", "accounts", "co-actions/account")
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for c in report.clusters[:20]:
        table.add_row(
            str(c.id),
            f"{len(c.accounts):,}",
            f"{cluster_strength(c):,.1f}",
            ", ".join(f"{k} {n}" for k, n in sorted(c.kinds.items())),
            shown(int(c.first_s * 1e6)) if c.first_s else "-",
            shown(int(c.last_s * 1e6)) if c.last_s else "-",
            ", ".join(c.accounts[:4]) + (" ..." if len(c.accounts) > 4 else ""),
        )
    console.print(table)
    console.print("signals: " + ", ".join(f"{k} {_number(v)}" for k, v in signals.items()))
    if report.purity is not None and labels is not None:
        p = report.purity
        console.print(
            f"purity against {labels.name}: {_number(p['purity'])} over {p['labelled_accounts']:,} labelled accounts"
        )


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
