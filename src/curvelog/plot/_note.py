"""Where the best point's note goes: the offset whose box covers the fewest drawn points."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._text import shorten

if TYPE_CHECKING:
    from matplotlib.axes import Axes
from ._style import (
    _LOG_CLAMP,
    _Y_CLAMP,
    MAX_DRAWN_NOTE,
    _fmt_step_exact,
    _fmt_value,
    drawn,
)


def renderer_of(fig: Any) -> Any:
    """A renderer to measure text with: the canvas' (Agg), else the figure's own (a
    plain ``Figure()`` a caller drew on with `plot_chart` has a canvas without one)."""
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def _dense_points(ax: Axes) -> tuple[np.ndarray, np.ndarray]:
    """Points every few pixels along every data line of ``ax`` (display coordinates).

    With their weights: a faint raw line under an EMA matters less than a full line.
    """
    out = [np.zeros((0, 2))]
    weights = [np.zeros(0)]
    for line in ax.get_lines():
        gid = line.get_gid() or ""
        if not gid.startswith(("curvelog-series", "curvelog-events")):
            continue
        before = sum(len(o) for o in out)
        xy = np.asarray(line.get_xydata(), dtype=np.float64)
        if xy.size == 0:
            continue
        d = line.get_transform().transform(xy)
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


def _box_score(
    pts: np.ndarray, weight: np.ndarray, x0: float, y0: float, w: float, h: float
) -> float:
    inside = (pts[:, 0] >= x0 - 3) & (pts[:, 0] <= x0 + w + 3)
    inside &= (pts[:, 1] >= y0 - 3) & (pts[:, 1] <= y0 + h + 3)
    return float(weight[inside].sum())


def _candidates(
    box: Any, p: np.ndarray, w: float, h: float, px: float
) -> list[tuple[float, float]]:
    """Lower-left corners of note boxes inside ``box``: beside the star first, then a
    grid over the whole axes (the free space may be far from the star)."""
    out = []
    for dy in (16, -16, 36, -36, 60, -60, 0):
        for dx in (14, -14, 0, 44, -44):
            if dy == 0 and dx == 0:
                continue
            ox, oy = p[0] + dx * px, p[1] + dy * px
            x0 = ox if dx > 0 else (ox - w if dx < 0 else ox - w / 2)
            y0 = oy if dy > 0 else (oy - h if dy < 0 else oy - h / 2)
            out.append((x0, y0))
    m = 4 * px
    free_w, free_h = box.width - w - 2 * m, box.height - h - 2 * m
    if free_w >= 0 and free_h >= 0:
        for fy in np.linspace(1.0, 0.0, 9):
            for fx in np.linspace(1.0, 0.0, 9):
                out.append((box.x0 + m + fx * free_w, box.y0 + m + fy * free_h))
    m = 2 * px  # the box stays inside the axes: never over the title, header or ticks
    return [
        (x0, y0)
        for x0, y0 in out
        if x0 >= box.x0 + m and x0 + w <= box.x1 - m and y0 >= box.y0 + m and y0 + h <= box.y1 - m
    ]


def _place_note(
    ax: Axes, xy: tuple[float, float], w: float, h: float
) -> tuple[float, tuple[float, float] | None]:
    """The box (lower-left corner, display pixels) inside the axes that covers the
    fewest line points, nearest the star among equals; its covered weight."""
    p = ax.transData.transform([xy])[0]
    box = ax.get_window_extent()
    pts, weight = _dense_points(ax)
    pts = np.concatenate([pts, [p]])
    weight = np.concatenate([weight, [50.0]])  # never over the star itself
    best_score, best_cover = math.inf, math.inf
    choice: tuple[float, float] | None = None
    for order, (x0, y0) in enumerate(_candidates(box, p, w, h, ax.figure.dpi / 72.0)):
        cover = _box_score(pts, weight, x0, y0, w, h)
        cx = min(max(p[0], x0), x0 + w)
        cy = min(max(p[1], y0), y0 + h)
        score = cover + math.hypot(cx - p[0], cy - p[1]) * 0.003 + order * 1e-6
        if score < best_score:
            best_score, best_cover, choice = score, cover, (x0, y0)
    return best_cover, choice


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


def note_text(metric: str, value: float, step: int, limit: int = MAX_DRAWN_NOTE) -> str:
    """``best <metric> = <value>`` / ``at step <step>`` in lines of at most ``limit``
    characters: the metric's name is cut (in the middle), never the numbers."""
    v = _fmt_value(value)
    fixed = len(f"best  = {v}")
    name = shorten(drawn(metric), max(3, limit - fixed))
    # the name is escaped (`drawn`): the one newline is the note's own
    return f"best {name} = {v}\nat step {_fmt_step_exact(step)}".replace("$", r"\$")


