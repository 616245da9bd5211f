"""What a log holds once read: `Run` (header, sessions, segments, best, damage, data).

The reader (`_reader.read`) builds it; everything here works on arrays already
in memory: deduplication, the polars views, statistics, the best step, export.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from .. import _json
from ..errors import (
    MetricNotFoundError,
)
from . import _tables
from ._format import Damage

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Series:
    """One metric after deduplication: sorted unique steps, latest value per step."""

    metric: str
    steps: np.ndarray
    values: np.ndarray
    times: np.ndarray
    raw_count: int

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Segment:
    """A stretch of rows of one session whose steps never go backwards.

    A new one starts at each resume: where the steps go back, and where a new
    session starts writing (even when its steps continue upward).
    """

    index: int
    session: int
    first_row: int
    rows: int
    first_step: int
    last_step: int


@dataclass
class Session:
    """One opening of the log by a writer."""

    index: int
    sid: str
    header: dict[str, Any]
    offset: int
    rows: int = 0
    first_step: int | None = None
    last_step: int | None = None
    #: wall time of the session's last row
    last_time: float | None = None
    end: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        return self.end is not None


@dataclass(frozen=True)
class Best:
    """The run's best step: as the writer marked it, or recomputed from the data."""

    step: int
    metric: str | None
    mode: str
    value: float | None
    source: Literal["tracked", "marked", "recomputed"]


