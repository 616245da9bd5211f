"""Reading a 10,000,000-step, 4-metric log into polars, next to the same data as Parquet.

    python tools/bench_read.py [--steps 10000000] [--repeats 3]

The log is written once into `.bench/` (see tools/_biglog.py), and the same
curves as one wide Parquet file (``step`` + 4 float64 columns, polars'
defaults). Each contender runs in a fresh process, --repeats times, best
taken; times are measured inside the process (imports, polars' included,
excluded), peak
memory is the process's peak RSS (``os.wait4``), mapped file pages included:

- ``cat`` of the log (the floor: bytes from the page cache);
- ``curvelog.read(log).wide()``: one column per metric, as the Parquet file;
- ``curvelog.read(log)`` alone (scan, checksums, columns);
- ``pl.read_parquet(parquet)``.

The data's size is steps + values in float64 (8 bytes x 5 columns x steps).
The machine is shared: compare the ratios, which come from the same run.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _biglog import big_log, big_parquet, write_in_child  # noqa: E402
from _child import best, python  # noqa: E402

_TIMED = "import time, {imp}\nt = time.perf_counter()\n{body}\nprint(time.perf_counter() - t)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--steps", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    write_in_child(f"big_log({args.steps}); big_parquet({args.steps})")  # peak RSS: see there
    log, pq = big_log(args.steps), big_parquet(args.steps)
    size = os.path.getsize(log)
    data_mb = args.steps * 5 * 8 / 1e6
    cat = best(["cat", log], args.repeats)  # also warms the page cache
    wide = best(
        python(_TIMED.format(imp="curvelog, polars", body=f"df = curvelog.read({log!r}).wide()")),
        args.repeats,
    )
    read = best(
        python(_TIMED.format(imp="curvelog", body=f"run = curvelog.read({log!r})")), args.repeats
    )
    parquet = best(
        python(_TIMED.format(imp="polars as pl", body=f"df = pl.read_parquet({pq!r})")),
        args.repeats,
    )
    load = os.getloadavg()
    print(
        f"{args.steps:,} steps x 4 metrics: log {size / 1e6:,.1f} MB, Parquet "
        f"{os.path.getsize(pq) / 1e6:,.1f} MB, data {data_mb:,.0f} MB in float64; "
        f"{os.cpu_count()} cores, load average {load[0]:.2f}; best of {args.repeats}"
    )
    print()
    print("| contender | seconds | x Parquet | peak MB | x data |")
    print("|---|---:|---:|---:|---:|")
    t_pq = parquet.inner or parquet.wall
    rows = [
        ("`cat` the log (process)", cat.wall, cat.peak_mb),
        ("**curvelog.read(log).wide()**", wide.inner, wide.peak_mb),
        ("curvelog.read(log)", read.inner, read.peak_mb),
        ("pl.read_parquet(wide Parquet)", parquet.inner, parquet.peak_mb),
    ]
    for label, t, peak in rows:
        t = t or 0.0
        print(f"| {label} | {t:.3f} | {t / t_pq:.2f} | {peak:,.0f} | {peak / data_mb:.2f} |")
    print()
    print(
        f"target: read into polars <= Parquet ({(wide.inner or 0) / t_pq:.2f}x), "
        f"peak <= 1.5x the data ({wide.peak_mb / data_mb:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
