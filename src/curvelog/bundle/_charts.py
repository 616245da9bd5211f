"""Which metrics share a chart, what the chart and its lines are called, which split a
metric belongs to: all from the metric names and the header's chart metadata."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..errors import (
    MetricNotFoundError,
)
from ._system import system_chart, system_order

if TYPE_CHECKING:
    from ..log import Run


#: name parts that say which split a metric was measured on (first = preferred)
_TRAIN_SPLITS: Final[tuple[str, ...]] = ("train", "training")
_VAL_SPLITS: Final[tuple[str, ...]] = (
    "val", "valid", "validation", "eval", "evaluation", "dev", "test",
)  # fmt: skip
_SPLITS: Final[tuple[str, ...]] = _TRAIN_SPLITS + _VAL_SPLITS
_SPLIT_PREFIX: Final = re.compile(r"^(" + "|".join(_SPLITS) + r")[_.-](.+)$", re.IGNORECASE)
_SPLIT_SUFFIX: Final = re.compile(r"^(.+?)[_.-](" + "|".join(_SPLITS) + r")$", re.IGNORECASE)
#: words of a metric name that say lower is better / higher is better


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
    default chart whose id a header chart already uses gets ``-2``, ``-3``... as
    its id, but keeps its name as title and y label (the id is for ``--charts``).
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
    system: dict[str, tuple[dict[str, Any], list[str]]] = {}  # sys/* charts, last (#15)
    for m in selected:
        if m in taken:
            continue
        sc = system_chart(m)
        if sc is None:
            auto.setdefault(_chart_key(m)[0], []).append(m)
            continue
        cid = sc.id if sc.id not in ids else f"{sc.id}-2"  # a listed header chart has the id
        if cid not in system:
            base = header.get(cid, {})
            own = base.get("labels")
            system[cid] = ({**base, "labels": dict(own) if isinstance(own, Mapping) else {}}, [])
        meta, members = system[cid]
        meta.setdefault("title", sc.title)
        meta.setdefault("ylabel", sc.ylabel)
        meta["labels"].setdefault(m, sc.label)
        members.append(m)
    ids.update(system)
    shown: dict[str, str] = {}  # a renamed default chart keeps its name on the page
    for key, members in auto.items():
        cid, n = key, 2
        while cid in ids:
            cid, n = f"{key}-{n}", n + 1
        ids.add(cid)
        shown[cid] = key
        ranks = [_split_rank(_chart_key(m)[1]) for m in members]
        if len(members) > 1 and None not in ranks:  # train, then val, then test
            order = sorted(range(len(members)), key=lambda i: ranks[i] or 0)
            members = [members[i] for i in order]
        groups.append((cid, header.get(cid, {}) if cid == key else {}, members, False))
    ordered = sorted(system.items(), key=lambda kv: system_order(kv[0]))
    groups.extend((cid, meta, members, False) for cid, (meta, members) in ordered)
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
        name = shown.get(cid, cid)
        out.append(
            {
                "id": cid,
                "title": _str_or(meta.get("title"), single or name),
                "xlabel": _str_or(meta.get("xlabel"), "step"),
                "ylabel": _str_or(meta.get("ylabel"), _chart_key(single)[0] if single else name),
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
