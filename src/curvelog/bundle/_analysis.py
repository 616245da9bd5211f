"""The training analysis in a bundle's summary: trend, convergence, overfitting.

The thresholds are heuristics; docs/BUNDLE.md ("Analysis") explains each one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

if TYPE_CHECKING:
    from ..log import Run, Series
from .._goals import name_goal
from ._charts import _TRAIN_SPLITS, _VAL_SPLITS, _split_of

#: share of a series' points (its last ones) the trend is measured over
TAIL_FRACTION: Final[float] = 0.2
#: share of a series' points (its first ones) that stand for where training started
HEAD_FRACTION: Final[float] = 0.05
#: fewest points in a tail
TAIL_MIN_POINTS: Final[int] = 5
#: a fitted change smaller than this share of the tail's level is "flat"
FLAT_RELATIVE: Final[float] = 0.01
#: val worse than its best by more than this share of |best| counts as overfitting
OVERFIT_RELATIVE: Final[float] = 0.02


def _r6(v: float | None) -> float | None:
    """An analysis figure: 6 significant digits (readable, deterministic), None if not finite."""
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.6g}")


def _goal(metric: str, objective: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """Which way is better for ``metric``: from the objective, else from its name."""
    if objective and objective.get("metric") == metric and objective.get("mode") in ("min", "max"):
        return str(objective["mode"]), "objective"
    goal = name_goal(metric)
    return (goal, "name") if goal is not None else (None, None)


#: points per slice of the sums below: a 20M-point tail would otherwise need
#: four float64 temporaries of its size (640 MB)
_SLICE: Final[int] = 1 << 20


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope, its standard error and the mean of y (finite points only).

    Centred sums, a slice at a time (memory that does not grow with the
    series): a pass for the means, a pass for Sxx, Sxy and Syy. The residual
    sum of squares is Syy - Sxy²/Sxx, which loses digits only for a
    near-perfect line, whose slope is significant either way (the standard
    error is only compared with the slope).
    """
    n = len(y)
    cuts = range(0, n, _SLICE)
    xm = sum(float(x[a : a + _SLICE].astype(np.float64).sum()) for a in cuts) / n
    ym = float(y.mean())
    sxx = sxy = syy = 0.0
    for a in cuts:
        dx = x[a : a + _SLICE].astype(np.float64)
        dx -= xm
        dy = y[a : a + _SLICE] - ym
        sxx += float(dx @ dx)
        sxy += float(dx @ dy)
        syy += float(dy @ dy)
    if sxx == 0.0:
        return 0.0, math.inf, ym
    slope = sxy / sxx
    if n > 2:
        rss = max(syy - slope * sxy, 0.0)
        se = math.sqrt(rss / (n - 2) / sxx)
    else:
        se = math.inf
    return slope, se, ym


def _tail(n: int) -> int:
    """Index where the tail of a series of ``n`` points starts."""
    size = max(math.ceil(TAIL_FRACTION * n), min(n, TAIL_MIN_POINTS))
    return n - size


def _trend(x: np.ndarray, y: np.ndarray, all_finite: bool = False) -> dict[str, Any] | None:
    """Linear trend over the tail; see docs/BUNDLE.md, "Trend". ``all_finite``:
    the caller knows every value is finite (no mask to build)."""
    n = len(x)
    a = _tail(n)
    tx, ty = x[a:], y[a:]
    ok = None if all_finite else np.isfinite(ty)
    if ok is not None and not ok.all():
        tx, ty = tx[ok], ty[ok]
    if len(ty) < 3:
        return None
    slope, se, mean = _fit(tx, ty)
    span = float(tx[-1] - tx[0])
    change = slope * span
    level = abs(mean)
    rel = change / level if level > 0 else (0.0 if change == 0 else math.inf)
    significant = se == 0.0 or abs(slope) >= 2.0 * se
    if abs(rel) < FLAT_RELATIVE or not significant or change == 0:
        direction = "flat"
    else:
        direction = "down" if change < 0 else "up"
    return {
        "from_step": int(x[a]),
        "to_step": int(x[-1]),
        "points": int(len(ty)),
        "slope": _r6(slope),
        "change": _r6(change),
        "relative_change": _r6(rel),
        "direction": direction,
    }


def _convergence(y: np.ndarray, goal: str, trend: dict[str, Any] | None, finite: int) -> str:
    """improving / plateaued / worsening / diverged / insufficient_data
    (docs/BUNDLE.md); ``finite``: how many values of ``y`` are finite."""
    if not math.isfinite(float(y[-1])):
        return "diverged"
    if finite < TAIL_MIN_POINTS or trend is None:
        return "insufficient_data"
    head = y[: max(math.ceil(HEAD_FRACTION * len(y)), 1)]
    head = head[np.isfinite(head)]  # copies: the median may reorder them in place
    a = _tail(len(y))
    tail = y[a:][np.isfinite(y[a:])]
    if head.size and tail.size:
        h = float(np.median(head, overwrite_input=True))
        t = float(np.median(tail, overwrite_input=True))
        worse = t > h if goal == "min" else t < h
        if worse and abs(t - h) > FLAT_RELATIVE * max(abs(h), abs(t)):
            return "diverged"  # the end of training is worse than its start
    direction = trend["direction"]
    if direction == "flat":
        return "plateaued"
    return "improving" if (direction == "down") == (goal == "min") else "worsening"


