"""One panel: a chart's lines, NaN/inf events, resumes, best star, y scale, EMA smoothing."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ..errors import BundleError, PlotError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
from ..sampling._views import panel_yscale
from ._marks import MAX_RESUME_LINES as MAX_RESUME_LINES
from ._marks import _draw_events, _draw_offscale, _draw_resumes, _say_no_finite_values
from ._note import _annotate_best
from ._style import (
    _EVENT_STYLE,
    _LOG_CLAMP,
    _Y_CLAMP,
    BEST_COLOR,
    LINESTYLES,
    MAX_DRAWN_LABEL,
    _Colors,
    _literal,
)
from ._ticks import (
    LOGX_ZERO_NOTE,
    log_zero,
    origin_label,
    step_axis,
    step_origin,
    value_formatter,
)

_SPARSE: Final[int] = 60  # a series with at most this many points gets dots


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


def stored_smooth(s: Mapping[str, Any], weight: float) -> np.ndarray | None:
    """The series' EMA over its raw values for ``weight``, if the bundle stores it.

    Stored by compaction (``compact --smooth``, or a log plotted directly);
    None means only the kept points are there to average.
    """
    field = s.get("smooth")
    if not isinstance(field, Mapping):
        return None
    values = field.get(repr(float(weight)))
    if not isinstance(values, list) or len(values) != len(s.get("x", ())):
        return None
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def _check_smooth(weight: float) -> None:
    if not isinstance(weight, (int, float)) or not (0.0 <= float(weight) < 1.0):
        raise PlotError(f"smoothing weight must be in [0, 1), not {weight!r} (e.g. 0.6 or 0.9)")


def _drawable(y: np.ndarray, log: bool) -> np.ndarray:
    """``y`` as drawn: finite values clamped so that axis arithmetic stays finite.

    Only values beyond 1e250 (1e150 and 1e-150 on a log axis) move, to that bound;
    the panel marks them off scale with their true values (`_draw_offscale`).
    """
    ok = np.isfinite(y)
    if log:
        ok &= y > 0
        lo, hi = 1.0 / _LOG_CLAMP, _LOG_CLAMP
    else:
        lo, hi = -_Y_CLAMP, _Y_CLAMP
    with np.errstate(invalid="ignore"):
        return np.where(ok, np.clip(y, lo, hi), y)


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


def _raw_count(s: Mapping[str, Any], shown: int) -> int:
    """The series' points before sampling (``raw_points``), else those shown."""
    raw = s.get("raw_points")
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= shown else shown


def _loggable(series: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a log y axis can draw anything of ``series``: a positive finite value.
    A forced ``logy`` on a panel of negative rewards drew an empty panel (no line, no
    star) and let matplotlib warn; such a panel stays linear."""
    for s in series:
        y = _series_arrays(s)[1]
        if np.any(np.isfinite(y) & (y > 0)):
            return True
    return False


def _auto_logy(charts: Sequence[Mapping[str, Any]]) -> bool:
    """The panel's y scale: the one its charts were sampled for (``sampled_for``,
    when they all agree), else the rule `compact` applies (`panel_yscale`:
    log when every value is positive and a series spans > 2 decades, or a
    chart asks for log)."""
    recorded = {
        sf.get("yscale") if isinstance(sf := c.get("sampled_for"), Mapping) else None
        for c in charts
    }
    if len(recorded) == 1 and (only := recorded.pop()) in ("linear", "log"):
        return bool(only == "log")
    ys = [_series_arrays(s)[1] for c in charts for s in c.get("series", ())]
    declared = "log" if any(c.get("scale") == "log" for c in charts) else None
    return panel_yscale(ys, declared) == "log"


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
        x_zero=_chart_log_zero(chart, best, resumes) if logx else None,
        x_origin=0 if logx else step_origin(chart_steps([chart])),
    )
    return ax


def chart_steps(charts: Sequence[Mapping[str, Any]]) -> list[int]:
    """Every step of ``charts``' points and events, as exact integers."""
    out: list[int] = []
    for c in charts:
        for s in c.get("series", ()):
            out.extend(int(x) for x in s.get("x") or ())
            for e in s.get("events", ()):
                out.extend((int(e["step"]), int(e.get("last_step", e["step"]))))
    return out


