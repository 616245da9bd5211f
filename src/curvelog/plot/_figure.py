"""Whole figures: a grid of panels for one run (`plot_bundle`) or several (`compare_bundles`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from .._text import shorten
from ..bundle import Bundle, run_name, validate_bundle
from ..errors import PlotError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
from ..sampling._views import PLOT_XPAD
from ._layout import finish, runs_legend, titles
from ._panel import (
    BestDrawn,
    _auto_logy,
    _chart_log_zero,
    _check_smooth,
    _draw_chart,
    chart_steps,
    stored_smooth,
)
from ._style import (
    LINESTYLES,
    MAX_DRAWN_LABEL,
    MAX_DRAWN_TEXT,
    _Colors,
    _fmt_value,
    _literal,
    _style,
    color_at,
    drawn,
    format_step,
    resume_note,
)
from ._ticks import step_origin

_MAX_COLS: Final[int] = 3
_PANEL_SIZE: Final[tuple[float, float]] = (4.6, 3.2)  # inches per panel
#: a figure of a given width gets no more columns than panels of this width fit
_MIN_PANEL_WIDTH: Final[float] = 2.0


#: panels drawn at most when the caller picks no charts: a run of per-layer metrics
#: (300 charts and more) drew a figure too large to save, and filed no bundle with
#: its PNG; past this, the first charts are drawn (those of the best metric first)
#: and the figure says how many were left out and how to pick them (``charts=``)
MAX_PANELS: Final[int] = 60

_MAX_SIDE_PX: Final[int] = 32_768  # Agg's limit on a side
_MAX_AREA_PX: Final[int] = 2**27  # ~134 Mpx, ~0.5 GB of RGBA


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


def _cap_panels(
    ids: Sequence[str], picked: bool, holds_best: Callable[[str], bool]
) -> tuple[list[str], int]:
    """The chart ids drawn, in their order, and how many were left out: all of them
    when the caller picked them, else `MAX_PANELS`, the best metric's charts first."""
    if picked or len(ids) <= MAX_PANELS:
        return list(ids), 0
    first = [i for i in ids if holds_best(i)][:MAX_PANELS]
    keep = set(first + [i for i in ids if i not in first][: MAX_PANELS - len(first)])
    return [i for i in ids if i in keep], len(ids) - len(keep)


def left_out_note(drawn: int, left: int) -> str:
    """What the foot of a figure says when `MAX_PANELS` left charts out."""
    return (
        f"{drawn:,} of {drawn + left:,} charts drawn, {left:,} left out: "
        "pick them by id (--charts ID,ID; charts=[...] in Python)"
    )


def _say_left_out(fig: Figure, drawn: int, left: int, header: bool = False) -> None:
    """`left_out_note` at the figure's foot, or as its header's facts (``header``: a
    comparison, whose foot holds the legend of runs); gid ``curvelog-left-out:N``."""
    if not left:
        return
    if header:
        for a in fig.artists:
            if a.get_gid() == "curvelog-subtitle":
                a.set_gid(f"curvelog-left-out:{left}")
                a.set_color("#aa3300")  # type: ignore[attr-defined]
        return
    t = fig.supxlabel(left_out_note(drawn, left), fontsize=8.5, color="#aa3300")
    t.set_gid(f"curvelog-left-out:{left}")


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
    """Refuse a canvas too big to draw (before Agg fails to allocate it), or with
    no pixel a side (PIL cannot write an empty image)."""
    w, h = (round(v * dpi) for v in inches)
    if min(w, h) < 1:
        raise PlotError(
            f"a {inches[0]:g}x{inches[1]:g} inch figure at {dpi:g} dpi is {w:,}x{h:,} px, "
            "too small",
            "use a larger size or dpi",
        )
    if max(w, h) > _MAX_SIDE_PX or w * h > _MAX_AREA_PX:
        raise PlotError(
            f"a {inches[0]:g}x{inches[1]:g} inch figure at {dpi:g} dpi is {w:,}x{h:,} px, "
            f"too large (at most {_MAX_SIDE_PX:,} px a side and {_MAX_AREA_PX:,} px in all)",
            "use a smaller size or dpi",
        )


