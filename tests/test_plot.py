"""curvelog.plot: what the figures hold (axes, best, events, resumes, scales), bytes, errors."""

from __future__ import annotations

import copy
import io
import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _real import OBJECTIVES, RUNS, sweep
from conftest import RealRuns
from curvelog.bundle import validate_bundle
from curvelog.errors import BundleError, BundleVersionError, CurvelogError, PathError, PlotError
from curvelog.pipeline import default_output, run_names
from curvelog.plot import (
    BEST_COLOR,
    EVENT_COLOR,
    PALETTE,
    compare_bundles,
    ema,
    figure_bytes,
    format_step,
    plot_bundle,
    plot_chart,
    render_png,
    save_figure,
)
from curvelog.plot._style import _fmt_value

# --------------------------------------------------------------------------- hand-built bundles


def series(
    metric: str,
    x: Sequence[int],
    y: Sequence[float | None],
    *,
    label: str | None = None,
    events: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "metric": metric,
        "label": label if label is not None else metric.rpartition("/")[0] or metric,
        "x": [int(v) for v in x],
        "y": [None if v is None else float(v) for v in y],
        "raw_points": max(len(x), 1),
        "events": list(events),
    }


def chart(cid: str, *members: dict[str, Any], scale: str = "linear") -> dict[str, Any]:
    return {
        "id": cid,
        "title": cid,
        "xlabel": "step",
        "ylabel": cid,
        "scale": scale,
        "series": list(members),
    }


def bundle_of(
    *charts: dict[str, Any],
    best: dict[str, Any] | None = None,
    resumes: Sequence[int] = (),
    name: str = "run",
) -> dict[str, Any]:
    """A schema-valid bundle (checked with curvelog.bundle.validate_bundle)."""
    b = {
        "schema": "curvelog.bundle/1",
        "run": {"name": name, "run_id": None, "sessions": 1 + len(resumes)},
        "charts": list(charts),
        "best": best,
        "resumes": [{"step": s, "session": i + 1} for i, s in enumerate(resumes)],
        "summary": {
            "steps": 100,
            "first_step": 0,
            "last_step": 99,
            "wall_time": None,
            "sessions": 1 + len(resumes),
            "resumes": len(resumes),
            "damage": [],
            "metrics": {},
            "analysis": {},
        },
        "provenance": {
            "source": {"name": f"{name}.log", "size": 0, "sha256": None},
            "sampling": {"method": "auto", "points": 2000},
            "curvelog": "0",
        },
    }
    validate_bundle(b)
    return b


def best_of(metric: str, step: int, value: float, mode: str = "min") -> dict[str, Any]:
    return {
        "step": step,
        "metric": metric,
        "value": value,
        "mode": mode,
        "source": "marked",
        "values": {metric: value},
    }


STEPS = list(range(0, 1000, 10))


def loss_curve(scale: float = 1.0, floor: float = 0.5) -> list[float]:
    return [floor + scale * math.exp(-s / 200) for s in STEPS]


@pytest.fixture()
def two_chart_bundle() -> dict[str, Any]:
    """loss (train + val) and acc (val), best on val/loss at its minimum."""
    val = loss_curve(1.2, 0.6)
    val[60] = 0.55  # the minimum, at step 600
    acc = [0.5 + 0.4 * (1 - math.exp(-s / 300)) for s in STEPS]
    return bundle_of(
        chart("loss", series("train/loss", STEPS, loss_curve()), series("val/loss", STEPS, val)),
        chart("acc", series("val/acc", STEPS, acc)),
        best=best_of("val/loss", 600, 0.55),
        resumes=[400],
    )


# --------------------------------------------------------------------------- figure inspection


def lines(ax: Any, prefix: str) -> list[Any]:
    return [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith(prefix)]


def by_title(fig: Any) -> dict[str, Any]:
    return {ax.get_title(loc="left"): ax for ax in fig.axes}


def legend_texts(ax: Any) -> list[str]:
    leg = ax.get_legend()
    return [] if leg is None else [t.get_text() for t in leg.get_texts()]


def resume_steps(ax: Any) -> list[float]:
    colls = [c for c in ax.collections if c.get_gid() == "curvelog-resumes"]
    return sorted(float(seg[0][0]) for c in colls for seg in c.get_segments())


# --------------------------------------------------------------------------- panels


def test_one_panel_per_chart_with_titles_labels_and_a_line_per_series(
    two_chart_bundle: dict[str, Any],
) -> None:
    fig = plot_bundle(two_chart_bundle)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["loss", "acc"]
    loss = fig.axes[0]
    assert loss.get_xlabel() == "step" and loss.get_ylabel() == "loss"
    assert [ln.get_gid() for ln in lines(loss, "curvelog-series")] == [
        "curvelog-series:train/loss",
        "curvelog-series:val/loss",
    ]
    train = lines(loss, "curvelog-series:train/loss")[0]
    assert list(train.get_xdata()) == STEPS
    assert legend_texts(loss) == ["train", "val"]
    # a lone series is named by its title: no one-entry legend
    assert legend_texts(fig.axes[1]) == []
    # the same label has the same colour on every panel
    val_loss = lines(loss, "curvelog-series:val/loss")[0].get_color()
    assert lines(fig.axes[1], "curvelog-series:val/acc")[0].get_color() == val_loss
    assert fig._suptitle is not None and fig._suptitle.get_text() == "run"


@pytest.mark.parametrize(
    ("n", "grid"), [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2)), (5, (2, 3)), (7, (3, 3))]
)
def test_grid_of_up_to_three_columns(n: int, grid: tuple[int, int]) -> None:
    b = bundle_of(*(chart(f"c{i}", series(f"m{i}", STEPS, loss_curve())) for i in range(n)))
    fig = plot_bundle(b)
    assert len(fig.axes) == n
    gs = fig.axes[0].get_subplotspec().get_gridspec()
    assert gs.get_geometry() == grid
    w, h = fig.get_size_inches()
    assert w > h * 0.9 if n > 1 else True


def test_best_marked_at_its_data_coordinates_only_where_the_metric_is_shown(
    two_chart_bundle: dict[str, Any],
) -> None:
    fig = plot_bundle(two_chart_bundle)
    loss, acc = fig.axes
    (star,) = lines(loss, "curvelog-best")
    assert star.get_xydata().tolist() == [[600.0, 0.55]]
    assert star.get_markerfacecolor() == BEST_COLOR
    (note,) = [t for t in loss.texts if t.get_gid() == "curvelog-best-note"]
    assert note.get_text() == "best val/loss = 0.5500\nat step 600"  # 4 significant digits
    assert tuple(note.xy) == (600.0, 0.55)
    assert lines(acc, "curvelog-best") == []
    assert not [t for t in acc.texts if t.get_gid() == "curvelog-best-note"]


