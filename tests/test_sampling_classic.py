"""The fast path of `lttb` and `minmax` (curvelog.sampling._scan, #12) against the block path.

The block path (`_blocks._Summary`, `_classic._lttb_finite` on a copy of the
finite points, `_classic._minmax` from block bins) is what these methods ran
before #12 and what `auto` still uses; it is itself checked point by point in
test_sampling.py. Here the fast path must give the same indices, on seeded
random series with NaN, ±inf and ties, on long ones that take the threaded
and matrix paths, and on every bundled real curve.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl
import pytest

from _real import RUNS, read_csv_text, real_csv
from curvelog.sampling import _bins, _blocks, _classic, _lttb, _methods, _scan, downsample
from test_sampling import random_series


def block_path(x: np.ndarray, y: np.ndarray, method: str, n_out: int, keep: list[int]) -> list[int]:
    """`downsample` for lttb/minmax as it ran before #12: the block summary,
    the LTTB of a copy of the finite points, minmax from block bins."""
    n = x.size
    summary = _blocks._Summary(y)
    mandatory, inner = _bins._mandatory(summary, np.unique(np.asarray(keep, dtype=np.int64)))
    if n <= n_out:
        return list(range(n))
    target = max(n_out, int(mandatory.size) + n_out // 2)
    if not summary.any_finite:
        return np.union1d(mandatory, inner).tolist()
    shape = target - int(mandatory.size)
    with np.errstate(all="ignore"):
        if shape < 2:
            picked = mandatory
        elif method == "lttb":
            picked = _classic._lttb_finite(x, y, np.isfinite(y), shape)
        else:
            picked = _classic._minmax(x, summary, shape // 2)
    return np.union1d(np.union1d(mandatory, picked), inner).tolist()


@pytest.mark.parametrize("method", ["lttb", "minmax"])
@pytest.mark.parametrize("seed", range(40))
def test_same_picks_as_the_block_path(method: str, seed: int) -> None:
    rng = np.random.default_rng(1200 + seed)
    x, y = random_series(rng, int(rng.integers(1, 20_000)))
    n_out = int(rng.integers(1, 600))
    keep = sorted(set(rng.integers(0, x.size, int(rng.integers(0, 4))).tolist()))
    got = downsample(x, y, method=method, n_out=n_out, keep=keep)
    assert got.tolist() == block_path(x, y, method, n_out, keep)


@pytest.mark.parametrize("seed", range(12))
def test_lttb_raw_equals_lttb_of_the_finite_copy(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1300 + seed)
    if seed % 2:  # two threads speculating, on small data
        monkeypatch.setattr(_scan, "_PARALLEL", 0)
    n = int(rng.integers(3, 30_000))
    x = np.cumsum(rng.integers(1, 7, n)).astype(np.int64)
    if seed % 3 == 0:  # steps so large that sums of a bucket pass 2**53: float sums
        x += 2**60 // 8
    elif seed % 3 == 1:  # consecutive steps (sums in closed form), some negative
        x = np.arange(n, dtype=np.int64) + int(rng.integers(-1000, 1000))
    y = np.cumsum(rng.normal(size=n))
    for _ in range(int(rng.integers(0, 6))):  # single non-finite values and runs
        a = int(rng.integers(0, n))
        y[a : a + int(rng.integers(1, 50))] = rng.choice([np.nan, np.inf, -np.inf])
    fin = np.isfinite(y)
    nonfinite = np.flatnonzero(~fin).astype(np.int64)
    for n_out in (1, 2, 3, 4, int(rng.integers(5, 400)), int(fin.sum()), int(fin.sum()) + 1):
        want = _classic._lttb_finite(x, y, fin, n_out)
        assert _lttb._lttb_raw(x, y, nonfinite, n_out).tolist() == want.tolist(), n_out


@pytest.mark.parametrize("seed", range(12))
def test_bucket_extremes_equal_the_block_bins(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1400 + seed)
    x, y = random_series(rng, int(rng.integers(2, 60_000)))
    if seed % 2:  # the threaded path, on small data
        monkeypatch.setattr(_scan, "_PARALLEL", 0)
    buckets = int(rng.choice([1, 3, 10, 97, 1000]))  # large (loop) and small (matrix) buckets
    got = _classic._minmax_direct(x, y, buckets)
    assert got.tolist() == _classic._minmax(x, _blocks._Summary(y), buckets).tolist()


@pytest.mark.parametrize("seed", range(12))
def test_scan_agrees_with_the_block_summary(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1500 + seed)
    monkeypatch.setattr(_scan, "_CHUNK", int(rng.choice([7, 64, 1000])))
    if seed % 2:
        monkeypatch.setattr(_scan, "_PARALLEL", 0)
    x, y = random_series(rng, int(rng.integers(1, 5000)))
    scan, summary = _scan._Scan(y), _blocks._Summary(y)
    assert scan.nonfinite.tolist() == summary.nonfinite.tolist()
    assert scan.extremes() == summary.extremes()
    assert scan.any_finite == summary.any_finite


@pytest.mark.parametrize("seed", range(10))
def test_steps_checked_chunk_by_chunk(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1600 + seed)
    chunk = int(rng.choice([5, 16, 1000]))
    monkeypatch.setattr(_scan, "_CHUNK", chunk)
    if seed % 2:
        monkeypatch.setattr(_scan, "_PARALLEL", 0)
    n = int(rng.integers(2, 5000))
    x = np.cumsum(rng.integers(1, 4, n)).astype(np.int64)
    assert _scan.first_not_increasing(x) == -1
    # a repeat or a step back, anywhere, chunk edges included
    bad = int(rng.choice([0, chunk - 1, chunk, int(rng.integers(0, n - 1))]) % (n - 1))
    x[bad + 1] = x[bad] - int(rng.integers(0, 2))
    later = min(n - 2, bad + int(rng.integers(1, 3 * chunk)))
    x[later + 1 :] = x[later]  # a second, later fault must not hide the first
    assert _scan.first_not_increasing(x) == bad
    with pytest.raises(_methods.SamplingError, match=rf"x\[{bad + 1}\]"):
        downsample(x, np.zeros(n), method="minmax")


def test_long_series_take_the_threaded_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large buckets (a loop on two threads), LTTB's speculating threads,
    and non-finite values in them."""
    monkeypatch.setattr(_scan, "_PARALLEL", 1 << 20)
    rng = np.random.default_rng(1700)
    n = (1 << 21) + 12_345
    x = np.arange(n, dtype=np.int64) * 3
    y = np.cumsum(rng.normal(size=n))
    y[[17, n // 2, n - 5]] = [np.nan, np.inf, -np.inf]
    y[1000:1010] = np.nan
    for method in ("lttb", "minmax"):
        got = downsample(x, y, method=method, n_out=300, keep=[n // 3])
        assert got.tolist() == block_path(x, y, method, 300, [n // 3])


def real_series() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Every metric of every bundled run, sorted by step, the last value of each step."""
    out = []
    for run in RUNS:
        df = pl.read_csv(io.StringIO(read_csv_text(real_csv(run))))
        for (metric,), part in df.group_by("metric", maintain_order=True):
            part = part.unique("step", keep="last", maintain_order=True).sort("step")
            x = part["step"].cast(pl.Int64).to_numpy()
            y = part["value"].cast(pl.Float64).to_numpy()
            out.append((f"{run}/{metric}", x, y))
    return out


@pytest.mark.parametrize("method", ["lttb", "minmax"])
def test_same_picks_on_the_real_curves(method: str) -> None:
    series = real_series()
    assert len(series) >= 7
    for name, x, y in series:
        for n_out in (100, 1000, 2000):
            got = downsample(x, y, method=method, n_out=n_out)
            assert got.tolist() == block_path(x, y, method, n_out, []), (name, n_out)


@pytest.mark.parametrize("n_out", [2, 3, 5, 40])
def test_lttb_raw_with_non_finite_at_the_ends(n_out: int) -> None:
    """Non-finite values before the first and the last finite point, and at
    bucket edges: the first and last picks are finite points."""
    rng = np.random.default_rng(1800 + n_out)
    n = 400
    x = np.arange(n, dtype=np.int64) * 2
    y = rng.normal(size=n)
    y[[0, 1, 2, 150, 151, n - 3, n - 2]] = [np.nan, np.inf, -np.inf, np.nan, np.nan, np.inf, np.nan]
    fin = np.isfinite(y)
    got = _lttb._lttb_raw(x, y, np.flatnonzero(~fin).astype(np.int64), n_out)
    assert got.tolist() == _classic._lttb_finite(x, y, fin, n_out).tolist()
    assert np.isfinite(y[got]).all()


@pytest.mark.parametrize("seed", range(10))
def test_next_means_bit_for_bit(seed: int) -> None:
    """The next buckets' means equal, bit for bit, what `_lttb` computes on a
    copy of the finite points (a wrong last bit can move a pick)."""
    rng = np.random.default_rng(1900 + seed)
    n = int(rng.integers(3_000, 40_000))
    x = np.cumsum(rng.integers(1, 4, n)).astype(np.int64)
    if seed % 3 == 0:
        x = np.arange(n, dtype=np.int64) - 77  # consecutive steps: closed form
    elif seed % 3 == 1:
        x += 2**58  # float sums of steps
    y = rng.normal(size=n) * 10.0 ** rng.integers(-6, 6, n)  # sums that round
    for _ in range(int(rng.integers(5, 40))):
        a = int(rng.integers(0, n))
        y[a : a + int(rng.integers(1, 30))] = rng.choice([np.nan, np.inf, -np.inf])
    fi = np.flatnonzero(np.isfinite(y))
    m, nb = fi.size, int(rng.integers(3, 300))
    edges = (1 + np.floor(np.arange(nb + 1) * ((m - 2) / nb))).astype(np.int64)
    edges[-1] = m - 1
    cnt = np.diff(edges)
    xf, yf = x[fi].astype(np.float64), y[fi]
    want_x = np.r_[np.add.reduceat(xf[: m - 1], edges[1:-1]) / cnt[1:], xf[-1]]
    want_y = np.r_[np.add.reduceat(yf[: m - 1], edges[1:-1]) / cnt[1:], yf[-1]]
    r = fi[edges]
    dirty = np.flatnonzero(np.diff(r) != cnt)
    assert dirty.size  # the test is about buckets with non-finite values
    mx, my = _lttb._next_means(x, y, r, cnt, dirty)
    assert mx.tobytes() == want_x.tobytes()
    assert my.tobytes() == want_y.tobytes()
