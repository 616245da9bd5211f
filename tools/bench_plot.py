"""Time ``curvelog plot`` on a bundle of 8 charts x 2 series at the default budget.

A baseline, not a gate (target: under 2 s for a cold render, matplotlib
import included). Each cold measurement is a fresh interpreter that imports
curvelog.plot (and so matplotlib), draws the figure and writes the PNG; the
same work done with plain pyplot (a line per series, no best, no events, no
layout engine) is measured the same way as the peer.

    .venv/bin/python tools/bench_plot.py            # report
    .venv/bin/python tools/bench_plot.py --gallery  # also re-render samples/gallery/*.png

The gallery needs curvelog.bundle and curvelog.convert: each real run of
../shared/data/real (else of tests/data/real) is converted to a log in a
temporary folder, compacted in memory and drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHARTS = 8
POINTS = 2000  # curvelog.bundle.DEFAULT_POINTS


def synthetic_bundle(charts: int = CHARTS, points: int = POINTS, seed: int = 0) -> dict[str, Any]:
    """A valid bundle of ``charts`` charts, each a train and a val series of ``points`` points."""
    rng = np.random.default_rng(seed)
    steps = 200_000
    x = np.unique(np.linspace(0, steps, points).astype(np.int64))
    out = []
    for c in range(charts):
        series = []
        for k, split in enumerate(("train", "val")):
            base = (2.0 + c) * np.exp(-x / (steps / 5)) + 0.5 + 0.1 * k
            y = base * np.exp(rng.normal(0, 0.08 / (k + 1), x.size))
            ys: list[float | None] = y.round(6).tolist()
            events = []
            if c == 1 and k == 0:
                for i in (300, 301, 302, 1200):
                    ys[i] = None
                events = [
                    {"step": int(x[300]), "kind": "nan", "last_step": int(x[302]), "count": 3},
                    {"step": int(x[1200]), "kind": "inf"},
                ]
            series.append(
                {
                    "metric": f"{split}/m{c}",
                    "label": split,
                    "x": x.tolist(),
                    "y": ys,
                    "raw_points": steps,
                    "events": events,
                }
            )
        out.append(
            {
                "id": f"m{c}",
                "title": f"m{c}",
                "xlabel": "step",
                "ylabel": f"m{c}",
                "scale": "linear",
                "series": series,
            }
        )
    best_y = out[0]["series"][1]["y"]
    i = int(np.nanargmin(np.array(best_y, dtype=float)))
    bundle = {
        "schema": "curvelog.bundle/1",
        "run": {"name": "bench", "run_id": None, "sessions": 2},
        "charts": out,
        "best": {
            "step": int(x[i]),
            "metric": "val/m0",
            "value": best_y[i],
            "mode": "min",
            "source": "marked",
            "values": {"val/m0": best_y[i]},
        },  # fmt: skip
        "resumes": [{"step": int(x[points // 2]), "session": 1}],
        "summary": {
            "steps": steps,
            "first_step": 0,
            "last_step": steps,
            "wall_time": None,
            "sessions": 2,
            "resumes": 1,
            "damage": [],
            "metrics": {},
            "analysis": {},
        },  # fmt: skip
        "provenance": {
            "source": {"name": "bench.log", "size": 0, "sha256": None},
            "sampling": {"method": "auto", "points": points},
            "curvelog": "bench",
        },  # fmt: skip
    }
    from curvelog.bundle import validate_bundle

    validate_bundle(bundle)
    return bundle


_CURVELOG = """
import time; t0 = time.perf_counter()
import json, sys
from curvelog.plot import plot_bundle, save_figure
t1 = time.perf_counter()
b = json.load(open(sys.argv[1]))
fig = plot_bundle(b)
save_figure(fig, sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "render": t2 - t1, "total": t2 - t0}))
"""

_PYPLOT = """
import time; t0 = time.perf_counter()
import json, sys
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
t1 = time.perf_counter()
b = json.load(open(sys.argv[1]))
fig, axes = plt.subplots(3, 3, figsize=(14, 10))
for ax, c in zip(axes.flat, b["charts"]):
    for s in c["series"]:
        ax.plot(s["x"], [float("nan") if v is None else v for v in s["y"]], label=s["label"])
    ax.set_title(c["title"]); ax.legend()
