"""Where the best point's note goes: the offset whose box covers the fewest drawn points."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
from ._style import _LOG_CLAMP, _Y_CLAMP, MAX_DRAWN_NOTE, _fmt_step_exact, _fmt_value, _literal


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
