"""`read`: a whole log into a `Run`, never raising on damage unless asked, never a damaged value."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._fs import read_bytes
from ..errors import (
    LogCorruptError,
    LogFormatError,
)
from . import _format
from ._chunk import _decode_data
from ._format import FILE_MAGIC, Damage, Frame
from ._header import FORMAT_VERSION
from ._run import Run, Session

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _writer_active(path: str) -> bool:
    """Whether an EventLog holds the file's exclusive lock right now."""
    if fcntl is None:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    except OSError:
        return False  # read_bytes reports why
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # also releases the shared lock
    return False


def _check_signature(path: str, raw: bytes) -> None:
    if not raw:
        raise LogFormatError(path, 0, "empty file, not a curvelog log")
    if not raw.startswith(FILE_MAGIC):
        if FILE_MAGIC.startswith(raw):
            raise LogFormatError(
                path, len(raw), "log ends inside its signature (writer died while creating it)"
            )
        raise LogFormatError(path, 0, "not a curvelog log (bad signature)")


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _rows_index(parts: list[Any], nrows: int) -> np.ndarray | None:
    """Global row numbers of a metric's values; None when it has a value in every row."""
    if all(isinstance(p, tuple) for p in parts) and sum(p[1] for p in parts) == nrows:
        return None
    return _concat(
        [np.arange(p[0], p[0] + p[1], dtype=np.int64) if isinstance(p, tuple) else p for p in parts]
    )


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every intact record of a log, decoded, in file order (damage skipped silently)."""
    path = os.fspath(path)
    raw = read_bytes(path)
    if not raw.startswith(FILE_MAGIC):
        return []
    frames, _ = _format.scan(raw)
    return [f.record for f in frames]


def _bad(path: str, frame: Frame, what: str) -> LogFormatError:
    return LogFormatError(path, frame.offset, what)


def read(path: str | os.PathLike[str], *, strict: bool = False) -> Run:
    """Read a log: never raises on damage unless ``strict``; never returns a damaged value.

    Damaged stretches are skipped and listed in ``Run.damage``. With
    ``strict=True`` the first one raises `LogCorruptError` instead.
    """
    path = os.fspath(path)
    live = _writer_active(path)
    raw = read_bytes(path)
    _check_signature(path, raw)
    frames, damage = _format.scan(raw)
    if strict and damage:
        d = damage[0]
        raise LogCorruptError(path, d.start, d.describe())
    sessions: list[Session] = []
    by_sid: dict[str, Session] = {}
    bests: list[dict[str, Any]] = []
    configs: list[tuple[bool, dict[str, Any]]] = []
    step_parts: list[np.ndarray] = []
    time_parts: list[np.ndarray] = []
    col_parts: dict[str, tuple[list[Any], list[np.ndarray]]] = {}
    nrows = 0
    for fr in frames:
        rec = fr.record
        kind = rec.get("type")
        if kind == "data":
            try:
                steps, times, decoded = _decode_data(rec)
            except ValueError as e:
                if strict:
                    raise _bad(path, fr, f"malformed data record ({e})") from None
                damage.append(Damage(fr.offset, fr.end, "undecodable"))
                continue
            n = len(steps)
            for name, rows, v in decoded:
                parts = col_parts.setdefault(name, ([], []))
                parts[0].append((nrows, n) if rows is None else rows.astype(np.int64) + nrows)
                parts[1].append(v)
            step_parts.append(steps)
            time_parts.append(times)
            sess = by_sid.get(rec.get("sid", ""))
            if sess is None:
                sess = sessions[-1] if sessions else None
            if sess is not None and n:
                sess.rows += n
                if sess.first_step is None:
                    sess.first_step = int(steps[0])
                sess.last_step = int(steps[-1])
                sess.last_time = float(times[-1])
            nrows += n
        elif kind == "session":
            fmt = rec.get("format")
            if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
                raise _bad(path, fr, f"log format {rec.get('format')} is newer than this curvelog "
                                     f"reads ({FORMAT_VERSION}); upgrade curvelog")  # fmt: skip
            s = Session(len(sessions), str(rec.get("sid", "")), rec, fr.offset)
            if isinstance(rec.get("config"), dict) and rec["config"]:
                configs.append((bool(sessions), rec["config"]))  # a resume's config merges
            sessions.append(s)
            by_sid[s.sid] = s
        elif kind == "best":
            bests.append(rec)
        elif kind == "config":  # set_config / update_config after opening
            if isinstance(rec.get("config"), dict):
                configs.append((bool(rec.get("merge")), rec["config"]))
        elif kind == "end":
            sess = by_sid.get(rec.get("sid", ""))
            if sess is not None:
                sess.end = rec
        # Unknown record types are skipped: newer minor versions may add some.
    damage.sort(key=lambda d: d.start)
    # The header can be lost to damage; the data after it is still good.
    header = sessions[0].header if sessions else {}
    cols_out = {name: (_rows_index(r, nrows), _concat(v)) for name, (r, v) in col_parts.items()}
    return Run(
        path=path,
        size=len(raw),
        header=header,
        sessions=sessions,
        damage=damage,
        best_records=bests,
        live=live,
        _steps=np.concatenate(step_parts) if step_parts else np.zeros(0, dtype=np.int64),
        _times=np.concatenate(time_parts) if time_parts else np.zeros(0, dtype=np.float64),
        _cols=cols_out,
        _configs=configs,
    )
