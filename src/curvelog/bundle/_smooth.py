"""The EMA over a series' raw values, sampled at the kept steps (a bundle's ``smooth`` field).

An EMA drawn through the kept points of a downsampled line is not the EMA of
the run: the kept points over-represent extremes (that is what they were kept
for), so a plateau at 0.35 after a high start can be drawn at 0.8. The
smoothed line is therefore computed at compaction, over every raw value, and
stored at the steps the chart keeps; a plotter draws it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import numpy as np

from ..errors import SamplingError

if TYPE_CHECKING:
    from ..log import Series

#: w**-k stays below 1e50 inside a block, so values up to 1e250 cannot overflow
_BLOCK_RANGE: Final[float] = 50.0 * math.log(10.0)
_MAX_BLOCK: Final[int] = 4096
_SAFE: Final[float] = 1e250


def weight_key(weight: float) -> str:
    """The key of a weight in ``series.smooth``: the shortest repr of the float (``"0.99"``)."""
    return repr(float(weight))


def check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    """The weights, checked: each in [0, 1), duplicates dropped, order kept."""
    out: dict[float, None] = {}
    for w in weights:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= float(w) < 1.0:
            raise SamplingError(f"smoothing weight must be in [0, 1), not {w!r} (e.g. 0.9)")
        out[float(w) + 0.0] = None  # -0.0 is 0.0: its key would be "-0.0"
    return tuple(out)


def _reference(values: np.ndarray, weight: float) -> np.ndarray:
    """The plain loop (TensorBoard's), for finite values of any size."""
    out = np.empty(values.shape)
    last, n = 0.0, 0
    for i, v in enumerate(values.tolist()):
        last = last * weight + (1.0 - weight) * v
        n += 1
        out[i] = last / (1.0 - weight**n)
    return out


def _ema_finite(v: np.ndarray, weight: float) -> np.ndarray:
    """Debiased EMA of finite values, vectorised in blocks (exact up to float rounding).

    Inside a block of length B, ``s_j = w**(j+1) s_prev + (1-w) w**j sum_{k<=j} v_k w**-k``;
    B is chosen so that ``w**-B`` stays far from overflow. The blocks are rows
    of one array; only the carry between blocks is a Python loop (n / B steps).
    """
    n = v.size
    if weight == 0.0 or n == 0:
        return v.astype(np.float64, copy=True)
    if float(np.max(np.abs(v))) > _SAFE:
        return _reference(v, weight)
    block = int(min(_MAX_BLOCK, max(1, _BLOCK_RANGE // -math.log(weight))))
    rows = -(-n // block)
    padded = np.zeros(rows * block)
    padded[:n] = v
    grid = padded.reshape(rows, block)
    j = np.arange(block, dtype=np.float64)
    up = weight**j  # w**j
    # every block as if it started from zero, all at once
    local = (1.0 - weight) * up * np.cumsum(grid * weight**-j, axis=1)
    # the carry from block to block is a recurrence over the blocks' last values only
    decay = weight**block
    start = np.empty(rows)
    prev = 0.0
    for r, last in enumerate(local[:, -1].tolist()):
        start[r] = prev
        prev = decay * prev + last
    local += start[:, None] * (weight * up)[None, :]  # w**(j+1) * s_before_block
    out = local.reshape(-1)[:n].copy()
    count = np.arange(1, n + 1, dtype=np.float64)
    with np.errstate(under="ignore"):
        out /= 1.0 - weight**count
    return out


def ema_raw(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA of ``values``; non-finite values stay NaN and do not count.

    The same line as `curvelog.plot.ema`, for millions of points.
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        v = values[finite]
        smoothed = _ema_finite(v, weight)
        # rounding must not leave the data's range (a flat line stays flat)
        out[finite] = np.clip(smoothed, v.min(), v.max())
    return out


def smooth_at(
    s: Series, kept_steps: Sequence[int], weights: Sequence[float]
) -> dict[str, list[float | None]]:
    """``{weight_key: EMA over every raw value, at each kept step}`` (null where not finite)."""
    pos = np.searchsorted(s.steps, np.asarray(kept_steps, dtype=np.int64))
    out: dict[str, list[float | None]] = {}
    for w in weights:
        at = ema_raw(s.values, w)[pos]
        vals: list[float | None] = at.tolist()
        for i in np.flatnonzero(~np.isfinite(at)).tolist():
            vals[i] = None
        out[weight_key(w)] = vals
    return out