@dataclass
class Run:
    """Everything a log holds: header, sessions, segments, best, damage and the data."""

    path: str
    size: int
    header: dict[str, Any]
    sessions: list[Session]
    damage: list[Damage]
    best_records: list[dict[str, Any]]
    #: a writer had the file open when it was read: the last session is still
    #: running, not dead, and a torn tail may be a frame being written
    live: bool
    _steps: np.ndarray = field(repr=False)
    _times: np.ndarray = field(repr=False)
    #: metric -> (global row numbers, or None for every row; values)
    _cols: dict[str, tuple[np.ndarray | None, np.ndarray]] = field(repr=False)
    _series: dict[str, Series] = field(default_factory=dict, repr=False)
    #: (merge?, config) in file order: session headers, then set_config/update_config
    _configs: list[tuple[bool, dict[str, Any]]] = field(default_factory=list, repr=False)

    # -------------------------------------------------------------- structure

    @property
    def metrics(self) -> list[str]:
        """Metric names in order of first appearance."""
        return list(self._cols)

    @property
    def rows(self) -> int:
        """Appended rows (steps as written, before deduplication)."""
        return len(self._steps)

    @property
    def objective(self) -> dict[str, str] | None:
        obj = self.header.get("objective")
        for s in reversed(self.sessions):  # the latest session's objective rules
            if s.header.get("objective"):
                obj = s.header["objective"]
                break
        return obj if isinstance(obj, dict) and obj.get("metric") else None

    @cached_property
    def segments(self) -> list[Segment]:
        steps = self._steps
        if len(steps) == 0:
            return []
        starts = np.flatnonzero(steps[1:] < steps[:-1]) + 1
        session_starts = np.cumsum([0] + [s.rows for s in self.sessions])
        # a new session is a resume even when its steps go on upward (Lightning's resume)
        inner = session_starts[(session_starts > 0) & (session_starts < len(steps))]
        starts = np.union1d(starts, inner).astype(np.int64)
        bounds = np.concatenate(([0], starts, [len(steps)]))
        out = []
        for i in range(len(bounds) - 1):
            a, b = int(bounds[i]), int(bounds[i + 1])
            sess = int(np.searchsorted(session_starts, a, side="right")) - 1
            seg = steps[a:b]
            out.append(Segment(i, max(sess, 0), a, b - a, int(seg[0]), int(seg[-1])))
        return out

    @property
    def name(self) -> str:
        """What to call the run: the latest ``EventLog(name=...)``, else from the path.

        ``runs/exp1/loss.log`` is ``loss``; a log named ``run.log`` (the name
        the README recommends) is called after its folder, ``exp1``.
        """
        for s in reversed(self.sessions):
            given = s.header.get("name")
            if isinstance(given, str) and given:
                return given
        from .._fs import path_text

        p = Path(os.path.abspath(self.path))
        return path_text(p.parent.name if p.stem == "run" and p.parent.name else p.stem)

    @property
    def config(self) -> dict[str, Any]:
        """The run's hyper-parameters: the header's config with every later one applied.

        In file order: the first session's ``config``; a resumed session's
        non-empty ``config``, merged key by key; ``update_config`` merged;
        ``set_config`` replacing what came before.
        """
        out: dict[str, Any] = {}
        for merge, cfg in self._configs:
            out = {**out, **cfg} if merge else dict(cfg)
        return out

    @property
    def skipped(self) -> dict[str, Any]:
        """What the writers skipped (the value policy): ``{"values": {metric: n}, "rows": n}``.

        Summed over the sessions' end records; a session that died without one
        reports nothing. Empty counts when nothing was skipped.
        """
        values: dict[str, int] = {}
        rows = 0
        for s in self.sessions:
            got = s.end.get("skipped") if s.end else None
            if not isinstance(got, dict):
                continue
            for name, n in (got.get("values") or {}).items():
                if isinstance(n, int):
                    values[str(name)] = values.get(str(name), 0) + n
            rows += got["rows"] if isinstance(got.get("rows"), int) else 0
        return {"values": values, "rows": rows}

    @property
    def resumes(self) -> int:
        """Resumes: times the steps went backwards or a new session started writing."""
        return max(len(self.segments) - 1, 0)

    # -------------------------------------------------------------- data

    def series(self, metric: str) -> Series:
        """Steps (sorted, unique), values and times of one metric; the latest write wins."""
        if metric in self._series:
            return self._series[metric]
        if metric not in self._cols:
            raise MetricNotFoundError(self.path, metric, list(self._cols))
        rows, values = self._cols[metric]
        steps = self._steps if rows is None else self._steps[rows]
        times = self._times if rows is None else self._times[rows]
        raw = len(steps)
        if raw > 1 and not (self._ascending if rows is None else _strictly_ascending(steps)):
            order = np.argsort(steps, kind="stable")
            s = steps[order]
            last = np.ones(len(s), dtype=bool)
            last[:-1] = s[1:] != s[:-1]
            keep = order[last]
            steps, values, times = steps[keep], values[keep], times[keep]
        result = Series(metric, steps, values, times, raw)
        self._series[metric] = result
        return result

    @cached_property
    def _ascending(self) -> bool:
        """Whether every row's step is above the one before: checked once for the
        metrics in every row, which share the steps column."""
        return _strictly_ascending(self._steps)

    def __iter__(self) -> Iterator[Series]:
        return (self.series(m) for m in self.metrics)

    @cached_property
    def data(self) -> pl.DataFrame:
        """Long table: ``step`` Int64, ``time`` Float64, ``metric`` Enum, ``value``
        Float64, one row per point: each step's latest write, as charts show it
        (`_tables.long_table`; `writes` has every write)."""
        return _tables.long_table(self)

    @property
    def writes(self) -> pl.DataFrame:
        """Every value appended, in file order, also those a resume wrote again: the
        long table's columns (`_tables.writes_table`); `data` has each step's latest."""
        return _tables.writes_table(self)

    def wide(self) -> pl.DataFrame:
        """One row per step, one column per metric; null where a metric is absent
        (`_tables.wide_table`).

        :raises PathError: a metric named ``step``, which would replace the step
            column (or collide with it); `data` (the long table) holds it.
        """
        return _tables.wide_table(self)

    # -------------------------------------------------------------- summary

    def metric_stats(self, metric: str) -> dict[str, Any]:
        """Points, writes, first/last/min/max (with their steps) and non-finite counts.

        Values are plain floats (first and last may be NaN or infinite); min and
        max are over finite values only, None when there is none; ties keep the
        earliest step. ``writes`` counts every append, re-run steps included.
        """
        s = self.series(metric)
        nan, pos, neg, lo, hi = _value_counts(s.values)
        return {
            "points": len(s),
            "writes": s.raw_count,
            "first": _point(s, 0) if len(s) else None,
            "last": _point(s, len(s) - 1) if len(s) else None,
            "min": None if lo < 0 else _point(s, lo),
            "max": None if hi < 0 else _point(s, hi),
            "nan": nan,
            "inf": pos,
            "neg_inf": neg,
        }

    def describe(self) -> dict[str, Any]:
        """What `curvelog inspect` shows: a JSON-ready overview of the whole log."""
        steps, times = self._steps, self._times
        best = self.best
        recomputed = None if best is not None else self.recompute_best()
        return {
            "path": self.path,
            "size": self.size,
            "run_id": self.header.get("run_id"),
            "live": self.live,
            "rows": self.rows,
            "steps": {"first": int(steps.min()), "last": int(steps.max())} if len(steps) else None,
            "time": {
                "start": float(times.min()),
                "end": float(times.max()),
                "span": float(times.max() - times.min()),
            }
            if len(times)
            else None,  # fmt: skip
            "sessions": [
                {
                    "index": x.index,
                    "start_time": x.header.get("start_time"),
                    "host": x.header.get("host"),
                    "rows": x.rows,
                    "first_step": x.first_step,
                    "last_step": x.last_step,
                    "closed": x.closed,
                    "end_reason": x.end.get("reason") if x.end else None,
                }
                for x in self.sessions
            ],  # fmt: skip
            "resumes": [
                {
                    "step": g.first_step,
                    "after_step": int(steps[g.first_row - 1]),
                    "session": g.session,
                }
                for g in self.segments[1:]
            ],
            "objective": self.objective,
            "config": self.config,
            "skipped": self.skipped,
            "best": _best_dict(best or recomputed),
            "metrics": {m: _json_stats(self.metric_stats(m)) for m in self.metrics},
            "damage": [
                {"start": d.start, "end": d.end, "kind": d.kind, "what": self._describe(d)}
                for d in self.damage
            ],
        }

    def export(
        self,
        out: str | os.PathLike[str],
        *,
        wide: bool = False,
        force: bool = False,
        all_writes: bool = False,
    ) -> int:
        """Write `data` (or `wide`, or with ``all_writes`` `writes`) as CSV or Parquet
        (by extension), atomically; the rows written. An existing file is never
        replaced without ``force``, and a curvelog log never (`PathError`),
        whatever its name (`_tables.export`)."""
        return _tables.export(self, out, wide=wide, force=force, all_writes=all_writes)

    def _describe(self, d: Damage) -> str:
        if self.live and d.kind == "torn" and d.end == self.size:
            return f"bytes {d.start}..{d.end} ({d.end - d.start} bytes): a record being written"
        return d.describe()

    # -------------------------------------------------------------- best

    @cached_property
    def best(self) -> Best | None:
        """The best step the writer recorded, if it still holds after deduplication.

        The latest ``mark_best`` wins. Otherwise each session's tracked best
        of the run's objective (the latest session's metric and mode) that the
        data still confirms (a later session may have re-run and overwritten
        that step) competes, by the objective's mode. The winner
        must also be as good as every deduplicated value: a session's record
        covers only the rows that session wrote, so once a re-run has
        overwritten one session's best, the steps only that session wrote
        (better, perhaps) are covered by no surviving record. None when the
        writer recorded nothing usable: see `recompute_best`.
        """
        obj = self.objective
        marked = [b for b in self.best_records if b.get("source") == "marked"]
        if marked and (mark := self._standing_mark(marked[-1], obj)) is not None:
            return mark
        if obj is None:
            return None
        # only records of the run's objective compete: another metric (or mode) of
        # an earlier session measures something else, and its values do not compare
        metric, mode = obj["metric"], str(obj.get("mode", "min"))
        valid: list[Best] = []
        for b in self.best_records:
            step = b.get("step")
            if b.get("metric") != metric or b.get("mode", "min") != mode:
                continue
            if not isinstance(step, int):
                continue
            value = self.value_at(metric, step)
            if value is not None and value == b.get("value"):
                valid.append(Best(step, metric, mode, value, "tracked"))
        if not valid:
            return None
        sign = -1.0 if mode == "max" else 1.0
        best = min(valid, key=lambda b: (sign * (b.value or 0.0), b.step))
        data = self.recompute_best()
        if data is not None and data.value is not None and best.value is not None:
            if sign * data.value < sign * best.value:  # rows no surviving record covers
                return None
        return best

    def _standing_mark(self, b: dict[str, Any], obj: dict[str, str] | None) -> Best | None:
        """The latest ``mark_best`` as the run's best, if it still stands: it was made
        for the run's objective (a resume that changed the metric or the mode makes
        it a best of something else), and the value at its step is still the one its
        session wrote (a resume that re-ran that step replaced what was marked). A
        mark is the program's word, so it need not be the data's optimum."""
        metric = b.get("metric") or None
        mode = str(b.get("mode") or "min")
        step = int(b["step"])
        if obj is not None and (metric != obj["metric"] or mode != obj.get("mode", "min")):
            return None
        if metric is not None and not self._written_by(metric, step, b.get("sid")):
            return None
        value = self.value_at(metric, step) if metric else None
        return Best(step, metric, mode, value, "marked")

    def _written_by(self, metric: str, step: int, sid: object) -> bool:
        """Whether the surviving value of ``metric`` at ``step`` (the latest write) was
        written by session ``sid``; True where it cannot tell (no value there, or
        its session's record lost to damage)."""
        if metric not in self._cols or not isinstance(sid, str):
            return True
        rows, _ = self._cols[metric]
        steps = self._steps if rows is None else self._steps[rows]
        hits = np.flatnonzero(steps == step)
        if not hits.size:
            return True
        row = int(hits[-1]) if rows is None else int(rows[hits[-1]])
        starts = [g.first_row for g in self.segments]
        segment = self.segments[int(np.searchsorted(starts, row, side="right")) - 1]
        sids = {x.index: x.sid for x in self.sessions}  # a damaged log may have lost some
        return sids.get(segment.session, sid) == sid

    def recompute_best(self) -> Best | None:
        """The objective's optimum over the deduplicated data (earliest step on ties)."""
        obj = self.objective
        if obj is None or obj["metric"] not in self._cols:
            return None
        s = self.series(obj["metric"])
        finite = np.isfinite(s.values)
        if not finite.any():
            return None
        vals = np.where(finite, s.values, np.inf if obj.get("mode") != "max" else -np.inf)
        i = int(np.argmax(vals) if obj.get("mode") == "max" else np.argmin(vals))
        return Best(
            int(s.steps[i]), obj["metric"], obj.get("mode", "min"), float(s.values[i]), "recomputed"
        )

    def value_at(self, metric: str, step: int) -> float | None:
        """The (deduplicated) value of ``metric`` at ``step``; None where it is absent."""
        if metric not in self._cols:
            return None
        s = self.series(metric)
        i = int(np.searchsorted(s.steps, step))
        if i < len(s.steps) and s.steps[i] == step:
            return float(s.values[i])
        return None


