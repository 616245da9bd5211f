"""Downsampling: pick the few thousand points of a series that draw the same chart.

``downsample(x, y)`` takes one series (int64 steps, strictly increasing, and
float64 values that may hold NaN/±inf) and returns sorted, unique int64
indices into it. It is pure numpy: no I/O, and no Python loop per point (the
loops that remain run once per region, bucket or optimisation round).

Methods
-------
``auto`` (the default for ``curvelog compact``)
    Optimises the chart itself. It renders nothing, but it models the pixel
    columns of four reference charts of the series (linear and log-x step
    axis, 800 and 1600 px wide, 400 px high, x limits = the data's range) and
    chooses points so that every column lights the same rows as the raw
    curve, which is exactly what M4 (Jugel et al. 2014) achieves with four
    points per column. Volatility is measured in pixels: a column whose raw
    curve spans many rows gets points, a column the curve crosses as a thin
    line gets none. Steps: the mandatory points; the piecewise floor when the
    budget allows it (below); a zig-zag through the column extremes of the
    linear chart (one point per column, alternately its maximum and minimum,
    only in columns where the curve spans two or more rows and is not a
    monotone stretch); a greedy that adds the column extreme or edge point
    fixing the most missing or extra pixels, in rounds of 2% of the budget;
    two sweeps that move each free point to the best candidate between its
    neighbours, the gain counted exactly; and, if the reference charts are
    exact before the budget is spent (smooth curves), more points for finer
    charts (3200 x 1600 px), none of which may cost the reference charts a
    pixel. The linear charts weigh 8x the log-x ones: the linear chart is
    the default view and the one where classic downsamplers are strong.
    The reference charts are the ones ``tools/bench_fidelity.py`` scores;
    charts of other sizes or with x margins are not pixel-aligned with them
    and gain less (docs/SAMPLING.md has the numbers).
``volatility``
    A fixed point budget spent where the curve moves: the step range is cut
    into equal-width regions, each region's total variation (sum of
    |y[i+1] - y[i]|) buys it a share of the budget, and inside a region the
    points are the minimum and maximum of equal-width sub-buckets, so peaks,
    troughs and turning points survive. ``tools/bench_fidelity.py --study``
    compares total variation with range and standard deviation as the
    volatility measure.
``piecewise``
    The user's stride rule (``PIECEWISE_RULE``): steps below 1,000 all kept,
    then every 10th, 50th, 200th, 1,000th step. Strides are by step value, so
    irregular spacing works: the first point of every window
    ``[k*stride, (k+1)*stride)`` is kept, plus the window's last point where
    the next kept point would otherwise be more than a stride away. On
    regular integer steps this is exactly ``step % stride == 0``. ``n_out``
    is ignored: the rule decides the count.
``lttb``, ``minmax``
    The classics, for comparison: Largest-Triangle-Three-Buckets
    (Steinarsson 2013, equal-count buckets) and the minimum and maximum of
    equal-width step buckets.
``none``
    Every index.

Retention
---------
Whatever the method, the output holds the first and last point, the global
finite minimum and maximum, every non-finite value (NaN, +inf, -inf) and
every index in ``keep`` (the caller passes segment boundaries after a resume
and the best step there). Indices are unique, so each of these appears
exactly once. Ties at the minimum or maximum keep the *first* (lowest-step)
occurrence; a caller that wants another one passes it in ``keep``.

Budget
------
``n_out`` is the target number of points. The mandatory points above count
towards it; when they take more than half of it (a long burst of NaN), all
of them are still kept and ``n_out // 2`` points more describe the finite
curve, so the output may then exceed ``n_out``. The budgeted methods never
return more than ``max(n_out, mandatory + n_out // 2)`` points, and
``auto`` returns fewer only when its reference charts are already exact. A
series no longer than ``n_out`` is returned whole.

``auto`` and the piecewise rule: when one point in every window of the rule
fits in the budget, ``auto`` keeps one (the window's maximum or minimum,
alternately, moved only within its window), so it is never coarser than the
rule, and spends the rest of the budget where the pixels need it. When the
rule needs more points than the budget, the budget wins and the rule is not
applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from .errors import SamplingError

__all__ = ["METHODS", "PIECEWISE_RULE", "downsample"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: (exclusive upper step bound, stride): the user's design in seeds/recorder-design-chat.md.
PIECEWISE_RULE: Final[tuple[tuple[float, int], ...]] = (
    (1_000, 1),
    (10_000, 10),
    (100_000, 50),
    (1_000_000, 200),
    (math.inf, 1_000),
)

#: Every value ``method`` accepts; ``auto`` is the default for compaction.
METHODS: Final[tuple[str, ...]] = ("auto", "volatility", "piecewise", "lttb", "minmax", "none")

# The charts auto optimises: (log-x?, width px, height px, weight, x margin).
# They match tools/bench_fidelity.py and ../shared/bench/fidelity.py (x limits =
# data range, y limits = finite range padded by 5%, log-x = log10(step + 1)).
# The weights were chosen on the real series (5 to 15 score the same); linear
# views weigh more: the linear chart is the default view and the one where
# classic downsamplers are strong, log-x charts of raw steps are cheap to win.
_CANVASES: Final[tuple[tuple[bool, int, int, float, float], ...]] = (
    (False, 800, 400, 8.0, 0.0),
    (False, 1600, 400, 8.0, 0.0),
    (True, 800, 400, 1.0, 0.0),
    (True, 1600, 400, 1.0, 0.0),
)
# When the reference charts are exact and budget is left (smooth curves), it
# is spent on finer charts, so that other widths and margins stay faithful.
_FINE_CANVASES: Final[tuple[tuple[bool, int, int, float, float], ...]] = (
    (False, 3200, 1600, 8.0, 0.0),
    (True, 3200, 1600, 1.0, 0.0),
)
_Y_MARGIN: Final = 0.05
_BATCH: Final = 0.02  # greedy round = this share of the budget
_ZIGZAG_SHARE: Final = 0.8  # the linear zig-zag may use this share of the budget
_SWEEPS: Final = 2  # refinement sweeps
_SHORTLIST: Final = 8  # refinement: candidates per moved point
_VOL_REGION_POINTS: Final = 32  # volatility: about one region per this many points

_EMPTY: Final[IntArray] = np.zeros(0, dtype=np.int64)


# --------------------------------------------------------------------------- public API


def downsample(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    method: str = "auto",
    n_out: int = 2000,
    keep: np.ndarray | Sequence[int] | None = None,
    rule: Sequence[tuple[float, int]] = PIECEWISE_RULE,
) -> IntArray:
    """Choose the points of one series that a chart needs.

    :param x: steps, integers, strictly increasing (the caller deduplicates
        and keeps the last value of a re-run step).
    :param y: values, float; NaN and ±inf are events and always kept.
    :param method: one of `METHODS` (see the module docstring).
    :param n_out: target number of points (mandatory points may add to it).
    :param keep: indices into ``x`` that must be kept: segment boundaries of
        a resumed run, the best step.
    :param rule: ``(upper step bound, stride)`` pairs for ``piecewise`` and
        for ``auto``'s floor; bounds strictly increasing, the last one
        ``math.inf``.
    :returns: sorted, unique int64 indices into ``x``.
    :raises SamplingError: on an unknown method, a bad budget, rule or keep,
        arrays of different lengths, or steps that do not strictly increase.
    """
    meth = _check_method(method)
    budget = _check_n_out(n_out)
    xs, ys = _check_xy(x, y)
    n = int(xs.size)
    kept = _check_keep(keep, n)
    windows = _check_rule(rule)
    if n == 0:
        return _EMPTY.copy()
    if meth == "none":
        return np.arange(n, dtype=np.int64)
    fin = np.isfinite(ys)
    mandatory = _mandatory(ys, fin, kept)
    if meth == "piecewise":
        return np.union1d(mandatory, _piecewise(xs, windows))
    if n <= budget:
        return np.arange(n, dtype=np.int64)
    # all mandatory points, and at least half the budget for the curve's shape
    target = max(budget, int(mandatory.size) + budget // 2)
    if not fin.any():
        return mandatory
    shape = target - int(mandatory.size)
    # Values near the float64 limit overflow in differences and sums; that
    # only blurs the choice of shape points (the mandatory ones are already
    # fixed), so it must not raise where warnings are errors.
    with np.errstate(all="ignore"):
        if meth == "auto":
            return _auto(xs, ys, fin, mandatory, target, windows)
        if shape < 2:
            return mandatory
        if meth == "lttb":
            picked = _lttb_finite(xs, ys, fin, shape)
        elif meth == "minmax":
            picked = _minmax(xs, ys, fin, shape // 2)
        else:
            picked = _volatility(xs, ys, fin, shape)
    return np.union1d(mandatory, picked)


# --------------------------------------------------------------------------- validation


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise SamplingError(
            f"unknown sampling method {method!r}; expected one of {', '.join(METHODS)}"
        )
    return method


def _check_n_out(n_out: object) -> int:
    if isinstance(n_out, bool) or not isinstance(n_out, (int, np.integer)):
        raise SamplingError(f"n_out must be an integer >= 1, got {n_out!r}")
    if int(n_out) < 1:
        raise SamplingError(f"n_out must be an integer >= 1, got {int(n_out)}")
    return int(n_out)


def _check_xy(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    xa = np.asarray(x)
    ya = np.asarray(y)
    if xa.ndim != 1 or ya.ndim != 1:
        raise SamplingError(f"x and y must be 1-d arrays, got shapes {xa.shape} and {ya.shape}")
    if xa.size != ya.size:
        raise SamplingError(f"x and y differ in length: {xa.size} and {ya.size}")
    if xa.dtype.kind in "iu":
        if xa.dtype.kind == "u" and xa.size and int(xa.max()) > np.iinfo(np.int64).max:
            raise SamplingError("x holds steps beyond the int64 range")
        xs = np.ascontiguousarray(xa, dtype=np.int64)
    elif xa.dtype.kind == "f" or xa.size == 0:
        xf = xa.astype(np.float64)
        if xf.size and not (np.all(np.isfinite(xf)) and np.all(xf == np.round(xf))):
            raise SamplingError("x must hold integer steps (got non-integral floats)")
        if xf.size and float(np.max(np.abs(xf))) >= 2.0**63:
            raise SamplingError("x holds steps beyond the int64 range")
        xs = xf.astype(np.int64)
    else:
        raise SamplingError(f"x must hold integer steps, got dtype {xa.dtype}")
    if ya.dtype.kind not in "iufb" and ya.size:
        raise SamplingError(f"y must hold numbers, got dtype {ya.dtype}")
    ys = np.ascontiguousarray(ya, dtype=np.float64)
    if xs.size > 1 and not bool(np.all(xs[1:] > xs[:-1])):
        bad = int(np.argmin(xs[1:] > xs[:-1]))
        raise SamplingError(
            f"x must be strictly increasing: x[{bad + 1}] = {int(xs[bad + 1])} "
            f"follows x[{bad}] = {int(xs[bad])} (deduplicate and sort first)"
        )
    return xs, ys


def _check_keep(keep: np.ndarray | Sequence[int] | None, n: int) -> IntArray:
    if keep is None:
        return _EMPTY
    ka = np.asarray(keep)
    if ka.size == 0:
        return _EMPTY
    if ka.ndim != 1 or ka.dtype.kind not in "iu":
        raise SamplingError(f"keep must be a 1-d sequence of integer indices, got {ka.dtype}")
    lo, hi = int(ka.min()), int(ka.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise SamplingError(f"keep index {bad} is out of range for a series of {n} points")
    return np.unique(ka.astype(np.int64))


def _check_rule(rule: Sequence[tuple[float, int]]) -> tuple[tuple[float, int], ...]:
    try:
        pairs = [tuple(p) for p in rule]
    except TypeError:
        raise SamplingError("rule must be a sequence of (upper step bound, stride) pairs") from None
    if not pairs:
        raise SamplingError("rule must hold at least one (upper step bound, stride) pair")
    out: list[tuple[float, int]] = []
    prev = -math.inf
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise SamplingError(f"rule[{i}] must be an (upper step bound, stride) pair")
        bound, stride = pair
        if isinstance(bound, bool) or not isinstance(bound, (int, float, np.integer, np.floating)):
            raise SamplingError(f"rule[{i}]: the bound must be a number, got {bound!r}")
        b = float(bound)
        if math.isnan(b) or b <= prev or b <= 0:
            raise SamplingError(
                f"rule[{i}]: bounds must be positive and strictly increasing, got {bound!r}"
            )
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise SamplingError(f"rule[{i}]: the stride must be an integer >= 1, got {stride!r}")
        out.append((b, int(stride)))
        prev = b
    if not math.isinf(out[-1][0]):
        raise SamplingError("rule: the last bound must be math.inf so that every step has a stride")
    return tuple(out)


# --------------------------------------------------------------------------- shared pieces


def _mandatory(y: FloatArray, fin: BoolArray, keep: IntArray) -> IntArray:
    """First, last, first global finite min and max, every non-finite, keep."""
    n = y.size
    parts = [np.array([0, n - 1], dtype=np.int64), keep]
    if fin.all():
        parts.append(np.array([np.argmin(y), np.argmax(y)], dtype=np.int64))
    else:
        nonfinite = np.flatnonzero(~fin).astype(np.int64)
        parts.append(nonfinite)
        if nonfinite.size < n:
            src_lo, src_hi, red_lo, red_hi = _sources(y, fin, nonfinite)
            lo, hi = red_lo.reduce(src_lo), red_hi.reduce(src_hi)
            parts.append(np.array([np.argmax(src_lo == lo), np.argmax(src_hi == hi)]))
    return np.unique(np.concatenate(parts).astype(np.int64))


def _sources(
    y: FloatArray, fin: BoolArray, nonfinite: IntArray | None = None
) -> tuple[FloatArray, FloatArray, np.ufunc, np.ufunc]:
    """Arrays and reductions whose min / max see only the finite values.

    NaN alone needs no copy (``fmin``/``fmax`` skip it); an infinity does
    (it would win the reduction), so then non-finite values are masked.
    """
    if nonfinite is None:
        nonfinite = np.flatnonzero(~fin)
    if nonfinite.size == 0:
        return y, y, np.minimum, np.maximum
    if not np.isinf(y[nonfinite]).any():
        return y, y, np.fmin, np.fmax
    return np.where(fin, y, np.inf), np.where(fin, y, -np.inf), np.minimum, np.maximum


def _int_ceil(bound: float) -> int:
    """Smallest int64 step >= bound (bound finite and positive)."""
    return min(math.ceil(bound), int(np.iinfo(np.int64).max))


def _window_starts(x: IntArray, rule: tuple[tuple[float, int], ...]) -> tuple[IntArray, IntArray]:
    """Index of the first point of every non-empty rule window, and its stride.

    A window is ``[k*stride, (k+1)*stride)`` inside one region of the rule.
    """
    n = x.size
    starts: list[IntArray] = []
    strides: list[IntArray] = []
    lo = 0
    for bound, stride in rule:
        hi = n if math.isinf(bound) else int(np.searchsorted(x, _int_ceil(bound), side="left"))
        if hi > lo:
            if stride == 1:
                pos = np.arange(lo, hi, dtype=np.int64)
            else:
                xs = x[lo:hi]
                k0, k1 = int(xs[0]) // stride, int(xs[-1]) // stride
                if k1 - k0 < xs.size:  # few windows: find them, do not divide every step
                    edges = np.arange(k0 + 1, k1 + 1, dtype=np.int64) * stride
                    pos = lo + np.unique(np.searchsorted(xs, edges, side="left"))
                    pos = np.concatenate((np.array([lo], dtype=np.int64), pos.astype(np.int64)))
                else:
                    key = xs // stride
                    pos = lo + np.flatnonzero(np.r_[True, key[1:] != key[:-1]]).astype(np.int64)
            starts.append(pos)
            strides.append(np.full(pos.size, stride, dtype=np.int64))
        lo = hi
    return np.concatenate(starts), np.concatenate(strides)


def _piecewise(x: IntArray, rule: tuple[tuple[float, int], ...]) -> IntArray:
    """First point of each rule window, plus the window's last point where the
    next kept point would be more than a stride away (irregular steps)."""
    first, stride = _window_starts(x, rule)
    if first.size < 2:
        return first
    cur, nxt = first[:-1], first[1:]
    wide = (x[nxt] - x[cur] > stride[:-1]) & (nxt - cur > 1)
    return np.union1d(first, nxt[wide] - 1)


def _seg_reduce(
    ufunc: np.ufunc, vals: FloatArray, starts: IntArray, ends: IntArray, empty: float
) -> FloatArray:
    """``ufunc.reduceat`` over contiguous segments [start, end), where each
    end is the next non-empty segment's start; ``empty`` for empty ones."""
    out = np.full(starts.size, empty, dtype=np.float64)
    ne = ends > starts
    if vals.size and ne.any():
        out[ne] = ufunc.reduceat(vals, starts[ne])
    return out


