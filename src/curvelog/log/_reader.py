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
from ._fill import Chunk, Columns
from ._format import FILE_MAGIC, ROW_FRAME, Damage, Frame
from ._header import FORMAT_VERSION
from ._records import record_problem
from ._rowblock import assemble, decode_entry, entry_key, session_tag
from ._run import Run, Session
from ._view import Image, open_image

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


def _check_signature(path: str, raw: Any) -> list[Damage]:
    """Raise for a file that is no log; a damaged signature is damage, not the end."""
    if not raw:
        raise LogFormatError(path, 0, "empty file, not a curvelog log")
    state = _format.signature_state(raw[: 1 << 16])
    if state == "ok":
        return []
    if FILE_MAGIC.startswith(raw[: len(FILE_MAGIC) + 1]):
        raise LogFormatError(
            path, len(raw), "log ends inside its signature (writer died while creating it)"
        )
    if state == "damaged":
        return [Damage(0, len(FILE_MAGIC), "signature")]
    raise LogFormatError(path, 0, "not a curvelog log (bad signature)")


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every intact record of a log, decoded, in file order (damage skipped silently).

    Raw: the records are not checked (see `read` for that).
    """
    path = os.fspath(path)
    raw = read_bytes(path)
    if _format.signature_state(raw[: 1 << 16]) == "none":
        return []
    frames, _ = _format.scan(raw)
    return [f.record for f in frames]


def _bad(path: str, frame: Frame, what: str) -> LogFormatError:
    return LogFormatError(path, frame.offset, what)


def _check_format(path: str, fr: Frame) -> None:
    fmt = fr.record.get("format")
    if type(fmt) is not int:
        raise _bad(path, fr, f"session record has format {fmt!r} ({type(fmt).__name__}), "
                             "not a format version number; not written by curvelog?")  # fmt: skip
    if fmt > FORMAT_VERSION:
        raise _bad(path, fr, f"log format {fmt} is newer than this curvelog reads "
                             f"({FORMAT_VERSION}); upgrade curvelog")  # fmt: skip


class _Recheck(Exception):
    """A deferred check failed on the fast path: read the log again the careful way."""


class _Block:
    """A rows record and the rows of the row frames read against it (`_rowblock`)."""

    __slots__ = ("chunk", "names", "rec", "rows", "seq", "step", "tag", "tbits")

    def __init__(self, chunk: Chunk, rec: dict[str, Any]) -> None:
        self.chunk = chunk
        self.rec = rec  # the rows record, to tell a copy of it
        self.names: list[str] = rec["names"]
        self.seq: int = rec["seq"]
        self.tag = session_tag(rec["sid"])
        self.step: int = rec["step"]
        self.tbits = int(np.array(rec["time"], dtype="<f8").view("<i8"))
        #: row frame index -> its rows
        self.rows: dict[int, list[tuple[int, float, int, bytes]]] = {}


def _row_frame(raw: Any, block: _Block | None) -> tuple[str, str] | None:
    """Read a row frame into the rows record before it; (damage kind, detail) if it cannot be.

    A row frame belongs to the last rows record in the file before it, with
    no session record between, and must name that record's sequence number
    and carry its session's tag: one whose rows record was lost is never read
    against another.
    """
    try:
        tag, seq, index = entry_key(raw)
        if block is None or seq != block.seq or tag != block.tag:
            return "malformed", f"row frame of chunk {seq} without its rows record"
        if index in block.rows:
            return "repeated", f"row frame {index} of chunk {seq}"
        block.rows[index] = decode_entry(raw, len(block.names), block.step, block.tbits)
    except ValueError as e:
        return "malformed", str(e)
    return None


def _order(
    frames: list[Frame],
    damage: list[Damage],
    path: str,
    strict: bool,
    unchecked: set[int] | None = None,
) -> tuple[list[Frame], list[Chunk], list[Frame], list[Frame]]:
    """Checked session, data, best and end records; data in the order it was written.

    A session's chunks are put in order by their sequence numbers (in file
    order for writers older than them): a copy of a chunk already read is
    skipped and a chunk found after later ones goes back in its place, both
    reported, so a repeated or moved frame can never bring back a stale value.
    Sessions keep the order of their first record in the file.

    ``unchecked``: the ids of the frames whose checksum the scan deferred
    (the fast path); a problem with one of those might be damage the
    checksum would have caught, so it is not judged here but rechecked.
    """
    sessions: list[Frame] = []
    chunks: list[Chunk] = []
    bests: list[Frame] = []
    ends: list[Frame] = []
    first_seen: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    top: dict[str, int] = {}
    block: _Block | None = None  # the rows record row frames are read against
    by_key: dict[tuple[str, int], _Block] = {}  # every rows record read, by (sid, seq)
    session_sids: set[str] = set()
    for fr in frames:
        rec = fr.record
        kind = rec.get("type")
        if kind == ROW_FRAME:
            found = _row_frame(rec.get("raw"), block)
            if found is not None:
                if unchecked is not None:
                    raise _Recheck  # the careful path decides which damage comes first
                if strict:
                    raise LogCorruptError(path, fr.offset, f"{found[0]} row frame ({found[1]})")
                damage.append(Damage(fr.offset, fr.end, *found))
            continue
        if kind == "session":
            _check_format(path, fr)
            if block is None or rec.get("sid") != block.rec["sid"]:  # a copy of the block's own
                block = None  # session record (damage) does not end the block
        problem = record_problem(rec)
        fast = unchecked is not None and id(fr) in unchecked
        if problem is None and kind == "data":
            try:
                decoded = _decode_data(rec, values=not fast)
            except ValueError as e:
                problem = str(e)
        if problem is not None:
            if fast:
                raise _Recheck
            if strict:
                raise LogCorruptError(path, fr.offset, f"malformed {kind} record ({problem})")
            damage.append(Damage(fr.offset, fr.end, "malformed", problem))
            continue
        if kind not in ("session", "data", "rows", "best", "end"):
            continue  # unknown record types: newer minor versions may add some
        sid = rec["sid"]
        first_seen.setdefault(sid, fr.offset)
        if kind == "session":
            if sid in session_sids:
                damage.append(Damage(fr.offset, fr.end, "repeated", f"session record {sid}"))
                continue
            session_sids.add(sid)
            sessions.append(fr)
        elif kind == "best":
            bests.append(fr)
        elif kind == "end":
            ends.append(fr)
        else:
            seq = rec.get("seq")
            if seq is None:  # a writer from before sequence numbers: file order
                chunks.append(Chunk(fr, sid, (1, fr.offset), decoded, fast))
                continue
            if (sid, seq) in seen:
                damage.append(Damage(fr.offset, fr.end, "repeated", f"chunk {seq}"))
                if kind == "rows":
                    # the row frames after a copy of a rows record are its block's: an
                    # identical copy continues the block read first (duplicate frames are
                    # skipped there), anything else reads no row frame at all
                    first = by_key.get((sid, seq))
                    block = first if first is not None and first.rec == rec else None
                continue
            seen.add((sid, seq))
            if seq < top.get(sid, -1):
                damage.append(
                    Damage(fr.offset, fr.end, "reordered", f"chunk {seq} after {top[sid]}")
                )
            top[sid] = max(top.get(sid, -1), seq)
            chunk = Chunk(fr, sid, (0, seq), None if kind == "rows" else decoded, fast)
            chunks.append(chunk)
            if kind == "rows":
                block = by_key[(sid, seq)] = _Block(chunk, rec)
    for b in by_key.values():
        b.chunk.decoded = assemble(b.names, [r for i in sorted(b.rows) for r in b.rows[i]])
    if strict and len(damage) > 0:
        d = min(damage, key=lambda d: d.start)
        raise LogCorruptError(path, d.start, d.describe())
    sessions.sort(key=lambda f: first_seen[f.record["sid"]])
    chunks.sort(key=lambda c: (first_seen[c.sid], c.key))
    return sessions, chunks, bests, ends


def _configs(frames: list[Frame], sessions: list[Frame]) -> list[tuple[bool, dict[str, Any]]]:
    """The configs the log records, in file order, each with whether it merges into
    the one before: a session's header config (a resume's merges), and the config
    records of `EventLog.set_config` / `update_config` (``merge`` says which)."""
    valid = {id(f) for f in sessions}
    out: list[tuple[bool, dict[str, Any]]] = []
    seen_session = False
    for fr in frames:
        rec = fr.record
        kind = rec.get("type")
        cfg = rec.get("config")
        if kind == "session" and id(fr) in valid:
            if isinstance(cfg, dict) and cfg:
                out.append((seen_session, cfg))
            seen_session = True
        elif kind == "config" and isinstance(cfg, dict):
            out.append((bool(rec.get("merge")), cfg))
    return out


def read(path: str | os.PathLike[str], *, strict: bool = False, times: bool = True) -> Run:
    """Read a log: never raises on damage unless ``strict``; never returns a damaged value.

    Damaged stretches and records are skipped (or put back in order) and
    listed in ``Run.damage``. With ``strict=True`` the first one raises
    `LogCorruptError` instead.

    The file is mapped and read in place (see `_view`): each column is
    copied once into its final array, checksummed as it is copied, in
    threads (see `_fill`), and the mapped pages behind it are released, so
    the peak is about the size of the arrays, not the file plus the arrays.
    That fast path trusts the data records' checksums until the copy checks
    them; if one fails, or anything looks wrong, the log is read again the
    careful way (each record checked before it is decoded), which finds and
    reports the damage exactly as it always has.

    ``times=False`` leaves out the wall time of every row (``Series.times``
    and the time span are NaN then; each session's last time is still read):
    for `compact`, which charts steps, so that a 100M-step log needs 8 bytes
    a row less.
    """
    path = os.fspath(path)
    live = _writer_active(path)
    image = open_image(path, live)
    try:
        return _read(path, image, live, strict, times, fast=True)
    except _Recheck:
        return _read(path, image, live, strict, times, fast=False)


def _read(path: str, image: Image, live: bool, strict: bool, times: bool, fast: bool) -> Run:
    """`read` on the fast path (checksums deferred to the copy) or the careful one."""
    raw = image.buf
    size = len(raw)
    damage = _check_signature(path, raw)
    deferred: list[Frame] | None = [] if fast else None
    frames, scanned = _format.scan(raw, in_place=True, release=image.release, deferred=deferred)
    damage += scanned
    if strict and damage:
        if fast:
            raise _Recheck  # the careful scan decides which damage comes first
        d = damage[0]
        raise LogCorruptError(path, d.start, d.describe())
    unchecked = None if deferred is None else {id(f) for f in deferred}
    session_frames, chunks, best_frames, end_frames = _order(
        frames, damage, path, strict, unchecked
    )
    configs = _configs(frames, session_frames)
    del frames
    sessions: list[Session] = []
    by_sid: dict[str, Session] = {}
    for fr in session_frames:
        s = Session(len(sessions), fr.record["sid"], fr.record, fr.offset)
        sessions.append(s)
        by_sid.setdefault(s.sid, s)
    sess: Session | None = None
    for c in chunks:
        steps, chunk_times, _decoded = c.decoded
        n = len(steps)
        # a chunk whose session record was lost counts for the session before it
        sess = by_sid.get(c.sid, sess)
        if sess is not None and n:
            sess.rows += n
            if sess.first_step is None:
                sess.first_step = int(steps[0])
            sess.last_step = int(steps[-1])
            sess.last_time = float(chunk_times[-1])
    out = Columns(chunks, times)
    if not out.fill(chunks, memoryview(raw), image.release):
        raise _Recheck
    for c in chunks:
        c.decoded = None  # the views on the map go with it
    del chunks
    for fr in end_frames:
        ended = by_sid.get(fr.record["sid"])
        if ended is not None:
            ended.end = fr.record
    damage.sort(key=lambda d: d.start)
    # The header can be lost to damage; the data after it is still good.
    header = sessions[0].header if sessions else {}
    return Run(
        path=path,
        size=size,
        header=header,
        sessions=sessions,
        damage=damage,
        best_records=[fr.record for fr in best_frames],
        live=live,
        _steps=out.steps,
        _times=out.times,
        _cols=out.cols,
        _configs=configs,
    )
