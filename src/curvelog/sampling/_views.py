"""The views a chart is drawn in: one y-scale rule, the plot's x padding, the canvases.

`compact` samples each chart for the y scale its panel will get, and `plot`
draws that scale; both ask `panel_yscale`, so the rule lives here only. The
canvases are the pictures `auto` optimises (see `charts_for`): the panel of a
default ``curvelog plot`` (about 430 x 280 px), a large screen (1600 x 400)
and an 800 x 400 chart, drawn the way ``plot`` draws them (the panel's y
scale, x limits padded by 2%); then, at lower weight, the same series without
the padding, with a log step axis, and on the other y scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

YScale = Literal["linear", "log"]

#: a panel gets a log y axis when one series spans more than this ratio (two decades)
LOG_SPAN: Final[float] = 100.0
#: ``plot`` pads the step axis by this share of the step range on each side
PLOT_XPAD: Final[float] = 0.02
#: the y axis is padded by this share of the finite range (matplotlib's and the judge's margin)
Y_MARGIN: Final[float] = 0.05


def panel_yscale(ys: Iterable[npt.ArrayLike], declared: str | None = None) -> YScale:
    """The y scale of a panel holding the series ``ys``.

    Log when every finite value of the panel is positive and either the
    chart declares ``"log"`` or one series spans more than two decades
    (max/min > `LOG_SPAN`); linear otherwise (a log axis cannot draw zero or
    a negative value). Non-finite values are events, not values, and do not
    count; a panel without a finite value is linear.
    """
    seen = False
    span = 1.0
    for y in ys:
        a = np.asarray(y, dtype=np.float64)
        lo, hi = _finite_range(a)
        if lo is None or hi is None:
            continue
        seen = True
        if lo <= 0.0:
            return "linear"
        span = max(span, hi / lo)
    if not seen:
        return "linear"
    return "log" if span > LOG_SPAN or declared == "log" else "linear"


def _finite_range(a: npt.NDArray[np.float64]) -> tuple[float | None, float | None]:
    """Finite min and max without a copy of the series when it is all finite."""
    if a.size == 0:
        return None, None
    lo, hi = float(a.min()), float(a.max())
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    los, his = [], []
    for i in range(0, a.size, _CHUNK):  # NaN or inf somewhere: a chunk at a time,
        part = a[i : i + _CHUNK]  # masked only where the chunk holds one
        plo, phi = float(part.min()), float(part.max())
        if not (math.isfinite(plo) and math.isfinite(phi)):
            part = part[np.isfinite(part)]
            if not part.size:
                continue
            plo, phi = float(part.min()), float(part.max())
        los.append(plo)
        his.append(phi)
    if not los:
        return None, None
    return min(los), max(his)


_CHUNK: Final = 1 << 20


class Chart(NamedTuple):
    """One picture `auto` optimises: axes, canvas and weight in the objective."""

    logx: bool
    logy: bool
    width: int
    height: int
    xpad: float
    weight: float


#: (width, height, weight) of the canvases drawn as ``plot`` draws: a default
#: panel, a large screen, an 800 px chart
_PLOTTED: Final[tuple[tuple[int, int, float], ...]] = (
    (430, 280, 8.0),
    (1600, 400, 8.0),
    (800, 400, 8.0),
)
#: the same scale without the x padding (a chart with ``margins(x=0)``)
_UNPADDED: Final[tuple[tuple[int, int, float], ...]] = ((800, 400, 4.0), (1600, 400, 4.0))
#: log step axis, and the other y scale: drawn less often
_LOGX: Final[tuple[tuple[int, int, float], ...]] = ((800, 400, 1.0), (1600, 400, 1.0))
_OTHER_Y: Final[tuple[tuple[int, int, float], ...]] = ((800, 400, 3.0), (1600, 400, 3.0))


def charts_for(yscale: YScale, positive: bool) -> tuple[Chart, ...]:
    """The charts `auto` optimises for a panel drawn with ``yscale``.

    ``positive``: every finite value is positive, so a log y axis draws the
    whole series (a log view of a series with zeros or negative values is
    not modelled: the line breaks there).
    """
    logy = yscale == "log"
    out = [Chart(False, logy, w, h, PLOT_XPAD, wt) for w, h, wt in _PLOTTED]
    out += [Chart(False, logy, w, h, 0.0, wt) for w, h, wt in _UNPADDED]
    out += [Chart(True, False, w, h, 0.0, wt) for w, h, wt in _LOGX]
    if logy or positive:
        out += [Chart(False, not logy, w, h, 0.0, wt) for w, h, wt in _OTHER_Y]
    return tuple(out)


def fine_charts(yscale: YScale) -> tuple[Chart, ...]:
    """Finer charts that take the budget left once every chart above is exact."""
    logy = yscale == "log"
    return (
        Chart(False, logy, 3200, 1600, PLOT_XPAD, 8.0),
        Chart(True, False, 3200, 1600, 0.0, 1.0),
    )
