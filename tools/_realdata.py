"""Load the real training curves of ``../shared/data/real`` as (x, y) series.

On a clone without ``../shared``, the copies bundled in ``tests/data/real`` are
read instead (``DEFAULT_ROOT``).

Shared by the sampling benchmarks (not part of the package). Each run folder
holds a long CSV ``step,metric,value`` (maybe gzipped) in source order, with
duplicate steps and restarts; a series is the rows of one metric, sorted by
step (stable) and keeping the *last* value written for each step, which is
what a reader that honours resumes shows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["DEFAULT_ROOT", "Series", "load_real_series", "parse_values"]

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
_BUNDLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "real"
DEFAULT_ROOT = _SHARED if _SHARED.is_dir() else _BUNDLED

_NAN = {"", "nan", "+nan", "-nan", "null", "none", "na", "n/a"}


class Series:
    """One metric of one run: ``x`` int64 strictly increasing, ``y`` float64."""

    __slots__ = ("run", "metric", "x", "y", "restarts")

    def __init__(self, run: str, metric: str, x: np.ndarray, y: np.ndarray, restarts: np.ndarray):
        self.run = run
        self.metric = metric
        self.x = x
        self.y = y
        self.restarts = restarts  # indices into x where a resumed segment starts

    @property
    def name(self) -> str:
        return f"{self.run}/{self.metric}"

    def __len__(self) -> int:
        return int(self.x.size)


def parse_values(tokens: pl.Series) -> np.ndarray:
    """Text values to float64: numbers, ``nan``-like tokens and infinities."""
    tok = tokens.str.strip_chars().str.to_lowercase()
    val = tok.cast(pl.Float64, strict=False)
    bad = val.is_null() & tok.is_not_null() & ~tok.is_in(list(_NAN))
    if bad.any():
        raise ValueError(f"unparseable values, e.g. {tok.filter(bad).head(3).to_list()}")
    return np.ascontiguousarray(val.fill_null(math.nan).to_numpy(), dtype=np.float64)


def _series_of(run: str, metric: str, steps: np.ndarray, vals: np.ndarray) -> Series:
    # A step lower than the previous one starts a resumed segment (SPEC §1).
    back = np.flatnonzero(np.diff(steps) < 0) + 1
    order = np.argsort(steps, kind="stable")
    xs, ys = steps[order], vals[order]
    last = np.r_[xs[1:] != xs[:-1], True]  # the last row written for each step
    x, y = xs[last], ys[last]
    restarts = np.unique(np.searchsorted(x, steps[back]))
    return Series(run, metric, x, y, restarts.astype(np.int64))


def load_real_series(root: Path | str = DEFAULT_ROOT, min_points: int = 0) -> list[Series]:
    """Every (run, metric) series under ``root``, sorted by name."""
    out: list[Series] = []
    for path in sorted(Path(root).glob("*/*.csv*")):
        run = path.parent.name
        df = pl.read_csv(path, infer_schema_length=0)
        steps_all = df["step"].str.strip_chars().cast(pl.Float64, strict=True).to_numpy()
        vals_all = parse_values(df["value"])
        metrics = df["metric"].to_numpy()
        for metric in sorted(set(metrics.tolist())):
            m = metrics == metric
            steps = steps_all[m].astype(np.int64)
            s = _series_of(run, metric, steps, vals_all[m])
            if len(s) >= min_points:
                out.append(s)
    return out
