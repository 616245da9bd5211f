"""TensorBoard event files to curvelog logs and back (issue #15), without TensorFlow.

Reading: the TFRecord framing (`_tfrecord`, both checksums of every record
verified) and the few protobuf fields of a scalar (`_tb_proto`), by hand.
Nothing wrong is ever returned: a damaged record is skipped and reported, a
torn last record too. Every scalar point is kept with its step and wall time.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final, Literal

import numpy as np

from .._fs import atomic_path, read_bytes, same_file
from ..errors import MetricNotFoundError, OutputExistsError, PathError
from . import _tb_proto, _tb_scan, _tfrecord
from ._tb_scan import Points

__all__ = [
    "EventFileDamage",
    "EventFileRead",
    "ExportedRun",
    "export_tensorboard",
    "ImportedRun",
    "event_files",
    "find_runs",
    "import_tensorboard",
    "read_event_file",
]

#: the marker TensorBoard itself uses to recognise event files
_EVENT_MARK: Final[str] = "tfevents"


@dataclass(frozen=True)
class EventFileDamage:
    """A stretch of an event file that gave no values, and why."""

    path: str
    #: byte offsets [start, end) in the file
    start: int
    end: int
    what: Literal["checksum", "torn tail", "malformed event"]

    def describe(self) -> str:
        n = self.end - self.start
        return f"{self.path}: bytes {self.start:,}-{self.end:,} ({n:,} bytes): {self.what}, skipped"


@dataclass
class EventFileRead:
    """The scalar points of one event file, in file order (one row per event)."""

    path: str
    #: the points, columnar (see `_tb_scan.Points`)
    data: Points
    records: int
    damage: list[EventFileDamage]
    #: points not kept: a negative step, or a scalars-plugin tensor curvelog cannot read
    dropped: int = 0

    @property
    def points(self) -> int:
        return len(self.data.values)

    @cached_property
    def rows(self) -> list[tuple[int, float, dict[str, float]]]:
        """(step, wall time, {tag: value}) per event that holds scalars, in file order."""
        return self.data.as_rows()


# --------------------------------------------------------------------------- reading


def read_event_file(
    path: str | os.PathLike[str], plugins: dict[str, str] | None = None
) -> EventFileRead:
    """Every scalar point of one event file, in file order; damage reported, never raised.

    :param plugins: tag -> plugin name, carried from the run's earlier files
        (a tag's metadata is written with its first value only).
    """
    p = os.fspath(path)
    buf = read_bytes(p)
    starts, lengths, bad = _tfrecord.frame(buf)
    points, dropped, malformed = _tb_scan.scalars(
        buf, starts, lengths, {} if plugins is None else plugins
    )
    damage = [EventFileDamage(p, a, z, what) for a, z, what in bad]  # type: ignore[arg-type]
    damage += [
        EventFileDamage(
            p, int(starts[r]) - _tfrecord.HEADER, int(starts[r] + lengths[r]) + 4, "malformed event"
        )
        for r in malformed
    ]
    damage.sort(key=lambda d: d.start)
    return EventFileRead(p, points, len(starts), damage, dropped)


def _is_event_file(name: str) -> bool:
    return _EVENT_MARK in name


def event_files(folder: str | os.PathLike[str]) -> list[str]:
    """The event files directly in ``folder``, in TensorBoard's own loading order (by name:
    their names start with the creation time, so this is also the order they were written)."""
    f = os.fspath(folder)
    try:
        names = sorted(e.name for e in os.scandir(f) if e.is_file() and _is_event_file(e.name))
    except OSError as e:
        raise PathError(f, f"cannot list ({e.strerror})") from None
    return [os.path.join(f, n) for n in names]


def find_runs(root: str | os.PathLike[str]) -> list[str]:
    """Every folder under ``root`` (itself included) that directly holds event files, sorted."""
    r = os.fspath(root)
    runs = []
    for folder, dirs, files in os.walk(r, onerror=None):
        dirs.sort()
        if any(_is_event_file(n) for n in files):
            runs.append(folder)
    return sorted(runs)


@dataclass
class ImportedRun:
    """What `import_tensorboard` wrote for one run."""

    source: str
    log: str
    files: list[str]
    points: int
    rows: int
    metrics: tuple[str, ...]
    damage: list[EventFileDamage] = field(default_factory=list)
    #: points not imported (see `EventFileRead.dropped`)
    dropped: int = 0
    #: why no log was written for this run, one of several: it holds no scalar
    #: point, or no readable record; "" when its log was written
    skipped: str = ""

    @property
    def written(self) -> bool:
        """Whether this run's log was written (see ``skipped``)."""
        return not self.skipped


