"""Self-contained HTML reports: one file that opens offline, charts included.

Post text is hostile. Every value goes through Jinja's autoescaping; chart specifications are
embedded as JSON with `<`, `>`, `&` and `'` escaped (Jinja's `tojson`), in script elements of type
application/json that the browser never runs; the page's Content-Security-Policy forbids fetching
anything. The Vega libraries come inlined from vl-convert's bundle.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader, StrictUndefined

from swell import __version__, charts


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (about 900 kB), built once per process."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()  # type: ignore[call-arg]  # its stub misses the default snippet
    if "</script" in bundle.lower():  # would end the inline script element early
        raise RuntimeError("the Vega bundle contains '</script': it cannot be inlined")
    return bundle


def _when(value: str | None) -> str:
    """ISO 8601 time as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("swell", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt field is an error, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, num=_num, pct=_pct, hashtag=lambda tag: f"#{tag}")
    return env


def render(template: str, **context) -> str:
    """The page: `context` must hold the report (`r`) and the chart specs (`charts`, name -> spec)."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        _environment()
        .get_template(template)
        .render(version=__version__, generated=generated, vega_bundle=vega_bundle(), **context)
    )


def fragment(template: str, **context) -> str:
    """A part of a page on its own (a notebook's view of a result), escaped as the pages are."""
    return _environment().get_template(template).render(**context)


def _account_bars(accounts: list[dict]) -> dict:
    rows = [{"account": a["handle"] or a["author_id"], "posts": a["posts"]} for a in accounts]
    return charts.bars(rows, "account", "posts", "posts by the busiest accounts")


def _hashtag_bars(hashtags: list[dict], title: str) -> dict:
    return charts.bars(
        [{"hashtag": f"#{h['hashtag']}", "posts": h["posts"]} for h in hashtags], "hashtag", "posts", title
    )


def campaign_charts(r: dict) -> dict[str, dict]:
    """The campaign report's charts, by the id of the element they are drawn in."""
    if not r["totals"]["posts"]:
        return {}
    marks = []
    if r["planned"]:
        marks.append({"time": r["planned"], "label": "planned start", "color": "#555555"})
    if r["trend"]["trended"]:
        marks.append({"time": r["trend"]["rise_start"], "label": "rise began", "dash": [1, 3]})
        marks.append({"time": r["trend"]["detected_at"], "label": "trending (detected)", "dash": []})
    start = f"the planned start ({_when(r['planned'])})" if r["planned"] else "the first post"
    specs = {
        "timeline": charts.timeline(r["timeline"]["rows"], r["timeline"]["step_min"], marks),
        "ramp": charts.ramp(r["ramp"], start),
        "accounts": _account_bars(r["top_accounts"]),
        "languages": charts.bars(r["languages"][:10], "lang", "posts", "languages"),
    }
    if r["co_hashtags"]:
        specs["cohashtags"] = _hashtag_bars(r["co_hashtags"], "hashtags used with it")
    if r["coordination"]["graph"]["nodes"]:
        specs["network"] = charts.network(r["coordination"]["graph"])
    return specs


def campaign_page(r: dict) -> str:
    return render("campaign.html.j2", r=r, charts=campaign_charts(r))


def store_charts(r: dict) -> dict[str, dict]:
    if not r["totals"]["posts"]:
        return {}
    specs = {
        "timeline": charts.timeline(r["timeline"]["rows"], r["timeline"]["step_min"], []),
        "hashtags": _hashtag_bars(r["store"]["top_hashtags"], "top hashtags"),
        "accounts": _account_bars(r["top_accounts"]),
    }
    if r["trends"]["episodes"]:
        specs["episodes"] = charts.episodes(r["trends"]["episodes"])
    if r["coordination"]["graph"]["nodes"]:
        specs["network"] = charts.network(r["coordination"]["graph"])
    return specs


def store_page(r: dict) -> str:
    return render("store.html.j2", r=r, charts=store_charts(r))
