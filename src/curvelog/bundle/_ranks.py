"""One bundle of the logs of several ranks (issue #13): every rank's line on the same charts.

A rank set is drawn as each rank's own line rather than a mean with a
min–max band: the reason to log every rank is to find the rank that differs
(a straggler, a rank whose data shard holds the NaN, one that diverged), and a
band shows that *some* rank differs but not which, and drops each rank's
NaN/inf events. Each series keeps its metric name; its label gains the rank
(``rank 1`` on a one-metric chart, ``train, rank 1`` beside other metrics).

The bundle stays a ``curvelog.bundle/1`` document: rank 0's run metadata,
best, resumes, summary and analysis (rank 0 is the run), every rank's damage
(its message prefixed with the rank) and ``provenance.source.ranks`` listing
each rank's log (name, size, sha256).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ._model import Bundle, Chart, SeriesData


def rank_label(label: str, rank: int, alone: bool) -> str:
    """A series label with its rank: ``rank 1`` alone on its chart, else ``train, rank 1``."""
    return f"rank {rank}" if alone else f"{label}, rank {rank}"


def merge_ranks(parts: Sequence[tuple[int, Bundle]]) -> Bundle:
    """The bundle of a rank set from each rank's bundle, rank 0's first.

    Charts keep rank 0's order (a chart only other ranks have comes after);
    within a chart the series go metric by metric, each metric rank by rank.
    """
    if not parts or parts[0][0] != 0:
        raise ValueError("a rank set starts with rank 0's bundle")
    base: Bundle = copy.deepcopy(parts[0][1])
    order: list[str] = []
    meta: dict[str, Chart] = {}
    lines: dict[str, dict[str, list[tuple[int, SeriesData]]]] = {}
    for rank, bundle in parts:
        for chart in bundle["charts"]:
            cid = chart["id"]
            if cid not in meta:
                order.append(cid)
                meta[cid] = chart
            per_metric = lines.setdefault(cid, {})
            for s in chart["series"]:
                per_metric.setdefault(s["metric"], []).append((rank, s))
    charts: list[Chart] = []
    for cid in order:
        alone = len(lines[cid]) == 1
        series: list[SeriesData] = []
        for members in lines[cid].values():
            for rank, s in members:
                series.append({**s, "label": rank_label(s["label"], rank, alone)})
        c = meta[cid]
        charts.append({"id": cid, "title": c["title"], "xlabel": c["xlabel"],
                       "ylabel": c["ylabel"], "scale": c["scale"], "series": series})  # fmt: skip
    base["charts"] = charts
    damage: list[dict[str, Any]] = []
    for rank, bundle in parts:
        for d in bundle["summary"]["damage"]:
            damage.append({**d, "message": f"rank {rank}: {d.get('message', '')}"})
    base["summary"]["damage"] = damage
    base["provenance"]["source"]["ranks"] = [
        {"rank": rank, **{k: b["provenance"]["source"][k] for k in ("name", "size", "sha256")}}
        for rank, b in parts
    ]
    return base
