#!/usr/bin/env python3
"""Fidelity and speed of curvelog's downsampling against the classic methods.

Runs the project's judge (``../shared/bench/fidelity.py``: its rasteriser,
metrics, checks and baselines, imported, not copied) over every series of
``../shared/data/real`` and the judge's synthetic curves, at budgets
1,000 / 2,000 / 4,000 points, in the linear and the log-x view, for
curvelog's ``auto``, ``volatility`` and ``piecewise`` and the baselines LTTB,
MinMaxLTTB, M4, MinMax (tsdownsample), uniform stride and TensorBoard-style
reservoir sampling. Then it times a 10,000,000-point series next to
tsdownsample's MinMaxLTTB in the same run.

The numbers establish where ``auto`` stands; nothing here gates a build.
Each curvelog method gets the series' resume boundaries and its best step in
``keep``, as ``curvelog compact`` passes them; the baselines get nothing.
Markdown goes to stdout; ``--json`` writes every row.

    .venv/bin/python tools/bench_fidelity.py              # everything (a few minutes)
    .venv/bin/python tools/bench_fidelity.py --quick      # long real series, no synthetic, no 10M
    .venv/bin/python tools/bench_fidelity.py --study      # volatility measures compared
    .venv/bin/python tools/bench_fidelity.py --views      # auto vs the best classic in the
                                                          # judge's 4 views (linear, logx,
                                                          # logy, plotted), ~3 min
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _realdata import DEFAULT_ROOT, Series, load_real_series  # noqa: E402
from curvelog import sampling  # noqa: E402
from curvelog.sampling import _classic  # noqa: E402

BUDGETS = (1000, 2000, 4000)
SIZES = ((800, 400), (1600, 400))
CLASSIC = ("lttb", "minmaxlttb", "m4", "minmax")  # the target: auto <= the best of these
OURS = ("auto", "volatility", "piecewise")
OTHERS = ("uniform", "reservoir_tb")
MAX_WORDS = ("acc", "reward", "success", "hellaswag")  # metrics where higher is better


def load_judge(path: Path) -> Any:
    sys.path.insert(0, str(path))
    import fidelity  # the judge

    return fidelity


def best_index(s: Series) -> int | None:
    """Index of the best step: first finite max for accuracy-like metrics, else min."""
    fin = np.isfinite(s.y)
    if not fin.any():
        return None
    if any(w in s.metric.lower() for w in MAX_WORDS):
        return int(np.argmax(np.where(fin, s.y, -np.inf)))
    return int(np.argmin(np.where(fin, s.y, np.inf)))


def synthetic(judge: Any, specs: Iterable[str]) -> list[Series]:
    out = []
    for spec in specs:
        kind, n = spec.split(":")
        x, y = judge.make_curve(kind, int(float(n)), 0)
        out.append(Series("synthetic", f"{kind}_{int(float(n)):,}", x, y, np.zeros(0, np.int64)))
    return out


def curvelog_method(name: str) -> Callable[[Series, int, np.ndarray], np.ndarray]:
    def run(s: Series, n: int, keep: np.ndarray) -> np.ndarray:
        return sampling.downsample(s.x, s.y, method=name, n_out=n, keep=keep)

    return run


def timed(fn: Callable[[], np.ndarray], repeats: int = 1) -> tuple[np.ndarray, float]:
    best = math.inf
    out = fn()
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best * 1e3


def evaluate_series(judge: Any, s: Series, methods: list[str]) -> list[dict[str, Any]]:
    rows = []
    bi = best_index(s)
    best_step = None if bi is None else int(s.x[bi])
    keep = np.unique(np.r_[s.restarts, [] if bi is None else [bi]]).astype(np.int64)
    caches: dict[bool, dict[Any, Any]] = {False: {}, True: {}}
    for n in BUDGETS:
        for m in methods:
            if m in OURS:
                fn = curvelog_method(m)
                idx, ms = timed(lambda fn=fn, n=n: fn(s, n, keep))
            else:
                base = judge.BASELINES[m]
                idx, ms = timed(lambda base=base, n=n: base(s.x, s.y, n))
            idx = np.asarray(idx, dtype=np.int64)
            resumes_kept = bool(np.isin(s.restarts, idx).all()) if s.restarts.size else True
            for logx in (False, True):
                r = judge.evaluate(
                    s.x,
                    s.y,
                    s.x[idx],
                    s.y[idx],
                    best_step=best_step,
                    sizes=SIZES,
                    logx=logx,
                    raw_cache=caches[logx],
                )
                checks = [
                    r["min_kept"],
                    r["max_kept"],
                    r["first_kept"],
                    r["last_kept"],
                    r["nonfinite_kept"],
                    r["in_order"],
                    r.get("best_kept_once", True),
                    resumes_kept,
                ]
                rows.append(
                    {
                        "series": s.name,
                        "raw_points": len(s),
                        "n": n,
                        "view": "log-x" if logx else "linear",
                        "method": m,
                        "points": int(idx.size),
                        "pix800": r["800x400"]["pixel_err"],
                        "pix1600": r["1600x400"]["pixel_err"],
                        "p99": r["p99_err"],
                        "mean_err": r["mean_err"],
                        "retention_ok": all(bool(c) for c in checks),
                        "ms": ms,
                    }
                )
    return rows


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def summary(rows: list[dict[str, Any]], methods: list[str]) -> str:
    by: dict[tuple[int, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["raw_points"] > r["n"]:  # series the budget actually shrinks
            by[(r["n"], r["view"], r["method"])].append(r)
    out = []
    for n in BUDGETS:
        for view in ("linear", "log-x"):
            table = []
            for m in methods:
                rs = by.get((n, view, m), [])
                if not rs:
                    continue
                table.append(
                    [
                        m,
                        f"{np.mean([r['points'] for r in rs]):.0f}",
                        f"{np.mean([r['pix800'] for r in rs]):.4f}",
                        f"{np.mean([r['pix1600'] for r in rs]):.4f}",
                        f"{np.mean([r['p99'] for r in rs]):.4f}",
                        f"{np.mean([r['mean_err'] for r in rs]):.5f}",
                        f"{sum(r['retention_ok'] for r in rs)}/{len(rs)}",
                        f"{np.mean([r['ms'] for r in rs]):.1f}",
                    ]
                )
            count = len(by.get((n, view, methods[0]), []))
            out.append(
                f"\n**n = {n:,}, {view} view** (means over the {count} series longer than n)\n"
            )
            hdr = [
                "method",
                "points",
                "pix800",
                "pix1600",
                "p99_err",
                "mean_err",
                "retention",
                "ms",
            ]
            out.append(md_table(hdr, table))
    return "\n".join(out)


def target(rows: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """auto vs the best of LTTB/MinMaxLTTB/M4/MinMax, per series, view and budget."""
    cell: dict[tuple[str, int, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        cell[(r["series"], r["n"], r["view"])][r["method"]] = r
    stats: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    short: list[dict[str, Any]] = []
    detail: list[dict[str, Any]] = []
    for (series, n, view), ms in sorted(cell.items()):
        if "auto" not in ms or not all(c in ms for c in CLASSIC):
            continue
        a = ms["auto"]
        best = {w: min(CLASSIC, key=lambda c, w=w: ms[c][w]) for w in ("pix800", "pix1600")}
        win = {w: a[w] <= ms[best[w]][w] + 1e-12 for w in best}
        st = stats[(n, view)]
        long_series = a["raw_points"] > n
        st[0] += 1
        st[1] += win["pix800"] and win["pix1600"]
        st[2] += long_series
        st[3] += long_series and win["pix800"]
        st[4] += long_series and win["pix1600"]
        st[5] += long_series and win["pix800"] and win["pix1600"]
        info = {
            "series": series,
            "n": n,
            "view": view,
            "auto_points": a["points"],
            "auto": (a["pix800"], a["pix1600"]),
            "best": (ms[best["pix800"]]["pix800"], ms[best["pix1600"]]["pix1600"]),
            "best_method": (best["pix800"], best["pix1600"]),
            "win": (win["pix800"], win["pix1600"]),
        }
        if long_series:
            detail.append(info)
        if not (win["pix800"] and win["pix1600"]):
            short.append(info)
    table = []
    for (n, view), st in sorted(stats.items()):
        table.append(
            [
                f"{n:,}",
                view,
                f"{st[1]}/{st[0]}",
                f"{st[3]}/{st[2]}",
                f"{st[4]}/{st[2]}",
                f"{st[5]}/{st[2]}",
            ]
        )
    tot = [sum(st[i] for st in stats.values()) for i in range(6)]
    table.append(
        [
            "all",
            "both",
            f"{tot[1]}/{tot[0]}",
            f"{tot[3]}/{tot[2]}",
            f"{tot[4]}/{tot[2]}",
            f"{tot[5]}/{tot[2]}",
        ]
    )
    hdr = [
        "n",
        "view",
        "all series: auto <= best at 800 and 1600",
        "series longer than n: at 800",
        "at 1600",
        "at both",
    ]
    text = md_table(hdr, table)
    rows_d = [
        [
            d["series"],
            d["view"],
            f"{d['n']:,}",
            str(d["auto_points"]),
            f"{d['auto'][0]:.4f} / {d['auto'][1]:.4f}",
            f"{d['best'][0]:.4f} ({d['best_method'][0]}) / "
            f"{d['best'][1]:.4f} ({d['best_method'][1]})",
            "yes" if all(d["win"]) else "**no**",
        ]
        for d in detail
    ]
    text += "\n\nPer series longer than the budget (pixel error at 800 / 1600 px):\n\n"
    text += md_table(
        ["series", "view", "n", "auto points", "auto", "best classic", "auto <= best"], rows_d
    )
    return text, short


VIEWS = ("linear", "logx", "logy", "plotted")
TIE = 0.001  # |auto - best classic| within this is a tie
MAX_LOSS = 0.01  # auto may never be worse than the best classic by more


def view_rows(judge: Any, series: list[Series]) -> list[dict[str, Any]]:
    """auto against the best classic at the same budget, per view and canvas
    (the judge's four views; `plotted` is what ``curvelog plot`` draws)."""
    rows: list[dict[str, Any]] = []
    for s in series:
        bi = best_index(s)
        keep = np.unique(np.r_[s.restarts, [] if bi is None else [bi]]).astype(np.int64)
        cache: dict[Any, Any] = {}
        for n in BUDGETS:
            ours = sampling.downsample(s.x, s.y, n_out=n, keep=keep)
            picks = {m: judge.BASELINES[m](s.x, s.y, n) for m in CLASSIC}
            for view in VIEWS:
                opts = judge.view_options(view, s.y)
                if opts is None:
                    continue
                ev = {
                    m: judge.evaluate(
                        s.x, s.y, s.x[i], s.y[i], sizes=SIZES, raw_cache=cache, **opts
                    )
                    for m, i in [("auto", ours), *picks.items()]
                }
                for w, h in SIZES:
                    key = f"{w}x{h}"
                    best = min(CLASSIC, key=lambda m, key=key: ev[m][key]["pixel_err"])
                    a = float(ev["auto"][key]["pixel_err"])
                    b = float(ev[best][key]["pixel_err"])
                    rows.append(
                        {
                            "series": s.name,
                            "raw_points": len(s),
                            "n": n,
                            "view": view
                            + (" (log y)" if view == "plotted" and opts["logy"] else ""),
                            "view_name": view,
                            "size": key,
                            "auto": a,
                            "auto_points": int(ours.size),
                            "best": best,
                            "best_pix": b,
                            "delta": a - b,
                        }
                    )
    return rows


def view_table(rows: list[dict[str, Any]]) -> str:
    """Per view and canvas: cases where auto wins or ties, worst loss."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[(r["view_name"], r["size"])].append(r)
    table = []
    tot, ok_all, long_tot, long_ok = 0, 0, 0, 0
    worst_all = -math.inf
    for view in VIEWS:
        for w, h in SIZES:
            rs = cells.get((view, f"{w}x{h}"), [])
            if not rs:
                continue
            ok = sum(r["delta"] <= TIE for r in rs)
            longs = [r for r in rs if r["raw_points"] > r["n"]]
            lok = sum(r["delta"] <= TIE for r in longs)
            worst = max(r["delta"] for r in rs)
            wins = sum(r["delta"] < -TIE for r in longs)
            tot, ok_all, long_tot, long_ok = (
                tot + len(rs),
                ok_all + ok,
                long_tot + len(longs),
                long_ok + lok,
            )
            worst_all = max(worst_all, worst)
            mean_a = np.mean([r["auto"] for r in longs]) if longs else 0.0
            mean_b = np.mean([r["best_pix"] for r in longs]) if longs else 0.0
            table.append(
                [
                    view,
                    f"{w}x{h}",
                    f"{ok}/{len(rs)} ({100 * ok / len(rs):.1f}%)",
                    f"{lok}/{len(longs)}",
                    f"{wins}/{len(longs)}",
                    f"{worst:+.4f}",
                    f"{mean_a:.4f}",
                    f"{mean_b:.4f}",
                ]
            )
    table.append(
        [
            "all",
            "both",
            f"{ok_all}/{tot} ({100 * ok_all / max(tot, 1):.1f}%)",
            f"{long_ok}/{long_tot}",
            "",
            f"{worst_all:+.4f}",
            "",
            "",
        ]
    )
    hdr = [
        "view",
        "canvas",
        f"auto wins or ties (delta <= {TIE})",
        "series longer than n",
        "auto wins by > 0.001",
        "worst delta",
        "mean auto (long)",
        "mean best classic (long)",
    ]
    verdict = f"\nTarget: >= 98% win-or-tie and worst delta <= {MAX_LOSS}: " + (
        "met" if ok_all >= 0.98 * tot and worst_all <= MAX_LOSS else "**NOT met**"
    )
    return md_table(hdr, table) + verdict


def robustness(judge: Any, series: list[Series]) -> str:
    """auto on charts it does not optimise for: other widths and heights, and
    matplotlib's default 5% x margin, which shifts every pixel column."""
    sizes = ((640, 480), (1000, 400), (1234, 500))
    methods = ("auto", *CLASSIC)
    wins = {m: np.zeros(len(sizes), dtype=int) for m in CLASSIC}
    best_wins = np.zeros(len(sizes), dtype=int)
    total = 0
    for s in series:
        bi = best_index(s)
        keep = np.unique(np.r_[s.restarts, [] if bi is None else [bi]]).astype(np.int64)
        for n in BUDGETS:
            if len(s) <= n:
                continue
            idx = {
                m: sampling.downsample(s.x, s.y, n_out=n, keep=keep)
                if m == "auto"
                else judge.BASELINES[m](s.x, s.y, n)
                for m in methods
            }
            for logx in (False, True):
                err = {}
                for m, ii in idx.items():
                    r = judge.evaluate(
                        s.x, s.y, s.x[ii], s.y[ii], sizes=sizes, logx=logx, xmargin=0.05
                    )
                    err[m] = np.array([r[f"{w}x{h}"]["pixel_err"] for w, h in sizes])
                for m in CLASSIC:
                    wins[m] += err["auto"] <= err[m] + 1e-12
                best_wins += err["auto"] <= np.min([err[m] for m in CLASSIC], axis=0) + 1e-12
                total += 1
    rows = [[f"best of {len(CLASSIC)}"] + [f"{w}/{total}" for w in best_wins]]
    rows += [[m] + [f"{w}/{total}" for w in wins[m]] for m in CLASSIC]
    hdr = ["auto <= ..."] + [f"{w}x{h}, 5% margin" for w, h in sizes]
    return md_table(hdr, rows)


def speed(judge: Any, n: int) -> str:
    import tsdownsample

    x, y = judge.make_curve("decay", n, 0)
    x = np.ascontiguousarray(x, dtype=np.int64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    rows = []
    for m in ("auto", "volatility", "piecewise", "lttb", "minmax"):
        idx, ms = timed(lambda m=m: sampling.downsample(x, y, method=m, n_out=2000), repeats=3)
        rows.append([f"curvelog {m}", f"{idx.size:,}", f"{ms:.0f}"])
    for cls, kw in (
        ("MinMaxLTTBDownsampler", {"minmax_ratio": 4}),
        ("LTTBDownsampler", {}),
        ("M4Downsampler", {}),
        ("MinMaxDownsampler", {}),
    ):
        ds = getattr(tsdownsample, cls)()
        idx, ms = timed(lambda ds=ds, kw=kw: ds.downsample(x, y, n_out=2000, **kw), repeats=3)
        rows.append([f"tsdownsample {cls}", f"{np.unique(idx).size:,}", f"{ms:.0f}"])
    head = f"{n:,}-point series (synthetic 'decay': noise, spikes, a NaN), n_out = 2,000, best of 3"
    return head + "\n\n" + md_table(["method", "points", "ms"], rows)


def study(judge: Any, series: list[Series]) -> str:
    """Volatility measures for the `volatility` method, compared by fidelity."""
    measures: dict[str, Callable[..., np.ndarray]] = {}
    tv = _classic._region_volatility

    def seg(fn: Callable[[np.ndarray], float]) -> Callable[..., np.ndarray]:
        def run(y: np.ndarray, fin: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            out = np.zeros(a.size)
            for i, (lo, hi) in enumerate(zip(a, b, strict=True)):
                v = y[lo:hi][fin[lo:hi]]
                out[i] = fn(v) if v.size > 1 else 0.0
            return out

        return run

    def rolling_std(v: np.ndarray) -> float:
        w = max(2, min(32, v.size // 4))
        c = np.cumsum(np.r_[0.0, v])
        m = (c[w:] - c[:-w]) / w
        return float(np.std(v[w - 1 :] - m)) * v.size

    measures["total variation"] = tv
    measures["range (max - min)"] = seg(lambda v: float(v.max() - v.min()))
    measures["std x points"] = seg(lambda v: float(np.std(v)) * v.size)
    measures["rolling std x points"] = seg(rolling_std)
    measures["none (equal share)"] = seg(lambda v: 1.0)
    original = _classic._region_volatility
    res: dict[str, list[list[float]]] = {}
    try:
        for name, fn in measures.items():
            _classic._region_volatility = fn  # type: ignore[assignment]
            errs: list[list[float]] = []
            for s in series:
                for n in BUDGETS:
                    if len(s) <= n:
                        continue
                    idx = sampling.downsample(s.x, s.y, method="volatility", n_out=n)
                    r = [
                        judge.evaluate(s.x, s.y, s.x[idx], s.y[idx], sizes=SIZES, logx=lg)
                        for lg in (False, True)
                    ]
                    errs.append(
                        [r[0]["800x400"]["pixel_err"], r[0]["1600x400"]["pixel_err"],
                         r[1]["800x400"]["pixel_err"], r[0]["p99_err"], r[0]["mean_err"]]
                    )  # fmt: skip
            res[name] = errs
    finally:
        _classic._region_volatility = original
    table = []
    for name, errs in res.items():
        e = np.asarray(errs)
        table.append([name] + [f"{v:.4f}" for v in e.mean(axis=0)])
    hdr = ["measure", "pix800 lin", "pix1600 lin", "pix800 log-x", "p99_err", "mean_err"]
    count = len(next(iter(res.values())))
    return f"Means over {count} (series, budget) pairs, series longer than n:\n\n" + md_table(
        hdr, table
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_ROOT, help="real data folder")
    p.add_argument("--judge", type=Path, default=HERE.parents[1] / "shared" / "bench")
    p.add_argument("--synth", default="decay:1e5,steps:1e5,gradnorm:1e5,decay:1e6",
                   help="synthetic curves KIND:N, comma-separated ('' for none)")  # fmt: skip
    p.add_argument("--speed-n", type=int, default=10_000_000, help="points of the timed series")
    p.add_argument("--quick", action="store_true", help="long real series only; no synth, no 10M")
    p.add_argument("--study", action="store_true", help="only compare volatility measures")
    p.add_argument(
        "--views",
        action="store_true",
        help="only the per-view table: auto vs the best classic in linear/logx/logy/plotted",
    )
    p.add_argument("--json", type=Path, help="write every row here")
    a = p.parse_args(argv)
    judge = load_judge(a.judge)
    t0 = time.perf_counter()
    real = load_real_series(a.data)
    if a.study:
        print(study(judge, [s for s in real if len(s) > min(BUDGETS)]))
        return 0
    if a.views:
        vr = view_rows(judge, list(real))
        print(
            f"# auto against the best of {', '.join(CLASSIC)} at the same budget, per view\n\n"
            f"{len(real)} real series x budgets {', '.join(f'{n:,}' for n in BUDGETS)} x canvases "
            "800x400 and 1600x400; delta = auto - best classic (pixel error, XOR/union)\n"
        )
        print(view_table(vr))
        losses = sorted((r for r in vr if r["delta"] > TIE), key=lambda r: -r["delta"])
        if losses:
            print("\nWhere auto loses by more than 0.001:\n")
            for r in losses:
                print(
                    f"- {r['series']} n={r['n']:,} {r['view']} {r['size']}: auto {r['auto']:.4f}"
                    f" ({r['auto_points']} points) vs {r['best']} {r['best_pix']:.4f}"
                )
        if a.json:
            a.json.write_text(json.dumps(vr, indent=1))
        print(f"\n(benchmark wall time {time.perf_counter() - t0:.0f} s)")
        return 0
    series = [s for s in real if len(s) > min(BUDGETS)] if a.quick else list(real)
    if not a.quick and a.synth:
        series += synthetic(judge, a.synth.split(","))
    methods = [*OURS, *CLASSIC, *OTHERS]
    rows: list[dict[str, Any]] = []
    for s in series:
        rows += evaluate_series(judge, s, methods)
    n_real = sum(1 for s in series if s.run != "synthetic")
    print("# curvelog downsampling fidelity\n")
    print(
        f"{n_real} real series from {a.data} and {len(series) - n_real} synthetic curves; "
        f"budgets {', '.join(f'{n:,}' for n in BUDGETS)}; linear and log-x views; pixel error ="
        " |raw XOR down| / |raw OR down| at 800x400 and 1600x400 (the judge's rasteriser)."
    )
    print("\n## auto against the best of LTTB / MinMaxLTTB / M4 / MinMax at the same budget\n")
    text, short = target([r for r in rows if not r["series"].startswith("synthetic/")])
    print(text)
    if short:
        print("\nWhere auto is worse:\n")
        for d in short:
            print(
                f"- {d['series']} {d['view']} n={d['n']:,}: auto "
                f"{d['auto'][0]:.4f}/{d['auto'][1]:.4f} vs {d['best'][0]:.4f}/{d['best'][1]:.4f}"
            )
    syn = [r for r in rows if r["series"].startswith("synthetic/")]
    if syn:
        print("\n## Synthetic curves: auto against the best classic\n")
        print(target(syn)[0])
    print("\n## Every method, real series\n")
    print(summary([r for r in rows if not r["series"].startswith("synthetic/")], methods))
    if not a.quick:
        print("\n## Charts auto does not target (series longer than n, both views)\n")
        print(robustness(judge, [s for s in real if len(s) > min(BUDGETS)]))
    if not a.quick and a.speed_n:
        print("\n## Speed\n")
        print(speed(judge, a.speed_n))
    print(f"\n(benchmark wall time {time.perf_counter() - t0:.0f} s)")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
