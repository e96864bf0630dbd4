"""CSV ingest in other encodings: what telling and decoding them costs, against Python's csv module.

    python benchmarks/csv_encodings.py [--runs 3]

The IRA tweets of September 2016 (tests/corpora/ira-2016-09, 85,000 rows of a real CSV export) are
written as they are (UTF-8), in cp1252 (what cp1252 lacks as "?", as Excel's "CSV" save does) and
in UTF-16 with a byte-order mark (Excel's "Unicode text"). In each run, on one core (every process
pinned to CPU 0), for each file:
- `csv.reader` over the file decoded in its encoding, every row built as a dict of the header: the
  limit for any CSV reader in Python (nothing converted, nothing stored);
- `swell ingest` end to end (process start to exit, file -> DuckDB store), which tells the encoding
  from the file's first megabyte (charset-normalizer for cp1252) before it reads.
Rows/s, the peak resident memory of each child process (GNU time), swell's ratio to csv.reader and
each encoding's time against UTF-8's. Medians over --runs; the machine is shared and noisy, so read
ratios rather than absolute rates.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).parent
SOURCE = HERE.parent / "tests" / "corpora" / "ira-2016-09" / "ira_tweets_2016-09.csv.gz"
PINNED = ["taskset", "-c", "0", "/usr/bin/time", "-f", "%M"]  # GNU time: the peak RSS (KiB), last
ENCODINGS = ("utf-8", "cp1252", "utf-16")
_CSV_READ = """
import csv, sys
with open(sys.argv[1], encoding=sys.argv[2], newline="") as f:
    rows = csv.reader(f)
    header = next(rows)
    n = sum(1 for row in rows if dict(zip(header, row)))
print(n)
"""


def timed(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of a pinned child process."""
    started = time.perf_counter()
    done = subprocess.run(PINNED + command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    return elapsed, int(done.stderr.strip().splitlines()[-1]) // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    text = gzip.decompress(SOURCE.read_bytes()).decode()
    rows = sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for encoding in ENCODINGS:
            files[encoding] = Path(tmp) / f"ira-{encoding}.csv"
            files[encoding].write_bytes(text.encode(encoding, errors="replace"))
        results: dict[tuple[str, str], list[tuple[float, int]]] = {}
        stored: dict[str, int] = {}
        for run in range(args.runs):
            for encoding, path in files.items():
                results.setdefault(("csv.reader", encoding), []).append(
                    timed([sys.executable, "-c", _CSV_READ, str(path), encoding])
                )
                db = Path(tmp) / f"run{run}-{encoding}.duckdb"
                results.setdefault(("swell ingest", encoding), []).append(
                    timed([sys.executable, "-m", "swell", "ingest", "--quiet", "--db", str(db), str(path)])
                )
                with duckdb.connect(str(db), read_only=True) as con:  # the same posts, whatever the encoding
                    stored[encoding] = con.execute("SELECT count(*) FROM posts").fetchone()[0]
                if stored[encoding] != stored["utf-8"]:
                    raise SystemExit(f"{path.name}: {stored[encoding]:,} posts stored, {stored['utf-8']:,} from UTF-8")
    print(f"{rows:,} rows ({stored['utf-8']:,} posts, the rest repeated), median of {args.runs} runs, one core")
    print(f"{'':14}{'encoding':>10}{'rows/s':>10}{'peak MiB':>10}{'vs csv.reader':>15}{'vs UTF-8':>10}")
    median = {key: statistics.median(t for t, _ in runs) for key, runs in results.items()}
    for tool in ("csv.reader", "swell ingest"):
        for encoding in ENCODINGS:
            seconds, peak = median[(tool, encoding)], max(m for _, m in results[(tool, encoding)])
            to_reader = seconds / median[("csv.reader", encoding)]
            to_utf8 = seconds / median[(tool, "utf-8")]
            print(f"{tool:14}{encoding:>10}{rows / seconds:>10,.0f}{peak:>10}{to_reader:>14.2f}x{to_utf8:>9.2f}x")


if __name__ == "__main__":
    main()
