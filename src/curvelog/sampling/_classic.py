"""The classic methods: the piecewise stride rule, LTTB, min/max buckets, volatility."""

from __future__ import annotations

from typing import Final

import numpy as np

from ._bins import (
    _EMPTY,
    BoolArray,
    FloatArray,
    IntArray,
    _Bins,
    _equal_width_starts,
    _ranges,
    _window_starts,
)
from ._blocks import _Summary
from ._scan import _bucket_extremes

_VOL_REGION_POINTS: Final = 32  # volatility: about one region per this many points


def _piecewise(x: IntArray, rule: tuple[tuple[float, int], ...]) -> IntArray:
    """First point of each rule window, plus the window's last point where the
    next kept point would be more than a stride away (irregular steps)."""
    first, stride = _window_starts(x, rule)
    if first.size < 2:
        return first
    cur, nxt = first[:-1], first[1:]
    wide = (x[nxt] - x[cur] > stride[:-1]) & (nxt - cur > 1)
    return np.union1d(first, nxt[wide] - 1)


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
    if _lttb_table(xf, y, edges, mx, my, out):
        return out
    a = 0
    for i in range(nb):
        lo, hi = int(edges[i]), int(edges[i + 1])
        ax, ay = xf[a], y[a]
        area = np.abs((ax - mx[i]) * (y[lo:hi] - ay) - (ax - xf[lo:hi]) * (my[i] - ay))
        a = lo + int(np.argmax(area))
        out[i + 1] = a
    return out


#: `_lttb_table` when the pairs of points in consecutive buckets are at most this many per point
_TABLE_PAIRS: Final = 8


def _lttb_table(
    xf: FloatArray, y: FloatArray, edges: IntArray, mx: FloatArray, my: FloatArray, out: IntArray
) -> bool:
    """`_lttb`'s picks into ``out[1:-1]`` when buckets are small (LTTB over
    a few candidates per bucket, as MinMaxLTTB runs it): the pick of each
    bucket after each point of the previous bucket, all at once, then the
    chain through that table. The same areas and the same earliest-largest
    rule as the loop, so the same picks; False (nothing done) when the
    table would be large."""
    cnt = np.diff(edges)
    lo = edges[:-1]
    na = np.r_[1, cnt[:-1]]  # possible previous picks: the first point, then a bucket
    if int((na * cnt).sum()) > _TABLE_PAIRS * xf.size:
        return False
    a_lo = np.r_[0, lo[:-1]]
    gstart = np.cumsum(na) - na
    gb, ga = _ranges(a_lo, a_lo + na)  # group (bucket gb, previous pick ga)
    own, idx = _ranges(lo[gb], lo[gb] + cnt[gb])
    b, ax, ay = gb[own], xf[ga][own], y[ga][own]
    area = np.abs((ax - mx[b]) * (y[idx] - ay) - (ax - xf[idx]) * (my[b] - ay))
    starts = np.r_[0, np.cumsum(cnt[gb])[:-1]].astype(np.int64)
    top = np.maximum.reduceat(area, starts)
    # np.argmax: the first largest, a NaN counting as the largest
    hit = np.flatnonzero((area == top[own]) | np.isnan(area))
    table = idx[hit[np.searchsorted(hit, starts)]].tolist()
    a = 0
    for i, (g0, p0) in enumerate(zip(gstart.tolist(), a_lo.tolist(), strict=True)):
        a = out[i + 1] = table[g0 + a - p0]
    return True


def _minmax_direct(x: IntArray, y: FloatArray, buckets: int) -> IntArray:
    """`_minmax` read bucket by bucket (`_scan`), not from the block summary."""
    starts = _equal_width_starts(x, 0, x.size, buckets)
    amin, amax = _bucket_extremes(y, starts)
    both = np.concatenate((amin, amax))
    return np.unique(both[both >= 0])


def _minmax(x: IntArray, summary: _Summary, buckets: int) -> IntArray:
    """Finite minimum and maximum of ``buckets`` equal-width step buckets."""
    starts = _equal_width_starts(x, 0, x.size, buckets)
    bins = _Bins(summary, starts)
    both = np.concatenate((bins.amin, bins.amax))
    return np.unique(both[both >= 0])


def _volatility(x: IntArray, summary: _Summary, n_out: int) -> IntArray:
    """Budget per equal-width region in proportion to its total variation;
    min and max of equal-width sub-buckets inside each region."""
    n = x.size
    y = summary.y
    fin = np.isfinite(y)
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
    bins = _Bins(summary, np.concatenate(starts))
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
