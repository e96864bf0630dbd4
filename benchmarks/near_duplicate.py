"""Near-duplicate groups: swell's vectorised MinHash/LSH against datasketch's per-post loop (the way
swell did it before, and the usual way), on the same texts, in the same run.

    python benchmarks/near_duplicate.py [--hours 15] [--posts-per-hour 20000] [--runs 3]

The texts are the original posts of a simulated stream (`swell.simulate`), normalised as co-post
normalises them. Each side runs in a child process pinned to CPU 0 and reports texts/s and its peak
resident memory; the peer uses the same shingles, 128 permutations and datasketch's own LSH at
Jaccard 0.8. Agreement: of the posts either side puts in a group, the share both do. Needs
datasketch (pip install datasketch), which swell itself no longer uses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent


def texts_file(hours: int, posts_per_hour: int) -> Path:
    import polars as pl

    from swell.coordination import normalised_text
    from swell.simulate import Campaign, Simulation, generate

    path = HERE / "data" / f"near-duplicate-{hours}-{posts_per_hour}.parquet"
    if not path.exists():
        push = Campaign("coordinated", "PressLies", datetime(2024, 3, 1, 2, tzinfo=UTC), accounts=40)
        table, _ = generate(Simulation(hours=hours, posts_per_hour=posts_per_hour, seed=3, campaigns=[push]))
        texts = (
            pl.from_arrow(table.select(["post_id", "text", "kind"]))
            .filter(pl.col("kind") != "repost")
            .select("post_id", norm=normalised_text(pl.col("text")))
            .filter(pl.col("norm") != "")
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        texts.write_parquet(path)  # type: ignore[union-attr]
    return path


def peer_groups(texts, threshold: float = 0.8, num_perm: int = 128) -> set[str]:
    """datasketch, post by post: the posts that have a candidate."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    grouped: set[str] = set()
    ids = texts.get_column("post_id").to_list()
    for i, text in enumerate(texts.get_column("norm").to_list()):
        words = text.split()
        signature = MinHash(num_perm=num_perm)
        signature.update_batch([" ".join(words[k : k + 3]).encode() for k in range(max(len(words) - 2, 1))])
        found = lsh.query(signature)
        if found:
            grouped.add(ids[i])
            grouped.update(ids[j] for j in found)
        lsh.insert(i, signature)
    return grouped


def child(path: str, side: str) -> None:
    import polars as pl

    from swell.coordination import near_duplicate_groups

    texts = pl.read_parquet(path)
    started = time.perf_counter()
    if side == "swell":
        grouped = set(near_duplicate_groups(texts).get_column("post_id").to_list())
    else:
        grouped = peer_groups(texts)
    elapsed = time.perf_counter() - started
    peak = next(int(line.split()[1]) / 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))  # fmt: skip
    out = Path(path).with_suffix(f".{side}.json")
    out.write_text(json.dumps(sorted(grouped)))
    print(json.dumps({"texts_s": texts.height / elapsed, "seconds": elapsed, "peak_mib": peak}))


def measure(path: Path, side: str) -> dict:
    cmd = ["taskset", "-c", "0", sys.executable, __file__, "--child", str(path), side]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=15)
    parser.add_argument("--posts-per-hour", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    path = texts_file(args.hours, args.posts_per_hour)
    import polars as pl

    print(f"{pl.read_parquet(path).height:,} texts")
    results = {side: [measure(path, side) for _ in range(args.runs)] for side in ("swell", "datasketch")}
    rate = {side: statistics.median(r["texts_s"] for r in runs) for side, runs in results.items()}
    for side, runs in results.items():
        print(f"{side:<11} {rate[side]:>10,.0f} texts/s  {statistics.median(r['seconds'] for r in runs):6.2f} s  "
              f"peak {max(r['peak_mib'] for r in runs):,.0f} MiB")  # fmt: skip
    ours = set(json.loads(path.with_suffix(".swell.json").read_text()))
    theirs = set(json.loads(path.with_suffix(".datasketch.json").read_text()))
    agreement = len(ours & theirs) / max(len(ours | theirs), 1)
    print(f"swell / datasketch: {rate['swell'] / rate['datasketch']:.1f}x; agreement on grouped posts: "
          f"{agreement:.3f} ({len(ours):,} and {len(theirs):,} grouped)")  # fmt: skip


if __name__ == "__main__":
    main()