#: values looked at a slice at a time where a whole-series temporary would cost
#: 8 bytes a point (800 MB for a 100M-step loss): 1 MB of bool at most
_SLICE: Final[int] = 1 << 20


def _value_counts(v: np.ndarray) -> tuple[int, int, int, int, int]:
    """NaN, +inf and -inf counts and the indices of the smallest and largest finite
    values (the earliest on ties; -1 when there is none), a slice at a time."""
    nan = pos = neg = 0
    lo = hi = -1
    vlo = vhi = 0.0
    for a in range(0, len(v), _SLICE):
        c = v[a : a + _SLICE]
        # argmin finds a NaN or a -inf, argmax a NaN or a +inf: two finite
        # picks mean a finite slice, with no mask to build
        i, j = int(np.argmin(c)), int(np.argmax(c))
        if not (math.isfinite(c[i]) and math.isfinite(c[j])):
            finite = np.isfinite(c)
            nan_here = int(np.count_nonzero(np.isnan(c)))
            pos_here = int(np.count_nonzero(c == np.inf))
            nan, pos = nan + nan_here, pos + pos_here
            neg += len(c) - int(np.count_nonzero(finite)) - nan_here - pos_here
            if not finite.any():
                continue
            off = ~finite  # few: set in a copy, not np.where over the slice
            w = c.copy()
            w[off] = np.inf
            i = int(np.argmin(w))
            w[off] = -np.inf
            j = int(np.argmax(w))
        if lo < 0 or c[i] < vlo:
            lo, vlo = a + i, float(c[i])
        if hi < 0 or c[j] > vhi:
            hi, vhi = a + j, float(c[j])
    return nan, pos, neg, lo, hi


def _point(s: Series, i: int) -> dict[str, Any]:
    return {"step": int(s.steps[i]), "value": float(s.values[i])}


def _json_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """`Run.metric_stats` with non-finite values spelled as JSON-safe strings."""
    return {
        k: {"step": v["step"], "value": _json.jsonable(v["value"])} if isinstance(v, dict) else v
        for k, v in stats.items()
    }


def _best_dict(best: Best | None) -> dict[str, Any] | None:
    if best is None:
        return None
    value = None if best.value is None else _json.jsonable(best.value)
    return {"step": best.step, "metric": best.metric, "mode": best.mode, "value": value,
            "source": best.source}  # fmt: skip


def _strictly_ascending(steps: np.ndarray) -> bool:
    return len(steps) < 2 or bool(np.all(steps[1:] > steps[:-1]))
