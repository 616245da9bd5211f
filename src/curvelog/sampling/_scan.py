"""The fast path of the classic methods (`lttb`, `minmax`): few buckets, read directly.

`auto` needs bins of every size, so it reads the series once into fixed blocks
(`_blocks`). The classic methods need one set of about ``n_out / 2`` large
buckets, and reading each bucket directly is cheaper than building blocks and
combining them: `_Scan` is one pass (min and max of chunks; on two threads
from `_PARALLEL` points)
for what every method keeps (non-finite values, the global extremes), and
`_bucket_extremes` one pass for the buckets' first finite argmin and argmax.
Extra memory: a few temporaries of one chunk or one bucket per thread, and
arrays per chunk or per bucket, never per point.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._bins import FloatArray, IntArray

_CHUNK: Final = 1 << 16  # points per chunk of a pass: two 512 kB reads stay in L2
_THREADS: Final = min(2, os.cpu_count() or 1)
_SMALL: Final = 4096  # buckets up to this size are read as rows of a matrix
_MATRIX: Final = 1 << 17  # points per gathered matrix of small buckets
# below this many points a second thread cost more than it saved (#12: at 10^7 points
# both methods were 20-25% slower on two threads of the shared 2-core machine)
_PARALLEL: Final = 1 << 24


def _parallel(fn: Callable[[int], None], parts: int, points: int) -> None:
    """``fn(k)`` for k in range(parts); on two threads, each a contiguous half,
    when they cover many ``points`` (numpy releases the GIL on large arrays)."""
    if points < _PARALLEL or parts < 2 or _THREADS < 2:
        for k in range(parts):
            fn(k)
        return
    half = -(-parts // _THREADS)

    def run(t: int) -> None:
        for k in range(t * half, min(parts, (t + 1) * half)):
            fn(k)

    with ThreadPoolExecutor(_THREADS) as pool:
        list(pool.map(run, range(_THREADS)))


def first_not_increasing(xs: IntArray) -> int:
    """Index i of the first x[i + 1] <= x[i], or -1; a chunk at a time (on two
    threads for long series), so the check needs no N-sized temporary."""
    n = xs.size
    starts = range(0, max(n - 1, 0), _CHUNK)
    bad = np.full(len(starts), -1, dtype=np.int64)

    def part(k: int) -> None:
        lo = k * _CHUNK
        a = xs[lo : lo + _CHUNK + 1]
        ok = a[1:] > a[:-1]
        if not ok.all():
            bad[k] = lo + int(np.argmin(ok))

    _parallel(part, len(starts), n)
    hit = bad[bad >= 0]
    return int(hit[0]) if hit.size else -1


class _Scan:
    """What every method keeps, from one pass: the non-finite indices and the
    first global finite minimum and maximum (the interface `_mandatory` reads)."""

    __slots__ = ("y", "n", "nonfinite", "_cmin", "_cmax")

    def __init__(self, y: FloatArray) -> None:
        self.y = y
        n = self.n = int(y.size)
        m = -(-n // _CHUNK)
        cmin = np.empty(m)
        cmax = np.empty(m)

        def part(k: int) -> None:  # min/max propagate NaN; ±inf shows as an extreme
            seg = y[k * _CHUNK : (k + 1) * _CHUNK]
            cmin[k] = seg.min()
            cmax[k] = seg.max()

        _parallel(part, m, n)
        nonfinite: list[IntArray] = []
        for k in np.flatnonzero(~(np.isfinite(cmin) & np.isfinite(cmax))).tolist():
            seg = y[k * _CHUNK : (k + 1) * _CHUNK]
            fin = np.isfinite(seg)
            nonfinite.append(k * _CHUNK + np.flatnonzero(~fin).astype(np.int64))
            ok = seg[fin]
            cmin[k], cmax[k] = (ok.min(), ok.max()) if ok.size else (np.nan, np.nan)
        self.nonfinite = np.concatenate(nonfinite) if nonfinite else np.zeros(0, np.int64)
        self._cmin, self._cmax = cmin, cmax

    @property
    def any_finite(self) -> bool:
        return bool(np.isfinite(self._cmin).any())

    def extremes(self) -> tuple[int, int]:
        """First index of the global finite minimum and maximum (-1 if none)."""
        if not self.any_finite:
            return -1, -1
        out = []
        for vals, red in ((self._cmin, np.nanmin), (self._cmax, np.nanmax)):
            v = float(red(vals))
            k = int(np.flatnonzero(vals == v)[0])  # the first chunk reaching it
            seg = self.y[k * _CHUNK : (k + 1) * _CHUNK]
            out.append(k * _CHUNK + int(np.flatnonzero(seg == v)[0]))
        return out[0], out[1]


def _masked(seg: FloatArray) -> tuple[int, int]:
    """First finite argmin and argmax of ``seg`` (-1, -1 when none is finite)."""
    fin = np.isfinite(seg)
    if not fin.any():
        return -1, -1
    return int(np.where(fin, seg, np.inf).argmin()), int(np.where(fin, seg, -np.inf).argmax())


def _bucket_extremes(y: FloatArray, starts: IntArray) -> tuple[IntArray, IntArray]:
    """First finite argmin and argmax of every bucket [starts[i], starts[i+1])
    (the last one ends at the end of ``y``); -1 where a bucket has no finite value.

    numpy's argmin and argmax return the first NaN of a row that holds one, and
    ±inf is an extreme, so a bucket whose two picks are finite holds only finite
    values; the others are read again with the non-finite values masked.
    """
    n = int(y.size)
    ends = np.r_[starts[1:], n].astype(np.int64)
    cnt = ends - starts
    amin = np.zeros(starts.size, dtype=np.int64)
    amax = np.zeros(starts.size, dtype=np.int64)
    wide = int(cnt.max()) if cnt.size else 0
    if wide <= _SMALL and 2 * int(cnt.sum()) >= wide * cnt.size:
        _small_buckets(y, starts, cnt, wide, amin, amax)
    else:
        lo_l, hi_l = starts.tolist(), ends.tolist()

        def part(i: int) -> None:
            seg = y[lo_l[i] : hi_l[i]]
            amin[i] = lo_l[i] + int(seg.argmin())
            amax[i] = lo_l[i] + int(seg.argmax())

        _parallel(part, len(lo_l), n)
    bad = np.flatnonzero(~(np.isfinite(y[amin]) & np.isfinite(y[amax])))
    for i in bad.tolist():
        lo = int(starts[i])
        a, b = _masked(y[lo : int(ends[i])])
        amin[i], amax[i] = (lo + a, lo + b) if a >= 0 else (-1, -1)
    return amin, amax


def _small_buckets(
    y: FloatArray, starts: IntArray, cnt: IntArray, wide: int, amin: IntArray, amax: IntArray
) -> None:
    """`_bucket_extremes` for buckets of at most `_SMALL` points: rows of a
    (buckets, widest) matrix gathered from a sliding-window view, a bounded
    number of points at a time. A row shorter than the widest repeats its
    first value, which never wins: ties go to the first occurrence."""
    n = int(y.size)
    win = sliding_window_view(y, wide)  # a view: row s is y[s : s + wide]
    fits = starts + wide <= n
    rows = max(1, _MATRIX // wide)
    cols = np.arange(wide)
    ok = np.flatnonzero(fits)
    for r0 in range(0, ok.size, rows):
        sel = ok[r0 : r0 + rows]
        mat = win[starts[sel]]
        c = cnt[sel]
        if int(c.min()) >= wide - 1:  # equal-width buckets of steps 0, 1, 2...: one short column
            short_rows = np.flatnonzero(c < wide)
            mat[short_rows, -1] = mat[short_rows, 0]
        else:
            np.copyto(mat, mat[:, :1], where=cols[None, :] >= c[:, None])
        amin[sel] = starts[sel] + mat.argmin(axis=1)
        amax[sel] = starts[sel] + mat.argmax(axis=1)
    for i in np.flatnonzero(~fits).tolist():  # the last buckets, too close to the end
        lo = int(starts[i])
        seg = y[lo : lo + int(cnt[i])]
        amin[i] = lo + int(seg.argmin())
        amax[i] = lo + int(seg.argmax())