def _ranges(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """Flatten the ranges [starts[i], ends[i]) into (owner i, value) pairs."""
    cnt = np.maximum(ends - starts, 0)
    total = int(cnt.sum())
    owner = np.repeat(np.arange(starts.size, dtype=np.int64), cnt)
    off = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return owner, starts[owner] + off


class _Bins:
    """Finite min/max of y over consecutive index bins, and where they occur.

    One pass over the series; every coarser bin used later (a pixel column,
    a rule window) is a union of these, so nothing else reads all N points.
    """

    __slots__ = ("starts", "ends", "vmin", "vmax", "amin", "amax", "amin_last", "amax_last")

    def __init__(self, y: FloatArray, fin: BoolArray, starts: IntArray) -> None:
        n = y.size
        self.starts = starts
        self.ends = np.r_[starts[1:], n].astype(np.int64)
        cnt = self.ends - starts
        src_lo, src_hi, red_lo, red_hi = _sources(y, fin)
        # NaN where a bin holds no finite value (fmin/fmax), or +-inf (masked)
        self.vmin = red_lo.reduceat(src_lo, starts)
        self.vmax = red_hi.reduceat(src_hi, starts)
        self.amin, self.amin_last = self._where(src_lo, self.vmin, cnt)
        self.amax, self.amax_last = self._where(src_hi, self.vmax, cnt)

    def _where(self, src: FloatArray, v: FloatArray, cnt: IntArray) -> tuple[IntArray, IntArray]:
        hit = np.flatnonzero(src == np.repeat(v, cnt)).astype(np.int64)
        ok = np.isfinite(v)
        if hit.size == 0:
            none = np.full(v.size, -1, dtype=np.int64)
            return none, none.copy()
        first = hit[np.minimum(np.searchsorted(hit, self.starts), hit.size - 1)]
        last = hit[np.maximum(np.searchsorted(hit, self.ends) - 1, 0)]
        return np.where(ok, first, -1), np.where(ok, last, -1)

    def group(self, bounds: IntArray) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
        """Min, max and first argmin/argmax over groups starting at ``bounds``
        (a subset of the bin starts, bounds[0] == 0)."""
        g0 = np.searchsorted(self.starts, bounds).astype(np.int64)
        gmin = np.fmin.reduceat(self.vmin, g0)
        gmax = np.fmax.reduceat(self.vmax, g0)
        gid = np.repeat(np.arange(g0.size), np.diff(np.r_[g0, self.starts.size]))
        out: list[IntArray] = []
        for vals, gv, arg in ((self.vmin, gmin, self.amin), (self.vmax, gmax, self.amax)):
            hit = g0[0] + np.flatnonzero(vals[g0[0] :] == gv[gid])
            first = hit[np.minimum(np.searchsorted(hit, g0), hit.size - 1)]
            out.append(np.where(np.isfinite(gv), arg[first], -1))
        return gmin, gmax, out[0], out[1]


# --------------------------------------------------------------------------- lttb, minmax


def _lttb_finite(x: IntArray, y: FloatArray, fin: BoolArray, n_out: int) -> IntArray:
    fi = np.flatnonzero(fin).astype(np.int64)
    if fi.size <= n_out:
        return fi
    return fi[_lttb(x[fi].astype(np.float64), y[fi], n_out)]


def _lttb(xf: FloatArray, y: FloatArray, n_out: int) -> IntArray:
    """Largest-Triangle-Three-Buckets on finite data (one loop step per bucket).

    First and last point kept; the n_out - 2 middle buckets hold equal counts
    of points (bucket i covers [1 + i*w, 1 + (i+1)*w), w = (n-2)/(n_out-2));
    each picks the point making the largest triangle with the point chosen in
    the previous bucket and the mean of the next bucket (the last point for
    the final bucket). Ties keep the earliest point.
    """
    n = xf.size
    if n_out >= n:
        return np.arange(n, dtype=np.int64)
    if n_out < 3:
        return np.array([0, n - 1], dtype=np.int64)
    nb = n_out - 2
    edges = (1 + np.floor(np.arange(nb + 1) * ((n - 2) / nb))).astype(np.int64)
    edges[-1] = n - 1
    cnt = np.diff(edges)
    # mean of the next bucket; the last bucket looks at the last point
    mx = np.r_[np.add.reduceat(xf[: n - 1], edges[1:-1]) / cnt[1:], xf[-1]]
    my = np.r_[np.add.reduceat(y[: n - 1], edges[1:-1]) / cnt[1:], y[-1]]
    out = np.empty(n_out, dtype=np.int64)
    out[0], out[-1] = 0, n - 1
    a = 0
    for i in range(nb):
        lo, hi = int(edges[i]), int(edges[i + 1])
        ax, ay = xf[a], y[a]
        area = np.abs((ax - mx[i]) * (y[lo:hi] - ay) - (ax - xf[lo:hi]) * (my[i] - ay))
        a = lo + int(np.argmax(area))
        out[i + 1] = a
    return out


def _minmax(x: IntArray, y: FloatArray, fin: BoolArray, buckets: int) -> IntArray:
    """Finite minimum and maximum of ``buckets`` equal-width step buckets."""
    starts = _equal_width_starts(x, 0, x.size, buckets)
    bins = _Bins(y, fin, starts)
    both = np.concatenate((bins.amin, bins.amax))
    return np.unique(both[both >= 0])


def _equal_width_starts(x: IntArray, lo: int, hi: int, buckets: int) -> IntArray:
    """Start indices of the non-empty buckets when [x[lo], x[hi-1]] is cut
    into ``buckets`` equal step ranges (the last one closed)."""
    span = int(x[hi - 1]) - int(x[lo])
    if buckets <= 1 or span <= 0:
        return np.array([lo], dtype=np.int64)
    # offsets from x[lo] in float (small), added to x[lo] as integers: exact
    # for steps up to 2**63, not only 2**53
    off = np.ceil(float(span) * np.arange(1, buckets, dtype=np.float64) / buckets)
    edges = int(x[lo]) + np.minimum(off, float(span)).astype(np.int64)
    cut = np.searchsorted(x[lo:hi], edges, side="left") + lo
    return np.unique(np.r_[lo, cut[cut < hi]]).astype(np.int64)


# --------------------------------------------------------------------------- volatility


def _volatility(x: IntArray, y: FloatArray, fin: BoolArray, n_out: int) -> IntArray:
    """Budget per equal-width region in proportion to its total variation;
    min and max of equal-width sub-buckets inside each region."""
    n = x.size
    regions = _equal_width_starts(x, 0, n, max(1, n_out // _VOL_REGION_POINTS))
    r_end = np.r_[regions[1:], n].astype(np.int64)
    vol = _region_volatility(y, fin, regions, r_end)
    # an overflowing total (values near the float64 limit) counts as the most
    # volatile; scaled to at most 1 so that sums of shares stay finite
    big = np.isnan(vol) | np.isposinf(vol)
    top = float(vol[~big].max()) if (~big).any() else 0.0
    vol = np.where(big, max(top, 1.0), vol)
    vol = vol / max(float(vol.max()), 1e-300)
    share = _allocate(vol, (r_end - regions).astype(np.int64), n_out)
    # sub-bucket starts, region by region (a loop per region, not per point)
    starts = [
        _equal_width_starts(x, int(a), int(b), max(1, int(k) // 2))
        for a, b, k in zip(regions, r_end, share, strict=True)
        if k > 0
    ]
    if not starts:
        return _EMPTY
    bins = _Bins(y, fin, np.concatenate(starts))
    both = np.concatenate((bins.amin, bins.amax))
    return np.unique(both[both >= 0])


def _region_volatility(
    y: FloatArray, fin: BoolArray, starts: IntArray, ends: IntArray
) -> FloatArray:
    """Total variation inside each region: the sum of |y[i+1] - y[i]| over
    consecutive finite pairs with both ends in the region."""
    n = y.size
    if n < 2:
        return np.zeros(starts.size)
    d = np.diff(y)
    np.abs(d, out=d)
    if not fin.all():
        d[~np.isfinite(d)] = 0.0  # a pair with a NaN or infinite end
    # regions are contiguous: sum from each start to the next one, then take
    # off the pair that straddles into the next region
    total = np.add.reduceat(d, np.minimum(starts, n - 2))
    total[starts > n - 2] = 0.0
    cross = np.where(ends < n, d[np.minimum(ends, n - 1) - 1], 0.0)
    out: FloatArray = np.maximum(total - cross, 0.0)
    return out


def _allocate(vol: FloatArray, size: IntArray, total: int) -> IntArray:
    """Split ``total`` points: 2 per region (or its size), the rest in
    proportion to ``vol`` (largest remainder), never more than a region holds."""
    base = np.minimum(size, 2).astype(np.int64)
    share = base.copy()
    left = total - int(base.sum())
    w = np.where(size > share, vol, 0.0)
    for _ in range(8):  # a few passes redistribute what full regions cannot hold
        room = size - share
        w = np.where(room > 0, w, 0.0)
        if left <= 0 or not (room > 0).any():
            break
        if w.sum() <= 0:
            w = (room > 0).astype(np.float64)
        want = left * w / w.sum()
        add = np.minimum(np.floor(want).astype(np.int64), room)
        rest = left - int(add.sum())
        if rest > 0:
            frac = np.where(room > add, want - np.floor(want), -1.0)
            order = np.argsort(-frac, kind="stable")[:rest]
            order = order[frac[order] >= 0]
            add[order] += 1
        share += add
        left -= int(add.sum())
    return share


# --------------------------------------------------------------------------- auto: pixel model


class _Grid:
    """Pixel columns of one reference chart, computed as the rasteriser does.

    Column of a point: ``floor((d - d0) / (d1 - d0) * W)`` with d the display
    x (the step, or log10(step + 1)), the right edge belonging to the last
    column. ``pos[c]`` is the index of the first point in column >= c.
    """

    __slots__ = ("log", "width", "height", "weight", "d0", "d1", "pos")

    def __init__(
        self, x: IntArray, log: bool, width: int, height: int, weight: float, margin: float = 0.0
    ) -> None:
        self.log = log
        self.width = width
        self.height = height
        self.weight = weight
        n = x.size
        d0 = float(self.disp(x[:1])[0])
        d1 = float(self.disp(x[-1:])[0])
        if d1 == d0:
            d0, d1 = d0 - 0.5, d1 + 0.5
        pad = (d1 - d0) * margin
        d0, d1 = d0 - pad, d1 + pad
        self.d0, self.d1 = d0, d1
        c = np.arange(1, width, dtype=np.int64)
        b = d0 + c * ((d1 - d0) / width)
        approx = np.power(10.0, b) - 1.0 if log else b
        approx = np.clip(approx, float(x[0]) - 1.0, float(x[-1]) + 1.0)
        pos = np.searchsorted(x, np.ceil(approx).astype(np.int64), side="left").astype(np.int64)
        # settle points that sit on a boundary up to float rounding
        for _ in range(64):
            at = np.minimum(pos, n - 1)
            up = (pos < n) & (self.col(x[at]) < c)
            before = np.maximum(pos - 1, 0)
            down = (pos > 0) & (self.col(x[before]) >= c)
            if not (up.any() or down.any()):
                break
            pos = pos + up.astype(np.int64) - down.astype(np.int64)
        self.pos = np.r_[0, np.maximum.accumulate(pos), n].astype(np.int64)

    def disp(self, xs: IntArray) -> FloatArray:
        xf = xs.astype(np.float64)
        return np.log10(np.maximum(xf, 0.0) + 1.0) if self.log else xf

    def u(self, xs: IntArray) -> FloatArray:
        return (self.disp(xs) - self.d0) / (self.d1 - self.d0) * self.width

    def col(self, xs: IntArray) -> IntArray:
        uu = self.u(xs)
        c = np.floor(uu).astype(np.int64)
        c[(c == self.width) & (uu <= self.width + 1e-9)] = self.width - 1
        return c


def _rows(lo: FloatArray, hi: FloatArray, height: int) -> tuple[BoolArray, IntArray, IntArray]:
    """Lit row interval [rlo, rhi] of each column from its extent in rows
    (NaN: nothing drawn); rows outside the canvas are dropped, as drawn."""
    has = ~np.isnan(lo) & ~np.isnan(hi) & (hi >= 0) & (lo < height)
    rlo = np.clip(np.floor(np.where(has, lo, 0.0)), 0, height - 1).astype(np.int64)
    rhi = np.clip(np.floor(np.where(has, hi, 0.0)), 0, height - 1).astype(np.int64)
    return has, rlo, rhi


def _xor_rows(
    ha: BoolArray, la: IntArray, ua: IntArray, hb: BoolArray, lb: IntArray, ub: IntArray
) -> IntArray:
    """|A xor B| for row intervals A = [la, ua], B = [lb, ub] (empty where not h)."""
    na = np.where(ha, ua - la + 1, 0)
    nb = np.where(hb, ub - lb + 1, 0)
    inter = np.where(ha & hb, np.maximum(0, np.minimum(ua, ub) - np.maximum(la, lb) + 1), 0)
    out: IntArray = (na + nb - 2 * inter).astype(np.int64)
    return out


def _segment_span(
    ua: FloatArray, va: FloatArray, ub: FloatArray, vb: FloatArray, col: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Lowest and highest value of segment a-b inside column ``col``
    ([col, col + 1) in pixels); NaN where the segment misses the column."""
    left = np.maximum(ua, col)
    right = np.minimum(ub, col + 1.0)
    flat = ub <= ua  # a vertical segment: both values at one x
    hit = np.where(flat, np.floor(ua) == col, left <= right)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(flat, 0.0, (vb - va) / (ub - ua))
    v1 = np.where(flat, va, va + (left - ua) * slope)
    v2 = np.where(flat, vb, va + (right - ua) * slope)
    lo = np.where(hit, np.fmin(v1, v2), np.nan)
    hi = np.where(hit, np.fmax(v1, v2), np.nan)
    return lo, hi


class _View:
    """One reference chart: where the raw curve lights each pixel column,
    and which raw points can restore a column."""

    __slots__ = ("g", "has", "rlo", "rhi", "w", "amin", "amax", "pt_lo", "pt_hi")
    w: float

    def __init__(self, g: _Grid, m: _Model) -> None:
        self.g = g
        w, h = g.width, g.height
        ps, pe = g.pos[:-1], g.pos[1:]
        ne = pe > ps
        cmin = np.full(w, np.nan)
        cmax = np.full(w, np.nan)
        self.amin = np.full(w, -1, dtype=np.int64)
        self.amax = np.full(w, -1, dtype=np.int64)
        if ne.any():
            gmin, gmax, amin, amax = m.bins.group(ps[ne])
            cmin[ne], cmax[ne] = m.scale(gmin, h), m.scale(gmax, h)
            self.amin[ne], self.amax[ne] = amin, amax
        self.pt_lo = np.floor(np.nan_to_num(cmin, nan=-1.0))
        self.pt_hi = np.floor(np.nan_to_num(cmax, nan=-1.0))
        # where the raw polyline crosses each inner column boundary
        b = g.pos[1:-1]
        i1 = np.minimum(b, m.n - 1)
        i0 = np.maximum(b - 1, 0)
        ok = (b > 0) & (b < m.n) & m.fin[i0] & m.fin[i1]
        cross = _boundary_value(g, m, i0, i1, ok, h)
        left = np.r_[np.nan, cross]
        right = np.r_[cross, np.nan]
        lo = np.fmin(np.fmin(cmin, left), right)
        hi = np.fmax(np.fmax(cmax, left), right)
        self.has, self.rlo, self.rhi = _rows(lo, hi, h)
        lit = int(np.where(self.has, self.rhi - self.rlo + 1, 0).sum())
        self.w = g.weight / max(lit, 1)


def _boundary_value(
    g: _Grid, m: _Model, i0: IntArray, i1: IntArray, ok: BoolArray, h: int
) -> FloatArray:
    """Value (rows) where segment i0-i1 crosses inner boundary c = 1..W-1
    (the rasteriser's formula); NaN where there is no drawable segment."""
    c = np.arange(1, g.width, dtype=np.float64)
    u0, u1 = g.u(m.x[i0]), g.u(m.x[i1])
    v0, v1 = m.rows(i0, h), m.rows(i1, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = v0 + (c - u0) * (v1 - v0) / (u1 - u0)
    return np.where(ok & np.isfinite(val), val, np.nan)


class _Drawn:
    """How a selection K lights one chart: per column, the rows of its kept
    points (pmin, pmax), the values where the polyline crosses its left and
    right edge, its lit rows and its error against the raw chart."""

    __slots__ = ("pmin", "pmax", "left", "right", "has", "lo", "hi", "err")

    def __init__(self, view: _View, m: _Model, k: IntArray, kv: FloatArray) -> None:
        g = view.g
        kp = np.searchsorted(k, g.pos).astype(np.int64)
        vmin = np.where(np.isnan(kv), np.inf, kv)
        vmax = np.where(np.isnan(kv), -np.inf, kv)
        pmin = _seg_reduce(np.minimum, vmin, kp[:-1], kp[1:], np.inf)
        pmax = _seg_reduce(np.maximum, vmax, kp[:-1], kp[1:], -np.inf)
        self.pmin = np.where(np.isfinite(pmin), pmin, np.nan)
        self.pmax = np.where(np.isfinite(pmax), pmax, np.nan)
        b = kp[1:-1]
        j1 = np.minimum(b, k.size - 1)
        j0 = np.maximum(b - 1, 0)
        ok = (b > 0) & (b < k.size)
        cross = _boundary_value(g, m, k[j0], k[j1], ok, g.height)
        self.left = np.r_[np.nan, cross]
        self.right = np.r_[cross, np.nan]
        lo = np.fmin(np.fmin(self.pmin, self.left), self.right)
        hi = np.fmax(np.fmax(self.pmax, self.left), self.right)
        self.has, self.lo, self.hi = _rows(lo, hi, g.height)
        self.err = _xor_rows(view.has, view.rlo, view.rhi, self.has, self.lo, self.hi)


class _Model:
    """The reference charts of one series and the pixel error of a selection.

    Error = for each chart, the rows lit by the raw curve or by the selection
    but not both, summed over columns and divided by the raw curve's lit
    rows (so each chart counts like the XOR/union score of a renderer),
    times the chart's weight.
    """

    def __init__(self, x: IntArray, y: FloatArray, fin: BoolArray, bins: _Bins) -> None:
        self.x, self.y, self.fin, self.bins = x, y, fin, bins
        self.n = int(x.size)
        ok = np.isfinite(bins.vmin)
        lo, hi = float(bins.vmin[ok].min()), float(bins.vmax[ok].max())
        if hi == lo:
            d = abs(lo) * 0.05 or 0.5
            lo, hi = lo - d, hi + d
        pad = (hi - lo) * _Y_MARGIN
        self.ylo, self.yhi = lo - pad, hi + pad
        self.views: list[_View] = []
        self.first = 0  # proposals come from views[first:]
        # candidate points: first, last and extreme points of every bin
        cand = [bins.starts, bins.ends - 1, bins.amin, bins.amax, bins.amin_last, bins.amax_last]
        pool = np.unique(np.concatenate(cand))
        pool = pool[pool >= 0]
        self.pool = pool[fin[pool]]

    def use(self, grids: Sequence[_Grid], keep_weight: float = 0.0) -> None:
        """Optimise for the charts of ``grids``. With ``keep_weight``, the
        charts used so far stay in the error, that many times heavier, so
        that points added for the new charts do not spoil them."""
        fresh = [_View(g, self) for g in grids]
        self.first = len(self.views) if keep_weight else 0
        if keep_weight:
            for view in self.views:
                view.w *= keep_weight
            self.views = self.views + fresh
        else:
            self.views = fresh

    def scale(self, vals: FloatArray, h: int) -> FloatArray:
        """Values to rows of a chart ``h`` px high (NaN where not finite)."""
        r = (vals - self.ylo) / (self.yhi - self.ylo) * h
        return np.where(np.isfinite(r), r, np.nan)

    def rows(self, idx: IntArray, h: int) -> FloatArray:
        return self.scale(self.y[idx], h)

    def draw(self, k: IntArray) -> list[_Drawn]:
        out = []
        for view in self.views:
            out.append(_Drawn(view, self, k, self.rows(k, view.g.height)))
        return out

    def error(self, drawn: Sequence[_Drawn]) -> float:
        views = self.views[: len(drawn)]
        return float(sum(float(d.err.sum()) * v.w for d, v in zip(drawn, views, strict=True)))

    def proposals(self, drawn: Sequence[_Drawn]) -> tuple[IntArray, FloatArray]:
        """Points that would fix each column's worst side, with the missing
        or extra rows they address (weighted). A column missing its top gets
        its maximum if a raw point reaches that row, else the raw points on
        both sides of its edges (the top came from a crossing); a column
        drawn beyond the raw rows gets its edge points, which pin the
        crossings to the raw ones."""
        idx: list[IntArray] = []
        gain: list[FloatArray] = []
        for view, d in zip(self.views[self.first :], drawn[self.first :], strict=True):
            g = view.g
            nr = np.where(view.has, view.rhi - view.rlo + 1, 0)
            top = view.has & (~d.has | (view.rhi > d.hi))
            bot = view.has & (~d.has | (view.rlo < d.lo))
            g_top = np.where(top, np.where(d.has, view.rhi - np.maximum(d.hi, view.rlo - 1), nr), 0)
            g_bot = np.where(bot, np.where(d.has, np.minimum(d.lo, view.rhi + 1) - view.rlo, nr), 0)
            top &= g_top >= g_bot  # one side per column and round: zig-zag, not pairs
            bot &= g_bot > g_top
            edges: list[tuple[BoolArray, IntArray]] = []
            for side, gs, arg, pt, raw in (
                (top, g_top, view.amax, view.pt_hi, view.rhi),
                (bot, g_bot, view.amin, view.pt_lo, view.rlo),
            ):
                by_point = side & (arg >= 0) & (pt == raw)
                idx.append(arg[by_point])
                gain.append(gs[by_point] * view.w)
                edges.append((side & ~by_point, gs))
            over_top = view.has & d.has & (d.hi > view.rhi)
            over_bot = view.has & d.has & (d.lo < view.rlo)
            g_over = np.where(over_top, d.hi - view.rhi, 0) + np.where(over_bot, view.rlo - d.lo, 0)
            edges.append((over_top | over_bot, g_over))
            for mask, gs in edges:
                cols = np.flatnonzero(mask)
                for side_off in (0, 1):
                    b = g.pos[cols + side_off]
                    ok = (b > 0) & (b < self.n)
                    gg = gs[cols][ok] * view.w
                    idx += [b[ok], b[ok] - 1]
                    gain += [gg, gg]
        return np.concatenate(idx).astype(np.int64), np.concatenate(gain).astype(np.float64)

    def gain(self, k: IntArray, drawn: Sequence[_Drawn], c: IntArray) -> FloatArray:
        """Exact error decrease of adding each point ``c`` (not in k) alone.

        Only the columns between c's kept neighbours p and q change: the
        segment p-q is replaced by p-c and c-q; the end columns keep what
        the rest of the polyline draws in them.
        """
        j = np.searchsorted(k, c)
        p, q = k[j - 1], k[np.minimum(j, k.size - 1)]
        ok = (j > 0) & (j < k.size) & self.fin[p] & self.fin[q]
        total = np.zeros(c.size)
        for view, d in zip(self.views, drawn, strict=True):
            g = view.g
            h = g.height
            up, uc, uq = g.u(self.x[p]), g.u(self.x[c]), g.u(self.x[q])
            vp, vc, vq = self.rows(p, h), self.rows(c, h), self.rows(q, h)
            cp, cq = g.col(self.x[p]), g.col(self.x[q])
            own, col = _ranges(cp, np.maximum(cq, cp) + 1)
            at_p = col == cp[own]
            at_q = col == cq[own]
            base_lo = np.where(at_p, np.fmin(d.pmin[col], d.left[col]), np.nan)
            base_hi = np.where(at_p, np.fmax(d.pmax[col], d.left[col]), np.nan)
            base_lo = np.where(at_q, np.fmin(np.fmin(base_lo, d.pmin[col]), d.right[col]), base_lo)
            base_hi = np.where(at_q, np.fmax(np.fmax(base_hi, d.pmax[col]), d.right[col]), base_hi)
            colf = col.astype(np.float64)
            lo1, hi1 = _segment_span(up[own], vp[own], uc[own], vc[own], colf)
            lo2, hi2 = _segment_span(uc[own], vc[own], uq[own], vq[own], colf)
            lo = np.fmin(np.fmin(base_lo, lo1), lo2)
            hi = np.fmax(np.fmax(base_hi, hi1), hi2)
            has, rlo, rhi = _rows(lo, hi, h)
            new = _xor_rows(view.has[col], view.rlo[col], view.rhi[col], has, rlo, rhi)
            diff = (d.err[col] - new).astype(np.float64) * view.w
            total += np.bincount(own, weights=diff, minlength=c.size)
        return np.where(ok, total, -np.inf)

    def greedy(self, k: IntArray, target: int, budget: int) -> IntArray:
        """Add proposed points, best first, in rounds of ``_BATCH`` of the budget."""
        step = max(8, math.ceil(budget * _BATCH))
        while k.size < target:
            drawn = self.draw(k)
            if self.error(drawn) == 0.0:
                break
            idx, gain = self.proposals(drawn)
            if idx.size == 0:
                break
            u, inv = np.unique(idx, return_inverse=True)
            tot: FloatArray = np.bincount(inv.ravel(), weights=gain).astype(np.float64)
            new = (tot > 0) & ~np.isin(u, k, assume_unique=True)
            u, tot = u[new], tot[new]
            if self.first and u.size:
                # points for finer charts must not cost the reference charts
                u = u[np.argsort(-tot, kind="stable")[: 2 * step]]
                tot = self.gain(k, drawn, u)
                u, tot = u[tot > 0], tot[tot > 0]
            if u.size == 0:
                break
            take = min(target - k.size, step, u.size)
            trial = np.union1d(k, u[np.argsort(-tot, kind="stable")[:take]])
            if self.first:
                ref = self.error(drawn[: self.first])
                if self.error(self.draw(trial)[: self.first]) > ref:
                    trial = np.union1d(k, u[np.argmax(tot)])  # one at a time
                    if self.error(self.draw(trial)[: self.first]) > ref:
                        break
            k = trial
        return k

    def _shortlist(
        self, own: IntArray, c: IntArray, p: IntArray, q: IntArray
    ) -> tuple[IntArray, IntArray]:
        """The ``_SHORTLIST`` candidates of each gap farthest (in rows, in
        any chart) from the chord between the gap's ends."""
        pp, qq = p[own], q[own]
        score = np.zeros(c.size)
        for view in self.views[:: max(1, len(self.views) // 2)]:
            g = view.g
            dp, dc, dq = g.disp(self.x[pp]), g.disp(self.x[c]), g.disp(self.x[qq])
            vp = self.rows(pp, g.height)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(dq > dp, (dc - dp) / (dq - dp), 0.5)
            chord = vp + t * (self.rows(qq, g.height) - vp)
            score = np.fmax(score, np.abs(self.rows(c, g.height) - chord))
        order = np.lexsort((-score, own))
        own, c = own[order], c[order]
        rank = np.arange(own.size) - np.searchsorted(own, own)
        short = rank < _SHORTLIST
        return own[short], c[short]

    def refine(self, k: IntArray, fixed: BoolArray, windows: IntArray | None) -> IntArray:
        """Move free points to the best candidate between their neighbours.

        A third of the free points move at a time (their neighbours stay), each
        to the pool candidate with the largest exact gain; a sweep is kept only
        if the total error drops. A point that is the only one of its rule
        window (the piecewise floor) moves only inside that window.
        """
        cur = self.error(self.draw(k))
        for _ in range(_SWEEPS):
            moved = False
            for phase in range(3):
                at = np.arange(1, k.size - 1)
                mov = at[(at % 3 == phase) & ~fixed[k[at]]]
                if mov.size == 0:
                    continue
                stay = np.ones(k.size, dtype=bool)
                stay[mov] = False
                k2 = k[stay]
                lo, hi = k[mov - 1] + 1, k[mov + 1]
                if windows is not None:
                    wi = np.searchsorted(windows, k[mov], side="right") - 1
                    ws = windows[wi]
                    we = np.r_[windows[1:], self.n][wi]
                    alone = np.searchsorted(k2, we) == np.searchsorted(k2, ws)
                    lo = np.where(alone, np.maximum(lo, ws), lo)
                    hi = np.where(alone, np.minimum(hi, we), hi)
                a = np.searchsorted(self.pool, lo, side="left")
                b = np.searchsorted(self.pool, hi, side="left")
                own, ci = _ranges(a.astype(np.int64), b.astype(np.int64))
                own, ci = self._shortlist(own, self.pool[ci], k[mov - 1], k[mov + 1])
                cands = np.r_[ci, k[mov]]
                owner = np.r_[own, np.arange(mov.size, dtype=np.int64)]
                is_old = np.r_[np.zeros(ci.size, dtype=bool), np.ones(mov.size, dtype=bool)]
                g = self.gain(k2, self.draw(k2), cands)
                order = np.lexsort((~is_old, -g, owner))  # best gain; the old point on ties
                first = np.r_[True, owner[order][1:] != owner[order][:-1]]
                trial = np.union1d(k2, cands[order[first]])
                err = self.error(self.draw(trial))
                if err < cur:
                    k, cur, moved = trial, err, True
            if not moved:
                break
        return k


def _zigzag(bins: _Bins, bounds: IntArray, pick: BoolArray | None = None) -> IntArray:
    """One point per group of bins starting at ``bounds``: the maximum and
    the minimum alternately (over the groups that ``pick`` selects)."""
    gmin, gmax, amin, amax = bins.group(bounds)
    sel = np.flatnonzero(amin >= 0) if pick is None else np.flatnonzero(pick & (amin >= 0))
    alt = np.arange(sel.size) % 2 == 0
    out = np.where(alt, amax[sel], amin[sel])
    return np.unique(out)


def _auto(
    x: IntArray,
    y: FloatArray,
    fin: BoolArray,
    mandatory: IntArray,
    target: int,
    rule: tuple[tuple[float, int], ...],
) -> IntArray:
    """The ``auto`` method (module docstring): at most ``target`` points."""
    n = int(x.size)
    windows, _ = _window_starts(x, rule)
    floor = windows.size + mandatory.size <= target
    free = target - int(mandatory.size) - (int(windows.size) if floor else 0)
    width = 100  # zig-zag grid: 100 * 2**k columns, aligned with the 800/1600 ones
    while width * 2 <= _ZIGZAG_SHARE * free:
        width *= 2
    zig = _Grid(x, False, width, 400, 0.0) if width <= _ZIGZAG_SHARE * free else None
    grids = [_Grid(x, *spec) for spec in _CANVASES]
    fine = [_Grid(x, *spec) for spec in _FINE_CANVASES]
    parts = [g.pos[:-1] for g in grids + fine]
    if zig is not None:
        parts.append(zig.pos[:-1])
    if floor:
        parts.append(windows)
    starts = np.unique(np.concatenate(parts))
    bins = _Bins(y, fin, starts[starts < n])
    model = _Model(x, y, fin, bins)
    if not math.isfinite(model.yhi - model.ylo):  # values too large to draw
        shape = target - int(mandatory.size)
        return np.union1d(mandatory, _volatility(x, y, fin, shape) if shape > 1 else _EMPTY)
    model.use(grids)

    fixed = np.zeros(n, dtype=bool)
    fixed[mandatory] = True
    k = mandatory
    if floor:
        k = np.union1d(k, _zigzag(bins, windows))
    if zig is not None:
        full = zig.pos[1:] > zig.pos[:-1]
        nonempty = zig.pos[:-1][full]
        ends = zig.pos[1:][full] - 1
        gmin, gmax, amin, amax = bins.group(nonempty)
        # columns where the curve spans two rows or more, and not as a
        # monotone stretch (extremes at both ends), which its neighbours draw
        moves = np.floor(model.scale(gmax, 400)) > np.floor(model.scale(gmin, 400))
        at_end = ((amin == nonempty) | (amin == ends)) & ((amax == nonempty) | (amax == ends))
        extra = _zigzag(bins, nonempty, moves & ~at_end)
        room = target - k.size
        if extra.size > room:
            extra = extra[np.linspace(0, extra.size - 1, max(room, 0)).astype(np.int64)]
        k = np.union1d(k, extra)
    k = model.greedy(k, target, target - int(mandatory.size))
    k = model.refine(k, fixed, windows if floor else None)
    if k.size < target:
        model.use(fine, keep_weight=100.0)
        k = model.greedy(k, target, target - int(k.size))
    return k
