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
time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np

from ._bins import FloatArray, IntArray

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

    With ``positive``, the values seen are those a log y axis draws: a value
    counts when it is positive and so is one of its neighbours (a positive
    point between two gaps draws nothing); the others are gaps (NaN).
    """

    __slots__ = ("y", "n", "bs", "nb", "vmin", "vmax", "amin", "amax", "nonfinite", "positive")

    def __init__(self, y: FloatArray, positive: bool = False) -> None:
        self.y = y
        self.positive = positive
        n = self.n = int(y.size)
        b = self.bs = block_size(n)
        full = n // b
        self.nb = full + (1 if full * b < n else 0)
        am = np.empty(self.nb, dtype=np.int64)
        ax = np.empty(self.nb, dtype=np.int64)
        rows = max(1, _CHUNK // b)

        def chunk(r0: int) -> None:  # a chunk of whole blocks; numpy releases the GIL
            r1 = min(full, r0 + rows)
            mat = self._values(r0 * b, r1 * b).reshape(r1 - r0, b)
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
            tail = self._values(full * b, n)
            am[-1] = full * b + int(np.argmin(tail))
            ax[-1] = full * b + int(np.argmax(tail))
        vmin, vmax = self.vals(am), self.vals(ax)
        bad = np.flatnonzero(~(np.isfinite(vmin) & np.isfinite(vmax)))
        nonfinite: list[IntArray] = []
        per = max(1, _RAGGED // b)
        for lo in range(0, bad.size, per):
            blocks = bad[lo : lo + per]
            if not positive:
                idx = _block_points(blocks, b, n)
                nonfinite.append(idx[~np.isfinite(y[idx])])
            first = blocks * b
            vmin[blocks], vmax[blocks], am[blocks], ax[blocks] = _ragged(
                self.vals, first, np.minimum(first + b, n)
            )
        self.vmin, self.vmax, self.amin, self.amax = vmin, vmax, am, ax
        self.nonfinite = (
            np.concatenate(nonfinite).astype(np.int64) if nonfinite else np.zeros(0, np.int64)
        )

    def _values(self, a: int, z: int) -> FloatArray:
        """The values of points [a, z) as this summary sees them (a view if plain)."""
        if not self.positive:
            return self.y[a:z]
        y, n = self.y, self.n
        lo, hi = max(a - 1, 0), min(z + 1, n)
        pos = y[lo:hi] > 0
        if a == 0:
            pos = np.r_[False, pos]
        if z == n:
            pos = np.r_[pos, False]
        on = pos[1:-1] & (pos[:-2] | pos[2:])
        return np.where(on, y[a:z], np.nan)

    def vals(self, idx: IntArray) -> FloatArray:
        """The values at ``idx`` as this summary sees them."""
        y = self.y
        v = y[idx]
        if not self.positive:
            return v
        n = self.n
        left = np.where(idx > 0, y[np.maximum(idx - 1, 0)], np.nan)
        right = np.where(idx < n - 1, y[np.minimum(idx + 1, n - 1)], np.nan)
        on = (v > 0) & ((left > 0) | (right > 0))
        return np.where(on, v, np.nan)

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
    values: Callable[[IntArray], FloatArray], lo: IntArray, hi: IntArray
) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """Finite min/max and their first index over ranges [lo, hi) (NaN/-1 if
    none), about `_RAGGED` points at a time (temporaries of ~40 bytes each)."""
    cnt = np.maximum(hi - lo, 0)
    total = int(cnt.sum())
    if total <= _RAGGED:
        return _ragged_part(values, lo, hi)
    cut = np.searchsorted(np.cumsum(cnt), np.arange(_RAGGED, total, _RAGGED), side="left")
    edges = np.unique(np.r_[0, cut + 1, lo.size]).astype(np.int64)
    edges = edges[edges <= lo.size]
    parts = [
        _ragged_part(values, lo[a:z], hi[a:z]) for a, z in zip(edges[:-1], edges[1:], strict=True)
    ]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]).astype(np.int64),
        np.concatenate([p[3] for p in parts]).astype(np.int64),
    )


def _ragged_part(
    values: Callable[[IntArray], FloatArray], lo: IntArray, hi: IntArray
) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """`_ragged` on ranges no longer than two blocks: the points as a
    (ranges, longest range) matrix, padded, one argmin and argmax per row."""
    m = lo.size
    cnt = np.maximum(hi - lo, 0)
    vmin = np.full(m, np.nan)
    vmax = np.full(m, np.nan)
    amin = np.full(m, -1, dtype=np.int64)
    amax = np.full(m, -1, dtype=np.int64)
    ne = np.flatnonzero(cnt > 0)
    if ne.size == 0:
        return vmin, vmax, amin, amax
    start = lo[ne][:, None]
    idx = start + np.arange(int(cnt[ne].max()), dtype=np.int64)[None, :]
    inside = idx < hi[ne][:, None]
    idx = np.where(inside, idx, start)  # padding reads the range's first point
    vals = values(idx.ravel()).reshape(idx.shape)
    ok = inside & np.isfinite(vals)
    rows = np.arange(ne.size)
    for fill, pick, v_out, a_out in (
        (np.inf, np.argmin, vmin, amin),
        (-np.inf, np.argmax, vmax, amax),
    ):
        src = np.where(ok, vals, fill)
        j = pick(src, axis=1)  # the first occurrence on ties
        v = src[rows, j]
        good = np.isfinite(v)
        v_out[ne] = np.where(good, v, np.nan)
        a_out[ne] = np.where(good, idx[rows, j], -1)
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
    parts = [
        _ragged(s.vals, starts, head_hi),
        _group_blocks(s, np.where(body, bs, 0) * b, np.where(body, be, 0) * b, body),
        _ragged(s.vals, tail_lo, ends),
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
