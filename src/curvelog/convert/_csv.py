"""Turn curves recorded elsewhere into curvelog logs.

``csv_to_log`` reads a long CSV (``step,metric,value``, one row per recorded
value, in the order the values were recorded, and an optional ``time``
column of wall times, as ``curvelog export`` writes it) and writes it as a
log, so everything downstream (``read``, ``compact``, ``plot``) sees the run
as if curvelog had recorded it: a step lower than the previous row's is a
resume from an earlier checkpoint, a step written twice keeps both writes
(the reader shows the latest), and ``nan``/``inf`` are recorded as values.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import stat
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import IO, Final, Literal

import numpy as np

from .._fs import atomic_path, same_file
from ..errors import MetricNotFoundError, OutputExistsError, PathError
from ..log import EventLog, no_writer
from ..log._values import _STEP_LIMIT

__all__ = ["CsvWarning", "ImportReport", "csv_to_log", "default_log_path"]

_COLUMNS: Final[tuple[str, str, str]] = ("step", "metric", "value")
#: cells that mean "nothing recorded here": the row is skipped (absent, not NaN)
_EMPTY: Final[frozenset[str]] = frozenset({"", "null", "none", "na", "n/a"})
#: longest CSV line read (characters): a longer one is refused before it is in memory (#10)
MAX_LINE: Final[int] = 1 << 20
#: a gzip CSV may inflate to at most this many times its size (past 64 MiB): gzip bombs (#10)
MAX_INFLATION: Final[int] = 200
_INFLATION_FLOOR: Final[int] = 64 << 20


class _Inflation(io.RawIOBase):
    """A gzip stream that refuses to inflate past `MAX_INFLATION` times the file's size."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._gz = gzip.open(path, "rb")
        self._limit = max(_INFLATION_FLOOR, MAX_INFLATION * os.path.getsize(path))
        self._seen = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        data = self._gz.read(len(b))
        self._seen += len(data)
        if self._seen > self._limit:
            raise PathError(
                self._path,
                f"inflates past {self._limit:,} bytes ({MAX_INFLATION}x its size); "
                "refusing a gzip bomb (decompress it yourself if it is real)",
            )
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._gz.close()
        super().close()


def _lines(f: IO[str], path: str) -> Iterator[str]:
    """The lines of ``f``, none longer than `MAX_LINE` (checked before it is all read)."""
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE:
            raise PathError(
                path, f"a line longer than {MAX_LINE:,} characters; not a CSV of curves"
            )
        yield line


class CsvWarning(UserWarning):
    """Something `csv_to_log` imported other than as written (the CLI prints it as a
    ``Warning:`` line): names that differ only in the spaces it trims."""


@dataclass(frozen=True)
class ImportReport:
    """What `csv_to_log` wrote."""

    #: value rows read from the CSV (header excluded)
    rows: int
    #: rows skipped because their value cell was empty
    skipped: int
    #: ``EventLog.append`` calls made (consecutive rows of one step share one)
    appends: int
    #: distinct metric names, in order of first appearance
    metrics: tuple[str, ...]
    #: times the step went backwards (resumes)
    restarts: int
    #: whether the rows' wall times came from the CSV's ``time`` column (else: the import's)
    times: bool = False


