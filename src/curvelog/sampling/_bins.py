"""The shared pieces of every method: mandatory points, bins of finite min/max, windows.

One pass over the series builds `_Bins`; every coarser bin used later (a
pixel column, a rule window, a volatility region) is a union of them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ._blocks import _Summary
    from ._scan import _Scan

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


_EMPTY: Final[IntArray] = np.zeros(0, dtype=np.int64)


def _mandatory(summary: _Summary | _Scan, keep: IntArray) -> tuple[IntArray, IntArray]:
    """First, last, first global finite min and max, every non-finite, keep;
    and the inner points of runs of one non-finite kind (a run counts as its
    two ends: the chart draws the same gap without the points between)."""
    n = summary.n
    nonfinite = summary.nonfinite
    parts = [np.array([0, n - 1], dtype=np.int64), keep, nonfinite]
    lo, hi = summary.extremes()
    if lo >= 0:
        parts.append(np.array([lo, hi], dtype=np.int64))
    allk = np.unique(np.concatenate(parts).astype(np.int64))
    if nonfinite.size < 3:
        return allk, _EMPTY
    y = summary.y
    v = y[nonfinite]
    kind = np.where(np.isnan(v), 0, np.where(v > 0, 1, 2))
    same = (np.diff(nonfinite) == 1) & (np.diff(kind) == 0)
    inner = nonfinite[1:-1][same[:-1] & same[1:]]
    inner = np.setdiff1d(inner, np.concatenate(parts[:2] + parts[3:]), assume_unique=False)
    return np.setdiff1d(allk, inner, assume_unique=True), inner.astype(np.int64)


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


def _union(*parts: IntArray) -> IntArray:
    """Sorted distinct values of the concatenated ``parts`` (`np.union1d`,
    `np.unique`), by a stable sort: a merge of sorted runs, where
    np.unique's hash table costs ten times more on a few thousand points."""
    c = np.concatenate(parts).astype(np.int64)
    c.sort(kind="stable")
    keep = np.ones(c.size, dtype=bool)
    np.not_equal(c[1:], c[:-1], out=keep[1:])
    out: IntArray = c[keep]
    return out


def _ranges(starts: IntArray, ends: IntArray) -> tuple[IntArray, IntArray]:
    """Flatten the ranges [starts[i], ends[i]) into (owner i, value) pairs."""
    cnt = np.maximum(ends - starts, 0)
    total = int(cnt.sum())
    owner = np.repeat(np.arange(starts.size, dtype=np.int64), cnt)
    # value = position - (first position of its range - its start)
    shift = np.repeat(np.cumsum(cnt) - cnt - starts, cnt)
    return owner, np.arange(total, dtype=np.int64) - shift


class _Bins:
    """Finite min/max of y over consecutive index bins, and where they first occur.

    Built from the block summary (`_blocks`), so nothing here reads all N
    points; every coarser bin used later (a pixel column, a rule window) is a
    union of these.
    """

    __slots__ = ("starts", "ends", "vmin", "vmax", "amin", "amax")

    def __init__(self, summary: _Summary, starts: IntArray) -> None:
        n = summary.n
        self.starts = starts
        self.ends = np.r_[starts[1:], n].astype(np.int64)
        self.vmin, self.vmax, self.amin, self.amax = summary.bins(starts)

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
            if hit.size == 0:
                out.append(np.full(g0.size, -1, dtype=np.int64))
                continue
            first = hit[np.minimum(np.searchsorted(hit, g0), hit.size - 1)]
            out.append(np.where(np.isfinite(gv), arg[first], -1))
        return gmin, gmax, out[0], out[1]


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
