"""Whole figures: a grid of panels for one run (`plot_bundle`) or several (`compare_bundles`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from ..bundle import Bundle, run_name, validate_bundle
from ..errors import PlotError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
from ..sampling._views import PLOT_XPAD
from ._panel import _auto_logy, _check_smooth, _draw_chart, plot_chart, stored_smooth
from ._style import (
    LINESTYLES,
    MAX_DRAWN_LABEL,
    MAX_DRAWN_TEXT,
    PALETTE,
    _Colors,
    _fmt_value,
    _literal,
    _style,
    format_step,
    resume_note,
)

_MAX_COLS: Final[int] = 3
_PANEL_SIZE: Final[tuple[float, float]] = (4.6, 3.2)  # inches per panel


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
            "too small; use a larger size or dpi"
        )
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
    if lo == hi:  # one step: a step each side, or more where float64 cannot tell them apart
        pad = max(1.0, abs(lo) * 1e-12)
        return lo - pad, hi + pad
    pad = (hi - lo) * PLOT_XPAD
    return lo - pad, hi + pad


def _subtitle(bundle: Bundle, smooth: float) -> str:
    parts = [f"{bundle['summary']['steps']:,} steps"]
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


#: longest header line of facts drawn (its own text: steps, sessions, resumes, EMA)
MAX_SUBTITLE: Final = 100


def _titles(fig: Figure, title: str, sub: str) -> None:
    """Run name at the top left, facts in grey at the top right, on one line; on
    a line of their own under the name where both do not fit side by side (a
    long run name, a narrow figure)."""
    t = fig.suptitle(_literal(title), fontsize=11.5, fontweight="bold", x=0.012, ha="left")
    t.set_gid("curvelog-title")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    room = (0.988 - 0.012) * fig.bbox.width
    wide = t.get_window_extent(renderer).width
    if wide > room:  # a long name in a narrow figure: a smaller font, down to 7 points
        t.set_fontsize(max(7.0, 11.5 * room / wide))
    if not sub:
        return
    from matplotlib.text import Annotation

    # y follows the title wherever the layout engine puts it
    note = Annotation(
        _literal(sub, MAX_SUBTITLE),
        xy=(0.988, 0.5),
        xycoords=("figure fraction", t),
        ha="right",
        va="center",
        fontsize=8.5,
        color="#555555",
    )
    note.set_gid("curvelog-subtitle")
    fig.add_artist(note)
    gap = 12.0 * fig.dpi / 72.0  # 12 points between the name and the facts
    widths = t.get_window_extent(renderer).width + note.get_window_extent(renderer).width
    if widths + gap > room:
        # an empty second line of the title holds the facts: the layout makes room for it
        t.set_text(t.get_text() + "\n")
        note.xy = note.xyann = (0.012, 0.0)
        note.set_horizontalalignment("left")
        note.set_verticalalignment("bottom")
        wide = note.get_window_extent(renderer).width
        if wide > room:
            note.set_fontsize(max(6.5, 8.5 * room / wide))


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
    ids = _select_charts(list(by_id), charts)
    chosen = [by_id[i] for i in ids]
    with _style():
        fig, axes = _new_figure(max(1, len(chosen)), size, dpi)
        _titles(fig, run_name(bundle), _subtitle(bundle, smooth))
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
                best=bundle["best"],
                resumes=bundle["resumes"],
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
            best = b["best"]
            if best is not None and best["value"] is not None:
                where = format_step(best["step"])
                note = f"  (best {best['metric']} {_fmt_value(best['value'])} @ {where})"
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
