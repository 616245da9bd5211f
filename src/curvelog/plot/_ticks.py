"""Axes' ticks: steps in engineering notation, short value labels, step 0 on a log x axis.

Value ticks never use matplotlib's multiplier or offset text above the axis
(``1e6`` over ticks ``1.00000000100``): that text is hard to read and pushes
its panel's title up out of line with the others of its row. Ticks say their
values in a few significant characters; where the view spans a tiny part of
its magnitude (``1e6 + 0.001·sin``, a Unix time) they say the value minus a
round offset, which the y label names (``offset − 1e6``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from ._style import format_step

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: a view narrower than this part of its magnitude gets ticks relative to an offset
#: (more than 5 significant digits would be needed to tell its ticks apart)
_OFFSET_RATIO: Final[float] = 1e4
_MINUS: Final[str] = "\u2212"


def value_offset(lo: float, hi: float) -> float:
    """The round number the ticks of the view ``lo..hi`` are relative to; 0 for none."""
    span = hi - lo
    mag = max(abs(lo), abs(hi))
    if not (math.isfinite(span) and math.isfinite(mag) and span > 0) or mag < span * _OFFSET_RATIO:
        return 0.0
    k = math.ceil(math.log10(span))
    mid = (lo + hi) / 2
    # round the middle to the span's order: the ticks then stay within a few of it
    return float(round(mid * 10.0**-k) / 10.0**-k) if k < 0 else float(round(mid, -k))


def format_offset(offset: float) -> str:
    """``1e6``, ``1.7e9``, ``250``: an offset as the y label names it."""
    if offset == 0 or not math.isfinite(offset):
        return "0"
    exp = math.floor(math.log10(abs(offset)))
    if -4 < exp < 5:
        return f"{offset:.6g}".replace("-", _MINUS)
    mant = f"{offset / 10.0**exp:.6g}"
    if mant in ("10", "-10"):  # 9.9999995 rounds up
        mant, exp = mant[:-1], exp + 1
    return f"{mant}e{exp}".replace("-", _MINUS)


def _decimals(step: float) -> int:
    """Decimals that write every multiple of ``step`` exactly (0.25: 2; 5,000: 0)."""
    for d in range(0, 12):
        if abs(round(step, d) - step) <= step * 1e-6:
            return d
    return 12


def format_tick(v: float, step: float) -> str:
    """A tick ``v`` among ticks ``step`` apart, as short as tells them apart."""
    if not math.isfinite(v):
        return ""
    if not (math.isfinite(step) and step > 0):
        step = abs(v) or 1.0
    if abs(v) < step * 1e-6:
        return "0"
    big = max(abs(v), step)
    if 1e-4 <= step and big < 1e6:
        out = f"{v:.{_decimals(step)}f}"
    else:  # scientific, as many digits as the step needs: 2e11, 1.5e-7
        digits = max(1, math.floor(math.log10(big)) - math.floor(math.log10(step)) + 1)
        digits += 0 if _decimals(step / 10.0 ** math.floor(math.log10(step))) == 0 else 1
        out = f"{v:.{min(digits, 6)}g}"
        if "e" in out:
            mant, exp = out.split("e")
            out = f"{mant}e{int(exp)}"
    return out.replace("-", _MINUS)


def value_formatter() -> Any:
    """A matplotlib formatter for linear value axes (see the module docstring)."""
    from matplotlib.ticker import Formatter

    class _ValueFormatter(Formatter):
        _ticks: Sequence[float] = ()

        def set_locs(self, locs: Any) -> None:
            self._ticks = [float(v) for v in locs]

        def __call__(self, x: float, pos: int | None = None) -> str:
            axis = self.axis
            lo, hi = sorted(axis.get_view_interval()) if axis is not None else (x, x)
            locs = sorted(self._ticks)
            gaps = [b - a for a, b in zip(locs, locs[1:], strict=False) if b > a]
            step = min(gaps) if gaps else abs(hi - lo) / 5
            return format_tick(x - value_offset(lo, hi), step)

    return _ValueFormatter()


def offset_label(ax: Axes, label: str) -> str:
    """``label`` naming the offset the y ticks are relative to, if they are."""
    if ax.get_yscale() != "linear":
        return label
    lo, hi = sorted(ax.get_ylim())
    off = value_offset(lo, hi)
    if off == 0:
        return label
    sign = _MINUS if off > 0 else "+"
    return f"{label or 'value'} {sign} {format_offset(abs(off))}"


def step_axis(ax: Axes, logx: bool) -> None:
    """Engineering step ticks (`format_step`); at most 6 on a linear axis."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(format_step))
    if logx:
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10], integer=True))


def fit_step_ticks(ax: Axes) -> None:
    """Fewer step ticks on a narrow panel, so labels such as ``15k`` never run together:
    one per 0.75 inch, 2 to 6."""
    from matplotlib.ticker import MaxNLocator

    fig = ax.get_figure()
    if fig is None:
        return
    width_in = ax.get_window_extent().width / fig.dpi
    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):
        locator.set_params(nbins=max(2, min(6, int(width_in / 0.75))))
    elif ax.get_xscale() == "log":
        locator.set_params(numticks=max(3, min(8, int(width_in / 0.5))))  # type: ignore[call-arg]


def log_zero(xs: Sequence[float]) -> float:
    """Where step 0 (and any step below 1) goes on a log x axis: its left edge, half
    the lowest positive step (0.5 when there is none)."""
    positive = [x for x in xs if x > 0 and math.isfinite(x)]
    return min(positive) / 2 if positive else 0.5


LOGX_ZERO_NOTE: Final[str] = " (log; step 0 at the left edge)"

#: steps this many times their span from 0 are drawn relative to an origin
_ORIGIN_RATIO: Final[int] = 100


def step_origin(steps: Sequence[int]) -> int:
    """The round step a linear x axis is drawn relative to; 0 for none.

    Steps far from 0 for their span (ns timestamps, a global counter past
    2**53) gave ticks that all read ``1.764e+06T`` and, past 2**53, lines in
    stripes: float64 cannot hold such steps apart. Steps minus an origin
    (exact, in integers) are small floats; the x label names the origin
    (`origin_label`). The origin is the lowest step rounded down to the power
    of ten above the span, so ticks stay short (``0 … 5G``)."""
    if not steps:
        return 0
    lo, hi = min(steps), max(steps)
    span = max(hi - lo, 1)
    if lo < span * _ORIGIN_RATIO:
        return 0
    unit: int = 10 ** len(str(span))
    return int(lo // unit * unit)


def origin_label(label: str, origin: int) -> str:
    """``step − 1,764,000,000,000,000,000,000``: the x label of steps drawn relative
    to ``origin``, the number whole (exact, never cut)."""
    return f"{label or 'step'} {_MINUS} {origin:,}" if origin else label
