"""The HTML reports in a real browser (Debian's Chromium driven by Playwright): the charts render
without errors, offline, and hostile post text stays text."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright

from conftest import ingest, swell
from swell.coordination import coordination_report
from swell.live.replay import Replay, serving
from swell.simulate import Campaign, Simulation, generate, write_jetstream
from swell.store import Store

CHROMIUM = "/usr/bin/chromium"
# Every wait in the browser is for something to appear; this only turns a hang into a failure.
HANG_GUARD_MS = 600_000
# As root in a container Chromium needs --no-sandbox; the rest stops it calling Google's servers.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("SWELL_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = launched.new_context()
        context.set_default_timeout(HANG_GUARD_MS)
        yield context
        context.close()
        launched.close()


def open_report(browser: BrowserContext, path: Path) -> tuple[Page, list[str]]:
    """The report opened from disk, with every console error, page error and dialog recorded; waits
    until every chart the page embeds has drawn its SVG."""
    page = browser.new_page()
    page.set_viewport_size({"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else problems.append(r.url))
    page.goto(path.as_uri())
    charts = page.locator("script[data-chart]").count()
    assert charts > 0
    page.wait_for_function(f"document.querySelectorAll('.chart svg.marks').length >= {charts}")
    return page, problems


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """The README's main job: a simulated day with a blast planned for 17:00 UTC, ingested; its
    campaign report (c.html) and the store's (s.html)."""
    tmp = tmp_path_factory.mktemp("reports")
    stream = tmp / "blast.jsonl"
    swell("simulate", stream, "--hours", "24", "--posts-per-hour", "2000")
    db = tmp / "blast.duckdb"
    ingest(db, stream)
    swell("campaign", "#FreeThePress", "--db", db, "--planned", "2024-03-01T17:00", "--report", tmp / "c.html")
    swell("report", "--db", db, "--report", tmp / "s.html")
    return tmp


MARK_LABELS = ("planned start", "rise began", "trending (detected)")


def test_campaign_and_store_reports_render(browser, reports, tmp_path):
    page, problems = open_report(browser, reports / "c.html")
    assert problems == []
    for chart in ("timeline", "ramp", "accounts", "languages"):
        assert page.locator(f"#chart-{chart} svg.marks").count() == 1, chart
    # the timeline marks the planned start, the start of the rise and the moment it was detected trending
    labels = page.locator("#chart-timeline svg text").all_text_contents()
    assert set(MARK_LABELS) <= set(labels)
    assert page.locator("#top-posts tr").count() == 11  # header and ten posts
    assert "#freethepress" in page.locator("h1").inner_text()
    page.screenshot(path=tmp_path / "campaign.png", full_page=True)
    print(f"screenshot: {tmp_path / 'campaign.png'}")

    page, problems = open_report(browser, reports / "s.html")
    assert problems == []
    assert page.locator("#chart-network svg.marks circle, #chart-network svg.marks path").count() > 0
    assert page.locator("#episodes tr").count() >= 3  # both planted campaigns trended
    page.screenshot(path=tmp_path / "store.png", full_page=True)


def x_axis_labels(page: Page, chart: str) -> list[str]:
    axis = page.locator(f'#chart-{chart} g.role-axis[aria-label^="X-axis"]')
    assert axis.count() == 1, chart
    return axis.locator("g.role-axis-label text").all_text_contents()


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and (a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])
    )