# Values near the float64 limit overflow sums and fits; those figures come out
# non-finite and are written as null, so numpy need not warn about them.
@np.errstate(all="ignore")
def metric_analysis(
    s: Series, objective: Mapping[str, Any] | None, summary: Mapping[str, Any]
) -> dict[str, Any]:
    """One metric's goal, trend, convergence and best (its part of `_analysis`),
    computed with its summary ``summary`` (`Run.metric_stats`: its counts of
    non-finite values spare a pass over the values) where the metric's other
    work runs."""
    goal, source = _goal(s.metric, objective)
    finite = summary["points"] - summary["nan"] - summary["inf"] - summary["neg_inf"]
    trend = _trend(s.steps, s.values, finite == len(s))
    out: dict[str, Any] = {"goal": goal, "goal_source": source, "trend": trend}
    if goal is None:
        out["convergence"] = None
        return out
    out["convergence"] = _convergence(s.values, goal, trend, finite)
    best = summary["min" if goal == "min" else "max"]  # the earliest step on ties
    if best is not None:
        first, last = int(s.steps[0]), int(s.steps[-1])
        frac = (best["step"] - first) / (last - first) if last > first else 1.0
        out["best"] = {"step": best["step"], "value": best["value"], "at_fraction": _r6(frac)}
    else:
        out["best"] = None
    return out


def _windowed_mean(tx: np.ndarray, ty: np.ndarray, vx: np.ndarray) -> np.ndarray:
    """Mean of the finite train values in (previous val step, val step], per val step."""
    ok = np.isfinite(ty)
    sums = np.concatenate(([0.0], np.cumsum(np.where(ok, ty, 0.0))))
    counts = np.concatenate(([0], np.cumsum(ok)))
    hi = np.searchsorted(tx, vx, side="right")
    lo = np.concatenate(([0], hi[:-1]))
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / np.maximum(n, 1), np.nan)


def _overfitting(
    train: Series, val: Series, goal: str | None, train_convergence: str | None
) -> dict[str, Any]:
    """The overfitting indicator of a train/validation pair; see docs/BUNDLE.md."""
    out: dict[str, Any] = {"train": train.metric, "val": val.metric, "goal": goal}
    tmean = _windowed_mean(train.steps, train.values, val.steps)
    ok = np.isfinite(tmean) & np.isfinite(val.values)
    px, pt, pv = val.steps[ok], tmean[ok], val.values[ok]
    out["pairs"] = int(px.size)
    if px.size < 3:
        out.update(status="unknown", at_step=None, gap=None, gap_relative=None, gap_trend=None,
                   val_best_step=None, score=None)  # fmt: skip
        return out
    sign = -1.0 if goal == "max" else 1.0
    gap = sign * (pv - pt)  # > 0: validation is worse than training
    half = px.size // 2
    gslope, gse, _ = _fit(px[half:], gap[half:]) if px.size - half >= 3 else (0.0, math.inf, 0.0)
    gchange = gslope * float(px[-1] - px[half])
    level = float(np.mean(np.abs(pt[half:]))) or 1.0
    if abs(gchange) < FLAT_RELATIVE * level or not (gse == 0 or abs(gslope) >= 2 * gse):
        gap_trend = "stable"
    else:
        gap_trend = "widening" if gchange > 0 else "narrowing"
    out["at_step"] = int(px[-1])
    out["train_value"] = _r6(float(pt[-1]))
    out["val_value"] = _r6(float(pv[-1]))
    out["gap"] = _r6(float(gap[-1]))
    out["gap_relative"] = _r6(float(gap[-1]) / abs(float(pt[-1]))) if pt[-1] != 0 else None
    out["gap_trend"] = gap_trend
    if goal is None:
        out.update(val_best_step=None, score=None, status="unknown")
        return out
    ib = int(np.argmin(sign * pv))
    best = float(pv[ib])
    recent = float(np.median(pv[-3:]))
    score = sign * (recent - best) / abs(best) if best != 0 else 0.0
    out["val_best_step"] = int(px[ib])
    out["score"] = _r6(max(score, 0.0))
    overfit = (
        score > OVERFIT_RELATIVE
        and ib < px.size - 3
        and train_convergence in ("improving", "plateaued")
    )
    out["status"] = "overfitting" if overfit else "none"
    return out


@np.errstate(all="ignore")
def _analysis(
    run: Run,
    selected: Sequence[str],
    objective: Mapping[str, Any] | None,
    per: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """The run's analysis from each selected metric's `metric_analysis` (``per``)."""
    per = {m: per[m] for m in selected}
    # train/validation pairs of the same quantity
    by_quantity: dict[str, dict[str, str]] = {}
    for m in selected:
        split, quantity = _split_of(m)
        if split is not None:
            by_quantity.setdefault(quantity, {}).setdefault(split, m)
    pairs = []
    for splits in by_quantity.values():
        train = next((splits[s] for s in _TRAIN_SPLITS if s in splits), None)
        val = next((splits[s] for s in _VAL_SPLITS if s in splits), None)
        if train is None or val is None:
            continue
        goal = per[val]["goal"] or per[train]["goal"]
        pairs.append(
            _overfitting(run.series(train), run.series(val), goal, per[train].get("convergence"))
        )
    # the run's convergence: the objective, else a validation loss, else a training loss
    chosen = None
    if objective and objective.get("metric") in per:
        chosen = str(objective["metric"])
    if chosen is None:
        ranked = sorted(
            (m for m in selected if per[m]["goal"] == "min"),
            key=lambda m: (0 if _split_of(m)[0] in _VAL_SPLITS else 1 if _split_of(m)[0] else 2,
                           selected.index(m)),
        )  # fmt: skip
        chosen = ranked[0] if ranked else next((m for m in selected if per[m]["goal"]), None)
    return {
        "tail_fraction": TAIL_FRACTION,
        "convergence": {"metric": chosen, "status": per[chosen]["convergence"] if chosen else None},
        "overfitting": pairs,
        "metrics": per,
    }
