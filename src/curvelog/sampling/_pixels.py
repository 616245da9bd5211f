"""The pixel model `auto` optimises: reference charts as a rasteriser lights them.

A `_Grid` is one chart's pixel columns, a `_View` how the raw curve lights
it; `_cols._Drawn` is how a selection lights every chart at once, and the
error is their XOR per column.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._bins import BoolArray, FloatArray, IntArray

if TYPE_CHECKING:
    from ._auto import _Model


_NAN1 = np.array([np.nan])


class _Grid:
    """Pixel columns of one reference chart, computed as the rasteriser does.

    Column of a point: ``floor((d - d0) / (d1 - d0) * W)`` with d the display
    x (the step, or log10(step + 1)), the right edge belonging to the last
    column. ``pos[c]`` is the index of the first point in column >= c.
    """

    __slots__ = ("log", "width", "height", "weight", "d0", "d1", "pos", "logy", "y0", "y1", "gaps")

    def __init__(
        self,
        x: IntArray,
        log: bool,
        width: int,
        height: int,
        weight: float,
        margin: float = 0.0,
        logy: bool = False,
    ) -> None:
        self.log = log
        self.logy = logy
        self.gaps = False  # a log y axis over values that are not all positive
        self.y0, self.y1 = 0.0, 1.0
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

    def set_y(self, lo: float, hi: float, margin: float) -> None:
        """Y limits from the finite range [lo, hi] of the values (positive
        on a log axis), padded by ``margin`` in display space, as drawn."""
        if self.logy:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi == lo:
            d = abs(lo) * 0.05 or 0.5
            lo, hi = lo - d, hi + d
        pad = (hi - lo) * margin
        self.y0, self.y1 = lo - pad, hi + pad

    def rows(self, vals: FloatArray) -> FloatArray:
        """Values to rows (NaN where not finite or, on a log axis, not positive)."""
        if self.logy:
            with np.errstate(divide="ignore", invalid="ignore"):
                vals = np.where(vals > 0, np.log10(np.where(vals > 0, vals, 1.0)), np.nan)
        r = vals - self.y0  # in place from here: the same operations, fewer arrays
        r /= self.y1 - self.y0
        r *= self.height
        r[~np.isfinite(r)] = np.nan
        return r

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


def _rows(
    lo: FloatArray, hi: FloatArray, height: int | IntArray
) -> tuple[BoolArray, IntArray, IntArray]:
    """Lit row interval [rlo, rhi] of each column from its extent in rows
    (NaN: nothing drawn); rows outside the canvas are dropped, as drawn."""
    has = ~np.isnan(lo) & ~np.isnan(hi) & (hi >= 0) & (lo < height)
    rlo = np.clip(np.floor(np.where(has, lo, 0.0)), 0, height - 1).astype(np.int64)
    rhi = np.clip(np.floor(np.where(has, hi, 0.0)), 0, height - 1).astype(np.int64)
    return has, rlo, rhi


def _segment_span(
    ua: FloatArray,
    va: FloatArray,
    ub: FloatArray,
    vb: FloatArray,
    col: FloatArray,
    col1: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Lowest and highest value of segment a-b inside column ``col``
    ([col, col1 = col + 1) in pixels); NaN where the segment misses the
    column. A vertical segment (both values at one x, ub <= ua: rare) is
    patched in after the general case."""
    left = np.maximum(ua, col)
    right = np.minimum(ub, col1)
    hit = left <= right
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (vb - va) / (ub - ua)
        v1 = va + (left - ua) * slope
        v2 = va + (right - ua) * slope
    flat = ub <= ua
    if flat.any():
        hit = np.where(flat, np.floor(ua) == col, hit)
        v1 = np.where(flat, va, v1)
        v2 = np.where(flat, vb, v2)
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
        bins = m.bins_pos if g.gaps and m.bins_pos is not None else m.bins
        if ne.any():
            gmin, gmax, amin, amax = bins.group(ps[ne])
            cmin[ne], cmax[ne] = g.rows(gmin), g.rows(gmax)
            self.amin[ne], self.amax[ne] = amin, amax
        self.pt_lo = np.floor(np.nan_to_num(cmin, nan=-1.0))
        self.pt_hi = np.floor(np.nan_to_num(cmax, nan=-1.0))
        # where the raw polyline crosses each inner column boundary
        b = g.pos[1:-1]
        i1 = np.minimum(b, m.n - 1)
        i0 = np.maximum(b - 1, 0)
        ok = (b > 0) & (b < m.n) & np.isfinite(m.y[i0]) & np.isfinite(m.y[i1])
        cross = _boundary_value(g, m, i0, i1, ok, h)
        left = np.concatenate((_NAN1, cross))
        right = np.concatenate((cross, _NAN1))
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
    v0, v1 = g.rows(m.y[i0]), g.rows(m.y[i1])
    with np.errstate(divide="ignore", invalid="ignore"):
        val = v0 + (c - u0) * (v1 - v0) / (u1 - u0)
    return np.where(ok & np.isfinite(val), val, np.nan)