fig.savefig(sys.argv[2])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "render": t2 - t1, "total": t2 - t0}))
"""


def _cold(script: str, bundle_path: str, out: str, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", script, bundle_path, out],
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        row = json.loads(res.stdout.strip().splitlines()[-1])
        row["process"] = wall
        runs.append(row)
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def report(repeat: int) -> None:
    from curvelog.plot import figure_bytes, plot_bundle

    bundle = synthetic_bundle()
    n_points = sum(len(s["x"]) for c in bundle["charts"] for s in c["series"])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.curves.json")
        with open(path, "w") as f:
            json.dump(bundle, f)
        ours = _cold(_CURVELOG, path, os.path.join(tmp, "a.png"), repeat)
        peer = _cold(_PYPLOT, path, os.path.join(tmp, "b.png"), repeat)
        cli = []
        for _ in range(repeat):
            t = time.perf_counter()
            cmd = [sys.executable, "-m", "curvelog", "plot", path, "-o", os.path.join(tmp, "c.png")]
            subprocess.run(cmd, check=True, capture_output=True)
            cli.append(time.perf_counter() - t)
    warm = {}
    for fmt in ("png", "svg", "pdf"):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            figure_bytes(plot_bundle(bundle), fmt)
            times.append(time.perf_counter() - t)
        warm[fmt] = statistics.median(times)
    print(f"bundle: {CHARTS} charts x 2 series, {n_points:,} points; median of {repeat} runs")
    print("(curvelog.plot imports matplotlib when it first draws: that import is in draw+save;")
    print(" process = the whole interpreter run, start-up included)")
    print(f"{'':32}{'import':>9}{'draw+save':>10}{'total':>9}{'process':>9}")
    for name, r in (("curvelog plot (cold, PNG)", ours), ("plain pyplot (cold, PNG)", peer)):
        print(
            f"{name:32}"
            + f"{r['import']:>8.2f}s{r['render']:>9.2f}s{r['total']:>8.2f}s{r['process']:>8.2f}s"
        )
    print(f"{'curvelog plot CLI (validates)':32}{'':29}{statistics.median(cli):>8.2f}s")
    print(f"ratio curvelog / pyplot (total): {ours['total'] / peer['total']:.2f}x")
    print(
        "warm render + encode in one process: "
        + ", ".join(f"{k.upper()} {v:.2f}s" for k, v in warm.items())
    )
    verdict = "OK" if ours["total"] < 2.0 else "OVER"
    print(f"target: cold total < 2 s -> {ours['total']:.2f}s {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gallery", action="store_true", help="re-render samples/gallery/*.png")
    args = ap.parse_args()
    report(args.repeat)
    if args.gallery:
        render_gallery()


GALLERY = ROOT / "samples" / "gallery"
#: picture -> (runs, plot options); one run is `curvelog plot`, several `curvelog compare`
PICTURES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "llm_gpt2_124m.png": (("llmc_gpt2_124m",), {}),
    "rl_tqc_fetchslide.png": (
        ("rl_tqc_fetchslide",),
        {"charts": "success_rate,mean_reward,episode_reward,is_success", "smooth": 0.9},
    ),
    "gan_restarts.png": (("gan_deblurgan_wgan",), {"charts": "G_L1,G_GAN,D_real+fake"}),
    "digits_mlp_log.png": (("gen_digits_mlp",), {"charts": "loss,acc,grad_norm"}),
    "compare_llm.png": (
        ("llmc_gpt2_124m", "buildnanogpt_fineweb_2p5ep", "modded_nanogpt_medium_archopt"),
        {"charts": "loss,hellaswag_acc"},
    ),
}


def render_gallery() -> None:
    """Convert the real runs, compact them in memory and draw samples/gallery/*.png."""
    import curvelog
    from curvelog.bundle import build_bundle
    from curvelog.convert import csv_to_log
    from curvelog.plot import compare_bundles, plot_bundle, save_figure

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from csv_to_log import REAL_OBJECTIVES, REAL_ROOT  # one table: the converter's

    GALLERY.mkdir(parents=True, exist_ok=True)
    bundles: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in sorted({r for runs, _ in PICTURES.values() for r in runs}):
            src = next((REAL_ROOT / run).glob("*.csv*"))
            best, mode = REAL_OBJECTIVES[run]
            log = Path(tmp) / f"{run}.log"
            csv_to_log(src, log, best=best, mode="max" if mode == "max" else "min")
            bundles[run] = build_bundle(curvelog.read(log))
    for name, (runs, opts) in PICTURES.items():
        t = time.perf_counter()
        if len(runs) == 1:
            fig = plot_bundle(bundles[runs[0]], **opts)
        else:
            fig = compare_bundles([bundles[r] for r in runs], **opts)
        out = save_figure(fig, GALLERY / name)
        print(f"{out}: {len(fig.axes)} panels, {time.perf_counter() - t:.2f}s")


if __name__ == "__main__":
    main()