def test_best_note_does_not_cover_the_curve(two_chart_bundle: dict[str, Any]) -> None:
    fig = plot_bundle(two_chart_bundle)
    fig.canvas.draw()
    ax = fig.axes[0]
    (note,) = [t for t in ax.texts if t.get_gid() == "curvelog-best-note"]
    box = note.get_bbox_patch().get_window_extent()
    for ln in lines(ax, "curvelog-series"):
        xy = ax.transData.transform(ln.get_xydata())
        inside = (
            (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
        )
        assert not inside.any(), ln.get_gid()
    assert ax.get_window_extent().contains(*box.p0) and ax.get_window_extent().contains(*box.p1)


def test_best_without_a_value_takes_the_series_value_at_its_step() -> None:
    b = bundle_of(
        chart("loss", series("loss", STEPS, loss_curve())),
        best={
            "step": 500,
            "metric": "loss",
            "value": None,
            "mode": "min",
            "source": "recomputed",
            "values": {},
        },
    )
    (star,) = lines(plot_bundle(b).axes[0], "curvelog-best")
    assert star.get_xydata().tolist() == [[500.0, loss_curve()[50]]]


def test_nan_and_inf_events_marked_on_the_x_axis_and_labelled_once() -> None:
    y: list[float | None] = list(loss_curve())
    for i in (20, 21, 22, 70):
        y[i] = None
    y[90] = None
    events = [
        {"step": 200, "kind": "nan", "last_step": 220, "count": 3},
        {"step": 700, "kind": "nan"},
        {"step": 900, "kind": "inf"},
    ]
    b = bundle_of(
        chart(
            "loss",
            series("train/loss", STEPS, y, events=events),
            series("val/loss", STEPS, loss_curve(1.1)),
        ),
    )
    ax = plot_bundle(b).axes[0]
    (nan,) = lines(ax, "curvelog-events:nan")
    (inf,) = lines(ax, "curvelog-events:inf")
    assert list(nan.get_xdata()) == [200.0, 700.0]
    assert list(inf.get_xdata()) == [900.0]
    # on the x axis: x in data, y at the bottom of the axes
    assert nan.get_transform() == ax.get_xaxis_transform()
    assert list(nan.get_ydata()) == [0.0, 0.0]
    assert nan.get_markerfacecolor() == EVENT_COLOR
    assert EVENT_COLOR not in {ln.get_color() for ln in lines(ax, "curvelog-series")}
    (span,) = lines(ax, "curvelog-eventspan:nan")
    assert list(span.get_xdata()) == [200.0, 220.0]
    texts = legend_texts(ax)
    # values, not markers; per line, never summed over the panel's lines
    assert texts.count("train: NaN \u00d74") == 1 and texts.count("train: +inf") == 1
    # the line has gaps where the values were not finite
    train = lines(ax, "curvelog-series:train/loss")[0]
    assert np.isnan(np.asarray(train.get_ydata(), dtype=float)[[20, 21, 22, 70, 90]]).all()


def test_no_event_markers_without_events(two_chart_bundle: dict[str, Any]) -> None:
    for ax in plot_bundle(two_chart_bundle).axes:
        assert lines(ax, "curvelog-events") == []


def test_resumes_are_dashed_vertical_lines_on_every_panel(two_chart_bundle: dict[str, Any]) -> None:
    fig = plot_bundle(two_chart_bundle)
    for ax in fig.axes:
        assert resume_steps(ax) == [400.0]
        (coll,) = [c for c in ax.collections if c.get_gid() == "curvelog-resumes"]
        assert coll.get_linestyle()[0][1] is not None  # dashed
    sub = [t for t in fig.artists if t.get_gid() == "curvelog-subtitle"]
    assert sub and "1 resume (dashed)" in sub[0].get_text()


@pytest.mark.parametrize(
    ("resumes", "text"),
    [([400], "1 resume (dashed)"), ([300, 400], "2 resumes (dashed)"),
     ([400, 400, 700], "3 resumes at 2 steps (dashed)"), ([], None)],
)  # fmt: skip
def test_the_header_counts_every_resume(resumes: list[int], text: str | None) -> None:
    b = bundle_of(chart("loss", series("loss", STEPS, loss_curve())), resumes=resumes)
    fig = plot_bundle(b, dpi=30)
    sub = [t.get_text() for t in fig.findobj() if t.get_gid() == "curvelog-subtitle"]
    want = (
        f"100 steps  \u00b7  {len(resumes) + 1} sessions  \u00b7  {text}" if text else "100 steps"
    )
    assert sub == [want]
    assert resume_steps(fig.axes[0]) == sorted(set(resumes))  # a line per step


@pytest.mark.parametrize("logx", [False, True])
def test_resume_lines_closer_than_a_pixel_are_drawn_once(logx: bool) -> None:
    """A job requeued 40,000 times: matplotlib took seconds per thousand lines (46 s to
    plot 200,000); at most MAX_RESUME_LINES are drawn, each of them a real resume, with
    none of the span left without its line, and the header still counts every one."""
    from curvelog.plot._panel import MAX_RESUME_LINES

    rng = np.random.default_rng(7)
    every = np.unique(rng.integers(1, 10**7, 40_000)).tolist()
    b = bundle_of(chart("loss", series("loss", STEPS, loss_curve())), resumes=every)
    fig = plot_bundle(b, dpi=30, logx=logx)
    drawn = resume_steps(fig.axes[0])
    assert len(drawn) <= MAX_RESUME_LINES and set(drawn) <= set(every)
    x = np.log10(drawn) if logx else np.asarray(drawn, dtype=float)
    full = np.log10(every) if logx else np.asarray(every, dtype=float)
    cell = (full[-1] - full[0]) / (MAX_RESUME_LINES - 1)
    # every resume has a drawn line less than a cell (a pixel, or less) before it
    nearest = x[np.searchsorted(x, full, side="right") - 1]
    assert (full - nearest).max() < cell
    assert len(drawn) > (0.9 if not logx else 0.3) * MAX_RESUME_LINES  # thinned, not emptied
    sub = [t.get_text() for t in fig.findobj() if t.get_gid() == "curvelog-subtitle"]
    assert f"{len(every):,} resumes (shaded)" in sub[0]
    assert f"{len(every) + 1:,} sessions" in sub[0]


@pytest.mark.parametrize(("count", "dashed"), [(40, True), (41, False), (300, False)])
def test_many_resume_lines_are_solid_not_dashed(count: int, dashed: bool) -> None:
    """The dashes of many close resume lines line up into horizontal stripes that read
    as grid lines: past DASHED_RESUMES steps they are drawn solid (and faint), and the
    header says so; repeated steps count once, as they draw one line."""
    from curvelog.plot._style import DASHED_RESUMES

    assert DASHED_RESUMES == 40
    every = list(range(1, 2 * count, 2))
    b = bundle_of(chart("loss", series("loss", STEPS, loss_curve())), resumes=every + every[:3])
    fig = plot_bundle(b, dpi=30)
    (coll,) = [c for c in fig.axes[0].collections if c.get_gid() == "curvelog-resumes"]
    assert (coll.get_linestyle()[0][1] is not None) is dashed
    assert coll.get_alpha() == (0.35 if dashed else 0.14)
    sub = [t.get_text() for t in fig.findobj() if t.get_gid() == "curvelog-subtitle"]
    how = "dashed" if dashed else "shaded"
    assert f"{count + 3:,} resumes at {count:,} steps ({how})" in sub[0]


@pytest.mark.parametrize("first", [7, 2**62])
def test_one_step_gets_an_x_range_a_float_can_hold(first: int) -> None:
    """Steps 2**62 + i are one float64: ``lo - 1`` was ``lo`` (matplotlib warned
    "identical low and high xlims" and the panel had no x range)."""
    import warnings

    from curvelog.plot._figure import _x_range

    steps = [first + i for i in range(5)] if first > 2**53 else [first]
    c = chart("loss", series("loss", steps, [1.0] * len(steps)))
    lo, hi = _x_range([c])
    assert lo < first < hi
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_bundle(bundle_of(c), dpi=30)


def test_plot_chart_on_your_own_axes_labels_the_resumes() -> None:
    from matplotlib.figure import Figure

    c = chart("loss", series("train/loss", STEPS, loss_curve()))
    ax = Figure().subplots()
    assert (
        plot_chart(ax, c, resumes=[{"step": 300, "session": 1}, {"step": 600, "session": 2}]) is ax
    )
    assert resume_steps(ax) == [300.0, 600.0]
    assert legend_texts(ax) == ["train", "resume \u00d72"]


# --------------------------------------------------------------------------- scales


def decades(n: float) -> list[float]:
    return [10 ** (-n * i / (len(STEPS) - 1)) for i in range(len(STEPS))]


@pytest.mark.parametrize(
    ("y", "scale", "expected"),
    [
        (decades(3), "linear", "log"),  # three decades
        (decades(1.9), "linear", "linear"),  # under two
        (decades(1.9), "log", "log"),  # the bundle asks
        ([v - 0.5 for v in decades(3)], "linear", "linear"),  # not all positive
        ([v - 0.5 for v in decades(3)], "log", "linear"),  # log impossible
    ],
)
def test_log_y_chosen_when_a_positive_series_spans_more_than_two_decades(
    y: list[float], scale: str, expected: str
) -> None:
    b = bundle_of(chart("loss", series("loss", STEPS, y), scale=scale))
    assert plot_bundle(b).axes[0].get_yscale() == expected


def test_log_scale_is_decided_per_panel_and_can_be_forced() -> None:
    b = bundle_of(
        chart("loss", series("loss", STEPS, decades(4))),
        chart("acc", series("acc", STEPS, [0.5 + 0.001 * i for i in range(len(STEPS))])),
    )
    assert [ax.get_yscale() for ax in plot_bundle(b).axes] == ["log", "linear"]
    assert [ax.get_yscale() for ax in plot_bundle(b, logy=False).axes] == ["linear", "linear"]
    assert [ax.get_yscale() for ax in plot_bundle(b, logy=True).axes] == ["log", "log"]
    assert [ax.get_xscale() for ax in plot_bundle(b, logx=True).axes] == ["log", "log"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (950, "950"),
        (1000, "1k"),
        (10_000, "10k"),
        (12_500, "12.5k"),
        (10_250, "10.25k"),
        (1_500_000, "1.5M"),
        (3_000_000_000, "3G"),
        (-2000, "-2k"),
        (0.5, "0.5"),
        (math.nan, ""),
    ],
)
def test_engineering_step_labels(value: float, text: str) -> None:
    assert format_step(value) == text


