"""The ``auto`` method: choose points so that the reference charts light the same pixels.

See the package docstring for the steps; `_Model` holds the reference charts
of one series and the error of a selection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    _union,
    _window_starts,
)
from ._blocks import _Summary
from ._classic import _lttb, _minmax, _volatility
from ._cols import _Cols, _Drawn
from ._lttb import _lttb_raw
from ._pixels import _Grid, _View
from ._views import PLOT_XPAD, Y_MARGIN, Chart, YScale, charts_for, fine_charts, panel_yscale

_GAPS_WEIGHT: Final = 0.1  # a log view with gaps weighs this share of the other scale's
_FEW_GAPS: Final = 0.01  # ...unless they are this rare (an LR warm-up from 0)
_BATCH: Final = 0.04  # greedy round = this share of the budget
_ZIGZAG_SHARE: Final = 0.8  # the linear zig-zag may use this share of the budget
_SWEEPS: Final = 2  # refinement sweeps
_SHORTLIST: Final = 8  # refinement: candidates per moved point


class _Model:
    """The reference charts of one series and the pixel error of a selection.

    Error = for each chart, the rows lit by the raw curve or by the selection
    but not both, summed over columns and divided by the raw curve's lit
    rows (so each chart counts like the XOR/union score of a renderer),
    times the chart's weight.
    """

    cols: _Cols  # the columns of ``views``, concatenated (set by `use`)

    def __init__(
        self, x: IntArray, y: FloatArray, bins: _Bins, bins_pos: _Bins | None = None
    ) -> None:
        self.x, self.y, self.bins, self.bins_pos = x, y, bins, bins_pos
        self.n = int(x.size)
        ok = np.isfinite(bins.vmin)
        self.lo, self.hi = float(bins.vmin[ok].min()), float(bins.vmax[ok].max())
        self.views: list[_View] = []
        self.first = 0  # proposals come from views[first:]
        # candidate points: first, last and extreme points of every bin
        cand = [bins.starts, bins.ends - 1, bins.amin, bins.amax]
        self.pos_lo = self.pos_hi = 1.0
        if bins_pos is not None:  # the extremes a log axis draws, where it has gaps
            cand += [bins_pos.amin, bins_pos.amax]
            okp = np.isfinite(bins_pos.vmin)
            self.pos_lo = float(bins_pos.vmin[okp].min()) if okp.any() else 1.0
            self.pos_hi = float(bins_pos.vmax[okp].max()) if okp.any() else 1.0
        pool = _union(*cand)
        pool = pool[pool >= 0]
        self.pool = pool[np.isfinite(y[pool])]

    @property
    def drawable(self) -> bool:
        """False when the values are too large to draw (their range overflows)."""
        return math.isfinite(self.hi - self.lo)

    def use(self, grids: Sequence[_Grid], keep_weight: float = 0.0) -> None:
        """Optimise for the charts of ``grids``. With ``keep_weight``, the
        charts used so far stay in the error, that many times heavier, so
        that points added for the new charts do not spoil them."""
        for g in grids:
            if g.gaps:
                g.set_y(self.pos_lo, self.pos_hi, Y_MARGIN)
            else:
                g.set_y(self.lo, self.hi, Y_MARGIN)
        fresh = [_View(g, self) for g in grids]
        self.first = len(self.views) if keep_weight else 0
        if keep_weight:
            for view in self.views:
                view.w *= keep_weight
            self.views = self.views + fresh
        else:
            self.views = fresh
        self.cols = _Cols(self.views)

    def draw(self, k: IntArray, nv: int | None = None) -> _Drawn:
        """How ``k`` lights the first ``nv`` charts (all by default)."""
        return self.cols.draw(self.x, self.y, k, nv)

    def error(self, drawn: _Drawn, nv: int | None = None) -> float:
        """The error of a drawn selection over its first ``nv`` charts."""
        return self.cols.error(drawn, nv)

    def proposals(self, drawn: _Drawn) -> tuple[IntArray, FloatArray]:
        """Points that would fix each column's worst side, with the missing
        or extra rows they address (weighted). A column missing its top gets
        its maximum if a raw point reaches that row, else the raw points on
        both sides of its edges (the top came from a crossing); a column
        drawn beyond the raw rows gets its edge points, which pin the
        crossings to the raw ones."""
        return self.cols.proposals(drawn, self.first, self.n)

    def gain(self, k: IntArray, drawn: _Drawn, c: IntArray) -> FloatArray:
        """Exact error decrease of adding each point ``c`` (not in k) alone.

        Only the columns between c's kept neighbours p and q change: the
        segment p-q is replaced by p-c and c-q; the end columns keep what
        the rest of the polyline draws in them.
        """
        return self.cols.gain(self.x, self.y, k, drawn, c)

    def greedy(self, k: IntArray, target: int, budget: int) -> IntArray:
        """Add proposed points, best first, in rounds of ``_BATCH`` of the budget."""
        # finer charts take smaller rounds: they must stop as soon as they are exact
        step = max(8, math.ceil(budget * (_BATCH / 2 if self.first else _BATCH)))
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
            trial = _union(k, u[_top(tot, take)])
            if self.first:
                ref = self.error(drawn, self.first)
                if self.error(self.draw(trial, self.first)) > ref:
                    best = int(np.argmax(tot))
                    trial = _union(k, u[best : best + 1])  # one at a time
                    if self.error(self.draw(trial, self.first)) > ref:
                        break
            k = trial
        return k

    def _shortlist(
        self, own: IntArray, c: IntArray, p: IntArray, q: IntArray
    ) -> tuple[IntArray, IntArray]:
        """The ``_SHORTLIST`` candidates of each gap farthest (in rows, in
        any chart) from the chord between the gap's ends."""
        score = self.cols.chord_score(self.x, self.y, p[own], c, q[own])
        # np.lexsort((-score, own)) as two stable sorts, the second (own,
        # sorted and small) a radix sort
        by_score = np.argsort(-score, kind="stable")
        key = own[by_score]
        if own.size and int(own[-1]) < 1 << 16:
            key = key.astype(np.uint16)
        order = by_score[np.argsort(key, kind="stable")]
        own, c = own[order], c[order]
        rank = np.arange(own.size) - np.searchsorted(own, own)
        short = rank < _SHORTLIST
        return own[short], c[short]

    def refine(
        self, k: IntArray, fixed: BoolArray, windows: IntArray | None
    ) -> tuple[IntArray, float]:
        """Move free points to the best candidate between their neighbours;
        the points and their error.

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
                    we = np.concatenate((windows[1:], [self.n]))[wi]
                    alone = np.searchsorted(k2, we) == np.searchsorted(k2, ws)
                    lo = np.where(alone, np.maximum(lo, ws), lo)
                    hi = np.where(alone, np.minimum(hi, we), hi)
                a = np.searchsorted(self.pool, lo, side="left")
                b = np.searchsorted(self.pool, hi, side="left")
                own, ci = _ranges(a.astype(np.int64), b.astype(np.int64))
                own, ci = self._shortlist(own, self.pool[ci], k[mov - 1], k[mov + 1])
                cands = np.concatenate((ci, k[mov]))
                owner = np.concatenate((own, np.arange(mov.size, dtype=np.int64)))
                is_old = np.concatenate(
                    (np.zeros(ci.size, dtype=bool), np.ones(mov.size, dtype=bool))
                )
                g = self.gain(k2, self.draw(k2), cands)
                order = np.lexsort((~is_old, -g, owner))  # best gain; the old point on ties
                first = np.concatenate(([True], owner[order][1:] != owner[order][:-1]))
                trial = _union(k2, cands[order[first]])
                err = self.error(self.draw(trial))
                if err < cur:
                    k, cur, moved = trial, err, True
            if not moved:
                break
        return k, cur


def _top(v: FloatArray, take: int) -> IntArray:
    """The ``take`` largest of ``v`` (no NaN), the earliest on ties: the set
    ``np.argsort(-v, kind="stable")[:take]`` holds, without sorting all."""
    if take >= v.size:
        return np.arange(v.size, dtype=np.int64)
    if take <= 0:
        return _EMPTY
    thr = np.partition(v, v.size - take)[v.size - take]
    above = np.flatnonzero(v > thr)
    tied = np.flatnonzero(v == thr)[: take - above.size]
    return np.concatenate((above, tied)).astype(np.int64)


def _zigzag(bins: _Bins, bounds: IntArray, pick: BoolArray | None = None) -> IntArray:
    """One point per group of bins starting at ``bounds``: the maximum and
    the minimum alternately (over the groups that ``pick`` selects)."""
    gmin, gmax, amin, amax = bins.group(bounds)
    sel = np.flatnonzero(amin >= 0) if pick is None else np.flatnonzero(pick & (amin >= 0))
    alt = np.arange(sel.size) % 2 == 0
    out = np.where(alt, amax[sel], amin[sel])
    return np.unique(out)


def _nonpositive_share(y: FloatArray) -> float:
    """Share of the values that are zero or negative, a chunk at a time."""
    step = 1 << 20
    count = sum(int(np.count_nonzero(y[i : i + step] <= 0)) for i in range(0, y.size, step))
    return count / max(y.size, 1)


#: the largest step float64 holds exactly next to its neighbours
_EXACT_STEPS: Final = 2**53


def _grid(x: IntArray, c: Chart) -> _Grid:
    return _Grid(x, c.logx, c.width, c.height, c.weight, c.xpad, c.logy)


def _auto(
    x: IntArray,
    summary: _Summary,
    mandatory: IntArray,
    target: int,
    rule: tuple[tuple[float, int], ...],
    yscale: YScale | None,
) -> IntArray:
    """The ``auto`` method (module docstring): at most ``target`` points."""
    n = int(x.size)
    y = summary.y
    lo_i, hi_i = summary.extremes()
    lo, hi = float(y[lo_i]), float(y[hi_i])
    if yscale is None:
        yscale = panel_yscale([np.array([lo, hi])])
    if yscale == "log" and not lo > 0:
        yscale = "linear"  # a log axis cannot draw it
    windows, _ = _window_starts(x, rule)
    # Pixels are computed in float64, exact for steps below 2**53; larger steps (ns
    # timestamps, a huge global counter) are measured from the first, or a whole
    # series could round to one x and have no width to draw in.
    x = x - x[0] if n and int(x[-1]) > _EXACT_STEPS else x
    # the rule's floor when it leaves at least half the budget to the pixels
    floor = windows.size + mandatory.size <= target - (target - mandatory.size) // 2
    free = target - int(mandatory.size) - (int(windows.size) if floor else 0)
    width = 100  # zig-zag grid: 100 * 2**k columns, aligned with the 800/1600 ones
    while width * 2 <= _ZIGZAG_SHARE * free:
        width *= 2
    zig = (
        _Grid(x, False, width, 400, 0.0, PLOT_XPAD, yscale == "log")
        if width <= _ZIGZAG_SHARE * free
        else None
    )
    gaps = lo <= 0 < hi  # the other y scale, log, has gaps where values are not positive
    grids = [_grid(x, c) for c in charts_for(yscale, lo > 0 or gaps)]
    few = gaps and _nonpositive_share(y) <= _FEW_GAPS
    for g in grids:
        g.gaps = g.logy and gaps
        if g.gaps and not few:  # a picture plot never draws (zeros or negatives)
            g.weight *= _GAPS_WEIGHT
    fine = [_grid(x, c) for c in fine_charts(yscale)]
    parts = [g.pos[:-1] for g in grids + fine]
    if zig is not None:
        parts.append(zig.pos[:-1])
    if floor:
        parts.append(windows)
    starts = _union(*parts)
    starts = starts[starts < n]
    bins = _Bins(summary, starts)
    bins_pos = _Bins(summary.positive_view(), starts) if gaps else None
    model = _Model(x, y, bins, bins_pos)
    if not model.drawable:  # values too large to draw
        shape = target - int(mandatory.size)
        return np.union1d(mandatory, _volatility(x, summary, shape) if shape > 1 else _EMPTY)
    model.use(grids)

    fixed = np.zeros(n, dtype=bool)
    fixed[mandatory] = True
    k = mandatory
    if floor:
        k = _union(k, _zigzag(bins, windows))
    if zig is not None:
        zig.set_y(lo, hi, Y_MARGIN)
        full = zig.pos[1:] > zig.pos[:-1]
        nonempty = zig.pos[:-1][full]
        ends = zig.pos[1:][full] - 1
        gmin, gmax, amin, amax = bins.group(nonempty)
        # columns where the curve spans two rows or more, and not as a
        # monotone stretch (extremes at both ends), which its neighbours draw
        moves = np.floor(zig.rows(gmax)) > np.floor(zig.rows(gmin))
        at_end = ((amin == nonempty) | (amin == ends)) & ((amax == nonempty) | (amax == ends))
        extra = _zigzag(bins, nonempty, moves & ~at_end)
        room = target - k.size
        if extra.size > room:
            extra = extra[np.linspace(0, extra.size - 1, max(room, 0)).astype(np.int64)]
        k = _union(k, extra)
    k = model.greedy(k, target, target - int(mandatory.size))
    k, err = model.refine(k, fixed, windows if floor else None)
    # never worse than a classic given the same budget: start again from the
    # best of them when it draws the charts better
    if err > 0.0:
        # with the rule's floor, a classic gets the budget the floor leaves
        base = np.union1d(mandatory, _zigzag(bins, windows)) if floor else mandatory
        starts_c = [_union(base, p) for p in _classics(x, summary, base, target)]
        errs = [model.error(model.draw(c)) for c in starts_c]
        if starts_c and min(errs) < err:
            start = starts_c[int(np.argmin(errs))]
            start = model.greedy(start, target, target - int(mandatory.size))
            start, start_err = model.refine(start, fixed, windows if floor else None)
            if start_err < err:
                k = start
    if k.size < target:
        model.use(fine, keep_weight=100.0)
        k = model.greedy(k, target, target - int(k.size))
    return k


#: above this many points, LTTB over every point costs more than the rest of
#: `auto`; MinMaxLTTB (LTTB over min/max candidates) stands in for it
_LTTB_MAX_POINTS: Final = 2_000_000


def _classics(x: IntArray, summary: _Summary, mandatory: IntArray, target: int) -> list[IntArray]:
    """M4, MinMax, MinMaxLTTB and LTTB at the budget left by the mandatory
    points: the pictures `auto` must not lose to."""
    m = target - int(mandatory.size)
    if m < 4:
        return []
    n = int(x.size)
    y = summary.y
    out: list[IntArray] = []
    m4 = _equal_width_starts(x, 0, n, max(1, m // 4))
    b4 = _Bins(summary, m4)
    four = np.concatenate((b4.starts, b4.ends - 1, b4.amin, b4.amax))
    out.append(np.unique(four[four >= 0]))
    out.append(_minmax(x, summary, max(1, m // 2)))
    cand = np.union1d(_minmax(x, summary, 2 * m), [0, n - 1])
    cand = cand[np.isfinite(y[cand])].astype(np.int64)
    if cand.size > m:
        out.append(cand[_lttb(x[cand].astype(np.float64), y[cand], m)])
    if n <= _LTTB_MAX_POINTS:  # `_lttb_finite`'s picks, without a copy of the finite points
        out.append(_lttb_raw(x, y, summary.nonfinite, m))
    return [p[np.isfinite(y[p])] for p in out]
