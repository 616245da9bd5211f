"""`lttb` on the raw series (#12): no copy of the finite points, two threads on long series.

The same buckets and the same arithmetic as `_classic._lttb_finite` (which
`auto` still uses on its candidates), so the same picks: buckets of equal
counts of finite points, located in the raw series; a bucket holding a
non-finite value reads its finite points only. Extra memory: a few arrays
per bucket and two buffers of one bucket per thread.

LTTB is a chain (each bucket's pick depends on the previous one), so two
threads cannot split it exactly; they speculate. The second thread starts
halfway from a guessed previous pick while the first walks the first half;
then the first walks on into the second half until its pick in a bucket
equals the second thread's pick there: from that bucket on the two chains
are one, so the second thread's picks stand. If they never meet, the first
thread walks to the end: the result is always the sequential one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _scan
from ._bins import FloatArray, IntArray


def _lttb_raw(x: IntArray, y: FloatArray, nonfinite: IntArray, n_out: int) -> IntArray:
    """`_lttb_finite` without copying the finite points: the raw indices of
    the same picks.

    The next bucket's means: `_next_means`.
    """
    n = int(y.size)
    nf = nonfinite
    m = n - int(nf.size)
    if m <= n_out:
        return np.setdiff1d(np.arange(n, dtype=np.int64), nf, assume_unique=True)
    if n_out < 3:
        return _raw_ranks(np.array([0, m - 1], dtype=np.int64), nf)
    nb = n_out - 2
    edges = (1 + np.floor(np.arange(nb + 1) * ((m - 2) / nb))).astype(np.int64)
    edges[-1] = m - 1
    cnt = np.diff(edges)
    raw = _raw_ranks(np.r_[0, edges], nf)  # raw[0]: the first finite point
    first, r = int(raw[0]), raw[1:]
    last = int(r[-1])
    # buckets holding a non-finite value (their raw range is longer than their count)
    dirty = np.flatnonzero(np.diff(r) != cnt)
    mx, my = _next_means(x, y, r, cnt, dirty)
    walk = _Walk(x, y, r, cnt, dirty, mx, my)
    out = np.empty(n_out, dtype=np.int64)
    out[0], out[-1] = first, last
    out[1:-1] = walk.run(first, n)
    return out


def _next_means(
    x: IntArray, y: FloatArray, r: IntArray, cnt: IntArray, dirty: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Mean step and value of the finite points of each bucket after the
    first (the last point for the final bucket), bit for bit as
    ``np.add.reduceat`` over a copy of the finite points sums them.

    A bucket holding a non-finite value is summed again over its finite
    values with ``reduceat`` too: it sums a segment sequentially, not
    pairwise as ``np.add.reduce`` does, so the two differ in the last bits.
    Steps are summed as integers (consecutive steps in closed form), which is
    exact and equal to the float sum while every partial sum stays below
    2**53; else the steps are converted to float first.
    """
    n = int(x.size)
    last = int(r[-1])
    big = max(abs(int(x[0])), abs(int(x[-1]))) * int(cnt.max()) >= 2**53
    xs: IntArray | FloatArray = x.astype(np.float64) if big else x
    if not big and int(x[-1]) - int(x[0]) == n - 1:
        # strictly increasing integers spanning n - 1 are x[0] + i: sums in closed form
        a, b = r[1:-1], r[2:]
        sx = ((b - a) * int(x[0]) + (a + b - 1) * (b - a) // 2).astype(np.float64)
    else:
        sx = np.add.reduceat(xs[:last], r[1:-1]).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # inf + -inf: a dirty bucket
        sy = np.add.reduceat(y[:last], r[1:-1])
    zero = np.zeros(1, dtype=np.intp)
    for i in dirty[dirty >= 1].tolist():
        fin = np.isfinite(y[r[i] : r[i + 1]])
        sx[i - 1] = np.add.reduceat(xs[r[i] : r[i + 1]][fin], zero)[0]
        sy[i - 1] = np.add.reduceat(y[r[i] : r[i + 1]][fin], zero)[0]
    return np.r_[sx / cnt[1:], float(x[last])], np.r_[sy / cnt[1:], y[last]]


def _raw_ranks(ranks: IntArray, nonfinite: IntArray) -> IntArray:
    """Raw index of the finite points of rank ``ranks`` (0 = the first finite)."""
    if nonfinite.size == 0:
        return ranks.astype(np.int64)
    before = nonfinite - np.arange(nonfinite.size)  # finite points before each one
    out: IntArray = ranks + np.searchsorted(before, ranks, side="right")
    return out.astype(np.int64)


class _Walk:
    """The chain of picks over the buckets [r[i], r[i+1]), i < nb."""

    def __init__(
        self,
        x: IntArray,
        y: FloatArray,
        r: IntArray,
        cnt: IntArray,
        dirty: IntArray,
        mx: FloatArray,
        my: FloatArray,
    ) -> None:
        self.x, self.y = x, y
        self.nb = int(r.size) - 1
        self.lo, self.hi = r[:-1].tolist(), r[1:].tolist()
        is_dirty = np.zeros(self.nb, dtype=bool)
        is_dirty[dirty] = True
        self.dirty = is_dirty.tolist()
        self.mx, self.my = mx.tolist(), my.tolist()
        self.width = int(cnt.max())  # finite points per bucket: a long NaN run costs no buffer

    def pick(self, i: int, a: int, buf: FloatArray) -> int:
        """The pick in bucket i after the pick ``a``: the largest triangle
        with ``a`` and the next bucket's mean, the earliest on ties."""
        x, y = self.x, self.y
        lo, hi = self.lo[i], self.hi[i]
        ax, ay = float(x[a]), float(y[a])
        if self.dirty[i]:
            idx = lo + np.flatnonzero(np.isfinite(y[lo:hi]))
            bx, by = x[idx], y[idx]
        else:
            bx, by = x[lo:hi], y[lo:hi]
        k = by.size
        # (ax - mx) * (y - ay) - (ax - x) * (my - ay), as _lttb computes it
        t = np.subtract(by, ay, out=buf[0, :k])
        t *= ax - self.mx[i]
        u = np.subtract(ax, bx, out=buf[1, :k])
        u *= self.my[i] - ay
        t -= u
        np.abs(t, out=t)
        j = int(t.argmax())
        return int(idx[j]) if self.dirty[i] else lo + j

    def walk(self, i0: int, i1: int, a: int, out: list[int]) -> None:
        """Picks of buckets i0..i1-1 into ``out[i0:i1]``, after the pick ``a``."""
        buf = np.empty((2, self.width))
        for i in range(i0, i1):
            a = out[i] = self.pick(i, a, buf)

    def run(self, first: int, n: int) -> list[int]:
        """Every bucket's pick, after the first point; on two threads when
        the series is long (see the module docstring)."""
        nb = self.nb
        out = [0] * nb
        if n < _scan._PARALLEL or _scan._THREADS < 2 or nb < 8:
            self.walk(0, nb, first, out)
            return out
        h = nb // 2
        guess = [0] * nb
        with ThreadPoolExecutor(2) as pool:
            later = pool.submit(self.walk, h, nb, self.lo[h - 1], guess)
            self.walk(0, h, first, out)
            later.result()
        buf = np.empty((2, self.width))
        a = out[h - 1]
        for i in range(h, nb):
            a = out[i] = self.pick(i, a, buf)
            if a == guess[i]:  # the chains met: the rest of the guess stands
                out[i + 1 :] = guess[i + 1 :]
                break
        return out
