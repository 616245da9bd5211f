"""One metric's line in a bundle: its kept points, its NaN/inf events, its summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np

from .. import _json
from ._model import Event, EventKind, SeriesData

if TYPE_CHECKING:
    from ..log import Series


_KINDS: Final[tuple[EventKind, EventKind, EventKind]] = ("nan", "inf", "-inf")


def _kind_codes(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """0 nan, 1 +inf, 2 -inf for the non-finite values at ``idx``."""
    v = y[idx]
    return np.where(np.isnan(v), 0, np.where(v > 0, 1, 2))


def _events(x: np.ndarray, y: np.ndarray, bad: np.ndarray) -> tuple[list[Event], np.ndarray]:
    """Events for the non-finite points ``bad`` (indices), and the indices a chart may drop.

    Consecutive non-finite points of one kind (a diverged run is NaN from some
    step on) make one event with ``last_step`` and ``count``; the chart keeps
    the run's first and last point and may drop the ones between.
    """
    if bad.size == 0:
        return [], bad
    kinds = _kind_codes(y, bad)
    brk = np.flatnonzero((np.diff(bad) != 1) | (np.diff(kinds) != 0)) + 1
    starts = np.concatenate(([0], brk))
    ends = np.concatenate((brk, [bad.size])) - 1
    events: list[Event] = []
    inner: list[np.ndarray] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        ev: Event = {"step": int(x[bad[a]]), "kind": _KINDS[int(kinds[a])]}
        if b > a:
            ev["last_step"] = int(x[bad[b]])
            ev["count"] = b - a + 1
            if b > a + 1:
                inner.append(bad[a + 1 : b])
        events.append(ev)
    droppable = np.concatenate(inner) if inner else np.zeros(0, dtype=np.int64)
    return events, droppable


#: points per chunk of `_nonfinite`
_CHUNK: Final = 1 << 20


def _nonfinite(y: np.ndarray) -> np.ndarray:
    """Indices of the non-finite values, a chunk at a time: a chunk without
    one costs a check, not a mask of the series and its inverse."""
    out = [np.zeros(0, dtype=np.int64)]
    for a in range(0, len(y), _CHUNK):
        fin = np.isfinite(y[a : a + _CHUNK])
        if not fin.all():
            out.append(a + np.flatnonzero(~fin))
    return np.concatenate(out).astype(np.int64)


def _metric_summary(stats: dict[str, Any]) -> dict[str, Any]:
    """`Run.metric_stats` for strict JSON: a non-finite first or last value is null."""
    return {
        k: {"step": v["step"], "value": _json.number(v["value"])} if isinstance(v, dict) else v
        for k, v in stats.items()
    }


def _sampled_series(
    s: Series,
    label: str,
    bad: np.ndarray,
    resume_steps: np.ndarray,
    best_step: int | None,
    method: str,
    points: int,
    yscale: str | None = None,
) -> SeriesData:
    from ..sampling import downsample

    x, y = s.steps, s.values
    # each resume: the series' first point at or after the resumed step
    pos = np.searchsorted(x, resume_steps)
    keep = pos[pos < len(x)]
    if best_step is not None:  # the best step, where this series has a value there
        i = int(np.searchsorted(x, best_step))
        if i < len(x) and int(x[i]) == best_step:
            keep = np.append(keep, i)
    keep = np.unique(keep).astype(np.int64)
    idx = np.asarray(
        downsample(x, y, method=method, n_out=points, keep=keep, yscale=yscale), dtype=np.int64
    )
    events, droppable = _events(x, y, bad)
    if droppable.size and method != "none":  # "none" keeps every point, NaN runs included
        droppable = np.setdiff1d(droppable, keep, assume_unique=True)
        idx = np.setdiff1d(idx, droppable, assume_unique=True)
    vals = y[idx]
    ys: list[float | None] = vals.tolist()
    for i in np.flatnonzero(~np.isfinite(vals)).tolist():
        ys[i] = None
    return {
        "metric": s.metric,
        "label": label,
        "x": x[idx].tolist(),
        "y": ys,
        "raw_points": len(s),
        "events": events,
    }