def _read_run(
    files: list[str],
) -> tuple[list[EventFileRead], np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The run's files, and all their points as columns: steps and times per row,
    {tag: (row numbers, values)} in order of first appearance."""
    plugins: dict[str, str] = {}
    reads = [read_event_file(f, plugins) for f in files]
    parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    offset = 0
    for r in reads:
        d = r.data
        order = np.argsort(d.tags, kind="stable")
        tags, rows, values = d.tags[order], d.rows[order], d.values[order]
        cuts = np.searchsorted(tags, np.arange(len(d.names) + 1))
        for k, name in enumerate(d.names):
            a, b = int(cuts[k]), int(cuts[k + 1])
            rs, vs = parts.setdefault(name, ([], []))
            rs.append(rows[a:b] + offset)
            vs.append(values[a:b])
        offset += len(d.steps)
    steps = np.concatenate([r.data.steps for r in reads] or [np.zeros(0, np.int64)])
    times = np.concatenate([r.data.times for r in reads] or [np.zeros(0)])
    cols = {name: (np.concatenate(rs), np.concatenate(vs)) for name, (rs, vs) in parts.items()}
    return reads, steps, times, cols


def _write_run(
    source: str,
    files: list[str],
    dst: str,
    *,
    overwrite: bool,
    best: str | None,
    mode: Literal["min", "max"] | None,
    several: bool = False,
) -> ImportedRun:
    """One run's log; ``several``: a run without scalars, or without a readable record,
    is skipped (`ImportedRun.written`), not an error, since a folder of runs often holds
    one (``add_hparams``, images only, a file cut off by a crash)."""
    from ..log import EventLog, no_writer

    reads, steps, times, cols = _read_run(files)
    dropped = sum(r.dropped for r in reads)
    damage = [d for r in reads for d in r.damage]
    why = error = ""
    if not any(r.records for r in reads) and damage:
        why = error = "no readable TensorBoard record (not an event file, or damaged throughout)"
    elif not cols:  # an empty log would look like an import that worked
        why = "holds no scalar points" + (f" ({dropped:,} non-scalar points)" if dropped else "")
        error = f"{why}: nothing to import"
    if why:
        if not several:
            raise PathError(source, error)
        return ImportedRun(source, dst, files, 0, 0, (), damage, dropped, skipped=why)
    if best is not None and best not in cols:
        raise MetricNotFoundError(source, best, list(cols))
    config = {"imported_from": os.path.basename(os.path.abspath(source)), "format": "tensorboard"}
    with no_writer(dst), atomic_path(dst, overwrite=overwrite) as tmp:
        with EventLog(
            tmp, best=best, mode=mode, config=config, flush_every=0, _any_rank=True
        ) as log:
            rows = log._replay_columns(steps, times, cols)
    return ImportedRun(
        source=source,
        log=dst,
        files=files,
        points=sum(r.points for r in reads),
        rows=rows,
        metrics=tuple(cols),
        damage=damage,
        dropped=dropped,
    )


def _log_name(root: str, run: str) -> str:
    """``<run folder>.log``, nested folders joined by ``__``; an event file is named by its
    folder (its own name is a timestamp and a host)."""
    if os.path.isfile(run):
        return (os.path.basename(os.path.dirname(os.path.abspath(run))) or "run") + ".log"
    rel = os.path.relpath(run, root)
    if rel == ".":
        rel = os.path.basename(os.path.abspath(root)) or "run"
    return rel.replace(os.sep, "__") + ".log"


def import_tensorboard(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    best: str | None = None,
    mode: Literal["min", "max"] | None = None,
) -> list[ImportedRun]:
    """Import TensorBoard scalars into curvelog logs, keeping every point and its wall time.

    ``source`` is an event file, a run folder (event files directly in it,
    merged in name order, which is the order they were written) or a folder
    of runs (every sub-folder holding event files is a run). One run is
    written to the log ``output`` (or ``output/<run>.log`` if ``output`` is a
    folder); several runs to ``output/<run>.log`` (nested run folders joined
    with ``__``). Each event becomes one row, so
    a step logged several times keeps every write (readers show the latest)
    and a step going back is a resume, as in curvelog's own logs.

    :param overwrite: replace existing logs; otherwise `OutputExistsError`.
    :param best: the objective metric (``EventLog(best=...)``), so that the logs hold a
        best record as if curvelog had recorded the runs; ``mode`` is its direction.
    :raises PathError: ``source`` missing or holding no event files, or no scalar
        point (a run of several without any is skipped: `ImportedRun.written`).
    :raises MetricNotFoundError: a run without the metric ``best``.
    """
    src = os.fspath(source)
    out = os.fspath(output)
    if os.path.isfile(src):
        runs = {src: [src]}
    elif os.path.isdir(src):
        runs = {r: event_files(r) for r in find_runs(src)}
        if not runs:
            raise PathError(src, "holds no TensorBoard event files (*tfevents*)")
    elif os.path.exists(src):
        raise PathError(src, "is not a file or folder")
    else:
        raise PathError(src, "no such file or folder")
    if len(runs) == 1 and not os.path.isdir(out):
        targets = {run: out for run in runs}
    else:
        if os.path.exists(out) and not os.path.isdir(out):
            raise PathError(out, f"{len(runs)} runs need an output folder, and this is a file")
        targets = _unique_targets(out, {run: _log_name(src, run) for run in runs})
    for run, dst in targets.items():
        if any(same_file(f, dst) for f in runs[run]):
            raise PathError(dst, "is an event file being imported; choose another output")
        if os.path.exists(dst) and not overwrite:
            raise OutputExistsError(dst)
    several = len(runs) > 1
    made = several and not os.path.exists(out)
    if several:
        os.makedirs(out, exist_ok=True)
    done = [
        _write_run(run, runs[run], dst, overwrite=overwrite, best=best, mode=mode, several=several)
        for run, dst in targets.items()
    ]
    if not any(r.written for r in done):
        if made:
            os.rmdir(out)  # made for nothing: the command leaves no trace
        raise PathError(src, f"holds no readable scalar points in any of its {len(runs)} runs")
    return done


def _unique_targets(out: str, names: dict[str, str]) -> dict[str, str]:
    """Each run's log in ``out``: its name, or ``<name> (2).log`` ... where another
    run has it (``a/b`` and ``a__b`` are both ``a__b.log``): one run's log must
    never replace another's."""
    taken: set[str] = set()
    targets = {}
    for run, name in names.items():
        stem, k = name.removesuffix(".log"), 1
        while name in taken:
            k += 1
            name = f"{stem} ({k}).log"
        taken.add(name)
        targets[run] = os.path.join(out, name)
    return targets


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportedRun:
    """What `export_tensorboard` wrote."""

    log: str
    event_file: str
    points: int
    events: int
    metrics: tuple[str, ...]
    #: damage found in the log (skipped, as `curvelog.read` skips it), described
    damage: tuple[str, ...] = ()


def export_tensorboard(
    log: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, overwrite: bool = False
) -> ExportedRun:
    """Write a log's curves as one TensorBoard event file in ``out_dir``.

    What is written is what `curvelog.read` shows: per metric its sorted
    steps with the latest write of each (a resumed run's superseded writes
    are not exported), each with its own wall time. Values are ``DT_DOUBLE``
    scalar tensors of the ``scalars`` plugin, so TensorBoard reads back the
    very float64 recorded, NaN and infinities included, where ``add_scalar``
    would round to float32. One value per event, as ``add_scalar`` writes them,
    in step order across metrics, because TensorBoard drops earlier points when
    a step goes backwards.

    :param overwrite: replace this log's own event file if it is there already.
    :raises PathError: ``out_dir`` is a file, or already holds other event files
        (TensorBoard would merge them into this run).
    """
    from ..log import read

    src = os.fspath(log)
    out = os.fspath(out_dir)
    run = read(src)
    if os.path.exists(out) and not os.path.isdir(out):
        raise PathError(out, "is a file; TensorBoard export writes into a folder")
    os.makedirs(out, exist_ok=True)
    t0 = run.header.get("start_time")
    t0 = float(t0) if isinstance(t0, (int, float)) and math.isfinite(t0) else 0.0
    rid = str(run.header.get("run_id") or "run")[:12]
    name = f"events.out.tfevents.{int(t0):010d}.curvelog.{rid}"
    others = [f for f in event_files(out) if os.path.basename(f) != name]
    if others:
        raise PathError(
            out,
            f"already holds event files ({os.path.basename(others[0])}); TensorBoard would "
            "merge them with this run, so export into an empty folder",
        )
    metrics = run.metrics
    series = [run.series(m) for m in metrics]
    steps = np.concatenate([s.steps for s in series] or [np.zeros(0, np.int64)])
    times = np.concatenate([s.times for s in series] or [np.zeros(0)])
    vals = np.concatenate([s.values for s in series] or [np.zeros(0)])
    which = np.concatenate([np.full(len(s), i) for i, s in enumerate(series)] or [np.zeros(0)])
    order = np.lexsort((which, times, steps))  # step, then wall time, then metric order
    tags = [m.encode("utf-8") for m in metrics]
    seen = [False] * len(metrics)
    dst = os.path.join(out, name)
    with atomic_path(dst, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        f.write(_tfrecord.encode(_tb_proto.file_version_event(t0)))
        # One value per event, as add_scalar writes them: the reader's fast path then
        # reads an exported file back by layout, and every event has the same shape.
        plain = [_tb_proto.scalar_event_parts(t, False) for t in tags]
        first = [_tb_proto.scalar_event_parts(t, True) for t in tags]
        wall = struct.Struct("<d").pack
        step_field = _tb_proto.step_field
        per = 1 << 16
        for k in range(0, len(order), per):
            sel = order[k : k + per]
            events = []
            for st, tm, v, w in zip(
                steps[sel].tolist(),
                times[sel].tolist(),
                vals[sel].tolist(),
                which[sel].astype(int).tolist(),
                strict=True,
            ):
                parts = plain[w] if seen[w] else first[w]
                seen[w] = True
                events.append(b"\x09" + wall(tm) + step_field(st) + parts + wall(v))
            f.write(_tfrecord.encode_many(events))
    damage = tuple(d.describe() for d in run.damage)
    return ExportedRun(src, dst, len(vals), len(vals), tuple(metrics), damage)
