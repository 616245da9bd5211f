"""Convert long CSVs (step,metric,value) into curvelog logs.

    python tools/csv_to_log.py FILE.csv[.gz] [-o run.log] [--best METRIC [--mode max]] [--force]
    python tools/csv_to_log.py --real OUT_DIR [--force]

The first form is ``curvelog import csv``. The second converts every run of
``../shared/data/real`` (or, on a clone without it, the copies bundled in
``tests/data/real``) into ``OUT_DIR/<run>.log`` with the objective each run
is usually judged by (listed in ``REAL_OBJECTIVES``), so that the logs carry a
best record as if curvelog had recorded them. Both call
`curvelog.convert.csv_to_log`: a metric going back below its own previous step
is a resume, rows between resumes become appends in step order, ``nan``/``inf``
are values.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from curvelog.convert import csv_to_log, default_log_path
from curvelog.errors import CurvelogError

#: the workspace's full set of real runs, beside the clone; CURVELOG_REAL_DATA points
#: elsewhere (a git worktree one folder deeper than the main checkout)
SHARED_ROOT = Path(
    os.environ.get("CURVELOG_REAL_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
)
#: the copies in the repository (tools/bundle_real_data.py), for a clone without ../shared
BUNDLED_ROOT = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"
#: where the tools read real runs by default: the full set when it is there
REAL_ROOT = SHARED_ROOT if SHARED_ROOT.is_dir() else BUNDLED_ROOT

#: run -> (objective metric, mode): the validation figure each run is judged by
REAL_OBJECTIVES: dict[str, tuple[str, str]] = {
    "buildnanogpt_fineweb_2p5ep": ("val_loss", "min"),
    "detectron2_balloon_metrics": ("total_loss", "min"),
    "gan_deblurgan_wgan": ("G_L1", "min"),
    "gen_digits_mlp": ("val_acc", "max"),
    "llmc_gpt2_124m": ("val_loss", "min"),
    "modded_nanogpt_medium_archopt": ("val_loss", "min"),
    "rl_tqc_fetchslide": ("eval_success_rate", "max"),
}


def real_csvs(root: Path = REAL_ROOT) -> dict[str, Path]:
    """Run name -> its CSV, for every run under ``root``."""
    return {p.parent.name: p for p in sorted(root.glob("*/*.csv*"))}


def convert_real(out_dir: Path, *, force: bool = False, root: Path = REAL_ROOT) -> dict[str, Path]:
    """Convert every real run into ``out_dir/<run>.log``; returns run -> log path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    logs = {}
    for name, src in real_csvs(root).items():
        best, mode = REAL_OBJECTIVES.get(name, (None, "min"))
        dst = out_dir / f"{name}.log"
        if force or not dst.exists():
            csv_to_log(src, dst, overwrite=force, best=best, mode="max" if mode == "max" else "min")
        logs[name] = dst
    return logs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("csv", nargs="?", help="a long CSV (step,metric,value), maybe gzipped")
    ap.add_argument("-o", "--output", help="the log to write (default: <csv stem>.log beside it)")
    ap.add_argument("--best", help="objective metric")
    ap.add_argument("--mode", choices=("min", "max"), default="min")
    ap.add_argument("--real", metavar="OUT_DIR", help="convert every real run")
    ap.add_argument("--force", action="store_true", help="replace existing logs")
    args = ap.parse_args(argv)
    try:
        if args.real:
            print(f"real runs from {REAL_ROOT}", file=sys.stderr)
            for name, src in real_csvs().items():
                t0 = time.perf_counter()
                best, mode = REAL_OBJECTIVES.get(name, (None, "min"))
                dst = Path(args.real) / f"{name}.log"
                Path(args.real).mkdir(parents=True, exist_ok=True)
                r = csv_to_log(
                    src,
                    dst,
                    overwrite=args.force,
                    best=best,
                    mode="max" if mode == "max" else "min",
                )
                print(f"{dst}: {r.rows:,} rows, {len(r.metrics)} metrics, {r.restarts} resumes, "
                      f"best={best} ({time.perf_counter() - t0:.2f} s)")  # fmt: skip
            return 0
        if not args.csv:
            ap.error("give a CSV file or --real OUT_DIR")
        out = args.output or default_log_path(args.csv)
        r = csv_to_log(args.csv, out, overwrite=args.force, best=args.best,
                       mode="max" if args.mode == "max" else "min")  # fmt: skip
        print(f"{out}: {r.rows:,} rows, {len(r.metrics)} metrics, {r.restarts} resumes")
        return 0
    except CurvelogError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
