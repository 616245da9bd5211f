"""`follow`: rows of a log as a writer appends them, read incrementally (what `tail` shows)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from .._fs import read_bytes
from ..errors import (
    PathError,
)
from . import _format
from ._chunk import _rows_of
from ._format import FILE_MAGIC, Damage, Frame
from ._reader import _check_signature


def follow(
    path: str | os.PathLike[str],
    *,
    last: int = 10,
    watch: bool = True,
    poll: float = 0.5,
    until_closed: bool = False,
) -> Iterator[tuple[int, float, dict[str, float]]]:
    """Yield ``(step, time, metrics)`` rows of a log as a writer appends them.

    Starts with the ``last`` rows already there, then polls the file every
    ``poll`` seconds (unless ``watch`` is false). A frame still being written
    (a torn tail) is waited for,
    never decoded; corrupt stretches are skipped. With ``until_closed`` the
    iterator ends once the last session has written its end record.
    """
    path = os.fspath(path)
    raw = read_bytes(path)
    _check_signature(path, raw)
    frames, damage = _format.scan(raw)
    offset = _resume_offset(frames, damage, len(FILE_MAGIC))
    open_sessions = _open_sessions(frames, set())
    seen: set[tuple[str, int]] = set()
    backlog = [row for f in frames if _fresh(f, seen) for row in _rows_of(f.record)]
    yield from backlog[-last:] if last > 0 else []
    while watch and not (until_closed and not open_sessions):
        time.sleep(poll)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except OSError as e:
            raise PathError(path, f"cannot read any more ({e.strerror or e})") from None
        if not chunk:
            continue
        frames, damage = _format.scan(chunk, 0)
        for f in frames:
            if _fresh(f, seen):
                yield from _rows_of(f.record)
        open_sessions = _open_sessions(frames, open_sessions)
        offset += _resume_offset(frames, damage, 0)


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


def _open_sessions(frames: list[Frame], sessions: set[str]) -> set[str]:
    sessions = set(sessions)
    for f in frames:
        kind = f.record.get("type")
        if kind == "session":
            sessions.add(str(f.record.get("sid")))
        elif kind == "end":
            sessions.discard(str(f.record.get("sid")))
    return sessions
