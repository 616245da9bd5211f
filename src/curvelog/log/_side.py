"""Records written beside the buffered rows: configs, replayed columns, system samples.

Each takes the writer's lock, writes after what is on disk and updates the
writer's `_Mark` in one store, as `EventLog._flush_locked` does, so the
crash-safety argument of the writer (docs/FORMAT.md) covers them too. The
buffer that ``append`` fills is never touched here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LogClosedError, StepError
from . import _format
from ._chunk import _chunk_best, _encode_columns
from ._rowblock import Block, encode_small
from ._values import _check_names, _plain_config

if TYPE_CHECKING:
    from ._writer import EventLog

#: rows per data record when importers replay whole columns
_REPLAY_ROWS = 2_048 * 32


def write_config(log: EventLog, config: Any, *, merge: bool) -> None:
    if log._closed:
        raise LogClosedError(log.path)
    plain = _plain_config(config, log.path)
    record = {"type": "config", "sid": log.sid, "time": time.time(),
              "merge": merge, "config": plain}  # fmt: skip
    log._under_lock(_write_config_locked, log, record)


def _write_config_locked(log: EventLog, record: dict[str, Any]) -> None:
    if log._closed:  # closed by another thread meanwhile
        raise LogClosedError(log.path)
    m = log._mark  # one store of the mark, as every write: no rows, no chunk number
    size = _format.append_at(log._fd, _format.encode_frame(_format.pack(record)), m.size)
    log._mark = m._replace(size=size, block=None)  # row frames must follow their block


def replay_columns(
    log: EventLog,
    steps: np.ndarray,
    times: np.ndarray,
    cols: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> int:
    """Private, for importers (issue #15): append rows recorded elsewhere, given as
    columns, keeping *their* wall times.

    ``steps`` and ``times`` hold one entry per row; ``cols`` maps each metric to
    (ascending row numbers, values). Written straight as data records of the
    format `append`'s chunks use, so `append` (the hot path) is untouched and
    millions of imported points cost no Python per point. Returns the rows written.
    """
    if log._closed:
        raise LogClosedError(log.path)
    steps = np.asarray(steps, dtype="<i8")
    times = np.asarray(times, dtype="<f8")
    n = len(steps)
    if len(times) != n:
        raise ValueError("steps and times differ in length")
    _check_names(dict.fromkeys(cols), log._names)
    if n and int(steps.min()) < 0:
        raise StepError(int(steps.min()))
    prepared = {}
    for name, (rows, values) in cols.items():
        r = np.asarray(rows, dtype=np.int64)
        v = np.asarray(values, dtype="<f8")
        if len(r) != len(v) or (len(r) and (int(r.min()) < 0 or int(r.max()) >= n)):
            raise ValueError(f"metric {name!r}: bad row numbers")
        if len(r) > 1 and not bool(np.all(r[1:] > r[:-1])):
            raise ValueError(f"metric {name!r}: row numbers must ascend")
        prepared[name] = (r, v)
    log._under_lock(_replay_locked, log, steps, times, prepared)
    return n


def _replay_locked(
    log: EventLog,
    steps: np.ndarray,
    times: np.ndarray,
    prepared: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    if log._closed:  # closed by another thread meanwhile
        raise LogClosedError(log.path)
    log._flush_locked(None)  # rows appended before go first
    n = len(steps)
    for a in range(0, n, _REPLAY_ROWS):
        b = min(a + _REPLAY_ROWS, n)
        record = _encode_columns(log.sid, steps, times, prepared, a, b, log._mark.seq)
        write_record_locked(log, record, b - a, int(steps[b - 1]))


def write_record_locked(log: EventLog, record: dict[str, Any], rows: int, step: int) -> None:
    """Write a data record made outside the buffer (importers, system samples) after
    what is on disk; caller holds the lock. One store of the mark, as in `_flush_locked`:
    the buffer is untouched here."""
    m = log._mark
    size, best_key, best_step = write_chunk(log, record)
    log._mark = m._replace(size=size, rows=m.rows + rows, seq=m.seq + 1, best_key=best_key,
                            best_step=best_step, step=step, block=None)  # fmt: skip


def write_sample(log: EventLog, row: dict[str, float], t: float) -> bool:
    """The system sampler's way in (#15): a data record of its own, written by the
    flush thread under the lock right after the rows appended before it, at the step
    of the last of them (`_Mark.step`). Steps so never go backwards (no false resume),
    and neither `append` nor the chunks it fills change. False (no sample) before the
    session's first step.
    """
    with log._lock:
        if log._closed or not row:
            return False
        log._flush_locked()  # the rows appended before the sample go first
        m = log._mark
        if m.step < 0:
            return False
        _check_names(row, log._names)
        first = np.zeros(1, dtype=np.int64)
        cols = {name: (first, np.array([v], dtype="<f8")) for name, v in row.items()}
        record = _encode_columns(log.sid, np.array([m.step], dtype="<i8"),
                                 np.array([t], dtype="<f8"), cols, 0, 1, m.seq)  # fmt: skip
        write_record_locked(log, record, 1, m.step)
    return True


def write_small(log: EventLog, record: dict[str, Any]) -> tuple[int, float, int | None, Block]:
    """Write a small flush's rows as a row frame (and a new rows record when the open
    block cannot take them; `_rowblock`), after what is on disk, in one write; caller
    holds the lock and stores the mark. The file's new size, the best so far, the block."""
    m = log._mark
    parts, block = encode_small(log.sid, record, m.block, m.seq)
    data = b"".join(
        _format.encode_frame(p if type(p) is bytes else _format.pack(p))  # type: ignore[arg-type]
        for p in parts
    )
    return (*_write_framed(log, record, data), block)


