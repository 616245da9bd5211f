"""Chart bundles: a small, strict-JSON picture of a run that plots and registries keep.

``build_bundle`` turns a `Run` into a bundle (charts of downsampled series,
the best step, a summary with the training analysis, provenance);
``write_bundle`` writes it atomically; ``load_bundle`` reads one back and
validates it; ``compact`` is all three from a log path, what ``curvelog
compact`` calls. The format is documented in ``docs/BUNDLE.md`` and described
by the JSON Schema shipped beside this module (``bundle.schema.json``). The
validator here checks the same structure without needing ``jsonschema``.

Everything in a bundle is derived from the log and the options, never from
the clock, and is written with a fixed key order, so the same log and the same
options give the same bytes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ._fs import atomic_write_bytes, read_bytes, same_file
from .errors import (
    BundleError,
    BundleVersionError,
    MetricNotFoundError,
    OutputExistsError,
    PathError,
    SamplingError,
)

if TYPE_CHECKING:
    from .log import Run, Series

__all__ = [
    "DEFAULT_POINTS",
    "METHODS",
    "SCHEMA",
    "build_bundle",
    "compact",
    "default_bundle_path",
    "dumps",
    "load_bundle",
    "schema_document",
    "validate_bundle",
    "write_bundle",
]

#: the schema identifier written into every bundle
SCHEMA: Final[str] = "curvelog.bundle/1"
SCHEMA_MAJOR: Final[int] = 1
#: points per series when no budget is given
DEFAULT_POINTS: Final[int] = 2000
#: the sampling methods (`curvelog.sampling.METHODS`, repeated so the CLI need not import it)
METHODS: Final[tuple[str, ...]] = ("auto", "volatility", "piecewise", "lttb", "minmax", "none")
#: suffix of the default output beside the log: ``run.log`` -> ``run.curves.json``
BUNDLE_SUFFIX: Final[str] = ".curves.json"

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

_SCHEMA_RE: Final = re.compile(r"^curvelog\.bundle/([0-9]+)(?:\.([0-9]+))?$")
_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_HASH_CHUNK: Final[int] = 1 << 20

#: name parts that say which split a metric was measured on (first = preferred)
_TRAIN_SPLITS: Final[tuple[str, ...]] = ("train", "training")
_VAL_SPLITS: Final[tuple[str, ...]] = (
    "val", "valid", "validation", "eval", "evaluation", "dev", "test",
)  # fmt: skip
_SPLITS: Final[tuple[str, ...]] = _TRAIN_SPLITS + _VAL_SPLITS
_SPLIT_PREFIX: Final = re.compile(r"^(" + "|".join(_SPLITS) + r")[_.-](.+)$", re.IGNORECASE)
_SPLIT_SUFFIX: Final = re.compile(r"^(.+?)[_.-](" + "|".join(_SPLITS) + r")$", re.IGNORECASE)
#: words of a metric name that say lower is better / higher is better
_LOWER_BETTER: Final[frozenset[str]] = frozenset(
    "loss nll err error errors perplexity ppl mse mae rmse mape cer wer bpb bpc regret cost".split()
)
_HIGHER_BETTER: Final[frozenset[str]] = frozenset(
    "acc accuracy reward rewards return returns score f1 precision recall auc map iou miou "
    "bleu rouge success r2 top1 top5".split()
)
#: words that make a metric a spread, not a score (``eval_std_reward``): no goal
_SPREAD: Final[frozenset[str]] = frozenset("std stddev sigma var variance".split())
_WORD: Final = re.compile(r"[a-z0-9]+")

Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- JSON helpers


def _num(v: float) -> float | None:
    """A float for JSON: None when not finite."""
    return v if math.isfinite(v) else None


def _r6(v: float | None) -> float | None:
    """An analysis figure: 6 significant digits (readable, deterministic), None if not finite."""
    if v is None or not math.isfinite(v):
        return None
    return float(f"{v:.6g}")


def _jsonable(value: Any) -> Any:
    """A strict-JSON copy of header metadata (config, packages, git, argv)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return str(value)


