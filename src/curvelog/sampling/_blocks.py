"""The one pass over all N points: extremes of fixed blocks, and where the non-finite values are.

Everything `auto`, `volatility` and `piecewise` need from the whole series
comes from here (`lttb` and `minmax` read their few buckets directly:
`_scan`): per block of ``B`` consecutive points (B up to 128, chosen by N),
the first index of the finite minimum and of the finite maximum. Two numpy ``argmin``/``argmax``
calls over the series seen as a (N/B, B) matrix do it with no copy of the
data; the summary takes 32 bytes per block (at most 0.25 byte per point at
N >= 8.4M, under 1 byte from N = 2M). Any coarser bin (a pixel column, a
rule window, a bucket of `volatility` or of the classics `auto` scores) is
then whole blocks plus at most two ragged ends, and only those ends read raw
points again.

Non-finite values need no separate pass: ``argmin`` returns a NaN or a -inf
when the block holds one, ``argmax`` a NaN or a +inf, so a block whose two
extremes are finite holds only finite values. The few blocks that do not are
summarised again with their non-finite values masked, a bounded chunk at a
time. The view a log axis draws (`_Summary.positive_view`) comes from the
same summary: only blocks where the sign changes are read again.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._bins import BoolArray, FloatArray, IntArray

_MAX_BLOCK: Final = 128
_CHUNK: Final = 1 << 20  # points per chunk of the block pass
_THREADS: Final = min(2, os.cpu_count() or 1)  # the pass is memory-bound: two cores suffice
_RAGGED: Final = 1 << 17  # points gathered at a time where blocks are read again


def block_size(n: int) -> int:
    """Points per block: 1 for short series, doubling with N up to `_MAX_BLOCK`
    (about 64k blocks or more, so bins made of blocks stay exact and cheap)."""
    b = 1
    while b < _MAX_BLOCK and n >= b * 2 * 65_536:
        b *= 2
    return b


class _Summary:
    """Per block: first argmin/argmax of the finite values and their values
    (NaN and -1 where a block has no finite value); the non-finite indices.

    `positive_view` gives the values a log y axis draws: a value counts when
    it is positive and so is one of its neighbours (a positive point between
    two gaps draws nothing); the others are gaps (NaN).
    """

    __slots__ = ("y", "n", "bs", "nb", "vmin", "vmax", "amin", "amax", "nonfinite", "positive")

    def __init__(self, y: FloatArray) -> None:
        self.y = y
        self.positive = False
        n = self.n = int(y.size)
        b = self.bs = block_size(n)
        full = n // b
        self.nb = full + (1 if full * b < n else 0)
        am = np.empty(self.nb, dtype=np.int64)
        ax = np.empty(self.nb, dtype=np.int64)
        rows = max(1, _CHUNK // b)

        def chunk(r0: int) -> None:  # a chunk of whole blocks; numpy releases the GIL
            r1 = min(full, r0 + rows)
            mat = y[r0 * b : r1 * b].reshape(r1 - r0, b)
            first = np.arange(r0 * b, r1 * b, b, dtype=np.int64)
            am[r0:r1] = mat.argmin(axis=1)
            am[r0:r1] += first
            ax[r0:r1] = mat.argmax(axis=1)
            ax[r0:r1] += first

        chunks = range(0, full, rows)
        if len(chunks) >= 4 and _THREADS > 1:
            with ThreadPoolExecutor(_THREADS) as pool:
                list(pool.map(chunk, chunks))
        else:
            for r0 in chunks:
                chunk(r0)
        if self.nb > full:  # the last, shorter block
            tail = y[full * b : n]
            am[-1] = full * b + int(np.argmin(tail))
            ax[-1] = full * b + int(np.argmax(tail))
        vmin, vmax = y[am], y[ax]
        bad = np.flatnonzero(~(np.isfinite(vmin) & np.isfinite(vmax)))
        nonfinite: list[IntArray] = []
        per = max(1, _RAGGED // b)
        for lo in range(0, bad.size, per):
            blocks = bad[lo : lo + per]
            idx = _block_points(blocks, b, n)
            nonfinite.append(idx[~np.isfinite(y[idx])])
            first = blocks * b
            vmin[blocks], vmax[blocks], am[blocks], ax[blocks] = _ragged(
                self, first, np.minimum(first + b, n)
            )
        self.vmin, self.vmax, self.amin, self.amax = vmin, vmax, am, ax
        self.nonfinite = (
            np.concatenate(nonfinite).astype(np.int64) if nonfinite else np.zeros(0, np.int64)
        )

    def positive_view(self) -> _Summary:
        """The summary of the values a log axis draws (class docstring), from
        this plain one without reading every point again: a block of positive
        values (all finite) keeps its picks, since each of its points has a
        positive neighbour inside it; a block of finite values none positive
        has none; only the others (a sign change, a non-finite value) are
        read again."""
        out = object.__new__(_Summary)
        out.y, out.n, out.bs, out.nb = self.y, self.n, self.bs, self.nb
        out.positive = True
        out.nonfinite = np.zeros(0, np.int64)
        b, n = self.bs, self.n
        vmin, vmax = self.vmin.copy(), self.vmax.copy()
        am, ax = self.amin.copy(), self.amax.copy()
        clean = np.ones(self.nb, dtype=bool)
        clean[self.nonfinite // b] = False
        none = clean & (vmax <= 0)
        vmin[none], vmax[none], am[none], ax[none] = np.nan, np.nan, -1, -1
        if b == 1:  # a point's neighbours are other blocks
            clean[:] = False
        mixed = np.flatnonzero(~clean | ((vmin <= 0) & (vmax > 0)))
        first = mixed * b
        vmin[mixed], vmax[mixed], am[mixed], ax[mixed] = _ragged(
            out, first, np.minimum(first + b, n)
        )
        out.vmin, out.vmax, out.amin, out.amax = vmin, vmax, am, ax
        return out

    def window(self, st: IntArray, w: int) -> tuple[FloatArray, BoolArray]:
        """Points ``st[i] + j`` (j < w; st + w <= n) as a matrix, and which
        of them this summary counts, finite (the points of ragged ranges)."""
        y, n = self.y, self.n
        vals = sliding_window_view(y, w)[st]  # a copy, row by row
        if not self.positive:
            return vals, np.isfinite(vals)
        pos = vals > 0
        nbr = np.empty_like(pos)
        nbr[:, 1:] = pos[:, :-1]
        nbr[:, 0] = (st > 0) & (y[np.maximum(st - 1, 0)] > 0)
        nbr[:, :-1] |= pos[:, 1:]
        nbr[:, -1] |= (st + w < n) & (y[np.minimum(st + w, n - 1)] > 0)
        pos &= nbr
        pos &= vals < np.inf
        return vals, pos

    @property
    def any_finite(self) -> bool:
        return bool((self.amin >= 0).any())

    def extremes(self) -> tuple[int, int]:
        """First index of the global finite minimum and maximum (-1 if none)."""
        ok = self.amin >= 0
        if not ok.any():
            return -1, -1
        lo = float(np.nanmin(self.vmin))
        hi = float(np.nanmax(self.vmax))
        # blocks are in index order: the first block reaching the extreme has its first index
        i = int(self.amin[np.flatnonzero(self.vmin == lo)[0]])
        j = int(self.amax[np.flatnonzero(self.vmax == hi)[0]])
        return i, j

    def bins(self, starts: IntArray) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
        """Finite min, max and first argmin, argmax of the bins starting at
        ``starts`` (sorted, unique, starts[0] == 0; each ends at the next)."""
        return _bin_extremes(self, starts)


def _block_points(blocks: IntArray, b: int, n: int) -> IntArray:
    """All indices of the given blocks, in order."""
    lo = blocks * b
    hi = np.minimum(lo + b, n)
    cnt = hi - lo
    owner = np.repeat(np.arange(blocks.size, dtype=np.int64), cnt)
    off = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    out: IntArray = lo[owner] + off
    return out


def _ragged(
    s: _Summary, lo: IntArray, hi: IntArray
) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """Finite min/max (as ``s`` counts the values) and their first index
    over ranges [lo, hi) (NaN/-1 if none).

    The ranges are read as rows of a matrix padded to the longest row; sorted
    by length, each matrix holds ranges of about one length and about
    `_RAGGED` points (temporaries of ~30 bytes each).
    """
    m = lo.size
    vmin = np.full(m, np.nan)
    vmax = np.full(m, np.nan)
    amin = np.full(m, -1, dtype=np.int64)
    amax = np.full(m, -1, dtype=np.int64)
    cnt = hi - lo
    ne = np.flatnonzero(cnt > 0)
    order = ne[np.argsort(cnt[ne], kind="stable")]
    c = cnt[order]
    i = 0
    while i < order.size:
        # rows i..j-1: as many as keep (rows * the longest) within _RAGGED
        area = np.arange(1, order.size - i + 1, dtype=np.int64) * c[i:]
        j = i + max(1, int(np.searchsorted(area, _RAGGED, side="right")))
        part = order[i:j]
        w = int(c[j - 1])
        a = lo[part]
        st = np.minimum(a, s.n - w)  # the last rows may start early (masked)
        vals, ok = s.window(st, w)
        col = np.arange(w, dtype=np.int64)
        ok &= col >= (a - st)[:, None]
        ok &= col < (hi[part] - st)[:, None]
        rows = np.arange(part.size)
        # the counted values, +inf elsewhere (then -inf): np.where's copy of
        # the same matrix, without its slow path on irregular masks
        pen = ok.astype(np.float64)
        pen -= 0.5
        pen *= -np.inf
        src = np.fmax(vals, pen)
        jmin = src.argmin(axis=1)  # the first occurrence on ties
        np.negative(pen, out=pen)
        np.fmin(vals, pen, out=src)
        jmax = src.argmax(axis=1)
        for jj, v_out, a_out in ((jmin, vmin, amin), (jmax, vmax, amax)):
            good = ok[rows, jj]
            v_out[part] = np.where(good, vals[rows, jj], np.nan)
            a_out[part] = np.where(good, st + jj, -1)
        i = j
    return vmin, vmax, amin, amax


def _bin_extremes(
    s: _Summary, starts: IntArray
) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    n, b = s.n, s.bs
    ends = np.r_[starts[1:], n].astype(np.int64)
    if b == 1:  # blocks are points: a bin is a run of whole blocks
        return _group_blocks(s, starts, ends)
    bs = -(-starts // b)  # first whole block
    be = np.minimum(ends // b, n // b)  # past the last whole block (full blocks only)
    body = bs < be
    head_hi = np.where(body, bs * b, ends)
    tail_lo = np.where(body, be * b, ends)
    # the ragged heads and tails in one call: one sort by length
    m = starts.size
    ends_ = _ragged(s, np.r_[starts, tail_lo], np.r_[head_hi, ends])
    parts = [
        tuple(p[:m] for p in ends_),
        _group_blocks(s, np.where(body, bs, 0) * b, np.where(body, be, 0) * b, body),
        tuple(p[m:] for p in ends_),
    ]
    # head, body, tail are in index order: on ties the earlier part wins
    vmin, vmax, amin, amax = (a.copy() for a in parts[0])
    for pv, px, pa, pb in parts[1:]:
        better = np.isnan(vmin) | (pv < vmin)
        vmin = np.where(better & ~np.isnan(pv), pv, vmin)
        amin = np.where(better & ~np.isnan(pv), pa, amin)
        better = np.isnan(vmax) | (px > vmax)
        vmax = np.where(better & ~np.isnan(px), px, vmax)
        amax = np.where(better & ~np.isnan(px), pb, amax)
    return (
        vmin.astype(np.float64),
        vmax.astype(np.float64),
        amin.astype(np.int64),
        amax.astype(np.int64),
    )


def _group_blocks(
    s: _Summary, lo: IntArray, hi: IntArray, use: np.ndarray | None = None
) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """Extremes over the whole blocks covering points [lo, hi) (block-aligned)."""
    b = s.bs
    m = lo.size
    vmin = np.full(m, np.nan)
    vmax = np.full(m, np.nan)
    amin = np.full(m, -1, dtype=np.int64)
    amax = np.full(m, -1, dtype=np.int64)
    g0 = lo // b
    g1 = -(-hi // b)
    sel = np.flatnonzero((g1 > g0) if use is None else (use & (g1 > g0)))
    if sel.size == 0:
        return vmin, vmax, amin, amax
    a, z = g0[sel], g1[sel]
    cnt = z - a
    own = np.repeat(np.arange(a.size, dtype=np.int64), cnt)
    off = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    blk = a[own] + off
    starts = np.r_[0, np.cumsum(cnt)[:-1]].astype(np.int64)
    for vals, arg, red, v_out, a_out in (
        (s.vmin, s.amin, np.fmin, vmin, amin),
        (s.vmax, s.amax, np.fmax, vmax, amax),
    ):
        got = vals[blk]
        v = red.reduceat(got, starts)
        hit = np.flatnonzero(got == v[own])
        ok = ~np.isnan(v)
        if hit.size:
            first = hit[np.minimum(np.searchsorted(hit, starts), hit.size - 1)]
            a_out[sel] = np.where(ok, arg[blk[first]], -1)
        v_out[sel] = np.where(ok, v, np.nan)
    return vmin, vmax, amin, amax