def _relative(values: Any, origin: int) -> np.ndarray:
    """Steps minus ``origin``, subtracted in integers (exact) before float64."""
    if not origin:
        return np.asarray(values, dtype=np.float64)
    return np.asarray([int(v) - origin for v in values], dtype=np.float64)


def _chart_log_zero(
    chart: Mapping[str, Any], best: Mapping[str, Any] | None, resumes: Sequence[Mapping[str, Any]]
) -> float | None:
    """Where step 0 goes on a log x axis (`log_zero`), or None when nothing of ``chart``
    (a point, an event, the best, a resume) is at a step below 1."""
    xs: list[float] = []
    for s in chart.get("series", ()):
        xs.extend(float(x) for x in s.get("x") or ())
        xs.extend(float(e["step"]) for e in s.get("events", ()))
    xs.extend(float(r["step"]) for r in resumes)
    if best is not None and isinstance(best.get("step"), int):
        xs.append(float(best["step"]))
    return log_zero(xs) if any(x <= 0 for x in xs) else None


#: what `_draw_chart` drew of the best: the star's position, its value and its step
BestDrawn = tuple[tuple[float, float], float, int]


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
    x_zero: float | None = None,
    x_origin: int = 0,
) -> BestDrawn | None:
    """`plot_chart`; returns the best point drawn, if any.

    ``x_zero``: on a log x axis, where steps below 1 (step 0) are drawn: the
    axis' left edge, which the x label then names; None leaves them off.
    ``x_origin``: steps are drawn minus this (`step_origin`), which the x label names.
    """
    _check_smooth(smooth)
    series = list(chart.get("series", ()))
    pick = colors or _Colors([str(s.get("label", s.get("metric", ""))) for s in series])
    ax.set_title(_literal(chart.get("title", chart.get("id", ""))))
    xlabel = _literal(chart.get("xlabel", "step"), MAX_DRAWN_LABEL)
    xlabel = origin_label(xlabel, x_origin)
    ax.set_xlabel(xlabel + (LOGX_ZERO_NOTE if logx and x_zero is not None else ""))
    ax.set_ylabel(_literal(chart.get("ylabel", ""), MAX_DRAWN_LABEL))

    use_logy = _auto_logy([chart]) if logy is None else bool(logy) and _loggable(series)
    if use_logy:
        ax.set_yscale("log", nonpositive="mask")
    else:  # no "1e-13+1.000000015e-1" offset label nor x1e6: ticks say their values
        ax.yaxis.set_major_formatter(value_formatter())
    if logx:
        ax.set_xscale("log", nonpositive="mask")
    step_axis(ax, logx)
    if logx and x_zero is not None:
        ax.set_xlim(left=x_zero)

    arrays = [_series_arrays(s) for s in series]
    if x_origin:
        arrays = [
            (_relative(s["x"], x_origin), y) for s, (_, y) in zip(series, arrays, strict=True)
        ]
    if logx and x_zero is not None:  # step 0 at the left edge, not masked away
        arrays = [(np.where(x < 1, x_zero, x), y) for x, y in arrays]
    # how dense a series is: its raw points, so a compacted chart is drawn
    # like the full one (a 30,000-step curve kept as 97 points is still dense)
    counts = [_raw_count(s, x.size) for s, (x, _) in zip(series, arrays, strict=True)]
    densest = max(counts, default=0)
    best_metric = best.get("metric") if best else None
    best_xy: tuple[float, float] | None = None
    #: (line, kind) -> spans: the legend counts each line's values, never a panel's sum
    event_steps: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    drawn = 0
    offscale: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # clamped: said so
    for k, (s, (x, y), count) in enumerate(zip(series, arrays, counts, strict=True)):
        name = str(s.get("label", s.get("metric", "")))
        label = _literal(label_prefix + name)
        c = color or pick(name)
        ls = LINESTYLES[k % len(LINESTYLES)] if color else "-"
        gid = f"curvelog-series:{s.get('metric', '')}"
        if x.size:
            drawn += 1
            # sparse series (evals) go on top of dense ones, thicker, with dots when few
            sparse = count <= _SPARSE
            thin = count > 400 and count * 4 > densest
            z = 2.0 + (1.0 - count / max(densest, 1))
            marker = "o" if sparse else None
            shown = _drawable(y, use_logy)
            with np.errstate(invalid="ignore"):
                off = np.isfinite(y) & (shown != y)
            if off.any():
                offscale.append((x[off], shown[off], y[off]))
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
                stored = stored_smooth(s, smooth)
                smoothed = ema(y, smooth) if stored is None else stored
                finite = y[np.isfinite(y)]
                # float error must not leave the data's range (a flat line); stored: done
                if stored is None and finite.size:
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
            step = float(int(e["step"]) - x_origin)
            last = float(int(e.get("last_step", e["step"])) - x_origin)
            n = e.get("count", 1)
            n = n if isinstance(n, int) and n > 0 else 1
            kind = kind if kind in _EVENT_STYLE else "nan"
            if x_zero is not None:
                step, last = max(step, x_zero), max(last, x_zero)
            # in a comparison (a prefix: the run's name) every entry says whose it is
            line = label if len(series) > 1 or label_prefix else ""
            event_steps.setdefault((line, kind), []).append((step, last, n))
        if best is not None and best_metric is not None and s.get("metric") == best_metric:
            best_xy = best_xy or _best_point(best, s["x"], y, x_origin)
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

    if drawn and not any(np.isfinite(y).any() for _, y in arrays):
        _say_no_finite_values(ax, {kind for _, kind in event_steps})
    _draw_events(ax, event_steps, color)
    _draw_offscale(ax, offscale, color)
    _draw_resumes(ax, resumes, color, resume_label, x_zero, x_origin)
    if best_xy is not None and use_logy and best_xy[1] <= 0:
        best_xy = None
    if best_xy is not None and logx and best_xy[0] < 1 and x_zero is None:
        best_xy = None  # off a log axis: no note for an invisible star
    drawn_best: BestDrawn | None = None
    if best_xy is not None:
        sx = best_xy[0] if x_zero is None or best_xy[0] >= 1 else x_zero
        star = (sx, float(_drawable(np.array([best_xy[1]]), use_logy)[0]))
        # exact (float64 rounds steps past 2**53); best_xy is only set from a best
        true_step = int(best["step"]) if best is not None else int(best_xy[0])
        drawn_best = (star, best_xy[1], true_step)
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
            _annotate_best(ax, star, best, best_xy[1], true_step)
    if logx and x_zero is not None:
        ax.set_xlim(left=x_zero, right=ax.get_xlim()[1])
    if legend:
        _legend(ax)
    return drawn_best


def _best_point(
    best: Mapping[str, Any], xs: Sequence[int], y: np.ndarray, origin: int = 0
) -> tuple[float, float] | None:
    """The best's (step − ``origin``, value) as drawn; its step found among ``xs``
    exactly (integers), where the bundle's best has no value."""
    step = best.get("step")
    value = best.get("value")
    if not isinstance(step, int) or isinstance(step, bool):
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        # no value in the bundle's best: the series' value at that step, if it has one
        hit = [i for i, x in enumerate(xs) if int(x) == step]
        if not hit or not math.isfinite(float(y[hit[0]])):
            return None
        value = float(y[hit[0]])
    return float(step - origin), float(value)


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