def default_log_path(csv_path: str | os.PathLike[str]) -> str:
    """``runs/a.csv`` and ``runs/a.csv.gz`` become ``runs/a.log``."""
    path = os.fspath(csv_path)
    folder, name = os.path.split(path)
    for suffix in (".csv.gz", ".gz", ".csv"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return os.path.join(folder, name + ".log")


def _open_text(path: str) -> IO[str]:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) and not os.path.isdir(path):
            raise PathError(path, "is not a regular file")  # a FIFO would block
        with open(path, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
    except PathError:
        raise
    except FileNotFoundError:
        raise PathError(path, "no such file") from None
    except IsADirectoryError:
        raise PathError(path, "is a directory, not a CSV file") from None
    except OSError as e:
        raise PathError(path, f"cannot read ({e.strerror})") from None
    # utf-8-sig: a byte-order mark (Excel writes one) is no part of the first column's name
    if gzipped:
        raw = io.BufferedReader(_Inflation(path))
        return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _parse_step(text: str, path: str, line: int) -> int:
    t = text.strip()
    try:
        step = int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            f = math.nan
        step = int(f) if f.is_integer() else -1
    if not 0 <= step < _STEP_LIMIT:  # the log's steps are int64
        raise PathError(
            path, f"line {line}: step {text!r} is not a non-negative integer below 2**63"
        )
    return step


def _parse_value(text: str, path: str, line: int) -> float | None:
    t = text.strip()
    if t.lower() in _EMPTY:
        return None
    try:
        return float(t)  # also "nan", "inf", "-inf", "Infinity", "NaN"
    except ValueError:
        raise PathError(path, f"line {line}: value {text!r} is not a number") from None


def _parse_time(text: str, path: str, line: int) -> float:
    """Seconds since 1970 (what ``curvelog export`` writes), or an ISO 8601 date
    (W&B and MLflow exports; one without a zone is UTC)."""
    t = text.strip()
    try:
        when = float(t)
    except ValueError:
        try:
            date = datetime.fromisoformat(t)
        except ValueError:
            when = math.nan
        else:
            when = (date if date.tzinfo else date.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(when):
        raise PathError(
            path, f"line {line}: time {text!r} is neither seconds since 1970 nor an ISO 8601 date"
        )
    return when


def _rows(path: str) -> Iterator[tuple[int, int, str, float | None, float | None]]:
    """(line number, step, metric, value or None, wall time or None) per CSV row, in
    file order; the time where the CSV has a ``time`` column."""
    try:
        with _open_text(path) as f:
            reader = csv.reader(_lines(f, path))
            try:
                header = next(reader, None)
            except PathError:
                raise
            except (UnicodeDecodeError, csv.Error, OSError, EOFError) as e:
                raise PathError(path, f"not a CSV file ({e})") from None
            if header is None:
                raise PathError(path, "empty file, expected a 'step,metric,value' CSV")
            names = [h.strip().lower() for h in header]
            if not set(_COLUMNS) <= set(names):
                shown = ",".join(header)[:80]
                raise PathError(path, f"expected the columns step,metric,value, found {shown!r}")
            i_step, i_metric, i_value = (names.index(c) for c in _COLUMNS)
            i_time = names.index("time") if "time" in names else None
            width = max(i_step, i_metric, i_value, -1 if i_time is None else i_time) + 1
            spelled: dict[str, str] = {}  # a trimmed metric name -> as first written
            merged: list[tuple[str, str]] = []
            line = 1
            try:
                for row in reader:
                    line = reader.line_num
                    if not row:
                        continue
                    extra = len(row) > len(header) and any(f.strip() for f in row[len(header) :])
                    if len(row) < width or extra:
                        # more fields than the header names: an unquoted comma in a
                        # value ("0,5" for 0.5) would otherwise import a wrong number
                        # (empty ones, a trailing comma, are harmless)
                        want = width if len(row) < width else len(header)
                        raise PathError(path, f"line {line}: {len(row)} fields, expected {want}")
                    metric = row[i_metric].strip()  # "0, loss, 1.5" is a hand-written CSV
                    if not metric:
                        raise PathError(path, f"line {line}: empty metric name")
                    first = spelled.setdefault(metric, row[i_metric])
                    if first != row[i_metric] and (first, row[i_metric]) not in merged:
                        merged.append((first, row[i_metric]))
                        warnings.warn(
                            f"{path}: line {line}: metric names {first!r} and "
                            f"{row[i_metric]!r} differ only in spaces around them; "
                            f"imported as one metric, {metric!r}",
                            CsvWarning,
                            stacklevel=2,
                        )
                    step = _parse_step(row[i_step], path, line)
                    when = None if i_time is None else _parse_time(row[i_time], path, line)
                    yield line, step, metric, _parse_value(row[i_value], path, line), when
            except PathError:
                raise
            except (UnicodeDecodeError, csv.Error, OSError, EOFError) as e:
                raise PathError(path, f"line {line}: unreadable CSV ({e})") from None
    except PathError:
        raise
    except OSError as e:  # gzip header errors surface on first read
        raise PathError(path, f"cannot read ({e})") from None


def csv_to_log(
    csv_path: str | os.PathLike[str],
    log_path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    best: str | None = None,
    mode: Literal["min", "max"] | None = None,
) -> ImportReport:
    """Write the long CSV ``csv_path`` (``step,metric,value``) as the log ``log_path``.

    A restart is where some metric's step goes back below its own previous
    step; between restarts rows are replayed in step order (a stable sort, so
    two writes of one step keep their order), because exports often list one
    metric after another. Consecutive rows of the same step become one
    ``append`` unless a metric repeats among them (a second write of the
    same step): then a new ``append`` starts, so the log keeps both writes
    and the reader shows the later one. Values are parsed with
    ``float`` (so ``nan``, ``inf`` and ``-inf`` are recorded as such); a row
    whose value cell is empty (or ``null``, ``none``, ``na``) is skipped,
    because "not recorded" is not NaN. A ``time`` column (seconds since
    1970, what ``curvelog export`` writes, or ISO 8601 dates, UTC where they
    name no zone) gives each row its wall time;
    without one every row gets the time of the import. Metric names are
    trimmed of surrounding spaces (a hand-written ``0, loss, 1.5``); two names
    that differ only there become one metric, with a `CsvWarning`. The whole
    CSV is checked before the
    log is created, so a bad CSV leaves no log behind.

    :param overwrite: replace an existing ``log_path``; otherwise
        `OutputExistsError` (opening an existing log would append a session).
    :param best: the objective metric (``EventLog(best=...)``): the log then
        holds a best record, as if the run had been recorded by curvelog.
    :param mode: ``"min"`` or ``"max"`` for ``best`` (default: from its name, as `EventLog`).
    :raises PathError: missing or unreadable CSV, bad header, bad step or value
        (the message names the line).
    """
    src = os.fspath(csv_path)
    dst = os.fspath(log_path)
    if same_file(src, dst):
        raise PathError(dst, "is the CSV being imported; choose another output")
    if os.path.exists(dst) and not overwrite:
        raise OutputExistsError(dst)
    # Parse everything first: a CSV that fails on line 90,000 must not leave a log.
    parsed: list[tuple[int, int, str, float, float | None]] = []  # segment, step, metric...
    metrics: dict[str, None] = {}
    last: dict[str, int] = {}
    rows = skipped = segment = 0
    timed = False
    for _line, step, metric, value, when in _rows(src):
        rows += 1
        timed = when is not None
        if value is None:
            skipped += 1
            continue
        metrics.setdefault(metric, None)
        if step < last.get(metric, -1):  # this metric went back: the run was restarted
            segment += 1
            last.clear()
        last[metric] = step
        parsed.append((segment, step, metric, value, when))
    # Within a segment rows go in step order: exports often list one metric after
    # another (all train rows, then all eval rows), which is not a restart.
    parsed.sort(key=itemgetter(0, 1))
    # One row of the log per append: a step's values together, a new row where a
    # metric repeats (a second write); its wall time is its first value's
    now = time.time()
    steps: list[int] = []
    times: list[float] = []
    cols: dict[str, tuple[list[int], list[float]]] = {m: ([], []) for m in metrics}
    current: set[str] = set()
    for _segment, step, metric, value, when in parsed:
        if not steps or step != steps[-1] or metric in current:
            current = set()
            steps.append(step)
            times.append(now if when is None else when)
        current.add(metric)
        cols[metric][0].append(len(steps) - 1)
        cols[metric][1].append(value)
    if best is not None and best not in metrics:
        raise MetricNotFoundError(src, best, list(metrics))
    config = {"imported_from": os.path.basename(src)}
    # Built beside the target and moved into place: a failed import leaves nothing,
    # and without ``overwrite`` a log created meanwhile is never replaced.
    with no_writer(dst), atomic_path(dst, overwrite=overwrite) as tmp:
        with EventLog(
            tmp, best=best, mode=mode, config=config, flush_every=0, _any_rank=True
        ) as log:
            log._replay_columns(
                np.asarray(steps, dtype=np.int64),
                np.asarray(times, dtype=np.float64),
                {m: (np.asarray(r, dtype=np.int64), np.asarray(v)) for m, (r, v) in cols.items()},
            )
    return ImportReport(rows, skipped, len(steps), tuple(metrics), segment, timed)
