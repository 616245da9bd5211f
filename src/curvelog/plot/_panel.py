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
from ._note import _annotate_best
from ._style import (
    _EVENT_STYLE,
    _LOG_CLAMP,
    _Y_CLAMP,
    BEST_COLOR,
    DASHED_RESUMES,
    EVENT_COLOR,
    LINESTYLES,
    MAX_DRAWN_LABEL,
    RESUME_COLOR,
    _Colors,
    _literal,
    format_step,
    resume_alpha,
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

    use_logy = _auto_logy([chart]) if logy is None else bool(logy) and _loggable(series)
    if use_logy:
        ax.set_yscale("log", nonpositive="mask")
    else:  # no "1e-13+1.000000015e-1" offset label: ticks say their values
        ax.ticklabel_format(axis="y", useOffset=False)
    if logx:
        ax.set_xscale("log", nonpositive="mask")
    _step_axis(ax, logx)

    arrays = [_series_arrays(s) for s in series]
    # how dense a series is: its raw points, so a compacted chart is drawn
    # like the full one (a 30,000-step curve kept as 97 points is still dense)
    counts = [_raw_count(s, x.size) for s, (x, _) in zip(series, arrays, strict=True)]
    densest = max(counts, default=0)
    best_metric = best.get("metric") if best else None
    best_xy: tuple[float, float] | None = None
    #: (line, kind) -> spans: the legend counts each line's values, never a panel's sum
    event_steps: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    drawn = 0
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
            step = float(e["step"])
            last = float(e.get("last_step", e["step"]))
            n = e.get("count", 1)
            n = n if isinstance(n, int) and n > 0 else 1
            kind = kind if kind in _EVENT_STYLE else "nan"
            event_steps.setdefault((label if len(series) > 1 else "", kind), []).append(
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

    if drawn and not any(np.isfinite(y).any() for _, y in arrays):
        _say_no_finite_values(ax, {kind for _, kind in event_steps})
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


def _draw_events(
    ax: Axes, event_steps: Mapping[tuple[str, str], list[tuple[float, float, int]]]
) -> None:
    """Red markers on the x axis (and a red bar along it for a run of non-finite values).

    The legend counts values per line: a run of 40 NaN steps is one marker and
    ``NaN ×40``; on a panel of several lines, ``train: NaN ×40``.
    """
    trans = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for (line, kind), spans in event_steps.items():
        marker, name = _EVENT_STYLE[kind]
        name = f"{line}: {name}" if line else name
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


def _say_no_finite_values(ax: Axes, kinds: set[str]) -> None:
    """A panel with points but no finite value: say so; no y range is invented for it."""
    ax.set_yscale("linear")
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        "all values are NaN" if kinds <= {"nan"} else "no finite values (NaN/inf)",
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=EVENT_COLOR,
        gid="curvelog-nofinite",
    )


def _resume_label(n: int) -> str:
    return "resume" if n == 1 else f"resume \u00d7{n}"


#: resume lines drawn at most: more than any screen has pixel columns for one panel
MAX_RESUME_LINES: Final[int] = 4_000


def _thin_steps(steps: list[int], log: bool) -> list[int]:
    """At most `MAX_RESUME_LINES` of ``steps``: the first of each 1/4,000 of their span
    (on the axis' scale), so that lines closer than a pixel are drawn once.

    40,000 resumes (a job requeued every few minutes for months) made matplotlib
    take seconds per thousand lines; a line per pixel column draws the same picture.
    """
    if len(steps) <= MAX_RESUME_LINES:
        return steps
    x = np.asarray(steps, dtype=np.float64)
    if log:
        x = np.log10(np.maximum(x, 1.0))
    span = float(x[-1] - x[0]) or 1.0
    cell = np.floor((x - x[0]) / span * (MAX_RESUME_LINES - 1)).astype(np.int64)
    first = np.r_[True, cell[1:] != cell[:-1]]
    return [s for s, keep in zip(steps, first.tolist(), strict=True) if keep]


def _draw_resumes(
    ax: Axes, resumes: Sequence[Mapping[str, Any]], color: str | None, with_label: bool
) -> None:
    """Dashed vertical lines, solid and fainter when there are many (`DASHED_RESUMES`;
    one per pixel column at most)."""
    every = sorted({int(r["step"]) for r in resumes})
    if not every:
        return
    steps = _thin_steps(every, ax.get_xscale() == "log")
    alpha = resume_alpha(len(steps))
    if color:
        alpha *= 0.7
    coll = ax.vlines(
        steps,
        0.0,
        1.0,
        transform=ax.get_xaxis_transform(),
        colors=color or RESUME_COLOR,
        linestyles=(0, (4, 3)) if len(every) <= DASHED_RESUMES else "solid",
        linewidths=0.9,
        alpha=alpha,
        zorder=1,
        label=_resume_label(len(every)) if with_label else "_nolegend_",
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
