"""curvelog.sampling._views and `auto` in the views a chart is drawn in.

One synthetic curve per failure class of issue #11 (a divergence to 1e12 then
NaN, values near zero on a log axis, 100x one-step spikes, an LR step
schedule, sparse steps among dense ones, huge step gaps), each judged by a
rasteriser written here (the judge's model: in each pixel column, the rows
the polyline touches; a gap breaks the line) in the view ``curvelog plot``
draws it (the panel's y scale, 2% x padding) on a default panel (430 x 280)
and a large screen (1600 x 400), against curvelog's LTTB and MinMax given as
many points. Then the rule itself, and the bundle and plot following it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from curvelog.bundle import build_bundle, schema_document, validate_bundle
from curvelog.sampling import downsample
from curvelog.sampling._views import LOG_SPAN, PLOT_XPAD, charts_for, panel_yscale

CANVASES = ((430, 280), (1600, 400))


# --------------------------------------------------------------------------- a rasteriser


def raster(
    x: np.ndarray,
    y: np.ndarray,
    *,
    limits: tuple[tuple[float, float], tuple[float, float]],
    logy: bool,
    width: int,
    height: int,
) -> np.ndarray:
    """Lit pixels (width x height bools) of the polyline (x, y): per column, the
    rows between the lowest and highest value the line takes in it. NaN, inf
    and, on a log axis, values <= 0 break the line; a point between two breaks
    draws nothing."""
    (x0, x1), (y0, y1) = limits
    u = (x.astype(np.float64) - x0) / (x1 - x0) * width
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan) if logy else y
    v = (d - y0) / (y1 - y0) * height
    v = np.where(np.isfinite(v), v, np.nan)
    img = np.zeros((width, height), dtype=bool)
    seg = ~np.isnan(v[:-1]) & ~np.isnan(v[1:])
    lo = np.full(width, np.inf)
    hi = np.full(width, -np.inf)
    for i in np.flatnonzero(seg):  # segment by segment: slow, obviously right
        ua, ub, va, vb = u[i], u[i + 1], v[i], v[i + 1]
        ca = min(int(np.floor(ua)), width - 1)
        cb = min(int(np.floor(ub)), width - 1)
        for c in range(max(ca, 0), min(cb, width - 1) + 1):
            left, right = max(ua, c), min(ub, c + 1)
            if ub > ua:
                va_c = va + (left - ua) * (vb - va) / (ub - ua)
                vb_c = va + (right - ua) * (vb - va) / (ub - ua)
            else:
                va_c, vb_c = va, vb
            vals = [va_c, vb_c] + ([va] if c == ca else []) + ([vb] if c == cb else [])
            lo[c], hi[c] = min(lo[c], *vals), max(hi[c], *vals)
    for c in np.flatnonzero(np.isfinite(lo)):
        a, b = int(np.floor(lo[c])), int(np.floor(hi[c]))
        if b < 0 or a >= height:
            continue
        img[c, max(a, 0) : min(b, height - 1) + 1] = True
    return img


def plotted_limits(
    x: np.ndarray, y: np.ndarray, logy: bool
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The plot's limits: steps padded by 2%, finite (positive, on log) values by 5%."""
    pad = (float(x[-1]) - float(x[0])) * PLOT_XPAD
    f = y[np.isfinite(y) & ((y > 0) if logy else True)]
    d = np.log10(f) if logy else f
    lo, hi = float(d.min()), float(d.max())
    m = (hi - lo) * 0.05
    return (float(x[0]) - pad, float(x[-1]) + pad), (lo - m, hi + m)


def pixel_error(x: np.ndarray, y: np.ndarray, idx: np.ndarray, logy: bool) -> list[float]:
    """XOR / union of lit pixels, raw against the points ``idx``, per canvas."""
    lim = plotted_limits(x, y, logy)
    out = []
    for w, h in CANVASES:
        raw = raster(x, y, limits=lim, logy=logy, width=w, height=h)
        down = raster(x[idx], y[idx], limits=lim, logy=logy, width=w, height=h)
        union = np.count_nonzero(raw | down)
        out.append(np.count_nonzero(raw ^ down) / union if union else 0.0)
    return out


