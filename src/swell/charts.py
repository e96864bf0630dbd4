"""The report's charts, as Vega-Lite specifications built with altair.

Each function takes rows of a report (lists of dicts, as in the JSON output) and returns a Vega-Lite
spec as a dict; the HTML report embeds the specs and renders them with the Vega libraries inlined
(vl-convert's bundle), `write_png` renders them to PNG files without a browser.

Times are drawn in UTC with a 24-hour clock, whatever the viewer's time zone: time axes use UTC
scales (their labels are then formatted with `utcFormat`), and times in tooltips go through a UTC
time unit. A plain temporal field would be drawn in the browser's zone, with "12 PM" style labels.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final, Literal

import altair as alt

WIDTH = 760
ACCENT = "#d62728"
LABEL_LINE = 14  # pixels between the labels of the timeline's marks, one line each
UTC = alt.Scale(type="utc")
# Tooltips: a time to the second, in UTC (`formatType` does not give UTC; a UTC time unit does).
TOOLTIP_UNIT: Final[Literal["utcyearmonthdatehoursminutesseconds"]] = "utcyearmonthdatehoursminutesseconds"
TOOLTIP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def _data(rows: list[dict]) -> alt.Data:
    return alt.Data(values=rows)


def time_format(times: list[str]) -> str:
    """The axis labels' format for times (ISO 8601) spanning these: the time of day within one UTC
    day, the day and time within ten days, the date beyond."""
    instants = [datetime.fromisoformat(t) for t in times if t]
    if not instants:
        return "%H:%M"
    first, last = min(instants), max(instants)
    if (last - first).days >= 10:
        return "%d %b %Y"
    if first.utctimetuple()[:3] != last.utctimetuple()[:3]:
        return "%d %b %H:%M"
    return "%H:%M"


def utc_x(field: str, title: str, times: list[str]) -> alt.X:
    """A time axis in UTC, 24-hour clock."""
    return alt.X(f"{field}:T", title=title, scale=UTC, axis=alt.Axis(format=time_format(times), labelOverlap=True))


def utc_tooltip(field: str, title: str | None = None) -> alt.Tooltip:
    return alt.Tooltip(f"{field}:T", timeUnit=TOOLTIP_UNIT, format=TOOLTIP_FORMAT, title=title or field)


def timeline(rows: list[dict], step_min: float, marks: list[dict]) -> dict:
    """Posts and distinct accounts per step; `marks` are vertical rules ({time, label}, optionally
    color and dash) such as the planned start and the moment the campaign was detected trending.
    Each mark's label has a line of its own above the plot, its rule drawn up to it, so that labels of
    marks close in time overlap neither each other nor the data; a label in the last quarter of the
    chart is set to the left of its rule."""
    times = [r["time"] for r in rows] + [m["time"] for m in marks]
    x = utc_x("time", f"time (UTC), {step_min:g}-minute steps", times)
    base = alt.Chart(_data(rows)).transform_fold(["posts", "accounts"], as_=["series", "count"])
    lines = base.mark_line(interpolate="step-after").encode(
        x=x,
        y=alt.Y("count:Q", title="per step"),
        color=alt.Color("series:N", title=None, scale=alt.Scale(range=["#1f77b4", "#ff7f0e"])),
        tooltip=[utc_tooltip("time"), "series:N", "count:Q"],
    )
    layers = [lines]
    instants = [datetime.fromisoformat(t).timestamp() for t in times]
    low, high = min(instants), max(instants)

    def at(mark: dict) -> float:  # where the mark is, from 0 (left) to 1 (right)
        return (datetime.fromisoformat(mark["time"]).timestamp() - low) / ((high - low) or 1)

    # The labels go above the plot, clear of the lines, one line each: those set to the right of their
    # rule in time order, then those set to the left in reverse, so that no label crosses the rule of
    # a mark beside it (each rule starts at its own label's line).
    right = sorted((m for m in marks if at(m) > 0.75), key=at, reverse=True)
    ordered = sorted((m for m in marks if at(m) <= 0.75), key=at) + right
    top = -LABEL_LINE * len(ordered)
    for line, mark in enumerate(ordered):
        color = mark.get("color", ACCENT)
        rule = alt.Chart(_data([{"time": mark["time"], "label": mark["label"]}])).encode(
            x=x, tooltip=[alt.Tooltip("label:N", title="mark"), utc_tooltip("time")]
        )
        layers.append(
            rule.mark_rule(color=color, strokeDash=mark.get("dash", [4, 3]))
            .encode(y=alt.value(top + line * LABEL_LINE), y2=alt.value("height"))
        )  # fmt: skip
        left = mark in right
        layers.append(
            rule.mark_text(align="right" if left else "left", dx=-4 if left else 4, baseline="top", color=color)
            .encode(text="label:N", y=alt.value(top + line * LABEL_LINE))
        )  # fmt: skip
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
    """Trend episodes as bars from the start of each one's rise to the end of its last trending
    bucket."""
    times = [r["trending_since"] for r in rows] + [r["last_trending"] for r in rows]
    return (
        alt.Chart(_data(rows))
        .mark_bar(color=ACCENT, height=10)
        .encode(
            y=alt.Y("hashtag:N", sort=alt.EncodingSortField("trending_since"), title=None),
            x=utc_x("trending_since", "time (UTC)", times),
            x2="last_trending:T",
            tooltip=[
                "hashtag:N",
                utc_tooltip("trending_since", "rise began"),
                utc_tooltip("detected_at", "detected"),
                "scale:N",
                utc_tooltip("last_trending", "last trending"),
                "peak:Q",
                "posts:Q",
                "accounts:Q",
            ],
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