def test_report_times_are_utc_on_a_24_hour_clock_and_the_marks_labels_apart(browser, reports, tmp_path):
    """Opened in New York, the charts still say what their titles say: UTC, "17:00" for the 17:00 UTC
    blast, not "12 PM"; and the labels of the timeline's marks, minutes apart, do not overlap."""
    context = browser.browser.new_context(timezone_id="America/New_York")  # type: ignore[union-attr]
    context.set_default_timeout(HANG_GUARD_MS)
    try:
        page, problems = open_report(context, reports / "c.html")
        assert problems == []
        assert page.evaluate("new Date(Date.UTC(2024, 2, 1, 17)).getHours()") == 12  # the browser is in New York
        labels = x_axis_labels(page, "timeline")
        assert {"17:00", "18:00"} <= set(labels), labels
        assert all(re.fullmatch(r"\d\d:\d\d", label) for label in labels), labels  # no AM, no PM, no "12"
        texts = page.locator("#chart-timeline svg text")
        boxes = {}
        for label in MARK_LABELS:
            found = texts.filter(has_text=re.compile(f"^{re.escape(label)}$"))
            assert found.count() == 1, label
            boxes[label] = found.bounding_box()
        for a, b in itertools.combinations(MARK_LABELS, 2):
            assert not overlap(boxes[a], boxes[b]), (a, boxes[a], b, boxes[b])
        page.locator("#chart-timeline").screenshot(path=tmp_path / "timeline-new-york.png")

        page, problems = open_report(context, reports / "s.html")
        assert problems == []
        for chart in ("timeline", "episodes"):
            labels = x_axis_labels(page, chart)
            assert labels and all(re.fullmatch(r"\d\d:\d\d", label) for label in labels), (chart, labels)
        assert "17:00" in x_axis_labels(page, "timeline")
    finally:
        context.close()


HOSTILE = [
    "<script>window.__pwned = 1</script> #Blast",
    '"><img src=x onerror="window.__pwned = 2"> #Blast',
    "\u202eevil right-to-left override txet #Blast",
    "</script><script>window.__pwned = 3</script> #Blast",
    "{{ 7*7 }} ${7*7} <!-- #Blast",
    "long " + "x" * 10_000 + " #Blast",
]
HANDLES = ['"><img src=x onerror=alert(1)>', "<b>bold</b>", "\u202eadmin", "plain"]
TAGS = ["blast", "🔥🔥", "</script><script>window.__pwned=4</script>", "<img src=x onerror=alert(2)>"]


