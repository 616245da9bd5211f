"""Export cost against the number of metrics: long and wide tables must scale linearly.

Each metric has 5 points; the time per metric at 2,000 and at 20,000 metrics
is printed with their ratio (1.0 is linear; the nested joins this replaced
gave 10x and more per metric at 20,000).

    python tools/bench_export.py [--metrics 2000 20000]

Not a test: it prints figures, it gates nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import curvelog
from curvelog import EventLog


def measure(k: int, folder: str) -> tuple[float, float]:
    path = os.path.join(folder, f"{k}.log")
    with EventLog(path, flush_every=0) as log:
        for step in range(5):
            log.append(step, {f"m{i}": float(i + step) for i in range(k) if (i + step) % 3})
    run = curvelog.read(path)
    t0 = time.perf_counter()
    run.export(os.path.join(folder, f"{k}.csv"))
    t1 = time.perf_counter()
    run.export(os.path.join(folder, f"{k}-wide.csv"), wide=True)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--metrics", type=int, nargs=2, default=[2_000, 20_000])
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        rows = {k: measure(k, folder) for k in args.metrics}
    small, big = args.metrics
    print("| metrics | long export s | wide export s | long us/metric | wide us/metric |")
    print("|---:|---:|---:|---:|---:|")
    for k, (lo, wi) in rows.items():
        print(f"| {k:,} | {lo:.2f} | {wi:.2f} | {lo / k * 1e6:.0f} | {wi / k * 1e6:.0f} |")
    lo_r = (rows[big][0] / big) / (rows[small][0] / small)
    wi_r = (rows[big][1] / big) / (rows[small][1] / small)
    print(f"\nper-metric cost at {big:,} vs {small:,}: long x{lo_r:.2f}, wide x{wi_r:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
