"""The page model: what the browser draws, made from validated chart bundles.

`plot.py` decides what a PNG shows (panels, titles, the best star and its
note, NaN/inf markers and bands, resume lines, colours per label, the log-y
rule); this module makes the same decisions once, in Python, and hands the
page a plain JSON object, so the page's JavaScript only draws and never
interprets a bundle. The same model feeds the offline HTML report and
``curvelog serve``.

Every string in the model is user data (metric names, titles, run names) and
is set on the page with ``textContent`` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..bundle import Bundle, run_name
from ..errors import PlotError
from ..plot._figure import _select_charts as _select
from ..plot._panel import _SPARSE, _check_smooth
from ..plot._panel import _auto_logy as auto_logy
from ..plot._style import (
    BEST_COLOR,
    DASHED_RESUMES,
    EVENT_COLOR,
    RESUME_COLOR,
    _Colors,
    color_at,
    resume_note,
)

__all__ = ["auto_logy", "page_model", "run_name", "subtitle"]

#: line dashes in CSS pixels, one per series of a chart in a comparison (plot.LINESTYLES)
DASHES: Final[tuple[tuple[float, ...], ...]] = ((), (8.0, 3.0), (2.0, 3.0), (9.0, 3.0, 2.0, 3.0))


def _subtitle(bundle: Mapping[str, Any]) -> str:
    """The facts the PNG prints top right: steps, sessions, resumes."""
    summary = bundle.get("summary")
    steps = summary.get("steps") if isinstance(summary, Mapping) else None
    run = bundle.get("run")
    sessions = run.get("sessions") if isinstance(run, Mapping) else None
    return subtitle(steps, sessions, [r["step"] for r in bundle.get("resumes") or ()])


def subtitle(steps: object, sessions: object, resumes: Sequence[int]) -> str:
    """The header's facts from their numbers (``serve`` updates them as a log grows)."""
    parts: list[str] = []
    if isinstance(steps, int):
        parts.append(f"{steps:,} steps")
    if isinstance(sessions, int) and sessions > 1:
        parts.append(f"{sessions} sessions")
    if note := resume_note(resumes):
        parts.append(note)
    return "  \u00b7  ".join(parts)