def test_step_axis_uses_engineering_tick_labels() -> None:
    x = list(range(0, 3_000_001, 30_000))
    b = bundle_of(chart("r", series("r", x, [float(i % 7) for i in range(len(x))])))
    fig = plot_bundle(b)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert "1M" in labels and "2M" in labels and "3M" in labels


# --------------------------------------------------------------------------- smoothing


def tensorboard_ema(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's resampling-free smoothing (vz_line_chart2), written as plainly as possible."""
    out = []
    last = 0.0
    num_accum = 0
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        last = last * weight + (1 - weight) * v
        num_accum += 1
        out.append(last / (1 - weight**num_accum))
    return out


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99])
def test_ema_matches_tensorboard(weight: float) -> None:
    rng = np.random.default_rng(7)
    y = list(rng.normal(1.0, 0.3, 300))
    y[10] = math.nan
    y[11] = math.inf
    got = ema(y, weight)
    want = tensorboard_ema(y, weight)
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert got[0] == pytest.approx(y[0])  # debiased: the first value is not pulled to 0


def test_smoothing_draws_the_ema_over_a_faint_raw_line() -> None:
    rng = np.random.default_rng(3)
    y = [float(v) for v in 1 + rng.normal(0, 0.2, len(STEPS))]
    b = bundle_of(chart("loss", series("train/loss", STEPS, y)))
    ax = plot_bundle(b, smooth=0.9).axes[0]
    (raw,) = lines(ax, "curvelog-series:train/loss:raw")
    smooth = [
        ln for ln in lines(ax, "curvelog-series") if ln.get_gid() == "curvelog-series:train/loss"
    ]
    assert len(smooth) == 1
    assert raw.get_alpha() is not None and raw.get_alpha() < 0.5
    assert smooth[0].get_linewidth() > raw.get_linewidth()
    assert smooth[0].get_zorder() > raw.get_zorder()
    np.testing.assert_allclose(smooth[0].get_ydata(), tensorboard_ema(y, 0.9))
    np.testing.assert_allclose(raw.get_ydata(), y)


