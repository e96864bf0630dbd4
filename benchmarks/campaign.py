"""The campaign report of a 1,000,000-post campaign: time and peak memory of `swell campaign`.

    python benchmarks/campaign.py [--posts 1000000] [--runs 3] [--screenshot benchmarks/campaign-1M.png]

Simulates (once) a day of posts with coordinated groups and grassroots campaigns planted, and tags
every post with #BigBlast, so the campaign is the whole day: 1,000,000 posts by some 60,000
accounts, with reposts, co-hashtags and coordinated clusters. Each run is `swell campaign '#BigBlast'
--planned ... --report FILE.html` in a process of its own (both cores, as a user would run it),
timed from start to exit, with its peak resident memory (GNU time). The issue's target: under 30 s.
With --screenshot, the report is opened in Debian's Chromium (Playwright) and photographed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

HERE = Path(__file__).parent
START = datetime(2024, 3, 1, tzinfo=UTC)
PLANNED = START + timedelta(hours=17)


def prepare(posts: int) -> Path:
    db = HERE / "data" / f"campaign-{posts}.duckdb"
    if db.exists():
        return db
    import polars as pl

    from swell.simulate import Campaign, Simulation, generate
    from swell.store import Store

    campaigns = [
        Campaign("coordinated", f"Push{i}", START + timedelta(hours=2 + 2 * i), accounts=30 + 5 * i) for i in range(8)
    ] + [Campaign("grassroots", f"Wave{i}", START + timedelta(hours=3 + 3 * i), accounts=400) for i in range(6)]
    print(f"simulating {posts:,} posts to {db} ...", flush=True)
    table, _ = generate(Simulation(start=START, hours=24, posts_per_hour=posts / 24, seed=4, campaigns=campaigns))
    # every post joins the campaign
    table = (
        pl.from_arrow(table)
        .with_columns(pl.col("hashtags").list.concat(pl.lit(["bigblast"])))
        .to_arrow()
        .cast(table.schema)
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    with Store(db) as store:
        for batch in table.to_batches(100_000):
            store.append(batch)
    return db


def timed(cmd: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, int(done.stderr.strip().splitlines()[-1]) / 1024


def screenshot(report: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(report.resolve().as_uri())
        charts = page.locator("script[data-chart]").count()
        page.wait_for_function(f"document.querySelectorAll('.chart svg.marks').length >= {charts}", timeout=60_000)
        page.screenshot(path=out, full_page=True)
        browser.close()
    print(f"screenshot of the report: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    db = prepare(args.posts)
    report = HERE / "data" / f"campaign-{args.posts}.html"
    cmd = [sys.executable, "-m", "swell", "campaign", "#BigBlast", "--db", str(db)]
    cmd += ["--planned", PLANNED.isoformat(), "--report", str(report)]
    results = []
    for run in range(1, args.runs + 1):
        seconds, peak = timed(cmd)
        results.append((seconds, peak))
        print(f"run {run}: {seconds:.1f} s, peak {peak:,.0f} MiB", flush=True)
    r = orjson.loads(subprocess.run([*cmd, "--json", "-"], capture_output=True, check=True).stdout)
    print(
        f"the campaign: {r['totals']['posts']:,} posts by {r['totals']['accounts']:,} accounts, "
        f"{r['coordination']['edges']:,} co-action edges, {len(r['coordination']['clusters'])} clusters shown, "
        f"{r['coordination']['signals']['coordinated_accounts']:,} accounts in coordinated clusters"
    )
    median = statistics.median(s for s, _ in results)
    print(
        f"median: {median:.1f} s for a {args.posts:,}-post campaign ({args.posts / median:,.0f} posts/s), "
        f"peak {max(p for _, p in results):,.0f} MiB; report {report.stat().st_size / 1e6:.1f} MB"
    )
    if args.screenshot:
        screenshot(report, args.screenshot)


if __name__ == "__main__":
    main()