def status(n: int, when: datetime, text: str, handle: str, retweet_of: dict | None = None) -> dict:
    return {
        "created_at": when.strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "id_str": str(1000 + n),
        "text": text,
        "user": {"id_str": f"u{handle.encode().hex()[:12]}{n % 4}", "screen_name": handle},
        "entities": {"hashtags": [{"text": t, "indices": [0, 1]} for t in TAGS], "urls": [], "user_mentions": []},
        "lang": "en",
        **({"retweeted_status": retweet_of} if retweet_of else {}),
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """A store of posts whose text, handles and hashtags try to run script, break out of attributes or
    of the page's JSON, flip the text direction, or run to 10,000 characters; the same texts by
    several accounts within seconds (a co-post cluster), and reposts of each."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    start = datetime(2024, 5, 1, 12, tzinfo=UTC)
    statuses = []
    for burst in range(3):  # the same texts by several accounts within seconds: a co-post cluster
        for i, text in enumerate(HOSTILE):
            for j, handle in enumerate(HANDLES):
                n = len(statuses)
                statuses.append(status(n, start + timedelta(minutes=10 * burst, seconds=i + j), text, handle))
    for i in range(len(HOSTILE)):  # reposts, so that every hostile text is among the top posts
        for k in range(2 + i):
            when = start + timedelta(minutes=1, seconds=k)
            statuses.append(status(len(statuses), when, "RT", HANDLES[k % 4], statuses[4 * i]))
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(s) for s in statuses))
    db = tmp_path / "hostile.duckdb"
    ingest(db, path)
    return db


def test_hostile_text_renders_as_text(browser, hostile, tmp_path):
    """Every hostile value in the campaign report shown as text."""
    swell("campaign", "#Blast", "--db", hostile, "--report", tmp_path / "h.html", "--min-weight", "2")

    page, problems = open_report(browser, tmp_path / "h.html")
    assert problems == []
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0 and page.locator("b", has_text="bold").count() == 0
    shown = page.locator("body").inner_text()
    for text in [*(t.removesuffix(" #Blast") for t in HOSTILE[:5]), HANDLES[0], HANDLES[1]]:
        assert text in shown, text
    assert "x" * 10_000 in shown
    assert "#🔥🔥" in page.locator("#chart-cohashtags").inner_text()
    assert page.locator(".cluster").count() >= 1  # the evidence, hostile text included, is shown
    page.screenshot(path=tmp_path / "hostile.png", full_page=True)


def test_a_notebook_shows_a_coordination_report_and_its_assessment_as_text(browser, hostile):
    """What a notebook shows for a report (`_repr_html_`): its assessment and clusters, hostile handles
    as text, nothing run."""
    with Store(hostile, read_only=True) as store:
        report = coordination_report(store.engine, min_weight=2)
    page = browser.new_page()
    try:
        page.set_content(report._repr_html_())
        assert page.locator("img").count() == 0 and page.locator("b", has_text="bold").count() == 0
        rows = page.locator("#clusters tr").all_inner_texts()[1:]  # the header apart
        assert len(rows) == min(10, len(report.clusters)) >= 1  # the ten strongest
        assert any(HANDLES[0] in row and HANDLES[1] in row for row in rows)
        level = report.assessment().level
        assert page.locator("#assessment h3").inner_text().startswith(f"Assessment: {level}")
        assert page.locator("#evidence tr").count() == 1 + len(report.assessment().evidence)
        page.set_content(report.assessment()._repr_html_())  # the assessment alone
        assert page.locator("#evidence tr").count() == 1 + len(report.assessment().evidence)
    finally:
        page.close()


def test_serve_shows_the_trends_as_a_replayed_campaign_arrives(browser, tmp_path):
    """The replay server plays a planted campaign, `swell watch` stores it, `swell serve` shows it:
    the page's trends list fills in as posts arrive, without reloading."""
    blast = Campaign("grassroots", "Blast", datetime(2024, 3, 1, 2, tzinfo=UTC), accounts=300)
    table, _ = generate(Simulation(hours=3, posts_per_hour=2_000, seed=9, campaigns=[blast]))
    write_jetstream(table, tmp_path / "stream.jsonl")
    db = tmp_path / "live.duckdb"
    swell_cmd = [sys.executable, "-m", "swell"]
    # The page is open before the first post is stored, so what it shows later came in place.
    server = subprocess.Popen([*swell_cmd, "serve", "--db", db, "--port", "0", "--interval", "0.5"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    page = browser.new_page()
    page.set_viewport_size({"width": 1200, "height": 800})
    watcher = None
    try:
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        url = server.stderr.readline().split(" on ")[-1].strip()  # printed once it accepts connections
        page.goto(url)
        page.wait_for_function("document.getElementById('status').textContent.startsWith('The store holds no')")
        followed = r"/^[1-9][\d,]* posts followed/.test(document.getElementById('status').textContent)"
        assert not page.evaluate(followed)  # "Waiting for the store..." or "0 posts followed"
        with serving(Replay.from_file(tmp_path / "stream.jsonl", rate=600)) as url:
            watcher = subprocess.Popen([*swell_cmd, "watch", "jetstream", url, "--db", db, "--flush", "0.3"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            page.wait_for_function(followed)  # updated in place as posts arrive: the page is never reloaded
            page.wait_for_function(
                "[...document.querySelectorAll('#trends td.hashtag')].some((td) => td.textContent === '#blast')"
            )
            page.wait_for_selector("#timeline svg.marks")
            assert problems == []
            page.screenshot(path=tmp_path / "serve.png", full_page=True)
            page.locator("#trends a", has_text="report").first.click()  # the campaign report, served
            page.wait_for_selector("#chart-timeline svg.marks")
            assert "#blast" in page.locator("h1").inner_text()
    finally:
        page.close()  # its event stream open would hold the server's graceful shutdown
        for process in (p for p in (watcher, server) if p is not None):
            process.terminate()
            process.wait()