def _text_size(ax: Axes, text: str, fs: float) -> tuple[float, float]:
    """The note's box in display pixels, its round pad included."""
    from matplotlib.text import Text

    fig = ax.get_figure()
    assert fig is not None
    t = Text(0, 0, text, fontsize=fs)
    t.set_figure(fig)
    bb = t.get_window_extent(renderer_of(fig))
    pad = 2 * 0.3 * fs * fig.dpi / 72.0 + 2
    return bb.width + pad, bb.height + pad


def _fit_note(ax: Axes, metric: str, value: float, step: int) -> tuple[str, float, float, float]:
    """The note's text, font size and box, as wide as the axes allow: a smaller
    font first (down to 6 points), then a shorter metric name (down to 3
    characters); the value and the step are never cut."""
    width = ax.get_window_extent().width - 8 * ax.figure.dpi / 72.0
    metric = drawn(metric)  # escaped before it is cut: an escape is never split
    text, fs, w, h = "", 7.5, 0.0, 0.0
    for fs in (7.5, 7.0, 6.5, 6.0):
        text = note_text(metric, value, step)
        w, h = _text_size(ax, text, fs)
        if w <= width:
            return text, fs, w, h
    for name_len in range(min(len(metric), MAX_DRAWN_NOTE) - 1, 2, -1):
        text = note_text(shorten(metric, name_len), value, step)
        w, h = _text_size(ax, text, fs)
        if w <= width:
            break
    return text, fs, w, h


def _stretch(ax: Axes, need_px: float) -> bool:
    """Make a free band of ``need_px`` above (or below) every line: the side that
    stretches the axis least, never below 0 for data that is not negative."""
    box = ax.get_window_extent()
    pts, _ = _dense_points(ax)
    if pts.size == 0 or box.height <= 0:
        return False
    inv = ax.transData.inverted()
    top = float(inv.transform((box.x0, pts[:, 1].max()))[1])
    bottom = float(inv.transform((box.x0, pts[:, 1].min()))[1])
    frac = need_px / box.height
    lo, hi = ax.get_ylim()
    options = []
    for up, value in ((True, top), (False, bottom)):
        ax.set_ylim(lo, hi)
        if _make_room(ax, value, up, frac):
            a, b = ax.get_ylim()
            if not up and ax.get_yscale() == "linear" and a < 0 <= bottom:
                continue  # a loss axis down to -150: never
            options.append(
                ((b - a) / (hi - lo) if ax.get_yscale() == "linear" else 0.0, not up, (a, b))
            )
    ax.set_ylim(lo, hi)
    if not options:
        return False
    ax.set_ylim(*min(options)[2])
    return True


def _annotate_best(
    ax: Axes, xy: tuple[float, float], best: Mapping[str, Any], value: float, step: int
) -> None:
    """A short note for the best point (drawn at ``xy``): inside the axes, where it
    covers the fewest points (free space far from the star included), with a leader
    line; the y axis is stretched only when every place covers a curve, and then only
    as far as the note needs."""
    ax.autoscale_view()
    text, fs, w, h = _fit_note(ax, str(best.get("metric")), value, step)
    cover, choice = _place_note(ax, xy, w, h)
    if cover >= 1.0 and _stretch(ax, h + 14 * ax.figure.dpi / 72.0):
        cover2, choice2 = _place_note(ax, xy, w, h)
        if choice2 is not None and cover2 < cover:
            choice = choice2
    box = ax.get_window_extent()
    if choice is None:  # an axes smaller than the note: beside the star, as before
        choice = (box.x0 + 2, box.y1 - h - 2)
    pad = (0.3 * fs + 1) * ax.figure.dpi / 72.0
    fx = (choice[0] + pad - box.x0) / max(box.width, 1.0)
    fy = (choice[1] + pad - box.y0) / max(box.height, 1.0)
    ax.annotate(
        text,
        xy=xy,
        xytext=(fx, fy),
        textcoords="axes fraction",
        ha="left",
        va="bottom",
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
