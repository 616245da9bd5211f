"""What the registry answers: the version a log was filed into, each version's objective and
best value, and the versions of a key ranked by a metric.

Reads only JSON-ready fields that `bundle_metadata` stores (``log_sha256``,
``summary.objective``, ``summary.best``, ``summary.analysis.metrics``); no
bundle code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import OutputExistsError, RegistryCorruptError
from ._keys import KeyLike, key_path
from ._version import CURVES, log_sha256

if TYPE_CHECKING:
    from ._index import IndexRow
    from ._store import Registry
    from ._version import Version


def version_of_log(reg: Registry, key: KeyLike, sha256: str | None) -> Version | None:
    """The version of ``key`` filed from the log with this SHA-256, if any (latest first)."""
    if not sha256:
        return None
    for v in reversed(reg.versions(key_path(key))):
        try:
            if v.metadata().get("log_sha256") == sha256:
                return v
        except RegistryCorruptError:
            continue  # a damaged metadata.json is reported where it is read
    return None


def refile_same_log(
    same: Version, bundle: Mapping[str, Any], data: bytes, png: bytes | None, *, overwrite: bool
) -> Version:
    """File the bundle of a log that ``same`` already holds: reuse that version, never a new one.

    The same bundle again is a no-op; another bundle of the same log (other
    sampling options) is refused unless ``overwrite``. Called with the lock held.
    """
    try:
        existing: bytes | None = (same.path / CURVES).read_bytes()
    except FileNotFoundError:
        existing = None
    if existing is not None and existing != data and not overwrite:
        sha = log_sha256(bundle) or "?"
        raise OutputExistsError(
            str(same.path / CURVES),
            f"{same.key} {same.name} already holds this log (sha256 {sha[:12]}...) with "
            "another bundle; refusing to file the same log twice (--force replaces that "
            "version's bundle)",
        )
    same._write_bundle(bundle, data, png, overwrite=overwrite)
    return same


@dataclass(frozen=True)
class Facts:
    """What `registry list` and `registry show` print for one version."""

    key: str
    version: int
    objective: str | None  # "val/loss (min)"
    best_metric: str | None
    best_value: float | None
    best_step: int | None


def facts(key: str, version: int, summary: Mapping[str, Any] | None) -> Facts:
    """Objective and best value of a version, from its index row's metrics summary."""
    s = summary or {}
    obj = s.get("objective")
    objective = None
    if isinstance(obj, Mapping) and isinstance(obj.get("metric"), str):
        objective = f"{obj['metric']} ({obj.get('mode') or 'min'})"
    best = s.get("best")
    if not isinstance(best, Mapping):
        return Facts(key, version, objective, None, None, None)
    value = best.get("value")
    step = best.get("step")
    return Facts(
        key,
        version,
        objective,
        best.get("metric") if isinstance(best.get("metric"), str) else None,
        float(value) if isinstance(value, (int, float)) else None,
        step if isinstance(step, int) else None,
    )


@dataclass(frozen=True)
class Ranked:
    """One version's best value of a metric, for ``registry list --sort``."""

    key: str
    version: int
    path: str
    metric: str
    goal: str  # "min" or "max"
    value: float
    step: int | None


def metric_best(summary: Mapping[str, Any] | None, metric: str) -> tuple[float, int | None, str]:
    """(best value, its step, goal) of ``metric`` in a bundle summary; ValueError if absent."""
    analysis = (summary or {}).get("analysis")
    metrics = analysis.get("metrics") if isinstance(analysis, Mapping) else None
    m = metrics.get(metric) if isinstance(metrics, Mapping) else None
    best = m.get("best") if isinstance(m, Mapping) else None
    value = best.get("value") if isinstance(best, Mapping) else None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(metric)
    goal = m.get("goal") if isinstance(m, Mapping) else None
    step = best.get("step") if isinstance(best, Mapping) else None
    return float(value), step if isinstance(step, int) else None, "max" if goal == "max" else "min"


def rank(rows: list[IndexRow], metric: str) -> tuple[list[Ranked], list[IndexRow]]:
    """Versions ranked by ``metric``'s best value, best first (by its goal); and the rest.

    The goal is the bundle analysis' (the objective's mode, or the metric's
    name); a metric with no goal is ranked lowest first.
    """
    found: list[Ranked] = []
    missing: list[IndexRow] = []
    for r in rows:
        try:
            value, step, goal = metric_best(r.metrics_summary, metric)
        except ValueError:
            missing.append(r)
            continue
        found.append(Ranked(r.key, r.version, r.path, metric, goal, value, step))
    found.sort(key=lambda x: (x.value if x.goal == "min" else -x.value, x.key, x.version))
    return found, missing
