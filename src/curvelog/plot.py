"""Charts of a bundle: one panel per chart, the best point, NaN/inf events, resumes.

matplotlib is imported inside the functions, so ``import curvelog`` stays cheap
in a training loop, and only through ``matplotlib.figure.Figure`` with the Agg
canvas: pyplot's global state is never touched, so this works headless and
from several threads at once.

What a panel shows:

* a line per series, coloured by its label (``train`` has the same colour on
  every panel), thicker and with dots when a series has only a few points;
* the best point (a gold star) with a short note ``best <metric> = <value> /
  at step <step>`` placed where it covers the fewest points, on every chart
  that holds the best metric;
* NaN/inf events as red markers on the x axis where they happened (a red bar
  along the axis for a run of them), labelled once per panel in the legend;
* resumes as dashed grey vertical lines;
* a log y axis when every value is positive and a series spans more than two
  decades (or the bundle asks for one); ``logy=True/False`` forces it;
* with ``smooth=W`` a debiased EMA (TensorBoard's) over the faint raw line.

Output is deterministic: the same bundle gives the same PNG, SVG and PDF bytes
(no dates, a fixed SVG hash salt).
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

import numpy as np

from ._fs import atomic_write_bytes
from .bundle import validate_bundle
from .errors import BundleError, PathError, PlotError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "FORMATS",
    "compare_bundles",
    "ema",
    "format_step",
    "load_source",
    "plot_bundle",
    "plot_chart",
    "render_png",
    "run_names",
    "save_figure",
]

#: output formats by file extension
FORMATS: Final[dict[str, str]] = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: tab10 without its red, which marks NaN/inf events
PALETTE: Final[tuple[str, ...]] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
EVENT_COLOR: Final[str] = "#d62728"
RESUME_COLOR: Final[str] = "#555555"
BEST_COLOR: Final[str] = "#ffc20a"
LINESTYLES: Final[tuple[Any, ...]] = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (6, 2, 1, 2)))

_EVENT_STYLE: Final[dict[str, tuple[str, str]]] = {
    # kind: (marker, legend label)
    "nan": ("X", "NaN"),
    "inf": ("^", "+inf"),
    "-inf": ("v", "\u2212inf"),
}
_MAX_COLS: Final[int] = 3
_PANEL_SIZE: Final[tuple[float, float]] = (4.6, 3.2)  # inches per panel
_SPARSE: Final[int] = 60  # a series with at most this many points gets dots
_LOG_SPAN: Final[float] = 100.0  # "more than two decades"
#: finite values are drawn within +-this, so axis spans and ticks stay finite
#: (1e308 - -1e308 is inf)
_Y_CLAMP: Final[float] = 1e250
#: and on a log axis within [1/this, this], so decade ticks and margins stay finite
_LOG_CLAMP: Final[float] = 1e150
_MAX_SIDE_PX: Final[int] = 32_768  # Agg's limit on a side
_MAX_AREA_PX: Final[int] = 2**27  # ~134 Mpx, ~0.5 GB of RGBA

_RC: Final[dict[str, Any]] = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9.0,
    "axes.labelcolor": "#333333",
    "axes.edgecolor": "#666666",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.fontsize": 8.0,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "#cccccc",
    "legend.handlelength": 1.8,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "svg.hashsalt": "curvelog",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
}


#: rc_context swaps the process-wide rcParams: one figure is built or saved at a time
_STYLE_LOCK: Final = threading.RLock()


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    with _STYLE_LOCK, matplotlib.rc_context(cast(Any, _RC)):
        yield


# --------------------------------------------------------------------------- small helpers


def format_step(value: float, _pos: object = None) -> str:
    """A step as an engineering tick label: ``950``, ``10k``, ``12.5k``, ``1.5M``."""
    if not math.isfinite(value):
        return ""
    a = abs(value)
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{value / div:.4g}{suffix}"
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}"


def ema(y: Sequence[float | None] | np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of ``y``.

    ``s_n = w * s_{n-1} + (1 - w) * y_n`` from ``s_0 = 0``, divided by
    ``1 - w**n`` so the start is not pulled towards zero. Non-finite values
    (``None``, NaN, inf) stay NaN in the output and do not move the average.
    """
    _check_smooth(weight)
    values = np.asarray(y, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    if weight == 0.0:
        finite = np.isfinite(values)
        out[finite] = values[finite]
        return out
    last = 0.0
    n = 0
    one_minus = 1.0 - weight
    for i, v in enumerate(values.tolist()):
        if math.isfinite(v):
            last = last * weight + one_minus * v
            n += 1
            out[i] = last / (1.0 - weight**n)
    return out


def _check_smooth(weight: float) -> None:
    if not isinstance(weight, (int, float)) or not (0.0 <= float(weight) < 1.0):
        raise PlotError(f"smoothing weight must be in [0, 1), not {weight!r} (e.g. 0.6 or 0.9)")


#: longest user text drawn (titles, labels, metric names, notes); longer is cut with "…" (#10)
MAX_DRAWN_TEXT: Final = 60


#: longest axis label drawn: it must fit beside a panel of the default size
MAX_DRAWN_LABEL: Final = 60
#: longest best-point note drawn: it must fit inside a panel of the default size
MAX_DRAWN_NOTE: Final = 48


def _literal(text: object, limit: int = MAX_DRAWN_TEXT) -> str:
    """User text as matplotlib draws it literally: ``$`` escaped, so never mathtext.

    Cut to `MAX_DRAWN_TEXT` characters: matplotlib lays out text in time and
    memory that grow with its length (a 10 MB title took minutes and GBs).
    """
    s = str(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def _drawable(y: np.ndarray, log: bool) -> np.ndarray:
    """``y`` as drawn: finite values clamped so that axis arithmetic stays finite.

    Only values beyond 1e250 (1e150 and 1e-150 on a log axis) move, to that bound.
    """
    ok = np.isfinite(y)
    if log:
        ok &= y > 0
        lo, hi = 1.0 / _LOG_CLAMP, _LOG_CLAMP
    else:
        lo, hi = -_Y_CLAMP, _Y_CLAMP
    with np.errstate(invalid="ignore"):
        return np.where(ok, np.clip(y, lo, hi), y)


def _fmt_value(v: float) -> str:
    return f"{v:.4g}"


def _fmt_step_exact(step: int) -> str:
    return f"{step:,}"


def _bad(pointer: str, reason: str) -> BundleError:
    return BundleError("<bundle>", pointer, reason)


def _series_arrays(s: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    try:
        x = np.asarray(s["x"], dtype=np.float64)
        y = np.asarray(s["y"], dtype=np.float64)  # None -> NaN
    except (TypeError, ValueError):
        raise _bad(
            "", f"series {s.get('metric')!r}: x and y must hold numbers (or null in y)"
        ) from None
    return x, y


def _select_charts(available: Sequence[str], charts: Sequence[str] | str | None) -> list[str]:
    if charts is None:
        return list(available)
    wanted = [c.strip() for c in charts.split(",")] if isinstance(charts, str) else list(charts)
    wanted = [c for c in dict.fromkeys(wanted) if c]
    if not wanted:
        raise PlotError("no chart selected; available: " + ", ".join(available))
    unknown = [c for c in wanted if c not in available]
    if unknown:
        names = ", ".join(repr(c) for c in unknown)
        raise PlotError(
            f"unknown chart{'s' if len(unknown) > 1 else ''} {names}; "
            f"available: {', '.join(available)}"
        )
    return wanted


def _positive_span(charts: Sequence[Mapping[str, Any]]) -> tuple[bool, float]:
    """(all finite values positive, largest max/min ratio of one series)."""
    positive = True
    span = 1.0
    seen = False
    for chart in charts:
        for s in chart.get("series", ()):
            _, y = _series_arrays(s)
            y = y[np.isfinite(y)]
            if y.size == 0:
                continue
            seen = True
            lo, hi = float(y.min()), float(y.max())
            if lo <= 0:
                positive = False
            else:
                span = max(span, hi / lo)
    return positive and seen, span


def _auto_logy(charts: Sequence[Mapping[str, Any]]) -> bool:
    """Log y when every value is positive and a series spans > 2 decades (or the bundle asks)."""
    positive, span = _positive_span(charts)
    if not positive:
        return False
    return span > _LOG_SPAN or any(c.get("scale") == "log" for c in charts)


def _figsize(n: int, cols: int, size: tuple[float, float] | None) -> tuple[float, float]:
    if size is not None:
        w, h = size
        if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
            raise PlotError(f"figure size must be two positive numbers of inches, not {size!r}")
        return float(w), float(h)
    rows = -(-n // cols)
    return _PANEL_SIZE[0] * cols + 0.3, _PANEL_SIZE[1] * rows + 0.6


def _check_dpi(dpi: float) -> None:
    if not isinstance(dpi, (int, float)) or not (10 <= dpi <= 1200):
        raise PlotError(f"dpi must be between 10 and 1200, not {dpi!r}")


def _check_canvas(inches: tuple[float, float], dpi: float) -> None:
    """Refuse a canvas too big to draw (before Agg fails to allocate it)."""
    w, h = (round(v * dpi) for v in inches)
    if max(w, h) > _MAX_SIDE_PX or w * h > _MAX_AREA_PX:
        raise PlotError(
            f"a {inches[0]:g}x{inches[1]:g} inch figure at {dpi:g} dpi is {w:,}x{h:,} px, "
            f"too large (at most {_MAX_SIDE_PX:,} px a side and {_MAX_AREA_PX:,} px in all); "
            "use a smaller size or dpi"
        )


def _new_figure(n: int, size: tuple[float, float] | None, dpi: float) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _check_dpi(dpi)
    cols = 2 if n == 4 else max(1, min(_MAX_COLS, n))
    rows = -(-n // cols)
    figsize = _figsize(n, cols, size)
    _check_canvas(figsize, dpi)
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.06, h_pad=0.06, wspace=0.04, hspace=0.06)  # type: ignore[union-attr, call-arg]
    gs = fig.add_gridspec(rows, cols)
    axes = [fig.add_subplot(gs[i // cols, i % cols]) for i in range(n)]
    return fig, axes


def _x_range(charts: Sequence[Mapping[str, Any]]) -> tuple[float, float] | None:
    lo, hi = math.inf, -math.inf
    for c in charts:
        for s in c.get("series", ()):
            xs = s.get("x") or ()
            if xs:
                lo = min(lo, float(min(xs)))
                hi = max(hi, float(max(xs)))
            for e in s.get("events", ()):
                lo = min(lo, float(e["step"]))
                hi = max(hi, float(e.get("last_step", e["step"])))
    if lo > hi:
        return None
    if lo == hi:
        return lo - 1, hi + 1
    pad = (hi - lo) * 0.02
    return lo - pad, hi + pad


# --------------------------------------------------------------------------- one panel


class _Colors:
    """Colours by series label, the same on every panel of a figure."""

    def __init__(self) -> None:
        self._by_label: dict[str, str] = {}

    def __call__(self, label: str) -> str:
        if label not in self._by_label:
            self._by_label[label] = PALETTE[len(self._by_label) % len(PALETTE)]
        return self._by_label[label]


def plot_chart(
    ax: Axes,
    chart: Mapping[str, Any],
    *,
    best: Mapping[str, Any] | None = None,
    resumes: Sequence[Mapping[str, Any]] = (),
    logy: bool | None = None,
    logx: bool = False,
    smooth: float = 0.0,
    color: str | None = None,
    label_prefix: str = "",
    annotate: bool = True,
    legend: bool = True,
    colors: Callable[[str], str] | None = None,
) -> Axes:
    """Draw one chart of a bundle on ``ax`` and return ``ax``.

    Can be called several times on the same axes (`compare_bundles` does,
    once per run, with ``color`` set, ``annotate=False`` and ``legend=False``).

    :param best: the bundle's ``best``; starred (and, with ``annotate``,
        noted) when one of the chart's series is the best metric.
    :param resumes: the bundle's ``resumes``, drawn as dashed vertical lines.
    :param logy: force a log (True) or linear (False) y axis; None decides
        from the data (see the module docstring).
    :param smooth: EMA weight in [0, 1); 0 draws the raw lines.
    :param color: one colour for every series of the chart (the series then
        differ by line style); default a colour per label.
    :param label_prefix: put before each series label in the legend.
    :param legend: add a legend when it says more than the title (two
        entries or more); it lists the series, the events and the resumes.
    :param colors: label -> colour, to share colours across panels.
    """
    _draw_chart(
        ax,
        chart,
        best=best,
        resumes=resumes,
        logy=logy,
        logx=logx,
        smooth=smooth,
        color=color,
        label_prefix=label_prefix,
        annotate=annotate,
        legend=legend,
        colors=colors,
        resume_label=True,
    )
    return ax


def _draw_chart(
    ax: Axes,
    chart: Mapping[str, Any],
    *,
    best: Mapping[str, Any] | None,
    resumes: Sequence[Mapping[str, Any]],
    logy: bool | None,
    logx: bool,
    smooth: float,
    color: str | None,
    label_prefix: str,
    annotate: bool,
    legend: bool,
    colors: Callable[[str], str] | None,
    resume_label: bool,
) -> tuple[float, float] | None:
    """`plot_chart`; returns the best point drawn, if any."""
    _check_smooth(smooth)
    series = list(chart.get("series", ()))
    pick = colors if colors is not None else _Colors()
    ax.set_title(_literal(chart.get("title", chart.get("id", ""))))
    ax.set_xlabel(_literal(chart.get("xlabel", "step"), MAX_DRAWN_LABEL))
    ax.set_ylabel(_literal(chart.get("ylabel", ""), MAX_DRAWN_LABEL))

    use_logy = _auto_logy([chart]) if logy is None else bool(logy)
    if use_logy:
        ax.set_yscale("log", nonpositive="mask")
    else:  # no "1e-13+1.000000015e-1" offset label: ticks say their values
        ax.ticklabel_format(axis="y", useOffset=False)
    if logx:
        ax.set_xscale("log", nonpositive="mask")
    _step_axis(ax, logx)

    arrays = [_series_arrays(s) for s in series]
    densest = max((x.size for x, _ in arrays), default=0)
    best_metric = best.get("metric") if best else None
    best_xy: tuple[float, float] | None = None
    event_steps: dict[str, list[tuple[float, float, int]]] = {}
    drawn = 0
    for k, (s, (x, y)) in enumerate(zip(series, arrays, strict=True)):
        name = str(s.get("label", s.get("metric", "")))
        label = _literal(label_prefix + name)
        c = color or pick(name)
        ls = LINESTYLES[k % len(LINESTYLES)] if color else "-"
        gid = f"curvelog-series:{s.get('metric', '')}"
        if x.size:
            drawn += 1
            # sparse series (evals) go on top of dense ones, thicker, with dots when few
            sparse = x.size <= _SPARSE
            thin = x.size > 400 and x.size * 4 > densest
            z = 2.0 + (1.0 - x.size / max(densest, 1))
            marker = "o" if sparse else None
            shown = _drawable(y, use_logy)
            if smooth > 0.0:
                ax.plot(
                    x,
                    shown,
                    color=c,
                    lw=0.8,
                    alpha=0.25,
                    ls=ls,
                    gid=gid + ":raw",
                    zorder=z,
                    marker=marker,
                    ms=2.0,
                )
                smoothed = ema(y, smooth)
                finite = y[np.isfinite(y)]
                if finite.size:  # float error must not leave the data's range (a flat line)
                    with np.errstate(invalid="ignore"):
                        smoothed = np.clip(smoothed, finite.min(), finite.max())
                smoothed = _drawable(smoothed, use_logy)
                ax.plot(x, smoothed, color=c, lw=1.7, ls=ls, label=label, gid=gid, zorder=z + 0.01)
            else:
                ax.plot(
                    x,
                    shown,
                    color=c,
                    lw=1.0 if thin else 1.6,
                    ls=ls,
                    label=label,
                    gid=gid,
                    marker=marker,
                    ms=3.0,
                    zorder=z,
                )
        for e in s.get("events", ()):
            kind = str(e.get("kind", "nan"))
            step = float(e["step"])
            last = float(e.get("last_step", e["step"]))
            n = e.get("count", 1)
            n = n if isinstance(n, int) and n > 0 else 1
            event_steps.setdefault(kind if kind in _EVENT_STYLE else "nan", []).append(
                (step, last, n)
            )
        if best is not None and best_metric is not None and s.get("metric") == best_metric:
            best_xy = best_xy or _best_point(best, x, y)
    if drawn == 0:
        ax.text(
            0.5,
            0.5,
            "no data",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#888888",
            gid="curvelog-nodata",
        )

    _draw_events(ax, event_steps)
    _draw_resumes(ax, resumes, color, resume_label)
    if best_xy is not None and use_logy and best_xy[1] <= 0:
        best_xy = None
    if best_xy is not None:
        star = (best_xy[0], float(_drawable(np.array([best_xy[1]]), use_logy)[0]))
        ax.plot(
            [star[0]],
            [star[1]],
            ls="none",
            marker="*",
            ms=14 if color is None else 12,
            mfc=color or BEST_COLOR,
            mec="#222222",
            mew=0.8,
            zorder=6,
            gid="curvelog-best",
        )
        if annotate and best is not None:
            _annotate_best(ax, star, best, best_xy[1])
    if legend:
        _legend(ax)
    return best_xy


def _best_point(
    best: Mapping[str, Any], x: np.ndarray, y: np.ndarray
) -> tuple[float, float] | None:
    step = best.get("step")
    value = best.get("value")
    if not isinstance(step, int):
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        # no value in the bundle's best: the series' value at that step, if it has one
        hit = np.flatnonzero(x == step)
        if hit.size == 0 or not math.isfinite(float(y[hit[0]])):
            return None
        value = float(y[hit[0]])
    return float(step), float(value)


def _step_axis(ax: Axes, logx: bool) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(format_step))
    if logx:
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], integer=True))


def _draw_events(ax: Axes, event_steps: Mapping[str, list[tuple[float, float, int]]]) -> None:
    """Red markers on the x axis (and a red bar along it for a run of non-finite values).

    The legend counts values: a run of 40 NaN steps is one marker and ``NaN ×40``.
    """
    trans = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for kind, spans in event_steps.items():
        marker, name = _EVENT_STYLE[kind]
        xs = [a for a, _, _ in spans]
        count = sum(n for _, _, n in spans)
        ax.plot(
            xs,
            [0.0] * len(xs),
            ls="none",
            marker=marker,
            ms=7,
            mfc=EVENT_COLOR,
            mec="white",
            mew=0.6,
            transform=trans,
            clip_on=False,
            zorder=7,
            gid=f"curvelog-events:{kind}",
            label=f"{name} \u00d7{count:,}" if count > 1 else name,
        )
        for a, b, _ in spans:
            if b > a:
                ax.plot(
                    [a, b],
                    [0.0, 0.0],
                    color=EVENT_COLOR,
                    lw=4,
                    alpha=0.7,
                    transform=trans,
                    clip_on=False,
                    zorder=6,
                    solid_capstyle="butt",
                    gid=f"curvelog-eventspan:{kind}",
                )
                ax.axvspan(a, b, color=EVENT_COLOR, alpha=0.06, lw=0, zorder=0)


def _resume_label(n: int) -> str:
    return "resume" if n == 1 else f"resume \u00d7{n}"


def _draw_resumes(
    ax: Axes, resumes: Sequence[Mapping[str, Any]], color: str | None, with_label: bool
) -> None:
    """Dashed vertical lines, fainter when there are many."""
    steps = sorted({int(r["step"]) for r in resumes})
    if not steps:
        return
    alpha = 0.75 if len(steps) <= 12 else (0.35 if len(steps) <= 40 else 0.22)
    if color:
        alpha *= 0.7
    coll = ax.vlines(
        steps,
        0.0,
        1.0,
        transform=ax.get_xaxis_transform(),
        colors=color or RESUME_COLOR,
        linestyles=(0, (4, 3)),
        linewidths=0.9,
        alpha=alpha,
        zorder=1,
        label=_resume_label(len(steps)) if with_label else "_nolegend_",
    )
    coll.set_gid("curvelog-resumes")


def _legend(ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, lab in zip(handles, labels, strict=True):
        seen.setdefault(lab, h)
    old = ax.get_legend()
    if old is not None:
        old.remove()
    if len(seen) < 2:  # a lone series is named by the title
        return
    leg = ax.legend(list(seen.values()), list(seen.keys()), loc="best")
    leg.set_gid("curvelog-legend")


def _dense_points(ax: Axes) -> tuple[np.ndarray, np.ndarray]:
    """Points every few pixels along every data line of ``ax`` (display coordinates).

    With their weights: a faint raw line under an EMA matters less than a full line.
    """
    out = [np.zeros((0, 2))]
    weights = [np.zeros(0)]
    for line in ax.get_lines():
        gid = line.get_gid() or ""
        if not gid.startswith("curvelog-series"):
            continue
        before = sum(len(o) for o in out)
        xy = np.asarray(line.get_xydata(), dtype=np.float64)
        if xy.size == 0:
            continue
        d = ax.transData.transform(xy)
        ok = np.isfinite(d).all(axis=1)
        seg_ok = ok[:-1] & ok[1:]
        a, b = d[:-1][seg_ok], d[1:][seg_ok]
        out.append(d[ok])
        if a.size:
            length = np.hypot(*(b - a).T)
            n = np.minimum(np.ceil(length / 4.0), 200).astype(np.int64)
            many = n > 1
            if many.any():
                reps = n[many]
                idx = np.repeat(np.arange(reps.size), reps)
                frac = (
                    np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
                ) / np.repeat(reps, reps)
                out.append(a[many][idx] + (b[many] - a[many])[idx] * frac[:, None])
        added = sum(len(o) for o in out) - before
        weights.append(np.full(added, 0.25 if gid.endswith(":raw") else 1.0))
    return np.concatenate(out), np.concatenate(weights)


def _place_note(
    ax: Axes, xy: tuple[float, float], w: float, h: float, candidates: Sequence[tuple[float, float]]
) -> tuple[float, tuple[float, float]]:
    """The candidate offset whose note box covers the fewest line points (and stays inside)."""
    fig = ax.get_figure()
    assert fig is not None
    px = fig.dpi / 72.0
    p = ax.transData.transform([xy])[0]
    box = ax.get_window_extent()
    pts, weight = _dense_points(ax)
    best_score = math.inf
    choice = candidates[0]
    for order, (dx, dy) in enumerate(candidates):
        ox, oy = p[0] + dx * px, p[1] + dy * px
        x0 = ox if dx > 0 else (ox - w if dx < 0 else ox - w / 2)
        y0 = oy if dy > 0 else (oy - h if dy < 0 else oy - h / 2)
        x1, y1 = x0 + w, y0 + h
        inside = (pts[:, 0] >= x0 - 3) & (pts[:, 0] <= x1 + 3)
        inside &= (pts[:, 1] >= y0 - 3) & (pts[:, 1] <= y1 + 3)
        score = float(weight[inside].sum())
        outside = max(0.0, box.x0 - x0) + max(0.0, x1 - box.x1)
        outside += max(0.0, box.y0 - y0) + max(0.0, y1 - box.y1)
        score += outside * 2.0 + math.hypot(dx, dy) * 0.03 + order * 0.001
        if score < best_score:
            best_score, choice = score, (dx, dy)
    return best_score, choice


def _make_room(ax: Axes, value: float, up: bool, frac: float) -> bool:
    """Move the top (or bottom) y limit so ``value`` is ``frac`` of the height from it."""
    if not 0 < frac < 0.45:
        return False
    log = ax.get_yscale() == "log"
    if log and value <= 0:
        return False
    a, b = ax.get_ylim()

    def f(v: float) -> float:
        return math.log10(v) if log else v

    def g(v: float) -> float:
        if not log:
            return v
        return math.inf if v > 308.0 else 10.0 ** float(v)

    lo, hi, v = f(a), f(b), f(value)
    if up:
        if (hi - v) >= frac * (hi - lo):
            return False
        a, b = a, g((v - frac * lo) / (1 - frac))
    else:
        if (v - lo) >= frac * (hi - lo):
            return False
        a, b = g((v - frac * hi) / (1 - frac)), b
    bound = _LOG_CLAMP**1.3 if log else _Y_CLAMP * 1e20  # ticks must stay finite too
    if not (-bound <= a <= bound and -bound <= b <= bound) or (log and a * bound < 1.0):
        return False  # no room near the largest floats
    ax.set_ylim(a, b)
    return True


def _annotate_best(
    ax: Axes, xy: tuple[float, float], best: Mapping[str, Any], value: float
) -> None:
    """A short note beside the best point (drawn at ``xy``), where it covers the fewest points."""
    ax.autoscale_view()
    metric = str(best.get("metric"))
    text = f"best {metric} = {_fmt_value(value)}\nat step {_fmt_step_exact(int(xy[0]))}"
    fig = ax.get_figure()
    assert fig is not None
    px = fig.dpi / 72.0
    fs = 7.5
    # text box size estimate in pixels (DejaVu Sans averages ~0.6 em per character)
    w = (max(len(line) for line in text.splitlines()) * 0.6 * fs + 8) * px
    h = (2 * 1.3 * fs + 8) * px
    # (dx, dy) offsets in points from the star, nearest first
    candidates = [(dx, dy) for dy in (16, -16, 36, -36, 60, -60) for dx in (14, -14, 0, 44, -44)]
    candidates += [(dx, 0) for dx in (16, -16, 44, -44)]  # beside the star, at its height
    score, choice = _place_note(ax, xy, w, h, candidates)
    if score >= 4:
        # Every place covers the curve: make room above (or below) the star and go there.
        box = ax.get_window_extent()
        p = ax.transData.transform([xy])[0]
        up = p[1] >= (box.y0 + box.y1) / 2
        if _make_room(ax, xy[1], up, (h + 22 * px + 6) / max(box.height, 1.0)):
            side = [(dx, dy) for dx, dy in candidates if (dy > 0 if up else dy < 0)]
            score, choice = _place_note(ax, xy, w, h, side)
    dx, dy = choice
    ha = "left" if dx > 0 else ("right" if dx < 0 else "center")
    va = "bottom" if dy > 0 else ("top" if dy < 0 else "center")
    ax.annotate(
        _literal(text, MAX_DRAWN_NOTE),
        xy=xy,
        xytext=(dx, dy),
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=fs,
        color="#222222",
        zorder=8,
        gid="curvelog-best-note",
        bbox={
            "boxstyle": "round,pad=0.3",
            "fc": "white",
            "ec": "#bbbbbb",
            "lw": 0.6,
            "alpha": 0.92,
        },
        arrowprops={"arrowstyle": "-", "color": "#666666", "lw": 0.7, "shrinkA": 0, "shrinkB": 6},
    )


# --------------------------------------------------------------------------- whole figures


def _run_name(bundle: Mapping[str, Any]) -> str:
    run = bundle.get("run")
    if isinstance(run, Mapping):
        for key in ("name", "run_id"):
            v = run.get(key)
            if isinstance(v, str) and v:
                return v
    return "run"


def _subtitle(bundle: Mapping[str, Any], smooth: float) -> str:
    parts: list[str] = []
    summary = bundle.get("summary")
    if isinstance(summary, Mapping):
        steps = summary.get("steps")
        if isinstance(steps, int):
            parts.append(f"{steps:,} steps")
    run = bundle.get("run")
    sessions = run.get("sessions") if isinstance(run, Mapping) else None
    if isinstance(sessions, int) and sessions > 1:
        parts.append(f"{sessions} sessions")
    entries = list(bundle.get("resumes") or ())
    resumes, at = len(entries), len({r["step"] for r in entries})  # as inspect counts them
    if resumes:
        where = f" at {at:,} steps" if at < resumes else ""
        parts.append(f"{resumes:,} resume{'s' if resumes > 1 else ''}{where} (dashed)")
    if smooth > 0:
        parts.append(f"EMA {smooth:g} over the raw line")
    return "  \u00b7  ".join(parts)


def _titles(fig: Figure, title: str, sub: str) -> None:
    """Run name at the top left, facts in grey at the top right, on one line."""
    t = fig.suptitle(_literal(title), fontsize=11.5, fontweight="bold", x=0.012, ha="left")
    t.set_gid("curvelog-title")
    if sub:
        from matplotlib.text import Annotation

        # y follows the title wherever the layout engine puts it
        note = Annotation(
            _literal(sub),
            xy=(0.988, 0.5),
            xycoords=("figure fraction", t),
            ha="right",
            va="center",
            fontsize=8.5,
            color="#555555",
        )
        note.set_gid("curvelog-subtitle")
        fig.add_artist(note)


def plot_bundle(
    bundle: Mapping[str, Any],
    *,
    charts: Sequence[str] | str | None = None,
    logy: bool | None = None,
    logx: bool = False,
    smooth: float = 0.0,
    size: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """A figure of ``bundle``: one panel per chart in a grid of up to 3 columns.

    :param charts: chart ids to draw, in this order (a list or ``"loss,acc"``);
        default all.
    :param logy: None decides per panel; True/False forces every panel.
    :param smooth: EMA weight in [0, 1), drawn over the faint raw lines.
    :param size: (width, height) in inches; default 4.6 x 3.2 per panel.
    :raises PlotError: an unknown chart id (the message lists the ids), a bad option.
    :raises BundleError: the bundle does not follow the schema (`validate_bundle`).
    """
    validate_bundle(bundle)
    _check_smooth(smooth)
    all_charts = list(bundle["charts"])
    by_id = {c["id"]: c for c in all_charts}
    ids = _select_charts(list(by_id), charts)
    chosen = [by_id[i] for i in ids]
    with _style():
        fig, axes = _new_figure(max(1, len(chosen)), size, dpi)
        _titles(fig, _run_name(bundle), _subtitle(bundle, smooth))
        if not chosen:
            axes[0].text(
                0.5,
                0.5,
                "the bundle has no charts",
                ha="center",
                va="center",
                transform=axes[0].transAxes,
                color="#888888",
            )
            axes[0].set_axis_off()
            return fig
        colors = _Colors()
        xr = None if logx else _x_range(chosen)
        for ax, chart in zip(axes, chosen, strict=True):
            if xr is not None:
                ax.set_xlim(*xr)
                ax.set_autoscalex_on(False)
            _draw_chart(
                ax,
                chart,
                best=bundle.get("best"),
                resumes=bundle.get("resumes") or (),
                logy=logy,
                logx=logx,
                smooth=smooth,
                color=None,
                label_prefix="",
                annotate=True,
                legend=True,
                colors=colors,
                resume_label=False,
            )
    return fig


def _unique_names(bundles: Sequence[Mapping[str, Any]], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(bundles):
            raise PlotError(f"{len(names)} names for {len(bundles)} runs")
        out = [str(n) for n in names]
    else:
        out = [_run_name(b) for b in bundles]
    counts: dict[str, int] = {}
    for n in out:
        counts[n] = counts.get(n, 0) + 1
    seen: dict[str, int] = {}
    result = []
    for n in out:
        if counts[n] > 1:
            seen[n] = seen.get(n, 0) + 1
            result.append(f"{n} #{seen[n]}")
        else:
            result.append(n)
    return result


def compare_bundles(
    bundles: Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str] | None = None,
    charts: Sequence[str] | str | None = None,
    logy: bool | None = None,
    logx: bool = False,
    smooth: float = 0.0,
    size: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """The same charts of several runs overlaid, each run in one colour on every panel.

    Panels are the union of the runs' chart ids (in order of first
    appearance); a run's series differ by line style; each run's best is
    starred in its colour; the figure legend names the runs (``names``, or
    each bundle's ``run.name``, numbered where they collide).
    """
    if not bundles:
        raise PlotError("nothing to compare: no bundles given")
    for i, b in enumerate(bundles):
        validate_bundle(b, source=f"bundle {i + 1}")
    _check_smooth(smooth)
    run_names = _unique_names(bundles, names)
    order: dict[str, None] = {}
    for b in bundles:
        for c in b["charts"]:
            order.setdefault(c["id"], None)
    ids = _select_charts(list(order), charts)
    with _style():
        fig, axes = _new_figure(max(1, len(ids)), size, dpi)
        fig.suptitle(
            _literal("  vs  ".join(run_names)) if len(run_names) <= 3 else f"{len(run_names)} runs",
            fontsize=11,
            x=0.01,
            ha="left",
            fontweight="bold",
        )
        per_chart = {
            cid: [c for b in bundles for c in b["charts"] if c["id"] == cid] for cid in ids
        }
        every = [c for cs in per_chart.values() for c in cs]
        xr = None if logx else _x_range(every)
        from matplotlib.lines import Line2D

        run_handles = []
        for k, (b, name) in enumerate(zip(bundles, run_names, strict=True)):
            color = PALETTE[k % len(PALETTE)]
            note = ""
            best = b.get("best")
            if isinstance(best, Mapping) and isinstance(best.get("value"), (int, float)):
                where = format_step(best["step"])
                note = f"  (best {best.get('metric')} {_fmt_value(best['value'])} @ {where})"
            run_handles.append((Line2D([], [], color=color, lw=2.0), _literal(name + note)))
        if not ids:  # valid bundles without charts (a log with no metrics): say so (#10)
            axes[0].text(0.5, 0.5, "none of the bundles has a chart", ha="center",
                         va="center", transform=axes[0].transAxes, color="#888888")  # fmt: skip
            axes[0].set_axis_off()
        for ax, cid in zip(axes[: len(ids)], ids, strict=True):
            if xr is not None:
                ax.set_xlim(*xr)
                ax.set_autoscalex_on(False)
            panel_logy = _auto_logy(per_chart[cid]) if logy is None else logy
            labels: dict[str, Any] = {}
            for k, b in enumerate(bundles):
                chart = next((c for c in b["charts"] if c["id"] == cid), None)
                if chart is None:
                    continue
                for j, s in enumerate(chart["series"]):
                    labels.setdefault(
                        _literal(s.get("label", s.get("metric", ""))),
                        LINESTYLES[j % len(LINESTYLES)],
                    )
                plot_chart(
                    ax,
                    chart,
                    best=b.get("best"),
                    resumes=b.get("resumes") or (),
                    logy=panel_logy,
                    logx=logx,
                    smooth=smooth,
                    color=PALETTE[k % len(PALETTE)],
                    annotate=False,
                    legend=False,
                )
            # runs may title a chart differently: one title is kept, else the id
            for attr, setter in (("title", ax.set_title), ("ylabel", ax.set_ylabel)):
                seen = {str(c.get(attr, "")) for c in per_chart[cid]}
                limit = MAX_DRAWN_LABEL if attr == "ylabel" else MAX_DRAWN_TEXT
                setter(_literal(seen.pop() if len(seen) == 1 else cid, limit))
            # the panel legend: line styles of the series labels, plus events
            handles: list[Any] = [
                Line2D([], [], color="#444444", ls=ls, lw=1.2) for ls in labels.values()
            ]
            texts = list(labels)
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                if (h.get_gid() or "").startswith("curvelog-events") and lab not in texts:
                    handles.append(h)
                    texts.append(lab)
            if len(texts) > 1:
                ax.legend(handles, texts, loc="best").set_gid("curvelog-legend")
        fig.legend(
            [h for h, _ in run_handles],
            [n for _, n in run_handles],
            loc="outside lower center",
            ncols=min(len(run_handles), 2 if any(len(n) > 40 for _, n in run_handles) else 4),
            frameon=False,
            fontsize=8.5,
        ).set_gid("curvelog-runs")
    return fig


# --------------------------------------------------------------------------- output


def _format_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise PlotError(
            f"{path}: unsupported output format {ext or '(no extension)'!r}; use .png, .svg or .pdf"
        )
    return fmt


def _metadata(fmt: str) -> dict[str, Any]:
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    return {}


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """``fig`` rendered as PNG, SVG or PDF bytes, deterministically."""
    if fmt not in FORMATS.values():
        raise PlotError(f"unsupported output format {fmt!r}; use png, svg or pdf")
    buf = io.BytesIO()
    with _style():
        fig.savefig(buf, format=fmt, metadata=_metadata(fmt))
    return buf.getvalue()


def _refuse_a_log(path: str) -> None:
    """Raise PathError when ``path`` is an existing file that starts with the log signature."""
    from .log import is_log

    if is_log(path):
        raise PathError(path, "is a curvelog log, not a picture; refusing to replace it")


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> str:
    """Write ``fig`` to ``path`` atomically, in the format its extension names.

    :raises PlotError: an extension other than .png, .svg or .pdf.
    :raises PathError: the folder is missing or not writable, or ``path`` is a
        curvelog log (pictures are replaced, logs never).
    """
    target = os.fspath(path)
    fmt = _format_of(target)
    _refuse_a_log(target)
    data = figure_bytes(fig, fmt)
    _refuse_a_log(target)  # the file may have appeared while drawing
    atomic_write_bytes(target, data)
    return target


def render_png(bundle: Mapping[str, Any], **opts: Any) -> bytes:
    """PNG bytes of ``plot_bundle(bundle, **opts)`` (what the registry stores as loss_curve.png)."""
    fig = plot_bundle(bundle, **opts)
    return figure_bytes(fig, "png")


def default_output(input_path: str | os.PathLike[str], ext: str = ".png") -> str:
    """The picture beside an input: ``run.curves.json`` / ``run.log`` -> ``run.png``."""
    p = Path(os.fspath(input_path))
    name = p.name
    for suffix in (".curves.json", ".json", ".log"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return str(p.with_name(name[: -len(suffix)] + ext))
    return str(p.with_name(name + ext))


def load_source(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundle of a chart-bundle file, or of a log compacted in memory.

    A log is recognised by its signature (a bundle is JSON text), whatever
    the file's name.

    :raises PathError: a missing or unreadable file.
    :raises BundleError: a file that is neither a log nor a valid bundle.
    :raises LogFormatError: a damaged log header.
    """
    from .bundle import compact, load_bundle
    from .log import FILE_MAGIC

    src = os.fspath(path)
    if os.path.isdir(src):
        raise PathError(src, "is a directory, not a bundle or a log")
    if os.path.exists(src) and not os.path.isfile(src):
        raise PathError(src, "is not a regular file")  # opening a FIFO would block
    # Only the signature, not the whole file (a log may be hundreds of MB and is
    # read again by compact). A file that cannot be opened goes to load_bundle,
    # whose read (_fs.read_bytes) says why.
    head = b""
    with suppress(OSError), open(src, "rb") as f:
        head = f.read(len(FILE_MAGIC))
    if head[:1] == FILE_MAGIC[:1]:  # no JSON text starts with 0x89
        bundle, _ = compact(src, write=False)
        return bundle
    return load_bundle(src)


def run_names(
    bundles: Sequence[Mapping[str, Any]], paths: Sequence[str | os.PathLike[str]] | None = None
) -> list[str]:
    """A distinct legend name per run: its ``run.name``, else its file name, else more of its path.

    With ``paths``, runs whose names collide are named by the shortest tail of
    their paths that tells them apart (``a/run.curves.json`` -> ``a/run``).
    """
    names = [_run_name(b) for b in bundles]
    if paths is None or len(set(names)) == len(names):
        return names
    parts = [list(Path(os.fspath(p)).resolve().parts) for p in paths]
    stems = []
    for pp in parts:
        leaf = pp[-1]
        for suffix in (".curves.json", ".json", ".log"):
            if leaf.endswith(suffix) and len(leaf) > len(suffix):
                leaf = leaf[: -len(suffix)]
                break
        stems.append([*pp[:-1], leaf])
    depth = 1
    longest = max(len(s) for s in stems)
    while depth < longest:
        tails = ["/".join(s[-depth:]) for s in stems]
        if len(set(tails)) == len(tails):
            break
        depth += 1
    out = []
    for name, s in zip(names, stems, strict=True):
        clash = names.count(name) > 1
        out.append("/".join(s[-depth:]) if clash else name)
    return out
