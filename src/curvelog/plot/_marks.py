"""What a panel marks besides its lines: NaN/inf events on the step axis, and resumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
from ._style import (
    _EVENT_STYLE,
    DASHED_RESUMES,
    EVENT_COLOR,
    RESUME_COLOR,
    _fmt_value,
    resume_alpha,
)

__all__ = [
    "MAX_RESUME_LINES",
    "_draw_events",
    "_draw_offscale",
    "_draw_resumes",
    "_say_no_finite_values",
]


def _draw_events(
    ax: Axes,
    event_steps: Mapping[tuple[str, str], list[tuple[float, float, int]]],
    color: str | None = None,
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
            mec=color or "white",  # a comparison's run colour: whose NaN it is
            mew=1.2 if color else 0.6,
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
    ax: Axes,
    resumes: Sequence[Mapping[str, Any]],
    color: str | None,
    with_label: bool,
    x_zero: float | None = None,
    x_origin: int = 0,
) -> None:
    """Dashed vertical lines, solid and fainter when there are many (`DASHED_RESUMES`;
    one per pixel column at most); a resume at step 0 on a log x axis at ``x_zero``;
    steps minus ``x_origin`` (`step_origin`)."""
    every = sorted({int(r["step"]) - x_origin for r in resumes})
    if not every:
        return
    steps: list[float] = list(_thin_steps(every, ax.get_xscale() == "log"))
    if x_zero is not None:
        steps = [max(float(s), x_zero) for s in steps]
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


def _draw_offscale(
    ax: Axes, points: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], color: str | None
) -> None:
    """Finite values too large (or, on a log axis, too small) for an axis to hold:
    drawn at its bound (``_Y_CLAMP``, ``_LOG_CLAMP``) with a hollow red triangle
    pointing the way they go, and one legend entry with their true range
    (``off scale ×2: −1.000e280 … 1.000e300``), so a clamped spike never reads as
    its drawn height. ``points``: (x, drawn y, true y) per line."""
    if not points:
        return
    x = np.concatenate([p[0] for p in points])
    at = np.concatenate([p[1] for p in points])
    true = np.concatenate([p[2] for p in points])
    lo, hi = float(true.min()), float(true.max())
    span = _fmt_value(lo) if lo == hi else f"{_fmt_value(lo)} \u2026 {_fmt_value(hi)}"
    label = f"off scale \u00d7{x.size:,}: {span}" if x.size > 1 else f"off scale: {span}"
    for up, marker in ((True, "^"), (False, "v")):
        pick = (true > at) if up else (true < at)
        if pick.any():
            ax.plot(
                x[pick], at[pick], ls="none", marker=marker, ms=7, mfc="white",
                mec=color or EVENT_COLOR, mew=1.3, zorder=7, clip_on=False,
                gid="curvelog-offscale", label=label,
            )  # fmt: skip
            label = "_nolegend_"  # one entry for both directions
