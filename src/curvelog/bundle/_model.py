"""The chart bundle as types: what crosses from the bundle code to plots, registries and users.

A bundle is plain JSON data (it is stored, sent and read by other programs),
so it is typed with ``TypedDict`` rather than classes: the dict *is* the
format (docs/BUNDLE.md), and these types say what a validated one holds. A
bundle is checked once where it enters (`load_bundle`, `write_bundle`, the
public plot functions); code that receives a `Bundle` reads its fields
directly, without defensive ``.get``.
"""

from __future__ import annotations

from typing import Any, Final, Literal, NotRequired, TypedDict

__all__ = [
    "SCHEMA",
    "SCHEMA_MAJOR",
    "Best",
    "Bundle",
    "Chart",
    "Event",
    "EventKind",
    "Point",
    "Provenance",
    "Resume",
    "RunMeta",
    "SeriesData",
    "Summary",
    "run_name",
]

#: the schema identifier written into every bundle
SCHEMA: Final[str] = "curvelog.bundle/1"
SCHEMA_MAJOR: Final[int] = 1

EventKind = Literal["nan", "inf", "-inf"]


class Event(TypedDict):
    """A non-finite value (or a run of them) of one series; its step is charted with null."""

    step: int
    kind: EventKind
    last_step: NotRequired[int]
    count: NotRequired[int]


class SeriesData(TypedDict):
    """One line: the kept points of a metric (``y`` null where not finite)."""

    metric: str
    label: str
    x: list[int]
    y: list[float | None]
    raw_points: int
    events: list[Event]
    #: optional: EMA weight (its repr) -> the EMA over every raw value, at each x
    smooth: NotRequired[dict[str, list[float | None]]]


class SampledFor(TypedDict):
    """The view a chart's points were chosen for: the y scale its panel is drawn with."""

    yscale: Literal["linear", "log"]


class Chart(TypedDict):
    """One panel: its titles, its scale, the view it was sampled for, and its lines."""

    id: str
    title: str
    xlabel: str
    ylabel: str
    scale: Literal["linear", "log"]
    sampled_for: NotRequired[SampledFor]
    series: list[SeriesData]


class Best(TypedDict):
    """The run's best step, exactly once, and every charted metric's value there."""

    step: int
    metric: str | None
    value: float | None
    mode: Literal["min", "max"]
    source: Literal["marked", "recomputed"]
    values: dict[str, float | None]


class Resume(TypedDict):
    """A restart from an earlier checkpoint: the first step of the new segment."""

    step: int
    session: int


class Point(TypedDict):
    step: int
    value: float | None


class Summary(TypedDict):
    """Whole-run figures, computed from every raw point (not the kept ones)."""

    steps: int
    first_step: int | None
    last_step: int | None
    rows: NotRequired[int]
    wall_time: float | None
    end_time: NotRequired[float | None]
    sessions: int
    resumes: int
    damage: list[dict[str, Any]]
    metrics: dict[str, dict[str, Any]]
    analysis: dict[str, Any]


class RunMeta(TypedDict):
    """Who ran it, where, with what: from the log's header."""

    name: str
    sessions: int
    run_id: NotRequired[str | None]
    start_time: NotRequired[float | None]
    host: NotRequired[str | None]
    platform: NotRequired[str | None]
    python: NotRequired[str | None]
    packages: NotRequired[dict[str, Any] | None]
    git: NotRequired[Any]
    argv: NotRequired[list[Any]]
    config: NotRequired[dict[str, Any] | None]
    objective: NotRequired[Any]


class Provenance(TypedDict):
    """Where the bundle came from: the log's name, size and digest; how it was sampled."""

    source: dict[str, Any]
    sampling: dict[str, Any]
    curvelog: str


class Bundle(TypedDict):
    """A whole ``curvelog.bundle/1`` document."""

    schema: str
    run: RunMeta
    charts: list[Chart]
    best: Best | None
    resumes: list[Resume]
    summary: Summary
    provenance: Provenance


def run_name(bundle: Bundle) -> str:
    """What a run is called in titles and legends: ``run.name``, else its id, else ``run``."""
    run = bundle["run"]
    for v in (run["name"], run.get("run_id")):
        if isinstance(v, str) and v:
            return v
    return "run"
