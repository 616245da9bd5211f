"""`downsample`: the one public function, its method table and its argument checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from ..errors import SamplingError
from ._auto import _auto
from ._bins import _EMPTY, FloatArray, IntArray, _mandatory
from ._blocks import _Summary
from ._classic import _minmax_direct, _piecewise, _volatility
from ._lttb import _lttb_raw
from ._scan import _Scan, first_not_increasing
from ._views import YScale

#: (exclusive upper step bound, stride): the user's design in seeds/recorder-design-chat.md.
PIECEWISE_RULE: Final[tuple[tuple[float, int], ...]] = (
    (1_000, 1),
    (10_000, 10),
    (100_000, 50),
    (1_000_000, 200),
    (math.inf, 1_000),
)

#: Every value ``method`` accepts; ``auto`` is the default for compaction.
METHODS: Final[tuple[str, ...]] = ("auto", "volatility", "piecewise", "lttb", "minmax", "none")


def downsample(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    method: str = "auto",
    n_out: int = 2000,
    keep: np.ndarray | Sequence[int] | None = None,
    rule: Sequence[tuple[float, int]] = PIECEWISE_RULE,
    yscale: str | None = None,
) -> IntArray:
    """Choose the points of one series that a chart needs.

    :param x: steps, integers, strictly increasing (the caller deduplicates
        and keeps the last value of a re-run step).
    :param y: values, float; NaN and ±inf are events and always kept.
    :param method: one of `METHODS` (see the module docstring).
    :param n_out: target number of points (mandatory points may add to it).
    :param keep: indices into ``x`` that must be kept: segment boundaries of
        a resumed run, the best step.
    :param rule: ``(upper step bound, stride)`` pairs for ``piecewise`` and
        for ``auto``'s floor; bounds strictly increasing, the last one
        ``math.inf``.
    :param yscale: the y scale the chart will be drawn with, ``"linear"`` or
        ``"log"``; None applies the plot's rule to this series alone
        (`panel_yscale`). Only ``auto`` uses it.
    :returns: sorted, unique int64 indices into ``x``.
    :raises SamplingError: on an unknown method, a bad budget, rule or keep,
        arrays of different lengths, or steps that do not strictly increase.
    """
    meth = _check_method(method)
    budget = _check_n_out(n_out)
    scale = _check_yscale(yscale)
    xs, ys = _check_xy(x, y)
    n = int(xs.size)
    kept = _check_keep(keep, n)
    windows = _check_rule(rule)
    if n == 0:
        return _EMPTY.copy()
    if meth == "none":
        return np.arange(n, dtype=np.int64)
    # the classic methods read their few large buckets directly (`_scan`)
    summary = _Scan(ys) if meth in ("lttb", "minmax") else _Summary(ys)
    mandatory, inner = _mandatory(summary, kept)
    if meth == "piecewise":
        return np.union1d(np.union1d(mandatory, inner), _piecewise(xs, windows))
    if n <= budget:
        return np.arange(n, dtype=np.int64)
    # all mandatory points (a run of NaN/inf counts as its two ends), and at
    # least half the budget for the curve's shape
    target = max(budget, int(mandatory.size) + budget // 2)
    if not summary.any_finite:
        return np.union1d(mandatory, inner)
    shape = target - int(mandatory.size)
    # Values near the float64 limit overflow in differences and sums; that
    # only blurs the choice of shape points (the mandatory ones are already
    # fixed), so it must not raise where warnings are errors.
    with np.errstate(all="ignore"):
        if meth == "auto":
            assert isinstance(summary, _Summary)
            picked = _auto(xs, summary, mandatory, target, windows, scale)
        elif shape < 2:
            picked = mandatory
        elif meth == "lttb":
            picked = _lttb_raw(xs, ys, summary.nonfinite, shape)
        elif meth == "minmax":
            picked = _minmax_direct(xs, ys, shape // 2)
        else:
            assert isinstance(summary, _Summary)
            picked = _volatility(xs, summary, shape)
    out: IntArray = np.union1d(np.union1d(mandatory, picked), inner)
    return out


def _check_yscale(yscale: object) -> YScale | None:
    if yscale is None or yscale in ("linear", "log"):
        return yscale
    raise SamplingError(f"yscale must be 'linear', 'log' or None, got {yscale!r}")


# --------------------------------------------------------------------------- validation


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise SamplingError(
            f"unknown sampling method {method!r}; expected one of {', '.join(METHODS)}"
        )
    return method


def _check_n_out(n_out: object) -> int:
    if isinstance(n_out, bool) or not isinstance(n_out, (int, np.integer)):
        raise SamplingError(f"n_out must be an integer >= 1, got {n_out!r}")
    if int(n_out) < 1:
        raise SamplingError(f"n_out must be an integer >= 1, got {int(n_out)}")
    return int(n_out)


def _check_xy(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    xa = np.asarray(x)
    ya = np.asarray(y)
    if xa.ndim != 1 or ya.ndim != 1:
        raise SamplingError(f"x and y must be 1-d arrays, got shapes {xa.shape} and {ya.shape}")
    if xa.size != ya.size:
        raise SamplingError(f"x and y differ in length: {xa.size} and {ya.size}")
    if xa.dtype.kind in "iu":
        if xa.dtype.kind == "u" and xa.size and int(xa.max()) > np.iinfo(np.int64).max:
            raise SamplingError("x holds steps beyond the int64 range")
        xs = np.ascontiguousarray(xa, dtype=np.int64)
    elif xa.dtype.kind == "f" or xa.size == 0:
        xf = xa.astype(np.float64)
        if xf.size and not (np.all(np.isfinite(xf)) and np.all(xf == np.round(xf))):
            raise SamplingError("x must hold integer steps (got non-integral floats)")
        if xf.size and float(np.max(np.abs(xf))) >= 2.0**63:
            raise SamplingError("x holds steps beyond the int64 range")
        xs = xf.astype(np.int64)
    else:
        raise SamplingError(f"x must hold integer steps, got dtype {xa.dtype}")
    if ya.dtype.kind not in "iufb" and ya.size:
        raise SamplingError(f"y must hold numbers, got dtype {ya.dtype}")
    ys = np.ascontiguousarray(ya, dtype=np.float64)
    bad = first_not_increasing(xs)
    if bad >= 0:
        raise SamplingError(
            f"x must be strictly increasing: x[{bad + 1}] = {int(xs[bad + 1])} "
            f"follows x[{bad}] = {int(xs[bad])} (deduplicate and sort first)"
        )
    return xs, ys


def _check_keep(keep: np.ndarray | Sequence[int] | None, n: int) -> IntArray:
    if keep is None:
        return _EMPTY
    ka = np.asarray(keep)
    if ka.size == 0:
        return _EMPTY
    if ka.ndim != 1 or ka.dtype.kind not in "iu":
        raise SamplingError(f"keep must be a 1-d sequence of integer indices, got {ka.dtype}")
    lo, hi = int(ka.min()), int(ka.max())
    if lo < 0 or hi >= n:
        bad = lo if lo < 0 else hi
        raise SamplingError(f"keep index {bad} is out of range for a series of {n} points")
    return np.unique(ka.astype(np.int64))


def _check_rule(rule: Sequence[tuple[float, int]]) -> tuple[tuple[float, int], ...]:
    try:
        pairs = [tuple(p) for p in rule]
    except TypeError:
        raise SamplingError("rule must be a sequence of (upper step bound, stride) pairs") from None
    if not pairs:
        raise SamplingError("rule must hold at least one (upper step bound, stride) pair")
    out: list[tuple[float, int]] = []
    prev = -math.inf
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise SamplingError(f"rule[{i}] must be an (upper step bound, stride) pair")
        bound, stride = pair
        if isinstance(bound, bool) or not isinstance(bound, (int, float, np.integer, np.floating)):
            raise SamplingError(f"rule[{i}]: the bound must be a number, got {bound!r}")
        b = float(bound)
        if math.isnan(b) or b <= prev or b <= 0:
            raise SamplingError(
                f"rule[{i}]: bounds must be positive and strictly increasing, got {bound!r}"
            )
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise SamplingError(f"rule[{i}]: the stride must be an integer >= 1, got {stride!r}")
        out.append((b, int(stride)))
        prev = b
    if not math.isinf(out[-1][0]):
        raise SamplingError("rule: the last bound must be math.inf so that every step has a stride")
    return tuple(out)
