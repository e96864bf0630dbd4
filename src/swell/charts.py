"""The report's charts, as Vega-Lite specifications built with altair.

Each function takes rows of a report (lists of dicts, as in the JSON output) and returns a Vega-Lite
spec as a dict; the HTML report embeds the specs and renders them with the Vega libraries inlined
(vl-convert's bundle), `write_png` renders them to PNG files without a browser.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt

WIDTH = 760
ACCENT = "#d62728"


def _data(rows: list[dict]) -> alt.Data:
    return alt.Data(values=rows)


def timeline(rows: list[dict], step_min: int, marks: list[dict]) -> dict:
    """Posts and distinct accounts per step; `marks` are vertical rules ({time, label}) such as the
    planned start and the moment the campaign started trending."""
    base = alt.Chart(_data(rows)).transform_fold(["posts", "accounts"], as_=["series", "count"])
    lines = base.mark_line(interpolate="step-after").encode(
        x=alt.X("time:T", title=f"time (UTC), {step_min}-minute steps"),
        y=alt.Y("count:Q", title="per step"),
        color=alt.Color("series:N", title=None, scale=alt.Scale(range=["#1f77b4", "#ff7f0e"])),
        tooltip=[alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), "series:N", "count:Q"],
    )
    layers = [lines]
    if marks:
        rules = alt.Chart(_data(marks)).encode(x="time:T")
        layers.append(rules.mark_rule(color=ACCENT, strokeDash=[4, 3]))
        layers.append(
            rules.mark_text(align="left", dx=4, dy=-4, baseline="top", color=ACCENT).encode(
                text="label:N", y=alt.value(0)
            )
        )
    return alt.layer(*layers).properties(width=WIDTH, height=260, title="volume and accounts").to_dict()


def ramp(rows: list[dict], start_label: str) -> dict:
    """Minute by minute from the start: posts per minute (bars) and accounts so far (line)."""
    base = alt.Chart(_data(rows)).encode(x=alt.X("minute:Q", title=f"minutes after {start_label}"))
    bars = base.mark_bar(color="#1f77b4", opacity=0.6).encode(
        y=alt.Y("posts:Q", title="posts per minute"), tooltip=["minute:Q", "posts:Q", "accounts:Q"]
    )
    line = base.mark_line(color="#ff7f0e").encode(
        y=alt.Y("accounts_so_far:Q", title="accounts so far"), tooltip=["minute:Q", "accounts_so_far:Q"]
    )
    return (
        alt.layer(bars, line)
        .resolve_scale(y="independent")
        .properties(width=WIDTH, height=220, title="the ramp")
        .to_dict()
    )


def bars(rows: list[dict], label: str, value: str, title: str) -> dict:
    """Horizontal bars, largest first."""
    return (
        alt.Chart(_data(rows))
        .mark_bar(color="#1f77b4")
        .encode(
            y=alt.Y(f"{label}:N", sort="-x", title=None),
            x=alt.X(f"{value}:Q", title=value.replace("_", " ")),
            tooltip=[f"{label}:N", f"{value}:Q"],
        )
        .properties(width=WIDTH // 2, title=title)
        .to_dict()
    )


def network(graph: dict) -> dict:
    """The accounts of the clusters shown, placed by a force layout, coloured by cluster; edges drawn
    with a width by their weight."""
    edges = (
        alt.Chart(_data(graph["edges"]))
        .mark_rule(color="#999999", opacity=0.5)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            x2="x2:Q",
            y2="y2:Q",
            strokeWidth=alt.StrokeWidth("weight:Q", scale=alt.Scale(range=[0.5, 4]), legend=None),
        )
    )
    nodes = (
        alt.Chart(_data(graph["nodes"]))
        .mark_circle(size=60, opacity=0.9)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            color=alt.Color("cluster:N", title="cluster"),
            tooltip=["handle:N", "account:N", "cluster:N"],
        )
    )
    return alt.layer(edges, nodes).properties(width=WIDTH, height=420, title="co-action clusters").to_dict()


def episodes(rows: list[dict]) -> dict:
    """Trend episodes as bars from the bucket in which each started to its last trending bucket."""
    return (
        alt.Chart(_data(rows))
        .mark_bar(color=ACCENT, height=10)
        .encode(
            y=alt.Y("hashtag:N", sort=alt.EncodingSortField("trending_since"), title=None),
            x=alt.X("trending_since:T", title="time (UTC)"),
            x2="last_trending:T",
            tooltip=["hashtag:N", "trending_since:T", "last_trending:T", "peak:Q", "posts:Q", "accounts:Q"],
        )
        .properties(width=WIDTH, title="trend episodes")
        .to_dict()
    )


def write_png(specs: dict[str, dict], directory: Path) -> list[Path]:
    """Each chart as NAME.png in `directory`, rendered by vl-convert (no browser needed)."""
    import vl_convert

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, spec in specs.items():
        path = directory / f"{name}.png"
        path.write_bytes(vl_convert.vegalite_to_png(spec, scale=2))
        written.append(path)
    return written