def _events(s: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A bundle series' NaN/inf events as the page draws them (``serve``'s tails too)."""
    out = []
    for e in s.get("events", ()):
        kind = str(e.get("kind", "nan"))
        n = e.get("count", 1)
        out.append(
            {
                "kind": kind if kind in ("nan", "inf", "-inf") else "nan",
                "step": e["step"],
                "last": e.get("last_step", e["step"]),
                "count": n if isinstance(n, int) and n > 0 else 1,
            }
        )
    return out


def _best_point(best: Mapping[str, Any], s: Mapping[str, Any]) -> tuple[int, float] | None:
    step, value = best.get("step"), best.get("value")
    if not isinstance(step, int):
        return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        xs = s.get("x") or []
        try:
            v = s["y"][xs.index(step)]
        except ValueError:
            return None
        if not isinstance(v, (int, float)):
            return None
        value = v
    return step, float(value)


def _note(best: Mapping[str, Any], value: float, step: int) -> str:
    return f"best {best.get('metric')} = {value:.4g}\nat step {step:,}"


def _series(
    s: Mapping[str, Any], run: int, name: str, color: str, dash: tuple[float, ...], dense: int
) -> dict[str, Any]:
    x = list(s.get("x") or [])
    sparse = len(x) <= _SPARSE
    thin = len(x) > 400 and len(x) * 4 > dense
    return {
        "run": run,
        "metric": str(s.get("metric", "")),
        "label": str(s.get("label", s.get("metric", ""))),
        "name": name,
        "color": color,
        "dash": list(dash),
        "width": 1.0 if thin else 1.6,
        "dots": sparse,
        "raw_points": s.get("raw_points"),
        "x": x,
        "y": list(s.get("y") or []),
    }


def page_model(
    bundles: Sequence[Bundle],
    *,
    names: Sequence[str] | None = None,
    charts: Sequence[str] | str | None = None,
    logy: bool | None = None,
    logx: bool = False,
    smooth: float = 0.0,
) -> dict[str, Any]:
    """The page's JSON object for one run (as `plot_bundle` draws it) or several (`compare`).

    The bundles must already be validated (`curvelog.load_bundle`). With one
    bundle, lines are coloured by label, the same on every panel; with several,
    each run has one colour and its series differ by dash, as in the PNG.

    :raises PlotError: an unknown chart id, a smoothing weight outside [0, 1).
    """
    if not bundles:
        raise PlotError("nothing to draw: no bundles given")
    _check_smooth(smooth)
    compare = len(bundles) > 1
    run_names = [str(n) for n in names] if names is not None else [run_name(b) for b in bundles]
    if len(run_names) != len(bundles):
        raise PlotError(f"{len(run_names)} names for {len(bundles)} runs")
    order: dict[str, None] = {}
    for b in bundles:
        for c in b["charts"]:
            order.setdefault(c["id"], None)
    ids = _select(list(order), charts)
    # colours by the PNG's rule: a label keeps its colour whichever charts are picked,
    # and no two lines (or runs) of a page share one
    label_colors = _Colors([
        str(s.get("label", s.get("metric", "")))
        for b in bundles for c in b["charts"] for s in c["series"]
    ])  # fmt: skip
    runs: list[dict[str, Any]] = []
    for k, (b, name) in enumerate(zip(bundles, run_names, strict=True)):
        best = b.get("best")
        note = ""
        if isinstance(best, Mapping) and isinstance(best.get("value"), (int, float)):
            note = f"best {best.get('metric')} {best['value']:.4g} @ {best['step']:,}"
        runs.append(
            {
                "name": name,
                "color": color_at(k) if compare else None,
                "note": note,
                "resumes": sorted({int(r["step"]) for r in b.get("resumes") or ()}),
            }
        )
    panels: list[dict[str, Any]] = []
    for cid in ids:
        per_run = [(k, c) for k, b in enumerate(bundles) for c in b["charts"] if c["id"] == cid]
        dense = max((len(s.get("x") or ()) for _, c in per_run for s in c["series"]), default=0)
        series: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        stars: list[dict[str, Any]] = []
        resumes: list[dict[str, Any]] = []
        for k, c in per_run:
            b = bundles[k]
            best = b.get("best")
            best_metric = best.get("metric") if isinstance(best, Mapping) else None
            star: tuple[int, float] | None = None
            for j, s in enumerate(c["series"]):
                label = str(s.get("label", s.get("metric", "")))
                if compare:
                    color, dash = color_at(k), DASHES[j % len(DASHES)]
                    name = f"{run_names[k]} \u00b7 {label}"
                else:
                    color = label_colors(label)
                    dash, name = (), label
                series.append(_series(s, k, name, color, dash, dense))
                for e in _events(s):
                    events.append({**e, "run": k, "metric": str(s.get("metric", ""))})
                if best_metric is not None and s.get("metric") == best_metric and star is None:
                    star = _best_point(best, s)  # type: ignore[arg-type]
            if star is not None:
                stars.append(
                    {
                        "run": k,
                        "x": star[0],
                        "y": star[1],
                        "color": color_at(k) if compare else BEST_COLOR,
                        "note": None if compare else _note(best, star[1], star[0]),  # type: ignore[arg-type]
                    }
                )
            color = color_at(k) if compare else RESUME_COLOR
            resumes += [{"run": k, "step": st, "color": color} for st in runs[k]["resumes"]]
        titles = {str(c.get("title", c["id"])) for _, c in per_run}
        ylabels = {str(c.get("ylabel", "")) for _, c in per_run}
        panels.append(
            {
                "id": cid,
                "title": titles.pop() if len(titles) == 1 else cid,
                "xlabel": str(per_run[0][1].get("xlabel", "step")),
                "ylabel": ylabels.pop() if len(ylabels) == 1 else cid,
                "logy": auto_logy([c for _, c in per_run]) if logy is None else bool(logy),
                "series": series,
                "events": events,
                "stars": stars,
                "resumes": resumes,
            }
        )
    if compare:
        title = "  vs  ".join(run_names) if len(run_names) <= 3 else f"{len(run_names)} runs"
        subtitle = ""
    else:
        title, subtitle = run_names[0], _subtitle(bundles[0])
    return {
        "schema": "curvelog.page/1",
        "title": title,
        "subtitle": subtitle,
        "compare": compare,
        "runs": runs,
        "charts": panels,
        "options": {"logy": logy, "logx": bool(logx), "smooth": float(smooth)},
        "colors": {"event": EVENT_COLOR, "resume": RESUME_COLOR, "best": BEST_COLOR},
        "dashed_resumes": DASHED_RESUMES,
    }