@pytest.mark.parametrize("value", [0.1000000015, 3.3, 1e-7])
def test_smoothing_a_constant_series_stays_flat_without_an_offset(value: float) -> None:
    b = bundle_of(chart("lr", series("lr", STEPS, [value] * len(STEPS))))
    ax = plot_bundle(b, smooth=0.9, dpi=30).axes[0]
    smoothed = [ln for ln in lines(ax, "curvelog-series:lr") if not ln.get_gid().endswith(":raw")]
    assert set(np.asarray(smoothed[0].get_ydata()).tolist()) == {value}
    ax.figure.canvas.draw()
    assert ax.yaxis.get_offset_text().get_text() == ""  # no "1e-13+1.000000015e-1", no x1e-7
    assert ax.get_ylabel() == "lr"  # ticks are not relative to an offset
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert all(len(t) <= 7 for t in labels) and len(set(labels)) == len(labels)


@pytest.mark.parametrize("weight", [-0.1, 1.0, 2, float("nan")])
def test_bad_smoothing_weight(weight: float, two_chart_bundle: dict[str, Any]) -> None:
    with pytest.raises(PlotError, match=r"smoothing weight must be in \[0, 1\)"):
        plot_bundle(two_chart_bundle, smooth=weight)


# --------------------------------------------------------------------------- selection, errors


def test_charts_select_and_order(two_chart_bundle: dict[str, Any]) -> None:
    assert [
        ax.get_title(loc="left") for ax in plot_bundle(two_chart_bundle, charts=["acc"]).axes
    ] == ["acc"]
    fig = plot_bundle(two_chart_bundle, charts="acc,loss")
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["acc", "loss"]


def test_unknown_chart_names_it_and_the_available_ones(two_chart_bundle: dict[str, Any]) -> None:
    with pytest.raises(PlotError) as e:
        plot_bundle(two_chart_bundle, charts="loss,lr")
    assert str(e.value) == "unknown chart 'lr'; available: loss, acc"
    with pytest.raises(PlotError, match="no chart selected; available: loss, acc"):
        plot_bundle(two_chart_bundle, charts=",")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda b: b.pop("charts"),
            "<bundle>: invalid bundle at /charts: required field is missing",
        ),
        (
            lambda b: b["charts"][0].pop("series"),
            "at /charts/0/series: required field is missing",
        ),
        (
            lambda b: b["charts"][0]["series"][0]["y"].pop(),
            "at /charts/0/series/0/y: has 99 values for 100 steps in x",
        ),
        (
            lambda b: b["charts"][1]["series"][0].update(y="nope"),
            "at /charts/1/series/0/y: expected an array, found the string 'nope'",
        ),
        (lambda b: b.update(best=3), "at /best: expected an object, found the number 3"),
        (
            lambda b: b.update(resumes=[{"session": 1}]),
            "at /resumes/0/step: required field is missing",
        ),
        # what plot checked less than the schema (its own partial copy of the validator)
        (
            lambda b: b["charts"][0]["series"][0]["x"].reverse(),
            "at /charts/0/series/0/x/1: steps must increase strictly (980 after 990)",
        ),
        (
            lambda b: b["charts"][1]["series"][0]["y"].__setitem__(3, "0.5"),
            "at /charts/1/series/0/y/3: expected a number or null, found the string '0.5'",
        ),
        (lambda b: b.pop("provenance"), "at /provenance: required field is missing"),
    ],
)
def test_malformed_bundle_is_a_bundle_error(
    two_chart_bundle: dict[str, Any], mutate: Callable[[dict[str, Any]], Any], message: str
) -> None:
    """plot_bundle checks with curvelog.bundle.validate_bundle: the same words and pointers."""
    mutate(two_chart_bundle)
    with pytest.raises(BundleError) as err:
        validate_bundle(two_chart_bundle)
    expected = str(err.value)
    assert message in expected
    with pytest.raises(BundleError) as err:
        plot_bundle(two_chart_bundle)
    assert str(err.value) == expected


def test_another_major_version_is_refused(two_chart_bundle: dict[str, Any]) -> None:
    two_chart_bundle["schema"] = "curvelog.bundle/2"
    message = (
        "invalid bundle at /schema: schema 'curvelog.bundle/2' is version 2; "
        "this curvelog reads curvelog.bundle/1.x only"
    )
    with pytest.raises(BundleVersionError) as err:
        plot_bundle(two_chart_bundle)
    assert str(err.value) == f"<bundle>: {message}"
    with pytest.raises(BundleVersionError) as err:
        compare_bundles([{**two_chart_bundle, "schema": "curvelog.bundle/1"}, two_chart_bundle])
    assert str(err.value) == f"bundle 2: {message}"


def test_not_a_bundle_at_all() -> None:
    with pytest.raises(BundleError, match="expected a JSON object, found an array"):
        plot_bundle([])  # type: ignore[arg-type]


def test_empty_series_and_empty_bundle_still_draw() -> None:
    b = bundle_of(chart("loss", series("loss", [], [])))
    ax = plot_bundle(b).axes[0]
    assert [t.get_text() for t in ax.texts] == ["no data"]
    fig = plot_bundle(bundle_of())
    assert len(fig.axes) == 1
    assert figure_bytes(fig, "png").startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("opt", "value"), [("dpi", 0), ("dpi", 5000), ("size", (0, 3)), ("size", (4, math.inf))]
)
def test_bad_size_or_dpi(opt: str, value: Any, two_chart_bundle: dict[str, Any]) -> None:
    with pytest.raises(PlotError):
        plot_bundle(two_chart_bundle, **{opt: value})


# --------------------------------------------------------------------------- output


