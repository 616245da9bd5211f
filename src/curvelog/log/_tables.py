"""A `Run`'s points as polars tables (long and wide) and their export to CSV or Parquet.

Kept apart from `_run`, which holds what a log is (sessions, segments, best);
these are views of its arrays, built on demand.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .._fs import atomic_path, same_file
from ..errors import PathError
from ._format import refuse_to_replace

if TYPE_CHECKING:
    import polars as pl

    from ._run import Run


def long_table(run: Run) -> pl.DataFrame:
    """Long table: ``step`` Int64, ``time`` Float64, ``metric`` Enum, ``value`` Float64.

    Built from one concatenation of every metric's arrays (the metric
    column gathered from the Enum's codes), so the cost is linear in the
    number of points whatever the number of metrics: 20,000 metrics of
    a few points each take as long as one metric of the same total.
    """
    import polars as pl

    names = run.metrics
    enum = pl.Enum(names)
    if not names:
        return pl.DataFrame(
            schema={"step": pl.Int64, "time": pl.Float64, "metric": enum, "value": pl.Float64}
        )
    series = [run.series(m) for m in names]
    lengths = np.fromiter((len(s) for s in series), dtype=np.int64, count=len(series))
    codes = np.repeat(np.arange(len(names), dtype=np.uint32), lengths)
    metric = pl.Series("metric", names, dtype=enum).gather(codes)
    return pl.DataFrame(
        {
            "step": np.concatenate([s.steps for s in series]).astype(np.int64, copy=False),
            "time": np.concatenate([s.times for s in series]),
            "metric": metric,
            "value": np.concatenate([s.values for s in series]),
        }
    )


def writes_table(run: Run) -> pl.DataFrame:
    """Every write, in the order written: the long table's columns, one row per
    value appended, also those a resume wrote again (which `long_table`, like the
    charts, shows only at their latest write). In a row's order, metrics go in
    order of first appearance, so ``import csv`` of its CSV gives the same run back,
    resumes included.
    """
    import polars as pl

    names = run.metrics
    enum = pl.Enum(names)
    n = len(run._steps)
    rows, codes, values = [], [], []
    for code, name in enumerate(names):
        idx, vals = run._cols[name]
        rows.append(np.arange(n, dtype=np.int64) if idx is None else idx.astype(np.int64))
        codes.append(np.full(len(vals), code, dtype=np.uint32))
        values.append(vals)
    if not names:
        return long_table(run)
    at, of = np.concatenate(rows), np.concatenate(codes)
    order = np.lexsort((of, at))  # by row (file order), then metric
    at, of = at[order], of[order]
    return pl.DataFrame(
        {
            "step": run._steps[at].astype(np.int64, copy=False),
            "time": run._times[at],
            "metric": pl.Series("metric", names, dtype=enum).gather(of),
            "value": np.concatenate(values)[order],
        }
    )


def wide_table(run: Run) -> pl.DataFrame:
    """One row per step, one column per metric; null where a metric is absent.

    Each column is scattered into the union of steps once (linear in
    steps x metrics, the size of the table itself); a NaN stays a NaN.

    :raises PathError: a metric named ``step``, which would replace the step
        column (or collide with it); `long_table` holds it.
    """
    import polars as pl

    if "step" in run._cols:  # legal (an optimizer's step counter), but no column for it
        raise PathError(
            run.path,
            "has a metric named 'step', which a wide table cannot hold beside its step "
            "column; use the long table (export without --wide)",
        )
    series = [run.series(m) for m in run.metrics]
    if not series:
        return pl.DataFrame(schema={"step": pl.Int64})
    base = series[0].steps
    if all(s.steps is base for s in series):
        # Every metric in every row (the common case): one frame straight from
        # the arrays, which polars takes without a copy; steps already ascend.
        frame = pl.DataFrame({"step": base, **{s.metric: s.values for s in series}})
        return frame.with_columns(pl.col("step").set_sorted())
    steps = np.unique(np.concatenate([s.steps for s in series]))
    columns = [pl.Series("step", steps.astype(np.int64, copy=False))]
    for s in series:
        if len(s.steps) == len(steps):  # a value at every step (steps are unique, sorted)
            columns.append(pl.Series(s.metric, s.values))
            continue
        col = np.zeros(len(steps))
        present = np.zeros(len(steps), dtype=bool)
        where = np.searchsorted(steps, s.steps)
        col[where] = s.values
        present[where] = True
        columns.append(pl.Series(s.metric, col).scatter(np.flatnonzero(~present), None))
    return pl.DataFrame(columns)


def export(
    run: Run,
    out: str | os.PathLike[str],
    *,
    wide: bool = False,
    force: bool = False,
    all_writes: bool = False,
) -> int:
    """Write the data as CSV or Parquet (by extension), atomically: the long table,
    the wide one, or with ``all_writes`` every write (`writes_table`).

    An existing file is never replaced without ``force``, and a curvelog
    log never (`PathError`), whatever its name.

    Returns the number of rows written.
    """
    out = os.fspath(out)
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".csv", ".parquet"):
        raise PathError(out, "unknown export format; use a .csv or .parquet file name")
    if same_file(out, run.path):
        raise PathError(out, "is the log being exported; choose another output")
    if wide and all_writes:
        raise ValueError("a wide table holds one value per step: all_writes needs the long one")
    refuse_to_replace(out, "an export")
    frame = wide_table(run) if wide else writes_table(run) if all_writes else run.data
    with atomic_path(out, overwrite=force) as tmp:
        try:
            if ext == ".csv":
                frame.write_csv(tmp)
            else:
                frame.write_parquet(tmp)
        except Exception as e:  # polars raises its own error types for I/O
            raise PathError(out, f"cannot write ({e})") from None
        refuse_to_replace(out, "an export")  # one may have appeared meanwhile
    return frame.height
