"""Reading a 10,000,000-step, 4-metric log into polars, next to merely reading its bytes.

    python tools/bench_read.py [--steps 10000000]

The log is written once into `.bench/` (see tools/_biglog.py). Reported:
the time to read the file's bytes (the floor), `curvelog.read` (scan,
checksums, columnar decode), and `Run.data` (the long polars DataFrame).
Best of --repeats runs; a baseline, not a gate.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import curvelog  # noqa: E402
from _biglog import big_log  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    path = big_log(args.steps)
    size = os.path.getsize(path)
    t_bytes = t_read = t_polars = t_wide = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            f.read()
        t1 = time.perf_counter()
        run = curvelog.read(path)
        t2 = time.perf_counter()
        df = run.data
        t3 = time.perf_counter()
        wide = run.wide()
        t4 = time.perf_counter()
        t_bytes, t_read = min(t_bytes, t1 - t0), min(t_read, t2 - t1)
        t_polars, t_wide = min(t_polars, t3 - t2), min(t_wide, t4 - t3)
        del run, df, wide
    print(
        f"{args.steps:,} steps x 4 metrics, {size / 1e6:,.1f} MB "
        f"({size / args.steps:.1f} bytes/step)"
    )
    print()
    print("| stage | seconds | x read bytes |")
    print("|---|---:|---:|")
    rows = [
        ("read the file's bytes (floor)", t_bytes),
        ("curvelog.read: scan, CRC, decode", t_read),
        ("+ Run.data: long polars DataFrame", t_polars),
        ("read into polars (total)", t_read + t_polars),
        ("Run.wide(): one column per metric", t_wide),
    ]
    for label, t in rows:
        print(f"| {label} | {t:.3f} | {t / t_bytes:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
