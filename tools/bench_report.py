"""The offline HTML report next to a Plotly page of the same lines: size and time to draw.

    python tools/bench_report.py [--lines 10] [--points 2000] [--repeats 3]

Both pages hold the same data, ``--lines`` lines of ``--points`` points (two
lines per chart), self-contained (Plotly with ``include_plotlyjs=True``), and
are opened from ``file://`` in Debian's chromium (Playwright, nothing
downloaded). Draw time: from navigation start to the last chart drawn
(curvelog: the page's ready mark; Plotly: every ``.main-svg`` present and its
``plotly_afterplot`` fired), best of ``--repeats`` fresh pages. Plotly comes
from the ``[bench]`` extra. A baseline, not a gate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import curvelog
from curvelog.bundle import build_bundle
from curvelog.web.report import report_html

ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


def _data(lines: int, points: int) -> dict[str, tuple[list[int], list[float]]]:
    rng = np.random.default_rng(0)
    x = list(range(0, points * 13, 13))
    out = {}
    for k in range(lines):
        name = f"{('train', 'val')[k % 2]}/m{k // 2}"
        out[name] = (x, (np.cumsum(rng.normal(size=points)) + 100).tolist())
    return out


def _curvelog_page(data: dict[str, tuple[list[int], list[float]]], folder: str) -> str:
    path = os.path.join(folder, "data.log")
    names = list(data)
    x = data[names[0]][0]
    with curvelog.EventLog(path, flush_every=0) as log:
        for i, step in enumerate(x):
            log.append(step, {n: data[n][1][i] for n in names})
    return report_html([build_bundle(curvelog.read(path), points=len(x))])


def _plotly_page(data: dict[str, tuple[list[int], list[float]]]) -> str:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(data)
    charts = sorted({n.split("/")[1] for n in names}, key=lambda c: int(c[1:]))
    rows = -(-len(charts) // 2)
    fig = make_subplots(rows=rows, cols=2, subplot_titles=charts)
    for n in names:
        c = charts.index(n.split("/")[1])
        fig.add_trace(go.Scatter(x=data[n][0], y=data[n][1], name=n, mode="lines"),
                      row=c // 2 + 1, col=c % 2 + 1)  # fmt: skip
    fig.update_layout(height=300 * rows, width=1250)
    return str(fig.to_html(include_plotlyjs=True, full_html=True))


def _draw_ms(browser: object, page_file: Path, plotly: bool, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        pg = browser.new_page(viewport={"width": 1300, "height": 900})  # type: ignore[attr-defined]
        if plotly:
            pg.add_init_script("""
                window.__drawn = 0;
                document.addEventListener('DOMContentLoaded', () => {
                  document.querySelectorAll('.plotly-graph-div').forEach(d =>
                    d.on && d.on('plotly_afterplot', () => {
                      window.__drawn = performance.now(); }));
                });""")
        pg.goto(page_file.as_uri())
        if plotly:
            pg.wait_for_function("() => document.querySelectorAll('.main-svg').length > 0")
            pg.wait_for_timeout(200)
            t = pg.evaluate(
                "() => Math.max(window.__drawn || 0, performance.getEntriesByType('navigation')[0]"
                ".loadEventEnd)"
            )
        else:
            pg.wait_for_selector("#cl-app[data-ready='1']")
            t = pg.evaluate("() => window.curvelogReadyAt")
        best = min(best, float(t))
        pg.close()
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--lines", type=int, default=10)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    data = _data(args.lines, args.points)
    with tempfile.TemporaryDirectory() as d:
        ours = Path(d) / "curvelog.html"
        ours.write_text(_curvelog_page(data, d), encoding="utf-8")
        theirs = Path(d) / "plotly.html"
        theirs.write_text(_plotly_page(data), encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            t_ours = _draw_ms(browser, ours, False, args.repeats)
            t_theirs = _draw_ms(browser, theirs, True, args.repeats)
            browser.close()
        s_ours, s_theirs = ours.stat().st_size, theirs.stat().st_size
    print(f"{args.lines} lines x {args.points:,} points, self-contained, headless chromium:")
    print(f"  curvelog (uPlot): {s_ours / 1e6:.2f} MB, drawn in {t_ours:.0f} ms")
    print(f"  Plotly:           {s_theirs / 1e6:.2f} MB, drawn in {t_theirs:.0f} ms")
    print(
        f"  Plotly / curvelog: {s_theirs / s_ours:.1f}x the size, {t_theirs / t_ours:.1f}x the time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
