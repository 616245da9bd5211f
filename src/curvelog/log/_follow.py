"""`follow`: rows of a log as a writer appends them, read incrementally (what `tail` shows)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator

from .._fs import read_bytes
from ..errors import (
    PathError,
)
from . import _format
from ._chunk import _rows_of, _rows_of_decoded
from ._format import FILE_MAGIC, Damage, Frame
from ._reader import _check_signature, _writer_active
from ._rowblock import RowFrames


def follow(
    path: str | os.PathLike[str],
    *,
    last: int = 10,
    watch: bool = True,
    poll: float = 0.5,
    until_closed: bool = False,
    metrics: Collection[str] | None = None,
) -> Iterator[tuple[int, float, dict[str, float]]]:
    """Yield ``(step, time, metrics)`` rows of a log as a writer appends them.

    With ``metrics``, a row holds only those (in that order) and rows holding
    none of them are left out, also from the count of ``last``.

    Starts with the ``last`` rows already there, then polls the file every
    ``poll`` seconds (unless ``watch`` is false). A frame still being written
    (a torn tail) is waited for,
    never decoded; corrupt stretches are skipped. With ``until_closed`` the
    iterator ends once the latest session has written its end record, even
    when an earlier session died without one (a crash, then a resume), and
    also once no writer holds the file and two polls in a row found nothing
    new: the writer died without closing it (``kill -9``, out of memory), and
    nothing will close it. (The second poll reads an end record written
    between the first one's read and its look at the lock.)
    """
    path = os.fspath(path)
    raw = read_bytes(path)
    _check_signature(path, raw)
    frames, damage = _format.scan(raw)
    offset = _resume_offset(frames, damage, len(FILE_MAGIC))
    latest = _latest_session(frames, (None, True))
    seen: set[tuple[str, int]] = set()
    small = RowFrames()  # the rows of small flushes (#12)
    pick = _picker(metrics)
    backlog = [row for f in frames for row in pick(_new_rows(f, seen, small))]
    yield from backlog[-last:] if last > 0 else []
    quiet = 0  # polls in a row that found nothing new and no writer
    while watch and not (until_closed and latest[1]):
        time.sleep(poll)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except OSError as e:
            raise PathError(path, f"cannot read any more ({e.strerror or e})") from None
        if not chunk:
            if until_closed:
                quiet = 0 if _writer_active(path) else quiet + 1
                if quiet >= 2:
                    return  # the writer died: the session will never close
            continue
        quiet = 0
        frames, damage = _format.scan(chunk, 0)
        for f in frames:
            yield from pick(_new_rows(f, seen, small))
        latest = _latest_session(frames, latest)
        offset += _resume_offset(frames, damage, 0)


Rows = list[tuple[int, float, dict[str, float]]]


def _picker(metrics: Collection[str] | None) -> Callable[[Rows], Rows]:
    """The rows restricted to ``metrics`` (rows without any left out); all of them for None."""
    if metrics is None:
        return lambda rows: rows
    names = list(dict.fromkeys(metrics))

    def pick(rows: Rows) -> Rows:
        out = []
        for step, when, values in rows:
            kept = {k: values[k] for k in names if k in values}
            if kept:
                out.append((step, when, kept))
        return out

    return pick


def _new_rows(
    frame: Frame, seen: set[tuple[str, int]], small: RowFrames
) -> list[tuple[int, float, dict[str, float]]]:
    """The rows of ``frame`` not shown yet: a data record's, or a row frame's."""
    if _fresh(frame, seen):
        return _rows_of(frame.record)
    decoded = small.decoded(frame.record)
    return [] if decoded is None else _rows_of_decoded(*decoded)


def _fresh(frame: Frame, seen: set[tuple[str, int]]) -> bool:
    """Whether ``frame`` is a data record not shown yet (a repeated chunk is shown once)."""
    rec = frame.record
    if rec.get("type") != "data":
        return False
    sid, seq = rec.get("sid"), rec.get("seq")
    if type(sid) is not str or type(seq) is not int:
        return True  # a writer from before sequence numbers
    if (sid, seq) in seen:
        return False
    seen.add((sid, seq))
    return True


def _resume_offset(frames: list[Frame], damage: list[Damage], start: int) -> int:
    """Where to read next: after the last intact frame, or after skipped corruption.

    A torn tail may be a frame still being written, so it is read again.
    """
    end = frames[-1].end if frames else start
    for d in damage:
        if d.kind != "torn" and d.end > end:
            end = d.end
    return end


def _latest_session(
    frames: list[Frame], latest: tuple[str | None, bool]
) -> tuple[str | None, bool]:
    """(the latest session's id, whether it has closed), updated by ``frames``.

    Only the latest session counts: an earlier one that died without an end
    record will never close, and a resumed run must not wait for it.
    """
    sid, closed = latest
    for f in frames:
        kind = f.record.get("type")
        if kind == "session":
            sid, closed = str(f.record.get("sid")), False
        elif kind == "end" and str(f.record.get("sid")) == sid:
            closed = True
    return sid, closed
