"""What a decoded record must hold before anything uses it: types and ranges, field by field.

A checksum proves that the bytes are the ones a writer wrote, not that the
writer (an old bug, another implementation, a hand-edited file) wrote the
right things. So the reader checks every field it or anything after it uses
(`Run`, the bundle builder, plot, inspect) here, and a record that fails is
damage, skipped like a corrupt frame: a list where a session id belongs, a
string as the best step, NaN as a time, bytes as a host name never get past
the reader. The chart metadata check is also what `EventLog(charts=...)`
runs at open, so a bad chart is refused before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MAX_CHART_TEXT", "chart_problem", "record_problem"]

#: longest chart title, axis label or series label accepted in chart metadata
MAX_CHART_TEXT: Final[int] = 1_000
_STEP_LIMIT: Final[int] = 2**63
_CHART_TEXT: Final[tuple[str, ...]] = ("title", "xlabel", "ylabel")
_SCALES: Final[tuple[str, ...]] = ("linear", "log")
_MODES: Final[tuple[str, ...]] = ("min", "max")


def _is_int(v: object) -> bool:
    return type(v) is int


def _is_time(v: object) -> bool:
    return type(v) in (int, float) and math.isfinite(v)  # type: ignore[arg-type]


def _is_text(v: object) -> bool:
    return type(v) is str


def _is_bin(v: object) -> bool:
    """msgpack ``bin``: ``bytes``, or a memoryview of the mapped file (`_view`)."""
    return type(v) is bytes or type(v) is memoryview


def chart_problem(charts: object) -> str | None:
    """Why ``charts`` is no valid chart metadata, None if it is.

    ``{chart_id: {"title", "xlabel", "ylabel": str, "metrics": [str, ...],
    "scale": "linear" | "log", "labels": {metric: str}}}``, every key optional;
    other keys are kept and ignored (a newer curvelog may use them).
    """
    if not isinstance(charts, Mapping):
        return f"charts must be a mapping of chart id to chart, not {type(charts).__name__}"
    for cid, chart in charts.items():
        if not _is_text(cid) or not cid:
            return f"chart id {cid!r} is not a non-empty string"
        where = f"chart {cid[:40]!r}"
        if not isinstance(chart, Mapping):
            return f"{where} must be a mapping, not {type(chart).__name__}"
        for key in _CHART_TEXT:
            v = chart.get(key)
            if v is not None and (not _is_text(v) or len(v) > MAX_CHART_TEXT):
                return f"{where}: {key} must be a string of at most {MAX_CHART_TEXT:,} characters"
        metrics = chart.get("metrics")
        if metrics is not None:
            if not isinstance(metrics, (list, tuple)):
                return f"{where}: metrics must be a list of metric names"
            for m in metrics:
                if not _is_text(m) or not m:
                    return f"{where}: metrics holds {m!r}, not a metric name (a non-empty string)"
        scale = chart.get("scale")
        if scale is not None and scale not in _SCALES:
            return f"{where}: scale must be 'linear' or 'log', not {scale!r}"
        labels = chart.get("labels")
        if labels is not None:
            if not isinstance(labels, Mapping):
                return f"{where}: labels must be a mapping of metric name to label"
            for k, v in labels.items():
                if not _is_text(k) or not _is_text(v) or len(v) > MAX_CHART_TEXT:
                    return f"{where}: labels[{k!r}] must be a string label"
    return None


def _session_problem(r: Mapping[str, Any]) -> str | None:
    if not _is_text(r.get("sid")) or not r["sid"]:
        return "session id is not a string"
    for key in ("run_id", "host", "platform", "python", "cwd"):
        if key in r and r[key] is not None and not _is_text(r[key]):
            return f"{key} is a {type(r[key]).__name__}, not a string"
    if "resumed" in r and type(r["resumed"]) is not bool:
        return "resumed is not a boolean"
    if "start_time" in r and not _is_time(r["start_time"]):
        return f"start_time is {r['start_time']!r}, not a time"
    if "pid" in r and not _is_int(r["pid"]):
        return "pid is not an integer"
    argv = r.get("argv")
    if argv is not None and not (isinstance(argv, list) and all(map(_is_text, argv))):
        return "argv is not a list of strings"
    packages = r.get("packages")
    if packages is not None and not (
        isinstance(packages, dict) and all(_is_text(k) and _is_text(v) for k, v in packages.items())
    ):
        return "packages is not a mapping of names to versions"
    git = r.get("git")
    if git is not None and not (
        isinstance(git, dict) and _is_text(git.get("commit")) and type(git.get("dirty")) is bool
    ):
        return "git is not {commit, dirty}"
    if "config" in r and r["config"] is not None and not isinstance(r["config"], dict):
        return "config is not a mapping"
    if "charts" in r and r["charts"] is not None:
        problem = chart_problem(r["charts"])
        if problem:
            return problem
    obj = r.get("objective")
    if obj is not None and not (
        isinstance(obj, dict)
        and _is_text(obj.get("metric"))
        and obj["metric"]
        and obj.get("mode") in _MODES
    ):
        return "objective is not {metric, mode}"
    return None


def _data_problem(r: Mapping[str, Any]) -> str | None:
    if not _is_text(r.get("sid")):
        return "session id is not a string"
    if "seq" in r and not (_is_int(r["seq"]) and 0 <= r["seq"] < _STEP_LIMIT):
        return f"sequence number {r['seq']!r} is not a non-negative integer"
    if not _is_int(r.get("n")) or r["n"] < 0:
        return "row count is not a non-negative integer"
    if not _is_bin(r.get("step")) or not _is_bin(r.get("time")):
        return "step or time column is not bytes"
    cols = r.get("cols")
    if not isinstance(cols, dict):
        return "columns are not a mapping"
    for name, col in cols.items():
        if not _is_text(name) or not name:
            return f"metric name {name!r} is not a non-empty string"
        if not (
            isinstance(col, list)
            and len(col) == 2
            and (col[0] is None or _is_bin(col[0]))
            and _is_bin(col[1])
        ):
            return f"metric {name[:40]!r} is not [row numbers, values]"
    return None


def _rows_problem(r: Mapping[str, Any]) -> str | None:
    """A rows record (`_rowblock`): what its row frames are decoded against."""
    if not _is_text(r.get("sid")):
        return "session id is not a string"
    if not (_is_int(r.get("seq")) and 0 <= r["seq"] < _STEP_LIMIT):
        return f"sequence number {r.get('seq')!r} is not a non-negative integer"
    names = r.get("names")
    if not (isinstance(names, list) and all(_is_text(k) and k for k in names)):
        return "names are not a list of non-empty strings"
    if len(set(names)) != len(names):
        return "a metric name twice"
    if not (_is_int(r.get("step")) and 0 <= r["step"] < _STEP_LIMIT):
        return f"base step {r.get('step')!r} is not a non-negative integer below 2**63"
    if type(r.get("time")) is not float or not math.isfinite(r["time"]):
        return "base time is not a finite float"
    return None


def _best_problem(r: Mapping[str, Any]) -> str | None:
    if not _is_text(r.get("sid")):
        return "session id is not a string"
    source = r.get("source")
    if source not in ("tracked", "marked"):
        return f"source {source!r} is not 'tracked' or 'marked'"
    step = r.get("step")
    if not (type(step) is int and 0 <= step < _STEP_LIMIT):
        return f"step {step!r} is not a non-negative integer below 2**63"
    metric = r.get("metric")
    if not (metric is None or (_is_text(metric) and metric)):
        return "metric is not a name"
    if r.get("mode", "min") not in _MODES:
        return "mode is not 'min' or 'max'"
    value = r.get("value")
    if value is not None and type(value) not in (int, float):
        return "value is not a number"
    if source == "tracked" and (metric is None or value is None):
        return "a tracked best without its metric or value"
    if "time" in r and not _is_time(r["time"]):
        return "time is not a time"
    return None


def _end_problem(r: Mapping[str, Any]) -> str | None:
    if not _is_text(r.get("sid")):
        return "session id is not a string"
    if "time" in r and not _is_time(r["time"]):
        return f"time {r['time']!r} is not a time"
    if "reason" in r and not _is_text(r["reason"]):
        return "reason is not a string"
    if "rows" in r and not (_is_int(r["rows"]) and r["rows"] >= 0):
        return "rows is not a non-negative integer"
    return None


_CHECKS: Final = {
    "session": _session_problem,
    "data": _data_problem,
    "rows": _rows_problem,
    "best": _best_problem,
    "end": _end_problem,
}


def record_problem(record: Mapping[str, Any]) -> str | None:
    """Why a decoded record of a known type cannot be used, None if it can.

    Unknown record types are no problem: a newer minor version may add some,
    and the reader skips them.
    """
    kind = record.get("type")
    check = _CHECKS.get(kind) if type(kind) is str else None
    return None if check is None else check(record)
