"""Every pixel column of every reference chart in one set of arrays.

`auto` scores thousands of selections against about ten charts of 430 to
1,600 columns each. Done chart by chart, drawing a selection, its error and
the proposals are a few dozen small numpy calls per chart, and the call
overhead costs more than the arithmetic. `_Cols` concatenates the charts'
columns (chart after chart, in the order of `_Model.views`) and carries
each chart's transform as arrays, so that those are one numpy call each
over all charts. The gain of candidates stays a loop over the charts (its
arrays are large: the work is arithmetic), but charts with the same x or y
transform share the pixel coordinates of the points.

Every value is computed by the same floating-point operations as chart by
chart; sums that mix charts keep the per-chart grouping and order
(per-chart integer sums are exact; per-chart floats are added in chart
order), so the selections are the same bit for bit. Arrays stay small (one
chart's columns, not all charts' times all points): a large temporary is
mapped fresh by malloc and costs its page faults at every call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np

from ._bins import BoolArray, FloatArray, IntArray, _ranges
from ._pixels import _segment_span, _View

#: proposal kinds per chart, in the order the chart-by-chart loop emitted them
_KINDS: Final = 14


class _Drawn:
    """How a selection lights the first ``nv`` charts, column by column
    (concatenated): the rows of its kept points (pmin, pmax), the values
    where the polyline crosses each column's left and right edge, its lit
    rows (``lo`` and ``hi`` as floats, [0, -1] where nothing is lit) and
    its error against the raw chart (whole numbers, as floats)."""

    __slots__ = ("nv", "pmin", "pmax", "left", "right", "has", "lo", "hi", "err")

    def __init__(
        self,
        nv: int,
        pmin: FloatArray,
        pmax: FloatArray,
        left: FloatArray,
        right: FloatArray,
        rows: tuple[BoolArray, FloatArray, FloatArray],
        err: FloatArray,
    ) -> None:
        self.nv = nv
        self.pmin, self.pmax, self.left, self.right = pmin, pmax, left, right
        self.has, self.lo, self.hi = rows
        self.err = err


class _Span(NamedTuple):
    """`_Cols.gain`'s pairs in one x transform: one per candidate and
    column from its kept neighbour p's to q's (``own``: the candidate,
    ``col``: the column, ``at_p``/``at_q``: p's/q's column), and p, c
    and q in pixels on each pair."""

    own: IntArray
    col: IntArray
    at_p: BoolArray
    at_q: BoolArray
    colf: FloatArray
    col1: FloatArray
    up: FloatArray
    uc: FloatArray
    uq: FloatArray

    @classmethod
    def of(
        cls, up: FloatArray, uc: FloatArray, uq: FloatArray, cp: IntArray, cq: IntArray
    ) -> _Span:
        own, col = _ranges(cp, np.maximum(cq, cp) + 1)
        colf = col.astype(np.float64)
        at_p, at_q = col == cp[own], col == cq[own]
        return cls(own, col, at_p, at_q, colf, colf + 1.0, up[own], uc[own], uq[own])

    def base(self, d: _Drawn, off: int) -> tuple[FloatArray, FloatArray]:
        """What the rest of the polyline draws in each pair's column: in
        p's column its points and the crossing of its left edge, in q's its
        points and the crossing of its right edge, nothing in between."""
        gcol = self.col + off
        pmin, pmax, left = d.pmin[gcol], d.pmax[gcol], d.left[gcol]
        base_lo = np.where(self.at_p, np.fmin(pmin, left), np.nan)
        base_hi = np.where(self.at_p, np.fmax(pmax, left), np.nan)
        right = d.right[gcol]
        base_lo = np.where(self.at_q, np.fmin(np.fmin(base_lo, pmin), right), base_lo)
        base_hi = np.where(self.at_q, np.fmax(np.fmax(base_hi, pmax), right), base_hi)
        return base_lo, base_hi


class _Cols:
    """The columns of ``views`` concatenated, with their charts' transforms.

    Per chart (arrays of V x 1): the x transform (log, d0, d1 - d0, width)
    and the y transform (log, y0, y1 - y0, height) of its `_Grid`, and its
    weight. Per column (arrays of C): the chart it belongs to and the raw
    curve's rows and extremes (`_View`). ``pos`` holds every chart's
    ``g.pos`` (W + 1 entries each) end to end. Charts with the same y
    transform (most of them) share the rows of a value: ``ysel`` lists one
    chart per distinct y transform and ``yt`` maps each chart to it.
    """

    def __init__(self, views: Sequence[_View]) -> None:
        gs = [v.g for v in views]
        self.nv = len(views)
        widths = np.array([g.width for g in gs], dtype=np.int64)
        self.off = np.r_[0, np.cumsum(widths)].astype(np.int64)
        self.vid = vid = np.repeat(np.arange(self.nv, dtype=np.int64), widths)
        self.logx = np.array([g.log for g in gs], dtype=bool)[:, None]
        self.d0 = np.array([g.d0 for g in gs])[:, None]
        self.dspan = np.array([g.d1 - g.d0 for g in gs])[:, None]
        self.width = np.array([float(g.width) for g in gs])[:, None]
        self.logy = np.array([g.logy for g in gs], dtype=bool)[:, None]
        self.y0 = np.array([g.y0 for g in gs])[:, None]
        self.yspan = np.array([g.y1 - g.y0 for g in gs])[:, None]
        self.height = np.array([float(g.height) for g in gs])[:, None]
        self.w = np.array([v.w for v in views])
        xkeys = [(g.log, g.d0, g.d1 - g.d0, g.width) for g in gs]
        self.xg = [xkeys.index(key) for key in xkeys]  # first chart with its x transform
        ykeys = [(g.logy, g.y0, g.y1 - g.y0, g.height) for g in gs]
        first = [ykeys.index(key) for key in ykeys]
        self.ysel = np.unique(np.array(first, dtype=np.int64))
        self.yt = np.searchsorted(self.ysel, first).astype(np.int64)
        self.pos = np.concatenate([g.pos for g in gs]).astype(np.int64)
        self.upos, inv = np.unique(self.pos, return_inverse=True)
        self.upos_inv = inv.astype(np.int64)
        col = np.arange(self.off[-1], dtype=np.int64) - self.off[vid]
        self.at = self.off[vid] + vid + col  # index of a column's first pos in ``pos``
        self.hcolf = self.height[vid, 0]
        self.wcol = self.w[vid]
        self.ytcol = self.yt[vid]
        # inner boundaries: the left edge of every column but a chart's first
        self.inner = np.flatnonzero(col > 0)  # the column right of each
        iv = vid[self.inner]
        self.inner_c = col[self.inner].astype(np.float64)
        self.inner_x = (self.logx[iv, 0], self.d0[iv, 0], self.dspan[iv, 0], self.width[iv, 0])
        self.inner_yt = self.yt[iv]
        cat = np.concatenate
        self.has = cat([v.has for v in views])
        self.rlo = cat([v.rlo for v in views])
        self.rhi = cat([v.rhi for v in views])
        self.amin = cat([v.amin for v in views])
        self.amax = cat([v.amax for v in views])
        self.pt_lo = cat([v.pt_lo for v in views])
        self.pt_hi = cat([v.pt_hi for v in views])
        # the raw rows for the XOR counts: lit count, and [rlo, rhi] with an
        # empty column as [0, -1], so that no mask is needed
        self.raw_n = np.where(self.has, self.rhi - self.rlo + 1, 0).astype(np.float64)
        self.raw_lo = np.where(self.has, self.rlo, 0).astype(np.float64)
        self.raw_hi = np.where(self.has, self.rhi, -1).astype(np.float64)

    def rows(self, vals: FloatArray, sel: slice | IntArray) -> FloatArray:
        """``g.rows(vals)`` of the charts ``sel``, one row per chart."""
        logy = self.logy[sel]
        if logy.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                lg = np.where(vals > 0, np.log10(np.where(vals > 0, vals, 1.0)), np.nan)
            vals = np.where(logy, lg, vals)
        r: FloatArray = (vals - self.y0[sel]) / self.yspan[sel] * self.height[sel]
        r[~np.isfinite(r)] = np.nan
        return r

    def _u_inner(self, xk: FloatArray, lk: FloatArray | None, j: IntArray) -> FloatArray:
        """``g.u`` of kept point ``j`` of each inner boundary, in its own
        chart, from the kept steps ``xk`` and their log display ``lk``."""
        ni = j.size
        logx, d0, dspan, width = (a[:ni] for a in self.inner_x)
        xf = xk[j] if lk is None else np.where(logx, lk[j], xk[j])
        out: FloatArray = (xf - d0) / dspan * width
        return out

    @staticmethod
    def _extremes(kv: FloatArray, s: IntArray, e: IntArray) -> tuple[FloatArray, FloatArray]:
        """Lowest and highest of ``kv`` over each column's range [s, e)
        (NaN where none). Most columns hold one or two kept points: those
        are read directly, the others reduced (``reduceat`` costs about as
        much per column as the rest of a draw)."""
        size = e - s
        pmin = np.full(s.size, np.nan)
        one = np.flatnonzero(size == 1)
        pmin[one] = kv[s[one]]
        pmax = pmin.copy()
        two = np.flatnonzero(size == 2)
        a, b = kv[s[two]], kv[s[two] + 1]
        pmin[two], pmax[two] = np.fmin(a, b), np.fmax(a, b)
        more = np.flatnonzero(size > 2)
        if more.size:
            idx = np.empty(2 * more.size, dtype=np.int64)
            idx[0::2], idx[1::2] = s[more], e[more]
            vals = np.r_[kv, np.nan]  # an end may be the last point's
            pmin[more] = np.fmin.reduceat(vals, idx)[0::2]
            pmax[more] = np.fmax.reduceat(vals, idx)[0::2]
        return pmin, pmax

    def draw(self, x: IntArray, y: FloatArray, k: IntArray, nv: int | None = None) -> _Drawn:
        """How the selection ``k`` lights the first ``nv`` charts (all by default)."""
        nv = self.nv if nv is None else nv
        nc = int(self.off[nv])
        kn = k.size
        vk = self.rows(y[k], self.ysel)  # one row per distinct y transform
        # kept points before each pos (np.searchsorted(k, pos), from the few
        # distinct pos: most charts share their boundaries' steps)
        r = np.searchsorted(self.upos, k, side="right")
        kp = np.cumsum(np.bincount(r, minlength=self.upos.size + 1))[self.upos_inv[: nc + nv]]
        # a point with a gap on both sides draws nothing
        ok = ~np.isnan(vk)
        near = np.zeros_like(ok)
        near[:, 1:] = ok[:, :-1]
        near[:, :-1] |= ok[:, 1:]
        kv = np.where(ok & near, vk, np.nan).ravel()
        vk = vk.ravel()
        at, base = self.at[:nc], self.ytcol[:nc] * kn
        s, e = kp[at] + base, kp[at + 1] + base
        pmin, pmax = self._extremes(kv, s, e)
        # where the polyline crosses each inner boundary (`_boundary_value`)
        ni = nc - nv
        inner = self.inner[:ni]
        b = kp[self.at[inner]]
        j1 = np.minimum(b, kn - 1)
        j0 = np.maximum(b - 1, 0)
        okb = (b > 0) & (b < kn)
        xk = x[k].astype(np.float64)
        lk = np.log10(np.maximum(xk, 0.0) + 1.0) if self.inner_x[0][:ni].any() else None
        u0, u1 = self._u_inner(xk, lk, j0), self._u_inner(xk, lk, j1)
        vb = self.inner_yt[:ni] * kn
        v0, v1 = vk[vb + j0], vk[vb + j1]
        with np.errstate(divide="ignore", invalid="ignore"):
            val = v0 + (self.inner_c[:ni] - u0) * (v1 - v0) / (u1 - u0)
        cross = np.where(okb & np.isfinite(val), val, np.nan)
        left = np.full(nc, np.nan)
        left[inner] = cross
        right = np.full(nc, np.nan)
        right[inner - 1] = cross
        lo = np.fmin(np.fmin(pmin, left), right)
        hi = np.fmax(np.fmax(pmax, left), right)
        raw = self.raw_n[:nc], self.raw_lo[:nc], self.raw_hi[:nc]
        has, rlo, rhi, err = _xor_float(lo, hi, self.hcolf[:nc], raw)
        return _Drawn(nv, pmin, pmax, left, right, (has, rlo, rhi), err)

    def error(self, d: _Drawn, nv: int | None = None) -> float:
        """Sum over the first ``nv`` charts of their XOR rows times their
        weight, added chart by chart as `_Model.error` defines it."""
        nv = d.nv if nv is None else nv
        if nv == 0:
            return 0.0
        per = np.add.reduceat(d.err[: self.off[nv]], self.off[:nv]).tolist()
        return float(sum(float(s) * w for s, w in zip(per, self.w[:nv].tolist(), strict=True)))

    def proposals(self, d: _Drawn, first: int, n: int) -> tuple[IntArray, FloatArray]:
        """`_Model.proposals` over the charts from ``first`` on, emitted in
        the chart-by-chart order (chart, kind, column), which fixes the
        order in which the greedy adds up the gains of one point."""
        s = int(self.off[first])
        has, rlo, rhi, dh, dlo, dhi = (
            self.has[s:],
            self.rlo[s:],
            self.rhi[s:],
            d.has[s:],
            d.lo[s:],
            d.hi[s:],
        )
        w, key = self.wcol[s:], self.vid[s:] * _KINDS
        nr = np.where(has, rhi - rlo + 1, 0)
        top = has & (~dh | (rhi > dhi))
        bot = has & (~dh | (rlo < dlo))
        g_top = np.where(top, np.where(dh, rhi - np.maximum(dhi, rlo - 1), nr), 0)
        g_bot = np.where(bot, np.where(dh, np.minimum(dlo, rhi + 1) - rlo, nr), 0)
        top &= g_top >= g_bot  # one side per column and round: zig-zag, not pairs
        bot &= g_bot > g_top
        idx: list[IntArray] = []
        gain: list[FloatArray] = []
        kind: list[IntArray] = []
        edges: list[tuple[BoolArray, FloatArray]] = []
        for i, (side, gs, arg, pt, raw) in enumerate(
            (
                (top, g_top, self.amax[s:], self.pt_hi[s:], rhi),
                (bot, g_bot, self.amin[s:], self.pt_lo[s:], rlo),
            )
        ):
            by_point = side & (arg >= 0) & (pt == raw)
            cols = np.flatnonzero(by_point)
            idx.append(arg[cols])
            gain.append(gs[cols] * w[cols])
            kind.append(key[cols] + i)
            edges.append((side & ~by_point, gs))
        over_top = has & dh & (dhi > rhi)
        over_bot = has & dh & (dlo < rlo)
        g_over = np.where(over_top, dhi - rhi, 0) + np.where(over_bot, rlo - dlo, 0)
        edges.append((over_top | over_bot, g_over))
        for e, (mask, gs) in enumerate(edges):
            cols = np.flatnonzero(mask)
            for side_off in (0, 1):
                b = self.pos[self.at[s + cols] + side_off]
                ok = (b > 0) & (b < n)
                cc, bb = cols[ok], b[ok]
                gg = gs[cc] * w[cc]
                kk = key[cc] + 2 + 4 * e + 2 * side_off
                idx += [bb, bb - 1]
                gain += [gg, gg]
                kind += [kk, kk + 1]
        keys = np.concatenate(kind)
        if self.nv * _KINDS <= 1 << 16:
            keys = keys.astype(np.uint16)  # a radix sort
        order = np.argsort(keys, kind="stable")
        out_i: IntArray = np.concatenate(idx).astype(np.int64)[order]
        out_g: FloatArray = np.concatenate(gain).astype(np.float64)[order]
        return out_i, out_g

    def gain(self, x: IntArray, y: FloatArray, k: IntArray, d: _Drawn, c: IntArray) -> FloatArray:
        """`_Model.gain`, chart by chart: per chart, one pair per column from
        p's to q's, a few times as many as candidates, so that the work is
        arithmetic, not call overhead. Charts that share an x or a y
        transform share the pixel coordinates of p, c and q and the pairs."""
        j = np.searchsorted(k, c)
        p, q = k[j - 1], k[np.minimum(j, k.size - 1)]
        ok = (j > 0) & (j < k.size) & np.isfinite(y[p]) & np.isfinite(y[q])
        xs = [a.astype(np.float64) for a in (x[p], x[c], x[q])]
        lg = [np.log10(np.maximum(a, 0.0) + 1.0) for a in xs] if self.logx.any() else xs
        ys = y[p], y[c], y[q]
        rows: dict[int, list[FloatArray]] = {}
        per: dict[int, FloatArray] = {}
        for g in dict.fromkeys(self.xg):  # one x transform at a time: its pairs, then its charts
            d0, dspan, width = self.d0[g, 0], self.dspan[g, 0], self.width[g, 0]
            up, uc, uq = ((a - d0) / dspan * width for a in (lg if self.logx[g, 0] else xs))
            sp = _Span.of(up, uc, uq, _col(up, int(width)), _col(uq, int(width)))
            for v in (v for v in range(self.nv) if self.xg[v] == g):
                t = int(self.ysel[self.yt[v]])
                if t not in rows:
                    rows[t] = [self.rows(a, slice(t, t + 1))[0] for a in ys]
                vp, vc, vq = (a[sp.own] for a in rows[t])
                off = int(self.off[v])
                base_lo, base_hi = sp.base(d, off)
                lo1, hi1 = _segment_span(sp.up, vp, sp.uc, vc, sp.colf, sp.col1)
                lo2, hi2 = _segment_span(sp.uc, vc, sp.uq, vq, sp.colf, sp.col1)
                lo = np.fmin(np.fmin(base_lo, lo1), lo2)
                hi = np.fmax(np.fmax(base_hi, hi1), hi2)
                gcol = sp.col + off
                raw = self.raw_n[gcol], self.raw_lo[gcol], self.raw_hi[gcol]
                new = _xor_float(lo, hi, float(self.height[v, 0]), raw)[3]
                diff = (d.err[gcol] - new) * float(self.w[v])
                sums = np.bincount(sp.own, weights=diff, minlength=c.size)
                per[v] = sums.astype(np.float64, copy=False)
        total = np.zeros(c.size)
        for v in range(self.nv):  # the charts' sums in chart order
            total += per[v]
        out: FloatArray = np.where(ok, total, -np.inf)
        return out

    def chord_score(
        self, x: IntArray, y: FloatArray, p: IntArray, c: IntArray, q: IntArray
    ) -> FloatArray:
        """Largest distance in rows, over every other chart (as
        `_Model._shortlist` samples them), of each point ``c`` from the
        chord p-q."""
        xs = [a.astype(np.float64) for a in (x[p], x[c], x[q])]
        ys = y[p], y[c], y[q]
        lg: list[FloatArray] = []
        score = np.zeros(c.size)
        for v in range(0, self.nv, max(1, self.nv // 2)):
            if self.logx[v, 0] and not lg:
                lg = [np.log10(np.maximum(a, 0.0) + 1.0) for a in xs]
            dp, dc, dq = lg if self.logx[v, 0] else xs
            vp, vc, vq = (self.rows(a, slice(v, v + 1))[0] for a in ys)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(dq > dp, (dc - dp) / (dq - dp), 0.5)
            score = np.fmax(score, np.abs(vc - (vp + t * (vq - vp))))
        return score


def _col(uu: FloatArray, width: int) -> IntArray:
    """``g.col`` from ``g.u`` in a chart ``width`` columns wide."""
    c = np.floor(uu).astype(np.int64)
    out: IntArray = np.where((c == width) & (uu <= width + 1e-9), width - 1, c)
    return out


def _xor_float(
    lo: FloatArray,
    hi: FloatArray,
    h: float | FloatArray,
    raw: tuple[FloatArray, FloatArray, FloatArray],
) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray]:
    """`_pixels._rows` of the extents [lo, hi] (``has``, ``rlo``, ``rhi``)
    and |A xor B| of those rows and the raw rows ``raw`` (lit count, low,
    high: `_Cols.raw_n` ...), in floats (exact: small integers). An empty
    interval is [0, -1], so that no mask is needed; ``rlo`` and ``rhi``
    of an empty column are read nowhere else."""
    has = (hi >= 0) & (lo < h)  # false where NaN
    top = h - 1.0
    rlo = np.where(has, np.minimum(np.maximum(np.floor(lo), 0.0), top), 0.0)
    rhi = np.where(has, np.minimum(np.maximum(np.floor(hi), 0.0), top), -1.0)
    n, la, ua = raw
    inter = np.maximum(np.minimum(ua, rhi) - np.maximum(la, rlo) + 1.0, 0.0)
    err: FloatArray = n + (rhi - rlo + 1.0) - 2.0 * inter
    return has, rlo, rhi, err
