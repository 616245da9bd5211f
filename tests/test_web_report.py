"""The offline HTML report (curvelog.web.report), checked in a real Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from _browser import Page, browser_fixture, drag, web_page_fixture  # noqa: F401  (fixtures)
from _cli import invoke
from _weblogs import BEST_STEP, HOSTILE, NAN_STEP, RESUME_FROM, write_run
from curvelog.bundle import build_bundle
from curvelog.web.model import page_model
from curvelog.web.report import json_for_script, render_page, report_html


@pytest.fixture(scope="module")
def run_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("web") / "run.log")


@pytest.fixture(scope="module")
def bundle(run_log: Path) -> dict[str, Any]:
    return build_bundle(curvelog.read(run_log))


@pytest.fixture(scope="module")
def big_bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """4 charts of 2 lines each, 2,000 points per line (random values, full float precision)."""
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("big") / "big.log"
    names = [
        f"{split}/{cid}" for cid in ("loss", "acc", "lr", "grad_norm") for split in ("train", "val")
    ]
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(2000):
            log.append(
                s * 37, dict(zip(names, (rng.random(len(names)) + 0.1).tolist(), strict=True))
            )
    return build_bundle(curvelog.read(path), points=2000)


# --------------------------------------------------------------------------- no browser


def test_json_for_script_cannot_close_the_script_element() -> None:
    hostile = "</script><script>alert(1)</script><!-- & \u2028\u2029"
    text = json_for_script({"k": hostile})
    assert not re.search(r"[<>&\u2028\u2029]", text)
    assert json.loads(text) == {"k": hostile}


def test_report_is_self_contained_and_escaped(bundle: dict[str, Any]) -> None:
    page_text = report_html([bundle])
    assert HOSTILE not in page_text  # only escaped, inside the JSON
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in page_text
    assert not re.search(r"<script[^>]+src=", page_text)  # nothing loaded from anywhere
    assert not re.search(r"<link[^>]+href=", page_text)
    assert (
        "unsafe-eval" not in page_text and "'unsafe-inline'" not in page_text.split("style-src")[0]
    )
    assert "MIT" in (Path(curvelog.__file__).parent / "web/vendor/uPlot.LICENSE").read_text()


def test_model_matches_the_png_decisions(bundle: dict[str, Any]) -> None:
    model = page_model([bundle])
    loss = next(c for c in model["charts"] if c["id"] == "loss")
    assert [s["label"] for s in loss["series"]] == ["train", "val"]
    assert loss["stars"] == [{"run": 0, "x": BEST_STEP, "y": 1.0, "color": "#ffc20a",
                              "note": "best val/loss = 1\nat step 200"}]  # fmt: skip
    assert [(e["kind"], e["step"]) for e in loss["events"]] == [("nan", NAN_STEP)]
    assert [r["step"] for r in loss["resumes"]] == [RESUME_FROM]
    # a label keeps its colour on every panel
    colors = {s["label"]: s["color"] for c in model["charts"] for s in c["series"]}
    assert len(set(colors.values())) == len(colors)
    # log y: every value positive and > 2 decades, or the bundle asks for it
    assert not loss["logy"]
    wide = {"charts": [{"id": "a", "scale": "linear",
                        "series": [{"x": [0, 1, 2], "y": [1e-3, 1.0, None]}]}]}  # fmt: skip
    assert page_model
    from curvelog.web.model import auto_logy

    assert auto_logy(wide["charts"])
    assert not auto_logy([{"scale": "log", "series": [{"x": [0, 1], "y": [-1.0, 2.0]}]}])
    assert auto_logy([{"scale": "log", "series": [{"x": [0, 1], "y": [1.0, 2.0]}]}])


def test_page_colours_follow_the_pngs_rule(bundle: dict[str, Any]) -> None:
    """The page kept its own palette walk: a label changed colour with the chart
    subset, and past 9 runs two runs shared one; the PNG's rule (`plot._style`) now
    colours both."""
    from matplotlib.colors import to_hex

    from curvelog.plot import draw_bundle

    labels = [str(s["label"]) for c in bundle["charts"] for s in c["series"]]
    for chosen in (None, ["loss"], [bundle["charts"][-1]["id"], "loss"]):
        model = page_model([bundle], charts=chosen)
        fig = draw_bundle(bundle, charts=chosen)
        drawn = {ln.get_label(): to_hex(ln.get_color()) for ax in fig.axes for ln in ax.lines
                 if ln.get_label() in labels}  # fmt: skip
        page = {s["label"]: s["color"] for c in model["charts"] for s in c["series"]}
        assert page and {k: drawn[k] for k in page if k in drawn} == {
            k: v for k, v in page.items() if k in drawn
        }, chosen
        assert page["val"] == "#ff7f0e"  # README: val is always orange
    runs = page_model([bundle] * 12, names=[f"r{i}" for i in range(12)])["runs"]
    assert len({r["color"] for r in runs}) == 12


def test_size_of_four_charts_at_2000_points_per_line(big_bundle: dict[str, Any]) -> None:
    assert [len(s["x"]) for c in big_bundle["charts"] for s in c["series"]] == [2000] * 8
    size = len(report_html([big_bundle]).encode())
    assert size <= 600_000, size
    print(f"4 charts x 2 lines x 2,000 points: {size:,} bytes")


def test_cli_plot_and_compare_write_html(run_log: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    r = invoke("plot", str(run_log), "-o", str(out))
    assert r.stderr == f"{out}: 3 charts\n"
    assert out.read_text().startswith("<!DOCTYPE html>")
    first = out.read_bytes()
    invoke("plot", str(run_log), "-o", str(out))
    assert out.read_bytes() == first  # the same input, the same bytes
    other = write_run(tmp_path / "other.log", seed=3)
    both = tmp_path / "runs.html"
    r = invoke("compare", str(run_log), str(other), "-o", str(both))
    assert r.stderr == f"{both}: 3 charts, 2 runs\n"
    model = json.loads(
        re.search(r'id="cl-data">(.*?)</script>', both.read_text(), re.S).group(1)  # type: ignore[union-attr]
    )
    # run.log is named by its folder (#17)
    assert [r["name"] for r in model["runs"]] == [run_log.parent.name, "other"] and model["compare"]


def test_cli_never_replaces_a_log_with_a_page(run_log: Path, tmp_path: Path) -> None:
    target = tmp_path / "victim.html"
    target.write_bytes(run_log.read_bytes())
    r = invoke("plot", str(run_log), "-o", str(target), ok=False)
    assert r.exit_code == 2
    assert "is a curvelog log" in r.stderr and "Traceback" not in r.stderr
    assert target.read_bytes() == run_log.read_bytes()
    r = invoke("plot", str(run_log), "-o", str(tmp_path / "x.txt"), ok=False)
    assert r.stderr.endswith("use .png, .svg, .pdf or .html\n")


# --------------------------------------------------------------------------- in Chromium


def _open(web_page: Page, html: str, tmp_path: Path) -> Any:
    f = tmp_path / "page.html"
    f.write_text(html, encoding="utf-8")
    web_page.page.goto(f.as_uri())
    web_page.page.wait_for_selector("#cl-app[data-ready='1']", timeout=15_000)
    return web_page.page


def _x_range(pg: Any, i: int) -> tuple[float, float]:
    lo, hi = pg.evaluate(
        f"() => [curvelogView.panels[{i}].u.scales.x.min, curvelogView.panels[{i}].u.scales.x.max]"
    )
    return float(lo), float(hi)


def _over(pg: Any, i: int) -> dict[str, float]:
    box = pg.locator(".cl-panel").nth(i).locator(".u-over").bounding_box()
    assert box is not None
    return dict(box)


@pytest.mark.browser
def test_report_in_chromium(web_page: Page, bundle: dict[str, Any], tmp_path: Path) -> None:
    pg = _open(web_page, report_html([bundle]), tmp_path)
    web_page.screenshot("report_loaded")
    # panels and lines as in the bundle
    assert pg.locator(".cl-panel").count() == len(bundle["charts"])
    lines = pg.evaluate("() => curvelogView.panels.map(p => p.u.series.length - 1)")
    assert lines == [len(c["series"]) for c in bundle["charts"]]
    # the hostile metric name is text, everywhere, and nothing ran
    titles = pg.locator(".cl-panel h2").all_text_contents()
    assert HOSTILE in titles
    assert pg.locator("img").count() == 0
    # the best star sits at the best step, where the axis puts it
    star = pg.evaluate("() => curvelogView.panels[0].starPos")
    assert [s["step"] for s in star] == [BEST_STEP]
    expect = pg.evaluate(f"() => curvelogView.panels[0].u.valToPos({BEST_STEP}, 'x')")
    assert star[0]["x"] == pytest.approx(expect + pg.evaluate(
        "() => curvelogView.panels[0].u.bbox.left / uPlot.pxRatio"), abs=0.5)  # fmt: skip
    # hover at a known step: the readout shows the recorded value
    box = _over(pg, 0)
    px = pg.evaluate(f"() => curvelogView.panels[0].u.valToPos({BEST_STEP}, 'x')")
    pg.mouse.move(box["x"] + px, box["y"] + box["height"] / 2)
    readout = pg.locator(".cl-panel").nth(0).locator(".cl-readout")
    text = readout.inner_text()
    assert "val 1 @ step 200" in text, text
    web_page.screenshot("report_hover")
    # drag-zoom narrows the step range of every panel
    before = _x_range(pg, 0)
    drag(pg, box, 0.3, 0.6)
    after = _x_range(pg, 0)
    assert before[0] < after[0] < after[1] < before[1]
    assert _x_range(pg, 1) == pytest.approx(after)
    web_page.screenshot("report_zoomed")
    # shift+drag pans: same width, moved
    drag(pg, box, 0.6, 0.4, shift=True)
    panned = _x_range(pg, 0)
    assert panned[1] - panned[0] == pytest.approx(after[1] - after[0], rel=1e-6)
    assert panned[0] > after[0]
    # double-click resets
    pg.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    assert _x_range(pg, 0) == pytest.approx(before)
    # log y and smoothing controls redraw; a legend entry hides its line
    pg.select_option("#cl-logy", "log")
    assert pg.evaluate("() => curvelogView.panels[0].u.scales.y.distr") == 3
    pg.locator(".cl-panel").nth(0).locator(".cl-item").first.click()
    assert pg.evaluate("() => curvelogView.panels[0].u.series[1].show") is False
    pg.evaluate("() => { const r = document.getElementById('cl-smooth'); r.value = '0.9';"
                " r.dispatchEvent(new Event('change')); }")  # fmt: skip
    assert pg.evaluate("() => curvelogView.panels[0].u.series.length - 1") == 4  # raw + EMA
    web_page.screenshot("report_log_smooth")
    assert web_page.errors == [] and web_page.dialogs == []


@pytest.mark.browser
def test_compare_in_chromium(web_page: Page, bundle: dict[str, Any], tmp_path: Path) -> None:
    other = build_bundle(curvelog.read(write_run(tmp_path / "b.log", seed=5)))
    html = render_page(page_model([bundle, other], names=["a", HOSTILE]))
    pg = _open(web_page, html, tmp_path)
    web_page.screenshot("report_compare")
    runs = pg.locator(".cl-runs .cl-item").all_text_contents()
    assert runs[1].startswith(HOSTILE)
    lines = pg.evaluate("() => curvelogView.panels.map(p => p.u.series.length - 1)")
    assert lines == [2 * len(c["series"]) for c in bundle["charts"]]
    assert len(pg.evaluate("() => curvelogView.panels[0].starPos")) == 2
    pg.locator(".cl-runs .cl-item").nth(1).click()  # hide a run
    assert len(pg.evaluate("() => curvelogView.panels[0].starPos")) == 1
    assert web_page.errors == [] and web_page.dialogs == []


@pytest.mark.browser
def test_big_report_draws(web_page: Page, big_bundle: dict[str, Any], tmp_path: Path) -> None:
    pg = _open(web_page, report_html([big_bundle]), tmp_path)
    assert pg.locator(".cl-panel").count() == 4
    n = pg.evaluate("() => curvelogView.panels[0].u.data[0].length")
    assert n == 2000
    assert web_page.errors == []


@pytest.mark.browser
def test_log_steps_skip_step_zero(web_page: Page, bundle: dict[str, Any], tmp_path: Path) -> None:
    pg = _open(web_page, report_html([bundle], logx=True, logy=True, smooth=0.6), tmp_path)
    assert pg.evaluate("() => curvelogView.panels[0].u.scales.x.distr") == 3
    lo, hi = _x_range(pg, 0)
    assert lo >= 1 and hi >= 399
    assert pg.evaluate("() => curvelogView.panels[0].u.scales.y.distr") == 3
    web_page.screenshot("report_logx")
    assert web_page.errors == []


@pytest.mark.parametrize("name", ["draw.js", "page.js", "live.js"])
def test_page_code_never_parses_data_as_html_or_code(name: str) -> None:
    from curvelog.web.report import asset

    code = asset(f"static/{name}")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setTimeout(\"", "srcdoc"):  # fmt: skip
        assert sink not in code, (name, sink)


@pytest.mark.browser
@pytest.mark.parametrize(("first", "logx"), [(2**62, False), (1, True), (7, False)])
def test_a_single_step_gets_an_x_range(
    web_page: Page, tmp_path: Path, first: int, logx: bool
) -> None:
    """Steps a double cannot tell apart (2**62 + i), or one step: ``lo - 1`` was ``lo``
    (an empty x range), and under a log x axis it was 0 (log 0)."""
    path = tmp_path / "one.log"
    with curvelog.EventLog(path) as log:
        for i in range(10 if first > 2**53 else 1):
            log.append(first + i, loss=1.0 + i)
    pg = _open(web_page, report_html([build_bundle(curvelog.read(path))], logx=logx), tmp_path)
    lo, hi = _x_range(pg, 0)
    assert 0 < lo < float(first) < hi if logx else lo < float(first) < hi
    assert web_page.errors == []


@pytest.mark.browser
@pytest.mark.parametrize(("count", "dashed"), [(3, True), (40, True), (300, False)])
def test_many_resume_lines_are_solid_in_the_page(
    web_page: Page, tmp_path: Path, count: int, dashed: bool
) -> None:
    """As in `plot`: past DASHED_RESUMES resume steps the lines are solid (aligned
    dashes of many lines read as horizontal stripes). The page's canvas is watched:
    the dash in force when each full-height vertical line of the resume colour is
    stroked."""
    from curvelog.plot._style import RESUME_COLOR

    path = tmp_path / "requeued.log"
    for s in range(count + 1):
        with curvelog.EventLog(path) as log:  # a session per requeue, 10 steps each
            for i in range(10):
                log.append(s * 10 + i, loss=1.0 / (s * 10 + i + 1))
    bundle = build_bundle(curvelog.read(path))
    assert len(bundle["resumes"]) == count
    web_page.page.add_init_script(
        """(() => {
          const P = CanvasRenderingContext2D.prototype;
          window.clDashes = []; let dash = [], path = [];
          const setLineDash = P.setLineDash;
          P.setLineDash = function (d) { dash = d.slice(); return setLineDash.call(this, d); };
          const moveTo = P.moveTo, lineTo = P.lineTo, stroke = P.stroke;
          P.moveTo = function (x, y) { path = [[x, y]]; return moveTo.call(this, x, y); };
          P.lineTo = function (x, y) { path.push([x, y]); return lineTo.call(this, x, y); };
          P.stroke = function () {
            if (path.length === 2 && path[0][0] === path[1][0] && path[1][1] - path[0][1] > 50)
              window.clDashes.push([dash.length, this.strokeStyle]);
            return stroke.apply(this, arguments);
          };
        })();"""
    )
    pg = _open(web_page, report_html([bundle]), tmp_path)
    dashes = [d for d, color in pg.evaluate("() => window.clDashes") if color == RESUME_COLOR]
    assert len(dashes) >= count  # every resume line was stroked (at least once)
    assert set(dashes) == ({2} if dashed else {0})
    assert web_page.errors == []


@pytest.mark.browser
def test_x_ticks_tell_steps_apart_deep_into_a_long_run(web_page: Page, tmp_path: Path) -> None:
    """Finding 9: zoomed to 40 steps around step 1.5M, every tick read "1.5M"."""
    path = tmp_path / "long.log"
    steps = sorted(set(range(0, 3_000_001, 1000)) | set(range(1_499_980, 1_500_041)))
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in steps:
            log.append(s, {"loss": 1.0 + (s % 7) / 10})
    pg = _open(web_page, report_html([build_bundle(curvelog.read(path))]), tmp_path)
    ticks = (
        "() => [curvelogView.panels[0].u.axes[0]._splits, curvelogView.panels[0].u.axes[0]._values]"
    )
    splits, labels = pg.evaluate(ticks)
    assert "1M" in labels and "2M" in labels  # the whole run: short labels
    pg.evaluate("() => curvelogView.setRange(1499990, 1500030)")
    pg.wait_for_function("() => curvelogView.panels[0].u.axes[0]._splits[0] >= 1499990")
    splits, labels = pg.evaluate(ticks)
    assert len(labels) > 2 and len(set(labels)) == len(labels)
    assert [float(t.replace(",", "")) for t in labels] == splits  # "1,500,000": exact
    web_page.screenshot("report_deep_zoom_ticks")
    assert web_page.errors == []


@pytest.mark.browser
def test_x_ticks_name_their_steps_exactly(web_page: Page, tmp_path: Path) -> None:
    """regress2 finding 5: ticks at multiples of 2.5 or 25 were rounded ("10.3" at
    10.25, "15.03k" at 15,025): labels that named steps the ticks are not at."""
    path = tmp_path / "small.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(3000):
            log.append(s, {"loss": 1.0 + (s % 7) / 10})
    pg = _open(web_page, report_html([build_bundle(curvelog.read(path))]), tmp_path)
    ticks = (
        "() => [curvelogView.panels[0].u.axes[0]._splits, curvelogView.panels[0].u.axes[0]._values]"
    )
    splits, labels = pg.evaluate(ticks)
    assert "1k" in labels and "2k" in labels  # short where short is exact
    pg.evaluate("() => curvelogView.setRange(10, 14)")
    pg.wait_for_function("() => curvelogView.panels[0].u.axes[0]._splits[0] >= 10")
    splits, labels = pg.evaluate(ticks)
    assert len(labels) > 2 and len(set(labels)) == len(labels)
    assert [float(t.replace(",", "")) for t in labels] == splits
    fmt = "([s, i]) => CurvelogDraw.fmtSteps(s, i)"
    cases = {
        ((15000, 15025, 15050, 15075, 15100), 25): [
            "15,000",
            "15,025",
            "15,050",
            "15,075",
            "15,100",
        ],
        ((1000, 1002.5, 1005, 1007.5), 2.5): ["1,000.0", "1,002.5", "1,005.0", "1,007.5"],
        ((120, 122.5, 125, 127.5), 2.5): ["120.0", "122.5", "125.0", "127.5"],
        ((10, 10.25, 10.5, 10.75), 0.25): ["10.00", "10.25", "10.50", "10.75"],
        ((0, 500, 1000, 1500), 500): ["0", "500", "1k", "1.5k"],
        ((1_500_000, 1_500_250, 1_500_500), 250): ["1,500,000", "1,500,250", "1,500,500"],
        ((0, 0.1, 0.2, 0.30000000000000004), 0.1): ["0", "0.1", "0.2", "0.3"],
    }
    for (s, incr), want in cases.items():
        assert pg.evaluate(fmt, [list(s), incr]) == want, (s, incr)
    assert web_page.errors == []