def _new_figure(n: int, size: tuple[float, float] | None, dpi: float) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _check_dpi(dpi)
    cols = 2 if n == 4 else max(1, min(_MAX_COLS, n))
    if size is not None and size[0] > 0:  # panels under ~2 inches wide: fewer columns
        cols = max(1, min(cols, int(size[0] // _MIN_PANEL_WIDTH)))
    rows = -(-n // cols)
    figsize = _figsize(n, cols, size)
    _check_canvas(figsize, dpi)
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.06, h_pad=0.06, wspace=0.04, hspace=0.06)  # type: ignore[union-attr, call-arg]
    gs = fig.add_gridspec(rows, cols)
    axes = [fig.add_subplot(gs[i // cols, i % cols]) for i in range(n)]
    return fig, axes


def _x_range(charts: Sequence[Mapping[str, Any]], origin: int = 0) -> tuple[float, float] | None:
    """The shared x limits of ``charts``: their steps (minus ``origin``) and a pad."""
    steps = chart_steps(charts)
    if not steps:
        return None
    lo, hi = float(min(steps) - origin), float(max(steps) - origin)
    if lo == hi:  # one step: a step each side, or more where float64 cannot tell them apart
        pad = max(1.0, abs(lo) * 1e-12)
        return lo - pad, hi + pad
    pad = (hi - lo) * PLOT_XPAD
    return lo - pad, hi + pad


def _subtitle(bundle: Bundle, smooth: float) -> str:
    steps = bundle["summary"]["steps"]
    parts = [f"{steps:,} step{'' if steps == 1 else 's'}"]
    sessions = bundle["run"]["sessions"]
    if sessions > 1:
        parts.append(f"{sessions:,} sessions")
    if note := resume_note([r["step"] for r in bundle["resumes"]]):
        parts.append(note)
    if smooth > 0:
        parts.append(f"EMA {smooth:g} {_smooth_basis([bundle], smooth)}")
    return "  \u00b7  ".join(parts)


def _smooth_basis(bundles: Sequence[Bundle], smooth: float) -> str:
    """What the EMA averages: every raw value (stored by compaction) or only the kept points."""
    lines = [s for b in bundles for c in b["charts"] for s in c["series"] if s["x"]]
    if all(stored_smooth(s, smooth) is not None for s in lines):
        return "over the raw data"
    if any(stored_smooth(s, smooth) is not None for s in lines):
        return "over the raw data where stored, else over kept points"
    return "over kept points"


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
    return draw_bundle(
        cast(Bundle, bundle), charts=charts, logy=logy, logx=logx, smooth=smooth, size=size,
        dpi=dpi,
    )  # fmt: skip


def draw_bundle(
    bundle: Bundle,
    *,
    charts: Sequence[str] | str | None = None,
    logy: bool | None = None,
    logx: bool = False,
    smooth: float = 0.0,
    size: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """`plot_bundle` of a bundle already validated where it entered (`load_bundle`, a build)."""
    _check_smooth(smooth)
    all_charts = bundle["charts"]
    by_id = {c["id"]: c for c in all_charts}
    best_metric = bundle["best"]["metric"] if bundle["best"] is not None else None
    ids, left = _cap_panels(
        _select_charts(list(by_id), charts),
        charts is not None,
        lambda i: any(s["metric"] == best_metric for s in by_id[i]["series"]),
    )
    chosen = [by_id[i] for i in ids]
    with _style():
        fig, axes = _new_figure(max(1, len(chosen)), size, dpi)
        titles(fig, run_name(bundle), _subtitle(bundle, smooth))
        _say_left_out(fig, len(chosen), left)
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
        # every label of the bundle, not only of the charts drawn: a label keeps its colour
        colors = _Colors([_label(s) for c in all_charts for s in c["series"]])
        origin = 0 if logx else step_origin(chart_steps(chosen))  # ns timestamps as steps
        xr = None if logx else _x_range(chosen, origin)
        every = {"series": [s for c in chosen for s in c["series"]]}
        x_zero = _chart_log_zero(every, bundle["best"], bundle["resumes"]) if logx else None
        notes: list[tuple[Axes, BestDrawn, Any]] = []
        for ax, chart in zip(axes, chosen, strict=True):
            if xr is not None:
                ax.set_xlim(*xr)
                ax.set_autoscalex_on(False)
            star = _draw_chart(
                ax,
                chart,
                best=bundle["best"],
                resumes=bundle["resumes"],
                logy=logy,
                logx=logx,
                smooth=smooth,
                color=None,
                label_prefix="",
                annotate=False,  # once the panels are laid out: `finish`
                legend=True,
                colors=colors,
                resume_label=False,
                x_zero=x_zero,
                x_origin=origin,
            )
            if star is not None and bundle["best"] is not None:
                notes.append((ax, star, bundle["best"]))
        finish(fig, notes)
    return fig


def _label(s: Any) -> str:
    return str(s.get("label", s.get("metric", "")))


def _unique_names(bundles: Sequence[Bundle], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        if len(names) != len(bundles):
            raise PlotError(f"{len(names)} names for {len(bundles)} runs")
        out = [str(n) for n in names]
    else:
        out = [run_name(b) for b in bundles]
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
    for i, b in enumerate(bundles):
        validate_bundle(b, source=f"bundle {i + 1}")
    return draw_comparison(
        [cast(Bundle, b) for b in bundles], names=names, charts=charts, logy=logy, logx=logx,
        smooth=smooth, size=size, dpi=dpi,
    )  # fmt: skip


def draw_comparison(
    bundles: Sequence[Bundle],
    *,
    names: Sequence[str] | None = None,
    charts: Sequence[str] | str | None = None,
    logy: bool | None = None,
    logx: bool = False,
    smooth: float = 0.0,
    size: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """`compare_bundles` of bundles already validated where they entered."""
    if not bundles:
        raise PlotError("nothing to compare: no bundles given")
    _check_smooth(smooth)
    run_names = _unique_names(bundles, names)
    order: dict[str, None] = {}
    for b in bundles:
        for c in b["charts"]:
            order.setdefault(c["id"], None)
    bests = {b["best"]["metric"] for b in bundles if b["best"] is not None}
    ids, left = _cap_panels(
        _select_charts(list(order), charts),
        charts is not None,
        lambda i: any(s["metric"] in bests for b in bundles for c in b["charts"]
                      if c["id"] == i for s in c["series"]),
    )  # fmt: skip
    with _style():
        fig, axes = _new_figure(max(1, len(ids)), size, dpi)
        many = len(run_names) > 3
        titles(fig, f"{len(run_names)} runs" if many else "  vs  ".join(run_names),
               left_out_note(len(ids), left) if left else "")  # fmt: skip
        _say_left_out(fig, len(ids), left, header=True)
        per_chart = {
            cid: [c for b in bundles for c in b["charts"] if c["id"] == cid] for cid in ids
        }
        every = [c for cs in per_chart.values() for c in cs]
        origin = 0 if logx else step_origin(chart_steps(every))
        xr = None if logx else _x_range(every, origin)
        x_zero = _compare_log_zero(bundles, every) if logx else None
        if not ids:  # valid bundles without charts (a log with no metrics): say so (#10)
            axes[0].text(0.5, 0.5, "none of the bundles has a chart", ha="center",
                         va="center", transform=axes[0].transAxes, color="#888888")  # fmt: skip
            axes[0].set_axis_off()
        for ax, cid in zip(axes[: len(ids)], ids, strict=True):
            if xr is not None:
                ax.set_xlim(*xr)
                ax.set_autoscalex_on(False)
            _compare_panel(ax, cid, bundles, run_names, per_chart[cid], logy, logx, smooth,
                           x_zero, origin)  # fmt: skip
        _runs_legend(fig, bundles, run_names)
        _check_canvas(tuple(fig.get_size_inches()), dpi)
        finish(fig)
    return fig


def _compare_log_zero(bundles: Sequence[Bundle], charts: Sequence[Any]) -> float | None:
    """Where step 0 goes on a comparison's log x axis, if anything is there."""
    found = [
        _chart_log_zero({"series": [s for c in charts for s in c["series"]]}, b["best"],
                        b["resumes"])
        for b in bundles
    ]  # fmt: skip
    return min((z for z in found if z is not None), default=None)


def _runs_legend(fig: Figure, bundles: Sequence[Bundle], run_names: Sequence[str]) -> None:
    from matplotlib.lines import Line2D

    handles, notes = [], []
    for k, b in enumerate(bundles):
        handles.append(Line2D([], [], color=color_at(k), lw=2.0))
        best = b["best"]
        note = ""
        if best is not None and best["value"] is not None:
            step = best["step"]  # past 1e15 exact: 1.764e+06T tells no step apart
            where = format_step(step) if step < 10**15 else f"{step:,}"
            note = f"  (best {best['metric']} {_fmt_value(best['value'])} @ {where})"
        notes.append(_literal(note, 120))
    runs_legend(fig, handles, run_names, notes)


def _compare_panel(
    ax: Axes,
    cid: str,
    bundles: Sequence[Bundle],
    run_names: Sequence[str],
    charts: Sequence[Any],
    logy: bool | None,
    logx: bool,
    smooth: float,
    x_zero: float | None,
    x_origin: int = 0,
) -> None:
    """One chart of every run on ``ax``: a colour per run, a line style per series."""
    from matplotlib.lines import Line2D

    panel_logy = _auto_logy(charts) if logy is None else logy
    labels: dict[str, Any] = {}
    for k, (b, name) in enumerate(zip(bundles, run_names, strict=True)):
        chart = next((c for c in b["charts"] if c["id"] == cid), None)
        if chart is None:
            continue
        for j, s in enumerate(chart["series"]):
            labels.setdefault(_literal(_label(s)), LINESTYLES[j % len(LINESTYLES)])
        _draw_chart(
            ax, chart, best=b.get("best"), resumes=b.get("resumes") or (), logy=panel_logy,
            logx=logx, smooth=smooth, color=color_at(k),
            label_prefix=shorten(drawn(name), 24) + " ",  # NaN entries say whose they are
            annotate=False, legend=False, colors=None, resume_label=False, x_zero=x_zero,
            x_origin=x_origin,
        )  # fmt: skip
    # runs may title a chart differently: one title is kept, else the id
    for attr, setter in (("title", ax.set_title), ("ylabel", ax.set_ylabel)):
        seen = {str(c.get(attr, "")) for c in charts}
        limit = MAX_DRAWN_LABEL if attr == "ylabel" else MAX_DRAWN_TEXT
        setter(_literal(seen.pop() if len(seen) == 1 else cid, limit))
    # the panel legend: line styles of the series labels, plus events
    handles: list[Any] = [Line2D([], [], color="#444444", ls=ls, lw=1.2) for ls in labels.values()]
    texts = list(labels)
    for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
        if (h.get_gid() or "").startswith(
            ("curvelog-events", "curvelog-offscale")
        ) and lab not in texts:
            handles.append(h)
            texts.append(lab)
    if len(texts) > 1:
        ax.legend(handles, texts, loc="best").set_gid("curvelog-legend")