def _text(value: Any) -> str | None:
    """A header string for JSON (None stays None; anything else becomes its text)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def dumps(bundle: Mapping[str, Any]) -> bytes:
    """The bytes of a bundle: compact, strict, UTF-8 JSON (what the registry stores too)."""
    try:
        text = json.dumps(bundle, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise BundleError("<bundle>", "", f"not strict JSON ({e})") from None
    return text.encode("utf-8")


# --------------------------------------------------------------------------- hashing


class _Sha256Job:
    """sha256 of a file, computed in a thread while the caller works.

    ``hashlib`` releases the GIL on large updates, so on a machine with two
    cores the hash of a 480 MB log costs no wall time next to reading and
    sampling it. The thread reads the file itself, in 1 MiB chunks from the
    page cache, rather than keeping the reader's copy alive.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._h = hashlib.sha256()
        self._size = 0
        self._error = False
        self._thread = threading.Thread(target=self._run, name="curvelog-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "rb", buffering=0) as f:
                buf = bytearray(_HASH_CHUNK)
                view = memoryview(buf)
                while n := f.readinto(buf):
                    self._h.update(view[:n])
                    self._size += n
        except OSError:
            self._error = True

    def result(self, size: int) -> str | None:
        """The digest of the first ``size`` bytes (what the reader read); None if unreadable."""
        self._thread.join()
        if not self._error and self._size == size:
            return self._h.hexdigest()
        return _sha256_prefix(self.path, size)  # the file grew or changed meanwhile


def _sha256_prefix(path: str, size: int) -> str | None:
    h = hashlib.sha256()
    left = size
    try:
        with open(path, "rb") as f:
            while left > 0:
                chunk = f.read(min(_HASH_CHUNK, left))
                if not chunk:
                    return None  # shorter than what was read: not the same file any more
                h.update(chunk)
                left -= len(chunk)
    except OSError:
        return None
    return h.hexdigest()


# --------------------------------------------------------------------------- names and charts


def _split_of(metric: str) -> tuple[str | None, str]:
    """(split, quantity) of a metric name: ``train/loss`` and ``val_loss`` name their split."""
    if "/" in metric:
        head, _, last = metric.rpartition("/")
        first, _, rest = metric.partition("/")
        if first.lower() in _SPLITS and rest:
            return first.lower(), rest
        tail = head.rpartition("/")[2]
        if tail.lower() in _SPLITS:
            return tail.lower(), last
        if last.lower() in _SPLITS and head:
            return last.lower(), head
        return None, metric
    m = _SPLIT_PREFIX.match(metric)
    if m:
        return m.group(1).lower(), m.group(2)
    m = _SPLIT_SUFFIX.match(metric)
    if m:
        return m.group(2).lower(), m.group(1)
    return None, metric


def _chart_key(metric: str) -> tuple[str, str]:
    """(chart id, line label) by the default grouping.

    The chart is the last ``/``-component and the label what precedes it
    (``train/loss`` -> ``loss``, ``train``). A name without ``/`` that starts
    with a split word and ``_``, ``-`` or ``.`` is read the same way
    (``val_loss`` -> ``loss``, ``val``); any other name is its own chart.
    """
    if "/" in metric:
        head, _, last = metric.rpartition("/")
        if last and head:
            return last, head
        return metric, metric
    m = _SPLIT_PREFIX.match(metric)
    if m:
        return m.group(2), m.group(1)
    return metric, metric


def _split_rank(label: str) -> int | None:
    low = label.lower()
    return _SPLITS.index(low) if low in _SPLITS else None


def _header_charts(run: Run) -> dict[str, dict[str, Any]]:
    """The chart metadata of the latest session that gave any (like the objective)."""
    for s in reversed(run.sessions):
        charts = s.header.get("charts")
        if isinstance(charts, Mapping) and charts:
            return {str(k): dict(v) for k, v in charts.items() if isinstance(v, Mapping)}
    charts = run.header.get("charts")
    if isinstance(charts, Mapping):
        return {str(k): dict(v) for k, v in charts.items() if isinstance(v, Mapping)}
    return {}


def _plan_charts(run: Run, selected: Sequence[str]) -> list[dict[str, Any]]:
    """Charts (without data) for ``selected`` metrics: header metadata first, then grouping.

    A header chart that lists ``metrics`` takes them (first listing wins); one
    without ``metrics`` only decorates the default chart of the same id. A
    default chart whose id a header chart already uses gets ``-2``, ``-3``...
    """
    header = _header_charts(run)
    chosen = set(selected)
    taken: set[str] = set()
    groups: list[tuple[str, dict[str, Any], list[str], bool]] = []  # id, meta, members, listed
    for cid, meta in header.items():
        listed = meta.get("metrics")
        if not isinstance(listed, (list, tuple)):
            continue
        members = [
            m
            for m in dict.fromkeys(listed)
            if isinstance(m, str) and m in chosen and m not in taken
        ]
        taken.update(members)
        if members:
            groups.append((cid, meta, members, True))
    ids = {g[0] for g in groups}
    auto: dict[str, list[str]] = {}
    for m in selected:
        if m not in taken:
            auto.setdefault(_chart_key(m)[0], []).append(m)
    for key, members in auto.items():
        cid, n = key, 2
        while cid in ids:
            cid, n = f"{key}-{n}", n + 1
        ids.add(cid)
        ranks = [_split_rank(_chart_key(m)[1]) for m in members]
        if len(members) > 1 and None not in ranks:  # train, then val, then test
            order = sorted(range(len(members)), key=lambda i: ranks[i] or 0)
            members = [members[i] for i in order]
        groups.append((cid, header.get(cid, {}) if cid == key else {}, members, False))
    out = []
    for cid, meta, members, listed in groups:
        labels = meta.get("labels")
        custom: Mapping[str, Any] = labels if isinstance(labels, Mapping) else {}
        series = []
        for m in members:
            key, label = _chart_key(m)
            if listed and key != cid:
                label = m  # a header chart of unrelated metrics: full names tell them apart
            own = custom.get(m)
            series.append({"metric": m, "label": own if isinstance(own, str) and own else label})
        single = members[0] if len(members) == 1 and not listed else None
        out.append(
            {
                "id": cid,
                "title": _str_or(meta.get("title"), single or cid),
                "xlabel": _str_or(meta.get("xlabel"), "step"),
                "ylabel": _str_or(meta.get("ylabel"), _chart_key(single)[0] if single else cid),
                "scale": "log" if meta.get("scale") == "log" else "linear",
                "series": series,
            }
        )
    return out


def _str_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _select(run: Run, metrics: Sequence[str] | None) -> list[str]:
    names = run.metrics
    if metrics is None:
        return names
    if isinstance(metrics, str):
        metrics = [metrics]
    picked: set[str] = set()
    for pattern in metrics:
        hits = [m for m in names if m == pattern or fnmatch.fnmatchcase(m, pattern)]
        if not hits:
            raise MetricNotFoundError(run.path, pattern, names)
        picked.update(hits)
    return [m for m in names if m in picked]


# --------------------------------------------------------------------------- one series


_KINDS: Final[tuple[str, str, str]] = ("nan", "inf", "-inf")


def _kind_codes(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """0 nan, 1 +inf, 2 -inf for the non-finite values at ``idx``."""
    v = y[idx]
    return np.where(np.isnan(v), 0, np.where(v > 0, 1, 2))


def _events(
    x: np.ndarray, y: np.ndarray, bad: np.ndarray
) -> tuple[list[dict[str, Any]], np.ndarray]:
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
    events: list[dict[str, Any]] = []
    inner: list[np.ndarray] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        ev: dict[str, Any] = {"step": int(x[bad[a]]), "kind": _KINDS[int(kinds[a])]}
        if b > a:
            ev["last_step"] = int(x[bad[b]])
            ev["count"] = b - a + 1
            if b > a + 1:
                inner.append(bad[a + 1 : b])
        events.append(ev)
    droppable = np.concatenate(inner) if inner else np.zeros(0, dtype=np.int64)
    return events, droppable


def _metric_summary(stats: dict[str, Any]) -> dict[str, Any]:
    """`Run.metric_stats` for strict JSON: a non-finite first or last value is null."""
    return {
        k: {"step": v["step"], "value": _num(v["value"])} if isinstance(v, dict) else v
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
) -> dict[str, Any]:
    from .sampling import downsample

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
    if droppable.size:
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


# --------------------------------------------------------------------------- analysis


def _goal(metric: str, objective: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """Which way is better for ``metric``: from the objective, else from its name."""
    if objective and objective.get("metric") == metric and objective.get("mode") in ("min", "max"):
        return str(objective["mode"]), "objective"
    words = set(_WORD.findall(_split_of(metric)[1].lower()))
    if words & _SPREAD:
        return None, None
    if words & _LOWER_BETTER or (not words & _HIGHER_BETTER and "loss" in metric.lower()):
        return "min", "name"
    if words & _HIGHER_BETTER:
        return "max", "name"
    return None, None


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares slope, its standard error and the mean of y (finite points only)."""
    xf = x.astype(np.float64)
    xm, ym = float(xf.mean()), float(y.mean())
    dx = xf - xm
    sxx = float(dx @ dx)
    if sxx == 0.0:
        return 0.0, math.inf, ym
    slope = float(dx @ (y - ym)) / sxx
    n = len(y)
    if n > 2:
        resid = y - ym - slope * dx
        se = math.sqrt(float(resid @ resid) / (n - 2) / sxx)
    else:
        se = math.inf
    return slope, se, ym


def _tail(n: int) -> int:
    """Index where the tail of a series of ``n`` points starts."""
    size = max(math.ceil(TAIL_FRACTION * n), min(n, TAIL_MIN_POINTS))
    return n - size


def _trend(x: np.ndarray, y: np.ndarray) -> dict[str, Any] | None:
    """Linear trend over the tail; see docs/BUNDLE.md, "Trend"."""
    n = len(x)
    a = _tail(n)
    tx, ty = x[a:], y[a:]
    ok = np.isfinite(ty)
    if not ok.all():
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


def _convergence(y: np.ndarray, goal: str, trend: dict[str, Any] | None) -> str:
    """improving / plateaued / worsening / diverged / insufficient_data (docs/BUNDLE.md)."""
    finite = np.isfinite(y)
    if not math.isfinite(float(y[-1])):
        return "diverged"
    if int(np.count_nonzero(finite)) < TAIL_MIN_POINTS or trend is None:
        return "insufficient_data"
    head = y[: max(math.ceil(HEAD_FRACTION * len(y)), 1)]
    head = head[np.isfinite(head)]
    a = _tail(len(y))
    tail = y[a:][finite[a:]]
    if head.size and tail.size:
        h, t = float(np.median(head)), float(np.median(tail))
        worse = t > h if goal == "min" else t < h
        if worse and abs(t - h) > FLAT_RELATIVE * max(abs(h), abs(t)):
            return "diverged"  # the end of training is worse than its start
    direction = trend["direction"]
    if direction == "flat":
        return "plateaued"
    return "improving" if (direction == "down") == (goal == "min") else "worsening"


def _metric_analysis(
    s: Series, objective: Mapping[str, Any] | None, summary: Mapping[str, Any]
) -> dict[str, Any]:
    goal, source = _goal(s.metric, objective)
    trend = _trend(s.steps, s.values)
    out: dict[str, Any] = {"goal": goal, "goal_source": source, "trend": trend}
    if goal is None:
        out["convergence"] = None
        return out
    out["convergence"] = _convergence(s.values, goal, trend)
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


# Values near the float64 limit overflow sums and fits; those figures come out
# non-finite and are written as null, so numpy need not warn about them.
@np.errstate(all="ignore")
def _analysis(
    run: Run,
    selected: Sequence[str],
    objective: Mapping[str, Any] | None,
    summaries: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    per = {m: _metric_analysis(run.series(m), objective, summaries[m]) for m in selected}
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


# --------------------------------------------------------------------------- summary


def _distinct_steps(run: Run) -> tuple[int, int | None, int | None]:
    """(number of distinct steps over every metric, first step, last step)."""
    series = sorted((run.series(m) for m in run.metrics), key=len, reverse=True)
    if not series:
        return 0, None, None
    base = series[0].steps
    extra: list[np.ndarray] = []
    for s in series[1:]:
        st = s.steps
        if len(st) == len(base) and np.array_equal(st, base):
            continue
        pos = np.searchsorted(base, st)
        inside = pos < len(base)
        hit = np.zeros(len(st), dtype=bool)
        hit[inside] = base[pos[inside]] == st[inside]
        if not hit.all():
            extra.append(st[~hit])
    count, lo, hi = len(base), int(base[0]), int(base[-1])
    if extra:
        more = np.unique(np.concatenate(extra))
        count += len(more)
        lo, hi = min(lo, int(more[0])), max(hi, int(more[-1]))
    return count, lo, hi


def _wall_time(run: Run) -> tuple[float | None, float | None]:
    """(seconds the sessions ran, summed; time of the last record)."""
    total, last = 0.0, None
    for s in run.sessions:
        start = s.header.get("start_time")
        end_rec = (s.end or {}).get("time")
        end = end_rec if isinstance(end_rec, (int, float)) else None
        if s.last_time is not None:
            end = max(end, s.last_time) if end is not None else s.last_time
        if isinstance(start, (int, float)) and end is not None:
            total += max(float(end) - float(start), 0.0)
        if end is not None:
            last = float(end) if last is None else max(last, float(end))
    if not run.sessions:
        return None, None
    return _num(total), last


# --------------------------------------------------------------------------- build


def _best(run: Run) -> tuple[Any, str | None]:
    b = run.best
    if b is not None:
        return b, "marked"
    b = run.recompute_best()
    return (b, "recomputed") if b is not None else (None, None)


def _sampling_params(method: str, points: int, selected: Sequence[str] | None) -> dict[str, Any]:
    from . import sampling

    params: dict[str, Any] = {"method": method, "points": points}
    rule = getattr(sampling, "PIECEWISE_RULE", None)
    if rule is not None and method in ("auto", "piecewise"):
        params["rule"] = _jsonable(_rule_plain(rule))
    params["metrics"] = list(selected) if selected is not None else None
    return params


def _rule_plain(rule: Any) -> Any:
    if hasattr(rule, "__dataclass_fields__"):
        return {k: _rule_plain(getattr(rule, k)) for k in rule.__dataclass_fields__}
    if isinstance(rule, (list, tuple)):
        return [_rule_plain(r) for r in rule]
    if isinstance(rule, np.ndarray):
        return _rule_plain(rule.tolist())
    if isinstance(rule, float) and math.isinf(rule):
        return None  # a breakpoint at infinity: no upper bound
    return rule


def _check_options(method: str, points: int) -> None:
    if method not in METHODS:
        raise SamplingError(
            f"unknown sampling method {method!r}; choose one of {', '.join(METHODS)}"
        )
    if type(points) is not int or points < 2:
        raise SamplingError(f"points must be an integer >= 2, not {points!r}")


def build_bundle(
    run: Run,
    *,
    method: str = "auto",
    points: int = DEFAULT_POINTS,
    metrics: Sequence[str] | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The chart bundle of ``run`` (a dict ready for `write_bundle`).

    :param method: the sampling method (see `curvelog.sampling`).
    :param points: the point budget per series.
    :param metrics: names or glob patterns (``"val/*"``) of the metrics to
        chart; default all. A pattern that matches nothing is an error.
    :param sha256: the log's digest if the caller already has it; computed
        otherwise (from the first ``run.size`` bytes of ``run.path``).
    :param progress: called as ``progress("series", done, total)``.
    """
    _check_options(method, points)
    hasher = _Sha256Job(run.path) if sha256 is None else None
    return _build(
        run,
        method,
        points,
        metrics,
        lambda: hasher.result(run.size) if hasher else sha256,
        progress,
    )


def _build(
    run: Run,
    method: str,
    points: int,
    metrics: Sequence[str] | None,
    digest: Callable[[], str | None],
    progress: Progress | None,
) -> dict[str, Any]:
    selected = _select(run, metrics)
    objective = run.objective
    best, best_source = _best(run)
    resumes = [{"step": seg.first_step, "session": seg.session} for seg in run.segments[1:]]
    resume_steps = np.asarray([r["step"] for r in resumes], dtype=np.int64)

    plan = _plan_charts(run, selected)
    per_metric: dict[str, dict[str, Any]] = {}
    built: dict[str, dict[str, Any]] = {}
    total = len(selected)
    label_of = {s["metric"]: s["label"] for c in plan for s in c["series"]}
    # chart by chart: every series of a chart is sampled for the y scale its
    # panel will be drawn with (curvelog.sampling.panel_yscale, the plot's rule)
    from .sampling._views import panel_yscale

    done = 0
    charts = []
    for c in plan:
        members = [run.series(sp["metric"]) for sp in c["series"]]
        yscale = panel_yscale([s.values for s in members], c["scale"])
        for s in members:
            m = s.metric
            finite_mask = np.isfinite(s.values)
            all_finite = bool(finite_mask.all())
            bad = np.zeros(0, dtype=np.int64) if all_finite else np.flatnonzero(~finite_mask)
            del finite_mask
            per_metric[m] = _metric_summary(run.metric_stats(m))
            best_step = int(best.step) if best is not None else None
            built[m] = _sampled_series(
                s, label_of[m], bad, resume_steps, best_step, method, points, yscale
            )
            done += 1
            if progress is not None:
                progress("series", done, total)
        del members
        series = [built[sp["metric"]] for sp in c["series"]]
        charts.append(
            {k: c[k] for k in ("id", "title", "xlabel", "ylabel", "scale")}
            | {"sampled_for": {"yscale": yscale}, "series": series}
        )
    per_metric = {m: per_metric[m] for m in selected if m in per_metric}

    best_out: dict[str, Any] | None = None
    if best is not None:
        values: dict[str, float | None] = {}
        names = list(selected)
        if best.metric and best.metric in run.metrics and best.metric not in names:
            names.insert(0, best.metric)
        for m in names:
            v = run.value_at(m, int(best.step))
            if v is not None:  # the metric has a row at the best step (NaN becomes null)
                values[m] = _num(v)
        value = best.value
        best_out = {
            "step": int(best.step),
            "metric": best.metric,
            "value": _num(float(value)) if value is not None else None,
            "mode": best.mode if best.mode in ("min", "max") else "min",
            "source": best_source,
            "values": values,
        }

    steps, first_step, last_step = _distinct_steps(run)
    wall, end_time = _wall_time(run)
    h = run.header
    summary = {
        "steps": steps,
        "first_step": first_step,
        "last_step": last_step,
        "rows": run.rows,
        "wall_time": _r6(wall) if wall is not None else None,
        "end_time": end_time,
        "sessions": len(run.sessions),
        "resumes": run.resumes,
        "damage": [
            {"start": d.start, "end": d.end, "kind": d.kind, "message": d.describe()}
            for d in run.damage
        ],
        "metrics": per_metric,
        "analysis": _analysis(run, selected, objective, per_metric),
    }
    start = h.get("start_time")
    run_meta = {
        "name": Path(run.path).stem,
        "run_id": _text(h.get("run_id")),
        "start_time": _num(float(start)) if isinstance(start, (int, float)) else None,
        "host": _text(h.get("host")),
        "platform": _text(h.get("platform")),
        "python": _text(h.get("python")),
        "packages": _jsonable(h.get("packages") or {}),
        "git": _jsonable(h.get("git")),
        "argv": _jsonable(h.get("argv") or []),
        "config": _jsonable(h.get("config") or {}),
        "sessions": len(run.sessions),
        "objective": _jsonable(objective),
    }
    from . import __version__

    return {
        "schema": SCHEMA,
        "run": run_meta,
        "charts": charts,
        "best": best_out,
        "resumes": resumes,
        "summary": summary,
        "provenance": {
            "source": {
                "name": os.path.basename(run.path),
                "size": run.size,
                "sha256": digest() or None,
            },
            "sampling": _sampling_params(method, points, None if metrics is None else selected),
            "curvelog": __version__,
        },
    }


# --------------------------------------------------------------------------- write, load


def default_bundle_path(log_path: str | os.PathLike[str]) -> str:
    """``runs/exp1/run.log`` -> ``runs/exp1/run.curves.json``."""
    p = Path(os.fspath(log_path))
    return str(p.with_name(p.stem + BUNDLE_SUFFIX))


def write_bundle(
    bundle: Mapping[str, Any], path: str | os.PathLike[str], *, force: bool = False
) -> str:
    """Validate ``bundle`` and write it to ``path`` atomically; returns the path.

    :raises OutputExistsError: ``path`` exists and ``force`` is false.
    :raises BundleError: the bundle does not follow the schema.
    """
    validate_bundle(bundle)
    data = dumps(bundle)
    target = os.fspath(path)
    atomic_write_bytes(target, data, overwrite=force)
    return target


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def load_bundle(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Read (a path) or take (a dict) a bundle and validate it.

    Accepts any ``curvelog.bundle/1.x``.

    :raises PathError: the file is missing or unreadable.
    :raises BundleVersionError: another major schema version.
    :raises BundleError: not JSON, or not a bundle; the message names the JSON pointer.
    """
    if isinstance(source, Mapping):
        bundle = dict(source)
        validate_bundle(bundle, source="<bundle>")
        return bundle
    path = os.fspath(source)
    if os.path.isdir(path):
        raise PathError(path, "is a directory, not a chart bundle")
    raw = read_bytes(path)
    if not raw.strip():
        raise BundleError(path, "", "empty file, not a chart bundle")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(path, "", "not UTF-8 text, not a chart bundle") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise BundleError(
            path, "", f"not JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except ValueError as e:
        raise BundleError(path, "", str(e)) from None
    except RecursionError:
        raise BundleError(path, "", "nested too deeply, not a chart bundle") from None
    validate_bundle(data, source=path)
    return data  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- validation


def _esc(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class _Checker:
    """The essential structure of a bundle, checked without jsonschema.

    Mirrors ``bundle.schema.json`` (the tests hold the two to agreement) and
    adds what a JSON Schema cannot say: ``x`` and ``y`` of equal length,
    ``x`` strictly increasing, every event's step charted with a null ``y``.
    """

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, ptr: str, reason: str) -> BundleError:
        return BundleError(self.source, ptr or "/", reason)

    @staticmethod
    def _what(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "a boolean"
        if isinstance(v, (int, float)):
            return f"the number {v!r}"
        if isinstance(v, str):
            return f"the string {v[:40]!r}"
        if isinstance(v, list):
            return "an array"
        if isinstance(v, dict):
            return "an object"
        return type(v).__name__

    def obj(self, v: Any, ptr: str, required: Sequence[str] = ()) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise self.fail(ptr, f"expected an object, found {self._what(v)}")
        for k in required:
            if k not in v:
                raise self.fail(f"{ptr}/{_esc(k)}", "required field is missing")
        return v

    def arr(self, v: Any, ptr: str) -> list[Any]:
        if not isinstance(v, list):
            raise self.fail(ptr, f"expected an array, found {self._what(v)}")
        return v

    def int_(self, v: Any, ptr: str, *, null: bool = False, minimum: int | None = 0) -> None:
        if v is None and null:
            return
        if type(v) is not int:
            want = "an integer or null" if null else "an integer"
            raise self.fail(ptr, f"expected {want}, found {self._what(v)}")
        if minimum is not None and v < minimum:
            raise self.fail(ptr, f"expected an integer >= {minimum}, found {v}")

    def num(self, v: Any, ptr: str, *, null: bool = True) -> None:
        if v is None and null:
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            want = "a number or null" if null else "a number"
            raise self.fail(ptr, f"expected {want}, found {self._what(v)}")

    def str_(self, v: Any, ptr: str, *, null: bool = False, enum: Sequence[str] = ()) -> None:
        if v is None and null:
            return
        if not isinstance(v, str):
            want = "a string or null" if null else "a string"
            raise self.fail(ptr, f"expected {want}, found {self._what(v)}")
        if enum and v not in enum:
            raise self.fail(ptr, f"expected one of {', '.join(map(repr, enum))}, found {v!r}")

    def point(self, v: Any, ptr: str) -> None:
        if v is None:
            return
        self.obj(v, ptr, ("step", "value"))
        self.int_(v["step"], f"{ptr}/step")
        self.num(v["value"], f"{ptr}/value")

    # -------------------------------------------------------------- sections

    def schema(self, b: dict[str, Any]) -> None:
        tag = b.get("schema")
        if not isinstance(tag, str):
            raise self.fail(
                "/schema", f"expected a string like {SCHEMA!r}, found {self._what(tag)}"
            )
        m = _SCHEMA_RE.match(tag)
        if not m:
            raise self.fail("/schema", f"expected a string like {SCHEMA!r}, found {tag!r}")
        if int(m.group(1)) != SCHEMA_MAJOR:
            raise BundleVersionError(
                self.source,
                "/schema",
                f"schema {tag!r} is version {int(m.group(1))}; this curvelog reads "
                f"curvelog.bundle/{SCHEMA_MAJOR}.x only",
            )

    def run(self, v: Any) -> None:
        r = self.obj(v, "/run", ("name", "sessions"))
        self.str_(r["name"], "/run/name")
        self.int_(r["sessions"], "/run/sessions")
        for k in ("run_id", "host", "platform", "python"):
            if k in r:
                self.str_(r[k], f"/run/{k}", null=True)
        if "start_time" in r:
            self.num(r["start_time"], "/run/start_time")
        for k in ("packages", "config"):
            if k in r and r[k] is not None:
                self.obj(r[k], f"/run/{k}")
        if "argv" in r:
            self.arr(r["argv"], "/run/argv")

    def series(self, s: Any, ptr: str) -> None:
        self.obj(s, ptr, ("metric", "label", "x", "y", "raw_points", "events"))
        self.str_(s["metric"], f"{ptr}/metric")
        self.str_(s["label"], f"{ptr}/label")
        x = self.arr(s["x"], f"{ptr}/x")
        y = self.arr(s["y"], f"{ptr}/y")
        if len(x) != len(y):
            raise self.fail(f"{ptr}/y", f"has {len(y)} values for {len(x)} steps in x")
        prev = -1
        for i, step in enumerate(x):
            if type(step) is not int or step < 0:
                self.int_(step, f"{ptr}/x/{i}")
            if step <= prev:
                raise self.fail(
                    f"{ptr}/x/{i}", f"steps must increase strictly ({step} after {prev})"
                )
            prev = step
        for i, val in enumerate(y):
            if val is not None and (type(val) is not float or not math.isfinite(val)):
                self.num(val, f"{ptr}/y/{i}")
        self.int_(s["raw_points"], f"{ptr}/raw_points")
        if s["raw_points"] < len(x):
            raise self.fail(
                f"{ptr}/raw_points", f"{s['raw_points']} is fewer than the {len(x)} points charted"
            )
        where = {step: i for i, step in enumerate(x)} if s["events"] else {}
        for i, ev in enumerate(self.arr(s["events"], f"{ptr}/events")):
            p = f"{ptr}/events/{i}"
            self.obj(ev, p, ("step", "kind"))
            self.int_(ev["step"], f"{p}/step")
            self.str_(ev["kind"], f"{p}/kind", enum=_KINDS)
            j = where.get(ev["step"])
            if j is None or y[j] is not None:
                raise self.fail(f"{p}/step", f"step {ev['step']} is not charted with a null y")
            if "last_step" in ev:
                self.int_(ev["last_step"], f"{p}/last_step", minimum=ev["step"])
            if "count" in ev:
                self.int_(ev["count"], f"{p}/count", minimum=1)

    def charts(self, v: Any) -> None:
        seen: set[str] = set()
        for i, c in enumerate(self.arr(v, "/charts")):
            p = f"/charts/{i}"
            self.obj(c, p, ("id", "title", "xlabel", "ylabel", "scale", "series"))
            self.str_(c["id"], f"{p}/id")
            if not c["id"] or c["id"] in seen:
                raise self.fail(f"{p}/id", f"chart ids must be unique and non-empty ({c['id']!r})")
            seen.add(c["id"])
            for k in ("title", "xlabel", "ylabel"):
                self.str_(c[k], f"{p}/{k}")
            self.str_(c["scale"], f"{p}/scale", enum=("linear", "log"))
            if "sampled_for" in c:  # optional (added in 0.x; older bundles lack it)
                sf = self.obj(c["sampled_for"], f"{p}/sampled_for", ("yscale",))
                self.str_(sf["yscale"], f"{p}/sampled_for/yscale", enum=("linear", "log"))
            for j, s in enumerate(self.arr(c["series"], f"{p}/series")):
                self.series(s, f"{p}/series/{j}")

    def best(self, v: Any) -> None:
        if v is None:
            return
        b = self.obj(v, "/best", ("step", "metric", "value", "mode", "source", "values"))
        self.int_(b["step"], "/best/step")
        self.str_(b["metric"], "/best/metric", null=True)
        self.num(b["value"], "/best/value")
        self.str_(b["mode"], "/best/mode", enum=("min", "max"))
        self.str_(b["source"], "/best/source", enum=("marked", "recomputed"))
        for k, val in self.obj(b["values"], "/best/values").items():
            self.num(val, f"/best/values/{_esc(k)}")

    def resumes(self, v: Any) -> None:
        for i, r in enumerate(self.arr(v, "/resumes")):
            self.obj(r, f"/resumes/{i}", ("step", "session"))
            self.int_(r["step"], f"/resumes/{i}/step")
            self.int_(r["session"], f"/resumes/{i}/session")

    def summary(self, v: Any) -> None:
        keys = ("steps", "first_step", "last_step", "wall_time", "sessions", "resumes",
                "damage", "metrics", "analysis")  # fmt: skip
        s = self.obj(v, "/summary", keys)
        self.int_(s["steps"], "/summary/steps")
        self.int_(s["first_step"], "/summary/first_step", null=True)
        self.int_(s["last_step"], "/summary/last_step", null=True)
        self.num(s["wall_time"], "/summary/wall_time")
        self.int_(s["sessions"], "/summary/sessions")
        self.int_(s["resumes"], "/summary/resumes")
        for i, d in enumerate(self.arr(s["damage"], "/summary/damage")):
            self.obj(d, f"/summary/damage/{i}", ("start", "end", "kind"))
        for name, m in self.obj(s["metrics"], "/summary/metrics").items():
            p = f"/summary/metrics/{_esc(name)}"
            self.obj(m, p, ("points", "first", "last", "min", "max", "nan", "inf", "neg_inf"))
            for k in ("points", "nan", "inf", "neg_inf"):
                self.int_(m[k], f"{p}/{k}")
            for k in ("first", "last", "min", "max"):
                self.point(m[k], f"{p}/{k}")
        self.obj(s["analysis"], "/summary/analysis")

    def provenance(self, v: Any) -> None:
        p = self.obj(v, "/provenance", ("source", "sampling", "curvelog"))
        src = self.obj(p["source"], "/provenance/source", ("name", "size", "sha256"))
        self.str_(src["name"], "/provenance/source/name")
        self.int_(src["size"], "/provenance/source/size")
        self.str_(src["sha256"], "/provenance/source/sha256", null=True)
        if src["sha256"] is not None and not _HEX64.match(src["sha256"]):
            raise self.fail("/provenance/source/sha256", "expected 64 lowercase hex digits")
        smp = self.obj(p["sampling"], "/provenance/sampling", ("method", "points"))
        self.str_(smp["method"], "/provenance/sampling/method")
        self.int_(smp["points"], "/provenance/sampling/points")
        self.str_(p["curvelog"], "/provenance/curvelog")

    def bundle(self, b: Any) -> None:
        if not isinstance(b, dict):
            raise self.fail("", f"expected a JSON object, found {self._what(b)}")
        self.schema(b)
        self.obj(b, "", ("run", "charts", "best", "resumes", "summary", "provenance"))
        self.run(b["run"])
        self.charts(b["charts"])
        self.best(b["best"])
        self.resumes(b["resumes"])
        self.summary(b["summary"])
        self.provenance(b["provenance"])


def validate_bundle(bundle: Any, *, source: str = "<bundle>") -> None:
    """Raise `BundleError` (naming the JSON pointer) unless ``bundle`` is a valid 1.x bundle.

    :raises BundleVersionError: ``schema`` names another major version.
    """
    _Checker(source).bundle(bundle)


def schema_document() -> dict[str, Any]:
    """The JSON Schema of the bundle format shipped with this package."""
    text = Path(__file__).with_name("bundle.schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- compact


def compact(
    log_path: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    method: str = "auto",
    points: int = DEFAULT_POINTS,
    metrics: Sequence[str] | None = None,
    force: bool = False,
    write: bool = True,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Read a log, build its bundle and write it (what ``curvelog compact`` does).

    :param out: the bundle's path; default ``<log stem>.curves.json`` beside the log.
    :param force: replace an existing bundle (otherwise `OutputExistsError`,
        raised before the log is read). The input log itself, or any other
        curvelog log, is never replaced, with or without ``force`` (`PathError`).
    :param write: False builds the bundle without writing it (the path returned is None).
    :param progress: called as ``progress(stage, done, total)`` for the
        stages ``"read"`` and ``"series"``.
    :returns: the bundle and the path written.
    """
    from .log import read

    _check_options(method, points)
    src = os.fspath(log_path)
    target = (default_bundle_path(src) if out is None else os.fspath(out)) if write else None
    if target is not None:  # fail before the (long) read, not after it
        _refuse_to_replace_a_log(target, src)
        if not force and os.path.exists(target):
            raise OutputExistsError(target)
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            raise PathError(folder, "folder does not exist")
    hasher = _Sha256Job(src) if os.path.isfile(src) else None  # hashes while we read and sample
    if progress is not None:
        progress("read", 0, 1)
    run = read(src)
    if progress is not None:
        progress("read", 1, 1)
    size = run.size
    bundle = _build(
        run, method, points, metrics, lambda: hasher.result(size) if hasher else None, progress
    )
    if target is not None:
        _refuse_to_replace_a_log(target, src)  # again: a log may have appeared during the read
        write_bundle(bundle, target, force=force)
    return bundle, target


def _refuse_to_replace_a_log(target: str, log_path: str) -> None:
    """Raise `PathError` when writing ``target`` would destroy the input log or any log.

    Neither is a bundle that ``force`` may replace: both are refused with or
    without it.
    """
    from .log import is_log

    if same_file(target, log_path):
        raise PathError(target, "is the input log; choose another output")
    if is_log(target):
        raise PathError(target, "is a curvelog log, not a bundle; refusing to replace it")
