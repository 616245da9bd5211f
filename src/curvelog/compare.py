"""Two or more runs compared as numbers on their objective (issue #15): `compare --table`.

Works on chart bundles (docs/BUNDLE.md), so a compacted run compares the same
way as a log (compacted in memory first). Per run: the objective's best value
and step, its final value, minimum and maximum, the convergence status of
``summary.analysis``, and the first step at which the run came within 1 % of
its own best (how soon it got there). Then which run is better on the
objective, by how much, and how much sooner or later it got within 1 % of its
best. Runs are only compared on a metric they all optimise the same way:
their common objective, or a metric named by the caller; otherwise the
answer says why not, rather than guessing which metric matters.

The 1 % step is read from the objective's charted points: exact when the
bundle kept every point of the series (``exact: true``), otherwise the first
*kept* point within 1 % (the sampling keeps the best, minimum, maximum and
first/last points, so the true step lies at or before the one reported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["WITHIN", "compare_runs", "format_table"]

#: "close to its best": within this fraction of the best value's magnitude
WITHIN: Final[float] = 0.01


def _point(p: Any) -> dict[str, Any] | None:
    if not isinstance(p, dict) or p.get("step") is None:
        return None
    v = p.get("value")
    return {"step": int(p["step"]), "value": v if isinstance(v, (int, float)) else None}


def _objectives(bundles: Sequence[Mapping[str, Any]]) -> list[dict[str, str] | None]:
    out: list[dict[str, str] | None] = []
    for b in bundles:
        obj = (b.get("run") or {}).get("objective")
        if isinstance(obj, dict) and obj.get("metric") and obj.get("mode") in ("min", "max"):
            out.append({"metric": str(obj["metric"]), "mode": str(obj["mode"])})
        else:
            out.append(None)
    return out


def _goal(bundle: Mapping[str, Any], metric: str) -> str | None:
    analysis = (bundle.get("summary") or {}).get("analysis") or {}
    goal = ((analysis.get("metrics") or {}).get(metric) or {}).get("goal")
    return goal if goal in ("min", "max") else None


def _choose(
    bundles: Sequence[Mapping[str, Any]], names: list[str], metric: str | None, mode: str | None
) -> tuple[dict[str, str] | None, str | None]:
    """The objective to compare on, or None and the reason there is none."""
    objectives = _objectives(bundles)
    if metric is None:
        if (
            all(o is not None for o in objectives)
            and len({(o or {}).get("metric") for o in objectives}) == 1
        ):
            metric = objectives[0]["metric"]  # type: ignore[index]
            modes = {o["mode"] for o in objectives if o is not None}
            if len(modes) > 1:
                return None, (
                    f"no common objective: the runs optimise {metric} in opposite directions "
                    "(min and max); pass --metric and --mode to choose"
                )
            mode = mode or modes.pop()
        else:
            said = ", ".join(
                f"{n} optimises {o['metric']} ({o['mode']})" if o else f"{n} has no objective"
                for n, o in zip(names, objectives, strict=True)
            )
            return None, f"no common objective: {said}; pass --metric NAME to compare on one"
    for n, b in zip(names, bundles, strict=True):
        if metric not in ((b.get("summary") or {}).get("metrics") or {}):
            return None, f"{n} has no metric {metric!r}: nothing to compare on"
    if mode is None:
        goals = {g for g in (_goal(b, metric) for b in bundles) if g is not None}
        goals |= {o["mode"] for o in objectives if o is not None and o["metric"] == metric}
        if len(goals) != 1:
            return None, f"whether {metric} is better low or high is not known; pass --mode"
        mode = goals.pop()
    return {"metric": metric, "mode": mode}, None


def _first_within(bundle: Mapping[str, Any], metric: str, mode: str, best: float) -> dict[str, Any]:
    """First charted step within `WITHIN` of ``best``, and whether every point was charted."""
    for chart in bundle.get("charts") or ():
        for s in chart.get("series") or ():
            if s.get("metric") != metric:
                continue
            tol = WITHIN * abs(best)
            for x, y in zip(s.get("x") or (), s.get("y") or (), strict=False):
                if y is None:
                    continue
                if (y <= best + tol) if mode == "min" else (y >= best - tol):
                    return {"step": int(x), "exact": s.get("raw_points") == len(s.get("x") or ())}
    return {"step": None, "exact": False}


def _run_row(bundle: Mapping[str, Any], name: str, metric: str, mode: str) -> dict[str, Any]:
    summary = bundle.get("summary") or {}
    stats = (summary.get("metrics") or {}).get(metric) or {}
    analysis = summary.get("analysis") or {}
    per_metric = (analysis.get("metrics") or {}).get(metric) or {}
    best = None
    b = bundle.get("best")
    if (  # the run's own best, where it was tracked in the direction compared on
        isinstance(b, dict)
        and b.get("metric") == metric
        and b.get("mode") == mode
        and isinstance(b.get("value"), (int, float))
    ):
        best = {"step": int(b["step"]), "value": b["value"]}
    if best is None:
        best = _point(per_metric.get("best")) if per_metric.get("goal") == mode else None
    if best is None:  # the extreme of the finite values, in the direction compared on
        best = _point(stats.get("min" if mode == "min" else "max"))
    if best is not None and (best["value"] is None or not math.isfinite(best["value"])):
        best = None
    reached = (
        _first_within(bundle, metric, mode, best["value"])
        if best is not None
        else {"step": None, "exact": False}
    )
    return {
        "name": name,
        "best": best,
        "final": _point(stats.get("last")),
        "min": _point(stats.get("min")),
        "max": _point(stats.get("max")),
        "points": stats.get("points"),
        "convergence": per_metric.get("convergence"),
        "within_1pct_of_best": reached,
    }


def compare_runs(
    bundles: Sequence[Mapping[str, Any]],
    names: list[str],
    *,
    metric: str | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """Compare runs on their common objective (or ``metric``); a strict-JSON-ready dict.

    ``comparable`` is false, with ``reason``, when the runs share no
    objective (and no ``metric`` is given), a run lacks the metric, or its
    direction is unknown. Otherwise ``runs`` lists each run (best, final,
    min, max, convergence, first step within 1 % of its best), ranked best
    first in ``ranking``, and ``verdict`` says which is better and by how much.
    """
    if len(bundles) != len(names):
        raise ValueError("one name per bundle")
    if mode not in (None, "min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
    objective, reason = _choose(bundles, names, metric, mode)
    if objective is None:
        return {"comparable": False, "reason": reason, "objective": None,
                "objectives": dict(zip(names, _objectives(bundles), strict=True)),
                "runs": [], "ranking": [], "verdict": None}  # fmt: skip
    m, md = objective["metric"], objective["mode"]
    rows = [_run_row(b, n, m, md) for b, n in zip(bundles, names, strict=True)]
    sign = 1.0 if md == "min" else -1.0
    ranked = sorted(
        range(len(rows)),
        key=lambda i: (rows[i]["best"] is None, sign * (rows[i]["best"] or {"value": 0})["value"]),
    )
    return {
        "comparable": True,
        "reason": None,
        "objective": objective,
        "within": WITHIN,
        "runs": rows,
        "ranking": [rows[i]["name"] for i in ranked],
        "verdict": _verdict([rows[i] for i in ranked], md),
    }


def _verdict(ranked: Sequence[Mapping[str, Any]], mode: str) -> dict[str, Any]:
    first, second = ranked[0], ranked[1]
    if first["best"] is None:
        return {"better": None, "tie": False, "reason": "no run has a finite best value"}
    if second["best"] is None:
        return {"better": first["name"], "than": second["name"], "tie": False,
                "difference": None, "relative_difference": None, "steps_to_within_1pct": None,
                "reason": f"{second['name']} has no finite value"}  # fmt: skip
    a, b = first["best"]["value"], second["best"]["value"]
    diff = abs(a - b)
    s1, s2 = first["within_1pct_of_best"]["step"], second["within_1pct_of_best"]["step"]
    return {
        "better": None if a == b else first["name"],
        "than": second["name"],
        "tie": a == b,
        # None where float64 cannot hold it (1e308 against -1e308)
        "difference": diff if math.isfinite(diff) else None,
        "relative_difference": _relative(diff, a, b),
        # positive: the better run came within 1 % of its best that many steps later
        "steps_to_within_1pct": s1 - s2 if s1 is not None and s2 is not None else None,
    }


def _relative(diff: float, a: float, b: float) -> float | None:
    """``diff`` as a share of ``b``, where that means something: both values of one
    sign (across zero, or against zero, a share is no measure) and a finite result."""
    if b == 0 or (a > 0) != (b > 0) or a == 0:
        return None
    rel = diff / abs(b)
    return rel if math.isfinite(rel) else None


# --------------------------------------------------------------------------- text


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.6g}"


def _at(p: dict[str, Any] | None) -> str:
    return "-" if p is None else f"{_num(p['value'])} @ {p['step']:,}"


def format_table(result: dict[str, Any]) -> str:
    """`compare_runs`'s result as a plain-text table and a one-line verdict."""
    if not result["comparable"]:
        return f"not comparable: {result['reason']}"
    obj = result["objective"]
    head = ["run", "best @ step", "final @ step", "min", "max", "convergence", "within 1% at"]
    lines = []
    for r in result["runs"]:
        w = r["within_1pct_of_best"]
        reached = "-" if w["step"] is None else f"{w['step']:,}" + ("" if w["exact"] else " (~)")
        lo, hi = (r["min"] or {}).get("value"), (r["max"] or {}).get("value")
        lines.append([r["name"], _at(r["best"]), _at(r["final"]), _num(lo), _num(hi),
                      r["convergence"] or "-", reached])  # fmt: skip
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]
    out = [f"objective: {obj['metric']} ({obj['mode']})", ""]
    for row in [head, *lines]:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    out += ["", _verdict_line(result)]
    return "\n".join(out)


def _verdict_line(result: dict[str, Any]) -> str:
    v = result["verdict"]
    metric = result["objective"]["metric"]
    if v["better"] is None and not v.get("tie"):
        return f"verdict: none ({v.get('reason')})"
    if v["tie"]:
        return f"verdict: a tie on {metric} between {result['ranking'][0]} and {v['than']}"
    if v["difference"] is None:
        why = v.get("reason") or "the difference is beyond float64"
        return f"verdict: {v['better']} is better on {metric} ({why})"
    word = "lower" if result["objective"]["mode"] == "min" else "higher"
    rel = v["relative_difference"]
    rel_s = "" if rel is None else f" ({rel:.2%})"
    line = (
        f"verdict: {v['better']} is better on {metric}: "
        f"{_num(v['difference'])}{rel_s} {word} than {v['than']}"
    )
    steps = v["steps_to_within_1pct"]
    if steps is not None:
        when = "later" if steps > 0 else "earlier"
        line += (
            f"; it came within 1% of its best {abs(steps):,} steps {when}"
            if steps
            else "; within 1% of its best at the same step"
        )
    return line