def write_chunk(log: EventLog, record: dict[str, Any]) -> tuple[int, float, int | None]:
    """Write one data record after what is on disk (caller holds the lock): the file's
    new size and the best so far, counting this chunk. The caller stores the mark."""
    return _write_framed(log, record, _format.encode_frame(_format.pack(record)))


def _write_framed(
    log: EventLog, record: dict[str, Any], data: bytes
) -> tuple[int, float, int | None]:
    """Write the frames ``data`` holding the rows of ``record``: new size, best so far."""
    m = log._mark
    best_key, best_step = m.best_key, m.best_step
    if log.best_metric is not None:
        found = _chunk_best(record, log.best_metric, log._best_sign)
        if found is not None and found[0] < best_key:
            best_key, best_step = found
    size = _format.append_at(log._fd, data, m.size)
    if log._fsync:
        os.fsync(log._fd)
    return size, best_key, best_step


def _best_record(log: EventLog) -> dict[str, Any] | None:
    """The session's best record: the last ``mark_best``, else the tracked optimum."""
    if log._marked is not None:
        return {"type": "best", "sid": log.sid, "source": "marked", "step": log._marked,
                "metric": log.best_metric, "mode": log.mode, "value": None,
                "time": time.time()}  # fmt: skip
    m = log._mark
    if log.best_metric is None or m.best_step is None:
        return None
    return {"type": "best", "sid": log.sid, "source": "tracked", "step": m.best_step,
            "metric": log.best_metric, "mode": log.mode,
            "value": m.best_key * log._best_sign, "time": time.time()}  # fmt: skip


def write_end_locked(log: EventLog, reason: str) -> None:
    """The best record (if any) and the end record, in one write, after the final
    flush; caller (``close``) holds the lock. One store of the mark, which says ended."""
    m = log._mark
    tail = b""
    best = _best_record(log)
    if best is not None:
        tail += _format.encode_frame(_format.pack(best))
    end = {"type": "end", "sid": log.sid, "time": time.time(),
           "reason": reason, "rows": m.rows}  # fmt: skip
    end.update(log._policy.record())  # "skipped", when anything was
    tail += _format.encode_frame(_format.pack(end))
    size = _format.append_at(log._fd, tail, m.size)
    log._mark = m._replace(size=size, ended=True)