@pytest.mark.parametrize(
    "y",
    [
        [1e308 if i % 2 else -1e308 for i in range(len(STEPS))],  # linear, span overflows
        [1e308] * len(STEPS),
        [-1e308, 1.0] * (len(STEPS) // 2),
        [0.5] * 50 + [1e308] * 50,  # log
        [1e-300, 1e308] * (len(STEPS) // 2),  # log, 608 decades
    ],
    ids=["pm", "max", "neg", "log", "decades"],
)
@pytest.mark.parametrize("smooth", [0.0, 0.9])
def test_values_near_the_float_limits_still_draw(y: list[float], smooth: float) -> None:
    import warnings

    b = bundle_of(chart("c", series("c", STEPS, y)), best=best_of("c", STEPS[1], y[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # as in pyproject.toml: old matplotlib's own use of names pyparsing 3.3 deprecates
        warnings.filterwarnings("ignore", ".*deprecated", DeprecationWarning, "matplotlib")
        warnings.filterwarnings("ignore", ".*deprecated", DeprecationWarning, "pyparsing")
        for fig in (plot_bundle(b, dpi=30, smooth=smooth), compare_bundles([b, b], dpi=30)):
            assert figure_bytes(fig, "png").startswith(b"\x89PNG")
            lo, hi = fig.axes[0].get_ylim()
            assert math.isfinite(hi - lo) and hi > lo
    note = next(t for t in plot_bundle(b, dpi=30).findobj() if t.get_gid() == "curvelog-best-note")
    assert f"= {_fmt_value(y[1])}" in note.get_text()  # the note says the true value


@pytest.mark.parametrize(
    ("size", "dpi", "px"),
    [((100, 100), 1000, "100,000x100,000"), ((40, 1), 1000, "40,000x1,000"), ((90, 90), 150, "")],
)
def test_a_canvas_too_large_is_refused_before_drawing(
    size: tuple[float, float], dpi: int, px: str, two_chart_bundle: dict[str, Any]
) -> None:
    # 90x90 in at 150 dpi is 13,500 px a side, under the side limit but over 2**27 px in all
    with pytest.raises(PlotError, match=rf"{size[0]}x{size[1]} inch figure at {dpi} dpi is {px}"):
        plot_bundle(two_chart_bundle, size=size, dpi=dpi)
    with pytest.raises(PlotError, match="too large"):
        compare_bundles([two_chart_bundle] * 2, size=size, dpi=dpi)
    fig = plot_bundle(two_chart_bundle, size=(40.96, 1), dpi=800)  # the largest side allowed
    assert fig.canvas.get_width_height() == (32768, 800)


@pytest.mark.parametrize("ext", ["svg", "pdf", "png"])
def test_output_is_byte_identical_on_rerun(
    ext: str, two_chart_bundle: dict[str, Any], tmp_path: Path
) -> None:
    a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    save_figure(plot_bundle(two_chart_bundle, dpi=40), a)
    save_figure(plot_bundle(two_chart_bundle, dpi=40), b)
    assert a.read_bytes() == b.read_bytes()
    data = a.read_bytes()
    magic = {"svg": b"<?xml", "pdf": b"%PDF", "png": b"\x89PNG\r\n\x1a\n"}[ext]
    assert data.startswith(magic)
    if ext == "svg":
        assert b"<dc:date>" not in data
    if ext == "pdf":
        assert b"/CreationDate" not in data and b"/ModDate" not in data
    if ext == "png":
        assert b"tIME" not in data


def test_svg_identical_across_processes(two_chart_bundle: dict[str, Any], tmp_path: Path) -> None:
    import json

    path = tmp_path / "b.json"
    path.write_text(json.dumps(two_chart_bundle))
    code = (
        "import json, sys; from curvelog.plot import plot_bundle, figure_bytes; "
        "b = json.load(open(sys.argv[1])); "
        "sys.stdout.buffer.write(figure_bytes(plot_bundle(b, dpi=40), 'svg'))"
    )
    outs = [
        subprocess.run(
            [sys.executable, "-c", code, str(path)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert outs[0] == outs[1]
    assert outs[0] == figure_bytes(plot_bundle(two_chart_bundle, dpi=40), "svg")


def test_render_png_size_follows_size_and_dpi(two_chart_bundle: dict[str, Any]) -> None:
    from PIL import Image

    data = render_png(two_chart_bundle, size=(6, 3), dpi=50)
    img = Image.open(io.BytesIO(data))
    assert img.size == (300, 150)
    # not a blank picture: the lines are drawn in their colours
    pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
    blue = tuple(int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5))
    assert (np.abs(pixels.astype(int) - blue).sum(axis=1) < 40).sum() > 50


def test_unknown_extension_is_a_plot_error(
    two_chart_bundle: dict[str, Any], tmp_path: Path
) -> None:
    fig = plot_bundle(two_chart_bundle, dpi=30)
    with pytest.raises(
        PlotError, match=r"unsupported output format '\.jpg'; use \.png, \.svg or \.pdf"
    ):
        save_figure(fig, tmp_path / "out.jpg")
    with pytest.raises(PlotError, match=r"'\(no extension\)'"):
        save_figure(fig, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_a_path_error(
    two_chart_bundle: dict[str, Any], tmp_path: Path
) -> None:
    fig = plot_bundle(two_chart_bundle, dpi=30)
    with pytest.raises(PathError, match="folder does not exist"):
        save_figure(fig, tmp_path / "missing" / "out.png")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(PathError, match="is not a folder"):
        save_figure(fig, blocker / "out.png")
    assert isinstance(PathError("p", "r"), CurvelogError)


def test_save_replaces_an_existing_picture_atomically(
    two_chart_bundle: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "run.png"
    out.write_bytes(b"old")
    assert save_figure(plot_bundle(two_chart_bundle, dpi=30), out) == str(out)
    assert out.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["run.png"]


def test_dollar_signs_in_user_text_are_drawn_literally() -> None:
    from matplotlib.text import Text

    b = bundle_of(
        {**chart("cost", series("cost $x$", STEPS, loss_curve())), "title": "Cost in $$"},
        chart("acc", series("acc", STEPS, loss_curve()), series("$", STEPS, loss_curve(2.0))),
        best=best_of("cost $x$", 990, loss_curve()[-1]),
        name="run $1$",
    )
    figs = [
        plot_bundle(b, dpi=30),
        compare_bundles([b, b], names=["a $", "b $$"], dpi=30),
        compare_bundles([b, bundle_of(chart("cost", series("c", STEPS, loss_curve())))], dpi=30),
    ]
    for fig in figs:
        assert figure_bytes(fig, "png").startswith(b"\x89PNG")  # no ParseException
        texts = [t for t in fig.findobj(Text) if "$" in t.get_text()]
        assert texts
        for t in texts:
            assert t._preprocess_math(t.get_text()) == (t.get_text().replace(r"\$", "$"), False)
    drawn = {t.get_text().replace(r"\$", "$") for t in figs[0].findobj(Text)}
    assert {"Cost in $$", "run $1$", "$"} <= drawn
    assert any(t.startswith("best cost $x$ = ") for t in drawn)
    drawn = {t.get_text().replace(r"\$", "$") for t in figs[2].findobj(Text)}
    assert {"cost", "cost $x$", "Cost in $$"} & drawn == {"cost", "cost $x$"}  # titles differ


def test_save_refuses_to_replace_a_log(two_chart_bundle: dict[str, Any], tmp_path: Path) -> None:
    from curvelog.log import FILE_MAGIC

    out = tmp_path / "run.svg"
    out.write_bytes(FILE_MAGIC + b"frames")
    with pytest.raises(PathError, match="is a curvelog log, not a picture; refusing to replace"):
        save_figure(plot_bundle(two_chart_bundle, dpi=30), out)
    assert out.read_bytes() == FILE_MAGIC + b"frames"
    assert [p.name for p in tmp_path.iterdir()] == ["run.svg"]


@pytest.mark.parametrize(
    ("src", "out"),
    [
        ("runs/a/run.curves.json", "runs/a/run.png"),
        ("run.log", "run.png"),
        ("x.json", "x.png"),
        ("weird", "weird.png"),
        (".log", ".log.png"),
    ],
)
def test_default_output_beside_the_input(src: str, out: str) -> None:
    assert default_output(src) == out


def test_headless_in_threads_without_pyplot(two_chart_bundle: dict[str, Any]) -> None:
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(render_png(two_chart_bundle, dpi=30))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    # pyplot is never imported for drawing: checked in a fresh interpreter, since a
    # framework imported by another test of this process may have loaded it
    code = ("import json, sys; from curvelog.plot import render_png; "
            "render_png(json.loads(sys.stdin.read()), dpi=30); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], input=json.dumps(two_chart_bundle), text=True,
                   check=True)  # fmt: skip
    import matplotlib

    assert matplotlib.rcParams["svg.hashsalt"] is None  # the style was only borrowed


def test_import_curvelog_does_not_import_matplotlib() -> None:
    code = "import sys, curvelog, curvelog.plot; assert 'matplotlib' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- compare


def test_compare_overlays_runs_one_colour_each(two_chart_bundle: dict[str, Any]) -> None:
    other = bundle_of(
        chart(
            "loss",
            series("train/loss", STEPS, loss_curve(2.0)),
            series("val/loss", STEPS, loss_curve(2.2)),
        ),
        chart("lr", series("lr", STEPS, [1e-3] * len(STEPS))),
        best=best_of("val/loss", 990, loss_curve(2.2)[-1]),
        name="other",
    )
    fig = compare_bundles([two_chart_bundle, other], names=["a", "b"])
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["loss", "acc", "lr"]
    loss = fig.axes[0]
    colors = [ln.get_color() for ln in lines(loss, "curvelog-series")]
    assert colors == [PALETTE[0], PALETTE[0], PALETTE[1], PALETTE[1]]
    assert [ln.get_color() for ln in lines(fig.axes[1], "curvelog-series")] == [PALETTE[0]]
    assert [ln.get_color() for ln in lines(fig.axes[2], "curvelog-series")] == [PALETTE[1]]
    # series of one run differ by line style
    styles = [ln.get_linestyle() for ln in lines(loss, "curvelog-series")]
    assert styles[0] != styles[1] and styles[0] == styles[2]
    # each run's best, in its colour
    stars = lines(loss, "curvelog-best")
    assert [s.get_xydata().tolist() for s in stars] == [
        [[600.0, 0.55]],
        [[990.0, loss_curve(2.2)[-1]]],
    ]
    assert [s.get_markerfacecolor() for s in stars] == [PALETTE[0], PALETTE[1]]
    (runs,) = [leg for leg in fig.legends if leg.get_gid() == "curvelog-runs"]
    texts = [t.get_text() for t in runs.get_texts()]
    assert texts[0].startswith("a  (best val/loss 0.5500 @ 600)")
    assert texts[1].startswith("b  (best")
    assert legend_texts(loss) == ["train", "val"]


def test_compare_errors(two_chart_bundle: dict[str, Any]) -> None:
    with pytest.raises(PlotError, match="nothing to compare"):
        compare_bundles([])
    with pytest.raises(PlotError, match="unknown chart 'x'; available: loss, acc"):
        compare_bundles([two_chart_bundle, two_chart_bundle], charts="x")
    with pytest.raises(BundleError, match="bundle 2: invalid bundle at /charts: expected an array"):
        compare_bundles([two_chart_bundle, {**two_chart_bundle, "charts": 1}])


def test_run_names_from_metadata_then_file_names(two_chart_bundle: dict[str, Any]) -> None:
    a = dict(two_chart_bundle, run={"name": "alpha", "sessions": 1})
    b = dict(two_chart_bundle, run={"name": "beta", "sessions": 1})
    assert run_names([a, b], ["x/run.log", "y/run.log"]) == ["alpha", "beta"]
    same = [two_chart_bundle, two_chart_bundle]
    assert run_names(same, ["exp1/run.curves.json", "exp2/run.curves.json"]) == [
        "exp1/run",
        "exp2/run",
    ]
    assert run_names(same, ["a.curves.json", "b.log"]) == ["a", "b"]
    # the same file twice: no path tells them apart (it once gave "//abs/path/run")
    assert run_names(same, ["x/run.log", "x/run.log"]) == ["run", "run (2)"]
    assert run_names([*same, two_chart_bundle], ["x/run.log", "y/run.log", "x/run.log"]) == [
        "x/run",
        "y/run",
        "x/run (2)",
    ]
    fig = compare_bundles(same)
    (runs,) = fig.legends
    assert [t.get_text().split("  ")[0] for t in runs.get_texts()] == ["run #1", "run #2"]


# --------------------------------------------------------------------------- real runs


def test_the_real_runs_are_all_here() -> None:
    assert len(RUNS) >= 7 and set(RUNS) == set(OBJECTIVES)


@pytest.mark.parametrize(("source", "name"), sweep())
def test_a_figure_for_every_real_run(source: str, name: str, real_runs: RealRuns) -> None:
    b = real_runs.bundle(source, name)
    fig = plot_bundle(b, dpi=50)
    assert [ax.get_title(loc="left") for ax in fig.axes] == [c["title"] for c in b["charts"]]
    best = b["best"]
    assert best is not None and best["metric"] == OBJECTIVES[name][0]
    for ax, c in zip(fig.axes, b["charts"], strict=True):
        metrics = [s["metric"] for s in c["series"]]
        assert [ln.get_gid() for ln in lines(ax, "curvelog-series")] == [
            f"curvelog-series:{m}" for m in metrics if c["series"][metrics.index(m)]["x"]
        ]
        stars = lines(ax, "curvelog-best")
        if best["metric"] in metrics:
            (star,) = stars
            assert star.get_xydata().tolist() == [[float(best["step"]), best["value"]]]
        else:
            assert stars == []
        events = {e["kind"] for s in c["series"] for e in s["events"]}
        assert {ln.get_gid().split(":")[1] for ln in lines(ax, "curvelog-events")} == events
        assert resume_steps(ax) == sorted({float(r["step"]) for r in b["resumes"]})
        positive = all(v > 0 for s in c["series"] for v in s["y"] if v is not None)
        spans = [
            max(v) / min(v)
            for s in c["series"]
            if (v := [y for y in s["y"] if y is not None]) and min(v) > 0
        ]
        wants_log = positive and (c["scale"] == "log" or any(r > 100 for r in spans))
        assert ax.get_yscale() == ("log" if wants_log else "linear"), c["id"]
    assert figure_bytes(fig, "png").startswith(b"\x89PNG")


def test_real_gan_restarts_are_drawn(real_bundles: dict[str, dict[str, Any]]) -> None:
    b = real_bundles["gan_deblurgan_wgan"]
    assert len(b["resumes"]) > 10
    ax = plot_bundle(b, charts="G_L1").axes[0]
    assert len(resume_steps(ax)) == len({r["step"] for r in b["resumes"]})


def test_real_digits_train_loss_goes_log(real_bundles: dict[str, dict[str, Any]]) -> None:
    fig = plot_bundle(real_bundles["gen_digits_mlp"], charts="loss")
    assert fig.axes[0].get_yscale() == "log"  # 2.3 down to ~1e-5


def test_real_nan_events_are_marked(real_bundles: dict[str, dict[str, Any]]) -> None:
    """The llm.c run with a NaN burst and an inf written into it (as a diverging run would)."""
    b = copy.deepcopy(real_bundles["llmc_gpt2_124m"])  # the session's copy stays as built
    loss = next(c for c in b["charts"] if c["id"] == "loss")
    train = next(s for s in loss["series"] if s["metric"] == "train_loss")
    x = train["x"]
    for i in (100, 101, 102, 900):
        train["y"][i] = None
    train["events"] = [
        {"step": x[100], "kind": "nan", "last_step": x[102], "count": 3},
        {"step": x[900], "kind": "inf"},
    ]
    validate_bundle(b)
    ax = plot_bundle(b, charts="loss").axes[0]
    assert list(lines(ax, "curvelog-events:nan")[0].get_xdata()) == [float(x[100])]
    assert list(lines(ax, "curvelog-events:inf")[0].get_xdata()) == [float(x[900])]


def test_compare_real_llm_runs(real_bundles: dict[str, dict[str, Any]]) -> None:
    names = ["llmc_gpt2_124m", "buildnanogpt_fineweb_2p5ep", "modded_nanogpt_medium_archopt"]
    fig = compare_bundles([real_bundles[n] for n in names], charts="loss")
    (ax,) = fig.axes
    stars = lines(ax, "curvelog-best")
    assert [s.get_xydata().tolist()[0] for s in stars] == [
        [float(real_bundles[n]["best"]["step"]), real_bundles[n]["best"]["value"]] for n in names
    ]
    assert {ln.get_color() for ln in lines(ax, "curvelog-series")} == set(PALETTE[:3])


@pytest.mark.parametrize(
    ("name", "smooth", "one_line"),
    [("short", 0.0, True), ("short", 0.9, False),
     ("a-long-run-name-lr3e-4-bs512-warmup2000-seed7-x" * 2, 0.0, False)],
)  # fmt: skip
def test_the_header_never_overlaps_itself(name: str, smooth: float, one_line: bool) -> None:
    """The run name at the left and the facts at the right shared one line whatever
    their lengths: a long run name ran under the facts, and a long name ran off the
    figure. Where they do not fit side by side the facts go under the name (its
    second, empty line, so the layout makes room); neither leaves the figure."""
    b = bundle_of(chart("loss", series("loss", STEPS, loss_curve())), resumes=list(range(1, 90)))
    b["run"]["name"] = name
    fig = plot_bundle(b, smooth=smooth)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    (title,) = [t for t in fig.findobj() if t.get_gid() == "curvelog-title"]
    (sub,) = [t for t in fig.findobj() if t.get_gid() == "curvelog-subtitle"]
    tb, sb, fb = title.get_window_extent(r), sub.get_window_extent(r), fig.bbox
    for box in (tb, sb):
        assert fb.x0 <= box.x0 and box.x1 <= fb.x1 and box.y1 <= fb.y1
    if one_line:  # side by side, on the same centre line
        assert not tb.overlaps(sb) and abs(tb.y0 + tb.y1 - sb.y0 - sb.y1) < 4
    else:  # under the name: in the title's empty second line, at its left
        assert title.get_text().endswith("\n") and sb.y1 <= tb.y0 + 0.55 * tb.height
        assert abs(sb.x0 - tb.x0) < 2
    assert not sub.get_text().endswith("\u2026")  # the facts are not cut
    panel_top = max(ax.get_tightbbox(r).y1 for ax in fig.axes)
    assert sb.y0 >= panel_top - 1  # the layout made room: the facts sit above the panels


def test_forced_logy_keeps_a_panel_without_positive_values_linear() -> None:
    """``--logy`` on a panel of negative rewards drew an empty panel (no line, no star)
    and matplotlib warned on stderr; that panel stays linear, the others go log."""
    import warnings

    rewards = [-100.0 + i for i in range(len(STEPS))]
    b = bundle_of(
        chart("reward", series("reward", STEPS, rewards)),
        chart("loss", series("loss", STEPS, loss_curve())),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_bundle(b, logy=True)
        figure_bytes(fig)
    scales = {ax.get_title(loc="left"): ax.get_yscale() for ax in fig.axes}
    assert scales == {"reward": "linear", "loss": "log"}
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "curvelog-series:reward"]
    assert np.isfinite(np.asarray(line.get_ydata(), dtype=float)).sum() == len(STEPS)


def test_names_with_control_and_bidi_characters_are_drawn_escaped() -> None:
    """QA data #7: a name's \\x01 made matplotlib warn about a missing glyph (raw, on
    stderr), a \\n gave a two-line title and a bidi override drew the name reversed.
    Every drawn text escapes them as Python writes them, the CLI's rule."""
    import warnings

    from matplotlib.text import Text

    names = ["ctl\x01\x7fname", "two\nlines", "a\u202eRTL\u202c/b"]
    b = bundle_of(
        *[chart(n, series(n, STEPS, loss_curve())) for n in names],
        chart("both", series("x\x01", STEPS, loss_curve()), series("y\n", STEPS, loss_curve(2))),
        best=best_of("two\nlines", 990, loss_curve()[-1]),
        name="run\u202e1\n",
    )
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        figs = [plot_bundle(b, dpi=30), compare_bundles([b, b], names=["a\x01", "b"], dpi=30)]
        for fig in figs:
            figure_bytes(fig, "png")
    assert [str(w.message) for w in said] == []  # no "Glyph 1 (\x01) missing from font(s)"
    for fig in figs:
        texts = [t.get_text() for t in fig.findobj(Text)]
        # the note's own line break is the only one drawn
        assert all(t.isprintable() for t in texts for t in t.split("\n")), texts
        assert not [t for t in texts if "\n" in t and not t.startswith("best ")]
    drawn = {t.get_text() for t in figs[0].findobj(Text)}
    assert {"ctl\\x01\\x7fname", "two\\nlines", "a\\u202eRTL\\u202c/b", "run\\u202e1\\n"} <= drawn
    assert {"x\\x01", "y\\n"} <= set(legend_texts(by_title(figs[0])["both"]))
    assert any(t.startswith("best two\\nlines = ") for t in drawn)
    from curvelog._text import printable

    assert printable("a\u202eb\\x") == "a\\u202eb\\x" == printable(printable("a\u202eb\\x"))


def test_many_charts_draw_the_first_with_a_note_of_those_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QA data #2: 321 per-layer charts made a 343-inch figure that could not be saved
    at any --size; the default figure draws the first `MAX_PANELS` (the best metric's
    chart among them, wherever it is), and its foot says how many were left out."""
    from curvelog.plot import _figure

    layers = [chart(f"layer{i}", series(f"grad/layer{i}", STEPS, loss_curve())) for i in range(320)]
    b = bundle_of(
        *layers, chart("loss", series("loss", STEPS, loss_curve())),
        best=best_of("loss", 990, loss_curve()[-1]),
    )  # fmt: skip
    monkeypatch.setattr(_figure, "MAX_PANELS", 6)  # the rule, not matplotlib's speed
    for fig in (plot_bundle(b, dpi=30), compare_bundles([b, b], dpi=30)):
        titles = [ax.get_title(loc="left") for ax in fig.axes]
        assert titles == ["layer0", "layer1", "layer2", "layer3", "layer4", "loss"]
        note = [t for t in fig.findobj() if str(t.get_gid()).startswith("curvelog-left-out")]
        assert [(t.get_gid(), t.get_text()) for t in note] == [
            ("curvelog-left-out:315", "6 of 321 charts drawn, 315 left out: pick them by id "
             "(--charts ID,ID; charts=[...] in Python)")
        ]  # fmt: skip
        assert figure_bytes(fig, "png").startswith(b"\x89PNG")
    picked = plot_bundle(b, charts=[f"layer{i}" for i in range(8)], dpi=30)
    assert len(picked.axes) == 8
    assert not [t for t in picked.texts if "left-out" in str(t.get_gid())]
    monkeypatch.undo()
    assert _figure.MAX_PANELS == 60  # README: "at most 60 panels"


def test_values_beyond_what_an_axis_holds_are_marked_off_scale_with_their_true_values() -> None:
    """QA data #4: +1e300 and -1e280 were drawn at +-1e250 without a word, and a decay
    to 1e-297 on a log axis looked like a plateau at 1e-150. Such points get a hollow
    triangle the way they go and a legend entry with their true range."""
    spikes = [1e300 if s == 500 else -1e280 if s == 700 else 1.0 for s in STEPS]
    decay = [10.0 ** (-3 * i) for i in range(len(STEPS))]
    fine = loss_curve()
    for y, entry, ups, downs in (
        (spikes, "off scale \u00d72: -1.000e280 \u2026 1.000e300", [500.0], [700.0]),
        (decay, "off scale \u00d749: 1.000e-297 \u2026 1.000e-153", [], STEPS[51:]),
    ):
        b = bundle_of(chart("loss", series("loss", STEPS, y)))
        for fig in (plot_bundle(b, dpi=30), compare_bundles([b, b], dpi=30)):
            ax = fig.axes[0]
            assert entry in legend_texts(ax)
            marks = lines(ax, "curvelog-offscale")
            up = [float(v) for m in marks if m.get_marker() == "^" for v in m.get_xdata()]
            down = [float(v) for m in marks if m.get_marker() == "v" for v in m.get_xdata()]
            assert sorted(set(up)) == ups and sorted(set(down)) == [float(s) for s in downs]
    ax = plot_bundle(bundle_of(chart("loss", series("loss", STEPS, fine))), dpi=30).axes[0]
    assert lines(ax, "curvelog-offscale") == []


@pytest.mark.parametrize(
    ("t0", "origin"),
    [
        (1_764_000_000_000_000_000, "1,764,000,000,000,000,000"),  # ns timestamps as steps
        (2**53, "9,007,199,254,740,000"),
        (2**63 - 20_000, "9,223,372,036,854,750,000"),
    ],
)
def test_steps_far_from_zero_are_drawn_relative_to_an_origin_the_x_label_names(
    t0: int, origin: str
) -> None:
    """QA data #5: past 2**53 every x tick read ``1.764e+06T``, near 2**63 there were
    none, dense steps fell into stripes, and the best's step was another number."""
    steps = [t0 + i * 10 for i in range(1000)]
    y = [1.0 / (i + 1) for i in range(1000)]
    best = best_of("loss", steps[997], y[997])
    b = bundle_of(chart("loss", series("loss", steps, y)), best=best, resumes=[steps[500]])
    for fig in (plot_bundle(b, dpi=50), compare_bundles([b, b], dpi=50)):
        figure_bytes(fig, "png")
        ax = fig.axes[0]
        assert ax.get_xlabel() == f"step \u2212 {origin}"
        ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
        off = t0 - int(origin.replace(",", ""))
        line = lines(ax, "curvelog-series")[0]
        assert list(line.get_xdata()) == [float(off + i * 10) for i in range(1000)]  # exact
        assert set(resume_steps(ax)) == {float(off + 5000)}
    notes = [t.get_text() for t in plot_bundle(b, dpi=50).axes[0].texts]
    assert notes == [f"best loss = {_fmt_value(y[997])}\nat step {steps[997]:,}"]
    ax = plot_bundle(bundle_of(chart("loss", series("loss", STEPS, loss_curve()))), dpi=50).axes[0]
    assert ax.get_xlabel() == "step"  # a run from step 0 has no origin