def assert_not_worse_than_classics(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> list[float]:
    """auto's plotted-view error <= LTTB's and MinMax's with as many points."""
    logy = panel_yscale([y]) == "log"
    ours = pixel_error(x, y, idx, logy)
    for method in ("lttb", "minmax"):
        theirs = pixel_error(x, y, downsample(x, y, method=method, n_out=idx.size), logy)
        for a, b, size in zip(ours, theirs, CANVASES, strict=True):
            assert a <= b + 1e-3, (method, size, a, b)
    return ours


# --------------------------------------------------------------------------- failure classes


def test_divergence_to_1e12_then_nan_keeps_the_history() -> None:
    """A loss between 1 and 35 for 20,000 steps with a high-LR bump, then
    1.5e12, then 41 NaN: drawn on a log axis, the history keeps its points,
    the budget is spent, and the NaN run costs two points of it."""
    rng = np.random.default_rng(1101)
    n = 20_000
    t = np.arange(n) / n
    y = 1.0 + 34.0 * np.exp(-t / 0.05) + rng.normal(0, 0.05, n)
    y[8000:9000] += 2.0 * np.sin(np.linspace(0, np.pi, 1000))  # the bump
    y = np.r_[np.abs(y) + 0.5, 1.5e12, np.full(41, np.nan)]
    x = np.arange(y.size, dtype=np.int64)
    assert panel_yscale([y]) == "log"
    idx = downsample(x, y, n_out=2000)
    finite = idx[np.isfinite(y[idx])]
    assert finite.size >= 1990 - 2  # the 41 NaN count as their two ends
    assert np.isnan(y[idx]).sum() == 41  # all kept, as documented
    assert np.count_nonzero((idx >= 8000) & (idx < 9000)) >= 40  # the bump is drawn
    assert max(np.diff(finite[finite < n])) <= 200  # no stretch of history left out
    assert_not_worse_than_classics(x, y, idx)


def test_values_near_zero_on_a_log_axis() -> None:
    """Positive values falling over seven decades: sampled for the log axis the
    plot draws, the tail near zero keeps its shape, and better than when
    sampled for a linear axis."""
    rng = np.random.default_rng(1102)
    n = 50_000
    t = np.arange(n) / n
    y = (np.exp(-t / 0.05) + 1e-7) * np.exp(rng.normal(0, 0.3, n))
    x = np.arange(n, dtype=np.int64)
    assert panel_yscale([y]) == "log"
    idx = downsample(x, y, n_out=1000)
    ours = assert_not_worse_than_classics(x, y, idx)
    linear = pixel_error(x, y, downsample(x, y, n_out=1000, yscale="linear"), True)
    assert sum(ours) < sum(linear)


def test_one_step_spikes_of_100x_are_all_kept() -> None:
    rng = np.random.default_rng(1103)
    n = 40_000
    y = 1.0 + rng.normal(0, 0.05, n)
    spikes = np.sort(rng.choice(np.arange(100, n - 100), 12, replace=False))
    y[spikes] *= 100.0
    x = np.arange(n, dtype=np.int64)
    idx = downsample(x, y, n_out=1000)
    assert np.isin(spikes, idx).all()
    assert_not_worse_than_classics(x, y, idx)


def test_lr_step_schedule_is_exact_with_few_points() -> None:
    """Four LR levels over four decades: a log panel, drawn exactly with a
    few points (steps need two each), most of the budget unspent."""
    n = 40_000
    y = np.repeat([1e-1, 1e-2, 1e-3, 1e-4], n // 4)
    x = np.arange(n, dtype=np.int64)
    assert panel_yscale([y]) == "log"
    idx = downsample(x, y, n_out=2000)
    assert idx.size < 250  # an eighth of the budget
    assert pixel_error(x, y, idx, True) == [0.0, 0.0]
    assert pixel_error(x, y, idx, False) == [0.0, 0.0]  # on the other scale too


def test_sparse_steps_among_dense_ones() -> None:
    """Every step for the first 10,000, then one every 500 up to 2,000,000
    (an eval-like cadence on most of the x axis)."""
    rng = np.random.default_rng(1105)
    x = np.r_[np.arange(10_000), np.arange(10_500, 2_000_000, 500)].astype(np.int64)
    y = 3.0 * np.exp(-x / 400_000) + rng.normal(0, 0.1, x.size)
    idx = downsample(x, y, n_out=1000)
    assert idx[0] == 0 and idx[-1] == x.size - 1
    assert_not_worse_than_classics(x, y, idx)


def test_huge_step_gaps() -> None:
    """Two clusters of steps 10**12 apart: columns between them are empty."""
    rng = np.random.default_rng(1106)
    x = np.r_[np.arange(5000), 10**12 + np.arange(5000)].astype(np.int64)
    y = np.cumsum(rng.normal(0, 1, x.size))
    idx = downsample(x, y, n_out=500)
    assert {0, 4999, 5000, x.size - 1} <= set(idx.tolist())
    assert_not_worse_than_classics(x, y, idx)


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("ys", "declared", "scale"),
    [
        ([[1.0, 50.0]], None, "linear"),  # 1.7 decades
        ([[1.0, 101.0]], None, "log"),
        ([[1.0, 101.0], [0.0, 1.0]], None, "linear"),  # a zero in the panel
        ([[1.0, 2.0], [5.0, 600.0]], None, "log"),  # one series spans the decades
        ([[1.0, 2.0]], "log", "log"),  # declared
        ([[-1.0, 2.0]], "log", "linear"),  # a log axis cannot draw -1
        ([[np.nan, np.inf, 1.0, 1000.0, -np.inf]], None, "log"),  # events do not count
        ([[np.nan]], "log", "linear"),  # nothing to draw
        ([], None, "linear"),
    ],
)
def test_panel_yscale(ys: list[list[float]], declared: str | None, scale: str) -> None:
    assert panel_yscale([np.asarray(y) for y in ys], declared) == scale


def test_the_charts_auto_optimises() -> None:
    """The plotted pictures first (default panel, large screen, 800 px; the
    panel's scale; 2% padding), then lower weights for the rest."""
    charts = charts_for("log", True)
    plotted = [c for c in charts if c.xpad == PLOT_XPAD]
    assert {(c.width, c.height) for c in plotted} == {(430, 280), (1600, 400), (800, 400)}
    assert all(c.logy and not c.logx for c in plotted)
    top = min(c.weight for c in plotted)
    assert all(c.weight < top for c in charts if c.logx or not c.logy)
    assert any(not c.logy for c in charts)  # the other scale
    assert not any(c.logy for c in charts_for("linear", False))  # no log of non-positive
    assert LOG_SPAN == 100.0


def test_yscale_is_checked() -> None:
    with pytest.raises(curvelog.SamplingError, match="yscale"):
        downsample([0, 1, 2], [1.0, 2.0, 3.0], yscale="symlog")


# --------------------------------------------------------------------------- bundle and plot


def _log(tmp_path: Path, values: dict[str, np.ndarray]) -> Path:
    path = tmp_path / "run.log"
    with curvelog.EventLog(path) as log:
        for i in range(len(next(iter(values.values())))):
            log.append(i, {k: float(v[i]) for k, v in values.items()})
    return path


def test_bundle_records_the_scale_each_chart_was_sampled_for(tmp_path: Path) -> None:
    n = 5000
    t = np.arange(n) / n
    path = _log(tmp_path, {"loss": 10 * np.exp(-t / 0.1) + 1e-3, "acc": t})
    bundle = build_bundle(curvelog.read(path), points=500)
    by = {c["id"]: c for c in bundle["charts"]}
    assert by["loss"]["sampled_for"] == {"yscale": "log"}
    assert by["acc"]["sampled_for"] == {"yscale": "linear"}
    validate_bundle(bundle)
    # the JSON Schema accepts it, and a bundle without the field (older) too
    import jsonschema

    schema = schema_document()
    doc = json.loads(json.dumps(bundle))
    jsonschema.validate(doc, schema)
    for c in doc["charts"]:
        del c["sampled_for"]
    jsonschema.validate(doc, schema)
    validate_bundle(doc)
    doc["charts"][0]["sampled_for"] = {"yscale": "symlog"}
    with pytest.raises(curvelog.BundleError, match="sampled_for/yscale"):
        validate_bundle(doc)


def test_plot_follows_the_recorded_scale(tmp_path: Path) -> None:
    n = 3000
    t = np.arange(n) / n
    path = _log(tmp_path, {"loss": 10 * np.exp(-t / 0.1) + 1e-3})
    bundle: dict[str, Any] = build_bundle(curvelog.read(path), points=300)
    fig = curvelog.plot_bundle(bundle)
    assert fig.axes[0].get_yscale() == "log"
    bundle["charts"][0]["sampled_for"] = {"yscale": "linear"}  # as recorded, not recomputed
    assert curvelog.plot_bundle(bundle).axes[0].get_yscale() == "linear"
    del bundle["charts"][0]["sampled_for"]  # an older bundle: the rule
    assert curvelog.plot_bundle(bundle).axes[0].get_yscale() == "log"


# --------------------------------------------------------------------------- what plot draws

#: Share of a panel's drawn pixels that may differ between ``plot`` of the
#: compacted bundle and of the same log compacted with ``method="none"``. A
#: pixel differs when the other picture has no ink within 1 px of it (the
#: lines are antialiased; a straight line drawn from 3 points or from 60,000
#: lands up to a pixel apart). Measured on the real runs at the default
#: options: at most 0.03% (gen_digits_mlp/loss, 10 of 34,191 pixels); without
#: the 1-px tolerance up to 10% (rl_tqc episode_length, a constant line).
PLOTTED_PIXEL_BOUND = 0.005


def _panels(bundle: dict[str, Any]) -> dict[str, np.ndarray]:
    """Ink (non-white) pixels inside each panel of ``plot_bundle(bundle)``."""
    fig = curvelog.plot_bundle(bundle)
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(int)  # type: ignore[attr-defined]
    top = buf.shape[0]
    out = {}
    for ax in fig.axes:
        bb = ax.get_window_extent()
        crop = buf[top - int(bb.y1) + 1 : top - int(bb.y0) - 2, int(bb.x0) + 2 : int(bb.x1) - 1]
        out[ax.get_title(loc="left")] = np.abs(crop - 255).sum(axis=2) > 60
    return out


def _differing_share(a: np.ndarray, b: np.ndarray) -> float:
    def grow(m: np.ndarray) -> np.ndarray:
        o = m.copy()
        o[1:] |= m[:-1]
        o[:-1] |= m[1:]
        o2 = o.copy()
        o2[:, 1:] |= o[:, :-1]
        o2[:, :-1] |= o[:, 1:]
        return o2

    differ = np.count_nonzero(a & ~grow(b)) + np.count_nonzero(b & ~grow(a))
    return differ / max(np.count_nonzero(a | b), 1)


def test_plot_of_the_compacted_runs_matches_plot_of_every_point(
    real_logs: dict[str, Path],
) -> None:
    """For every real run, each panel of ``curvelog plot`` of the default
    bundle differs from the same panel drawn from every raw point in at most
    PLOTTED_PIXEL_BOUND of its drawn pixels."""
    worst = {}
    for name, path in real_logs.items():
        run = curvelog.read(path)
        ours = _panels(build_bundle(run))
        full = _panels(build_bundle(run, method="none"))
        assert ours.keys() == full.keys()
        for title in ours:
            worst[f"{name}/{title}"] = _differing_share(ours[title], full[title])
    bad = {k: v for k, v in worst.items() if v > PLOTTED_PIXEL_BOUND}
    assert not bad, bad
    # the measure can fail: 100 points of MinMax lose the shape of a long run
    run = curvelog.read(real_logs["gen_digits_mlp"])
    coarse = _panels(build_bundle(run, method="minmax", points=100))
    full = _panels(build_bundle(run, method="none"))
    assert max(_differing_share(coarse[t], full[t]) for t in full) > 10 * PLOTTED_PIXEL_BOUND
