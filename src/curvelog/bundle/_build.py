"""`build_bundle`: a `Run` (every raw point) into a `Bundle` (the few that draw it, and figures)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from .. import _json
from .._fs import Sha256Job, path_text
from ..errors import (
    SamplingError,
)
from ..sampling import METHODS
from ..sampling._views import panel_yscale
from ._analysis import _analysis, _r6, metric_analysis
from ._charts import _plan_charts, _select
from ._model import SCHEMA, Best, Bundle, Chart, Resume, RunMeta, SeriesData, Summary
from ._series import _metric_summary, _nonfinite, _sampled_series
from ._smooth import check_weights, smooth_at
from ._workers import metric_pool

if TYPE_CHECKING:
    from ..log import Best as RunBest
    from ..log import Run

#: points per series when no budget is given
DEFAULT_POINTS: Final[int] = 2000
#: the smallest budget a chart can have: its first and last point
MIN_POINTS: Final[int] = 2


Progress = Callable[[str, int, int], None]


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
    return _json.number(total), last


# --------------------------------------------------------------------------- build


def _best(run: Run) -> tuple[Any, str | None]:
    b = run.best
    if b is not None:
        return b, "marked"
    b = run.recompute_best()
    return (b, "recomputed") if b is not None else (None, None)


def _sampling_params(method: str, points: int, selected: Sequence[str] | None) -> dict[str, Any]:
    from .. import sampling

    params: dict[str, Any] = {"method": method, "points": points}
    rule = getattr(sampling, "PIECEWISE_RULE", None)
    if rule is not None and method in ("auto", "piecewise"):
        params["rule"] = _json.jsonable(_rule_plain(rule))
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


def check_options(method: str, points: int) -> None:
    if method not in METHODS:
        raise SamplingError(
            f"unknown sampling method {method!r}; choose one of {', '.join(METHODS)}"
        )
    if type(points) is not int or points < MIN_POINTS:
        raise SamplingError(f"points must be an integer >= {MIN_POINTS}, not {points!r}")


def build_bundle(
    run: Run,
    *,
    method: str = "auto",
    points: int = DEFAULT_POINTS,
    metrics: Sequence[str] | None = None,
    sha256: str | None = None,
    progress: Progress | None = None,
    smooth: Sequence[float] = (),
) -> Bundle:
    """The chart bundle of ``run`` (a dict ready for `write_bundle`).

    :param method: the sampling method (see `curvelog.sampling`).
    :param points: the point budget per series.
    :param metrics: names or glob patterns (``"val/*"``) of the metrics to
        chart; default all. A pattern that matches nothing is an error.
    :param sha256: the log's digest if the caller already has it; computed
        otherwise (from the first ``run.size`` bytes of ``run.path``).
    :param progress: called as ``progress("series", done, total)``.
    :param smooth: EMA weights in [0, 1): each series gets ``smooth[weight]``,
        the EMA over every raw value at the kept steps (docs/BUNDLE.md).
    """
    check_options(method, points)
    smooth = check_weights(smooth)
    hasher = Sha256Job(run.path) if sha256 is None else None
    return build(
        run,
        method,
        points,
        metrics,
        lambda: hasher.result(run.size) if hasher else sha256,
        progress,
        smooth,
    )


def build(
    run: Run,
    method: str,
    points: int,
    metrics: Sequence[str] | None,
    digest: Callable[[], str | None],
    progress: Progress | None,
    smooth: Sequence[float] = (),
    processes: bool = False,
) -> Bundle:
    """`build_bundle` once the options are checked; ``digest()`` gives the log's sha256
    (called last, so a hash computed in a thread meanwhile costs no wall time);
    ``processes``: the metrics are worked on in forked processes (`_workers`)."""
    from .. import __version__

    selected = _select(run, metrics)
    objective = run.objective
    best, best_source = _best(run)
    resumes: list[Resume] = [
        {"step": seg.first_step, "session": seg.session} for seg in run.segments[1:]
    ]
    resume_steps = np.asarray([r["step"] for r in resumes], dtype=np.int64)
    best_step = int(best.step) if best is not None else None

    plan = _plan_charts(run, selected)
    label_of = {s["metric"]: s["label"] for c in plan for s in c["series"]}
    per_metric: dict[str, dict[str, Any]] = {}
    built: dict[str, SeriesData] = {}
    charted = [sp["metric"] for c in plan for sp in c["series"]]
    # one pass per metric for its figures, two metrics at a time (numpy's
    # reductions release the GIL); the y scale is read off their extremes
    with metric_pool(len(charted)) as pool:
        stats = dict(zip(charted, pool(run.metric_stats, charted), strict=True))
    # every series of a chart is sampled for the y scale its panel will be drawn
    # with (sampling.panel_yscale, the one rule plot follows too)
    yscales = {c["id"]: panel_yscale([_extremes(stats[sp["metric"]]) for sp in c["series"]],
                                     c["scale"]) for c in plan}  # fmt: skip
    tasks = [(sp["metric"], yscales[c["id"]]) for c in plan for sp in c["series"]]
    analysed = set(selected)

    def one(task: tuple[str, str]) -> tuple[dict[str, Any], SeriesData, dict[str, Any] | None]:
        """A metric's summary, chart line and (if selected) analysis: all its per-series work."""
        m, yscale = task
        s = run.series(m)
        summary = _metric_summary(stats[m])
        # the stats count the non-finite values: no pass for a series without one
        odd = summary["nan"] + summary["inf"] + summary["neg_inf"]
        bad = _nonfinite(s.values) if odd else np.zeros(0, dtype=np.int64)
        line = _sampled_series(s, label_of[m], bad, resume_steps, best_step, method, points,
                               yscale)  # fmt: skip
        if smooth:  # the EMA over the raw values, at the kept steps
            line["smooth"] = smooth_at(s, line["x"], smooth)
        analysis = metric_analysis(s, objective, summary) if m in analysed else None
        return summary, line, analysis

    # Metrics are independent: two at a time keep two cores busy (#12). Results are
    # taken in order, so the bundle is the same bytes as one at a time.
    analyses: dict[str, dict[str, Any]] = {}
    with metric_pool(len(tasks), processes) as pool:
        results = pool(one, tasks)
        for done, ((m, _), (summary, line, analysis)) in enumerate(
            zip(tasks, results, strict=True)
        ):
            per_metric[m], built[m] = summary, line
            if analysis is not None:
                analyses[m] = analysis
            if progress is not None:
                progress("series", done + 1, len(tasks))
    per_metric = {m: per_metric[m] for m in selected if m in per_metric}
    charts: list[Chart] = [
        {"id": c["id"], "title": c["title"], "xlabel": c["xlabel"], "ylabel": c["ylabel"],
         "scale": c["scale"], "sampled_for": {"yscale": yscales[c["id"]]},
         "series": [built[s["metric"]] for s in c["series"]]}
        for c in plan
    ]  # fmt: skip
    return {
        "schema": SCHEMA,
        "run": _run_meta(run, objective),
        "charts": charts,
        "best": None if best is None else _best_out(run, best, str(best_source), selected),
        "resumes": resumes,
        "summary": _summary(run, selected, objective, per_metric, analyses),
        "provenance": {
            "source": {
                "name": path_text(os.path.basename(run.path)),
                "size": run.size,
                "sha256": digest() or None,
            },
            "sampling": _sampling_params(method, points, None if metrics is None else selected),
            "curvelog": __version__,
        },
    }


def _extremes(stats: Mapping[str, Any]) -> np.ndarray:
    """A metric's finite minimum and maximum (`Run.metric_stats`), as the values
    `panel_yscale` needs: none when it has no finite value."""
    ends = [stats[k]["value"] for k in ("min", "max") if stats[k] is not None]
    return np.asarray(ends, dtype=np.float64)


def _best_out(run: Run, best: RunBest, source: str, selected: Sequence[str]) -> Best:
    """The bundle's best: the step, and the value of every charted metric there."""
    values: dict[str, float | None] = {}
    names = list(selected)
    if best.metric and best.metric in run.metrics and best.metric not in names:
        names.insert(0, best.metric)
    for m in names:
        v = run.value_at(m, int(best.step))
        if v is not None:  # the metric has a row at the best step (NaN becomes null)
            values[m] = _json.number(v)
    return {
        "step": int(best.step),
        "metric": best.metric,
        "value": _json.number(float(best.value)) if best.value is not None else None,
        "mode": "max" if best.mode == "max" else "min",
        "source": "marked" if source == "marked" else "recomputed",
        "values": values,
    }


def _summary(
    run: Run,
    selected: Sequence[str],
    objective: Mapping[str, Any] | None,
    per_metric: dict[str, dict[str, Any]],
    analyses: Mapping[str, dict[str, Any]],
) -> Summary:
    steps, first_step, last_step = _distinct_steps(run)
    wall, end_time = _wall_time(run)
    return {
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
        "analysis": _analysis(run, selected, objective, analyses),
    }


def _run_meta(run: Run, objective: Mapping[str, Any] | None) -> RunMeta:
    h = run.header
    start = h.get("start_time")
    return {
        "name": run.name,  # EventLog(name=...), else the file's stem (run.log: its folder)
        "run_id": _json.text(h.get("run_id")),
        "start_time": _json.number(float(start)) if isinstance(start, (int, float)) else None,
        "host": _json.text(h.get("host")),
        "platform": _json.text(h.get("platform")),
        "python": _json.text(h.get("python")),
        "packages": _json.jsonable(h.get("packages") or {}),
        "git": _json.jsonable(h.get("git")),
        "argv": _json.jsonable(h.get("argv") or []),
        "config": _json.jsonable(run.config),  # header + set_config/update_config
        "sessions": len(run.sessions),
        "objective": _json.jsonable(objective),
    }
