"""A log held in memory as columns, extended as its writer appends: what ``serve`` shows.

The file is read once (`curvelog.read`); after that, `LiveLog.poll` reads
only the bytes past the last intact frame, decodes the new frames and merges
their rows into per-metric numpy arrays (sorted steps, the latest write of a
step wins, as the reader deduplicates). A poll that finds the file unchanged
costs one ``stat``. A torn tail (a frame being written) is read again on the
next poll, never decoded half-written.

`window` re-samples any step range of a metric from these raw arrays: the
whole range when it holds few points, so zooming far enough shows every
recorded step.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["LiveLog", "Window", "m4"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: a window with more raw points than this is pre-reduced by `m4` before ``auto``
#: (``auto`` costs about the same on 1M or 10M points, and more on an M4 pre-selection
#: of 200k, measured by tools/bench_serve.py: so only beyond 10M)
_AUTO_INPUT: Final[int] = 10_000_000
_TAIL_KINDS: Final[frozenset[str]] = frozenset({"torn"})


def m4(y: FloatArray, columns: int, bad: IntArray | None = None) -> IntArray:
    """Indices of the first, last, minimum and maximum of ``columns`` equal-count buckets.

    M4 (Jugel et al. 2014): a line drawn through these points lights the same
    pixel rows in every column as the full line. Non-finite values are kept
    (they are events) and never chosen as a minimum or maximum; a run of
    consecutive NaN (or +inf, or -inf) is kept as its two ends, as the bundle's
    sampling keeps it (its event carries the count). ``bad``, the
    sorted indices of the non-finite values if the caller knows them, spares
    a pass: then only the buckets that hold one are masked, and the others
    are reduced in place (~30 ms per 10M points, no copy).
    """
    n = int(y.size)
    if n <= 4 * columns:
        return np.arange(n, dtype=np.int64)
    if bad is None:
        bad = np.flatnonzero(~np.isfinite(y))
    size = -(-n // columns)
    full = n // size * size
    body = y[:full].reshape(-1, size)
    base = np.arange(0, full, size, dtype=np.int64)
    lo = body.argmin(axis=1)
    hi = body.argmax(axis=1)
    rows = np.unique(bad[bad < full] // size)
    if rows.size:  # argmin/argmax would pick a NaN there: mask those buckets only
        sub = body[rows]
        ok = np.isfinite(sub)
        lo[rows] = np.where(ok, sub, np.inf).argmin(axis=1)
        hi[rows] = np.where(ok, sub, -np.inf).argmax(axis=1)
    ends = _run_ends(y, bad)
    parts = [base, base + size - 1, lo + base, hi + base, np.arange(full, n, dtype=np.int64), ends]
    return np.unique(np.concatenate(parts))


def _run_ends(y: FloatArray, bad: IntArray) -> IntArray:
    """The first and last index of each run of consecutive non-finite values of one
    kind (NaN, +inf, -inf) among ``bad``: what a chart needs to draw the run."""
    if bad.size < 3:
        return bad
    v = y[bad]
    kind = np.where(np.isnan(v), 0, np.where(v > 0, 1, 2))
    joined = (np.diff(bad) == 1) & (np.diff(kind) == 0)  # bad[i] and bad[i + 1], one run
    keep = np.ones(bad.size, dtype=bool)
    keep[1:-1] = ~(joined[:-1] & joined[1:])  # inner: joined to both neighbours
    return bad[keep]


@dataclass
class Window:
    """Points of one metric in a step range, and how they were chosen."""

    x: IntArray
    y: FloatArray
    raw: int  # raw points in the range
    method: str  # "raw", "m4" or "auto"
    #: the NaN/inf events of the raw points (bundle form), for tails: a reduced
    #: window keeps only the ends of a run of them, and could join two runs
    events: list[Any] = field(default_factory=list)


class _Column:
    """Sorted unique steps and their values, with room to grow at the end."""

    def __init__(self, x: IntArray, y: FloatArray) -> None:
        # the reader's arrays, not copied: the first append reallocates (np.resize)
        self._x = np.asarray(x, dtype=np.int64)
        self._y = np.asarray(y, dtype=np.float64)
        self.n = int(self._x.size)
        #: sorted indices of the non-finite values (events; `m4` needs them)
        self.bad = np.flatnonzero(~np.isfinite(self._y))

    @property
    def x(self) -> IntArray:
        return self._x[: self.n]

    @property
    def y(self) -> FloatArray:
        return self._y[: self.n]

    def merge(self, cx: IntArray, cy: FloatArray) -> bool:
        """Add rows in write order: a later write of a step replaces the earlier one.

        :returns: whether steps already held were written again or filled in (a
            resume): what was answered before no longer holds, only what follows.
        """
        if cx.size == 0:
            return False
        if cx.size > 1 and not bool(np.all(cx[1:] > cx[:-1])):
            order = np.argsort(cx, kind="stable")
            cx, cy = cx[order], cy[order]
            last = np.ones(cx.size, dtype=bool)
            last[:-1] = cx[1:] != cx[:-1]
            cx, cy = cx[last], cy[last]
        if self.n == 0 or cx[0] > self._x[self.n - 1]:  # the usual case: appended after the end
            need = self.n + int(cx.size)
            if need > self._x.size:
                cap = max(need, 2 * self._x.size, 1024)
                self._x = np.resize(self._x, cap)
                self._y = np.resize(self._y, cap)
            self._x[self.n : need] = cx
            self._y[self.n : need] = cy
            self.bad = np.concatenate([self.bad, self.n + np.flatnonzero(~np.isfinite(cy))])
            self.n = need
            return False
        x, y = self.x, self.y.copy()  # a resume: steps written again
        pos = np.searchsorted(x, cx)
        hit = pos < x.size
        hit[hit] = x[pos[hit]] == cx[hit]
        y[pos[hit]] = cy[hit]
        new = ~hit
        self._x = np.insert(x, pos[new], cx[new])
        self._y = np.insert(y, pos[new], cy[new])
        self.n = int(self._x.size)
        self.bad = np.flatnonzero(~np.isfinite(self._y))
        return True


class LiveLog:
    """One log's metrics as in-memory columns, extended by `poll`.

    :ivar structure: bumps when the charts must be rebuilt (a new session, a
        resume, a new metric, the file replaced); tail updates cannot express those.
    :ivar rewrites: bumps when a poll wrote steps already held again (a resume
        going up through them): the page is told by `after` (it replaces
        everything past its last step), but a bundle built before is stale.
    :ivar last_step: the step of the last row written (the client asks for
        points after it; mid-resume it lies below the highest step held).
    :ivar stale: the file was replaced or truncated: `reload` must read it afresh
        (until then nothing more is read from it, at an offset that means nothing).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self.structure = 0
        self.rewrites = 0
        self.version = 0
        self._read()

    def reload(self) -> None:
        """Read the whole file again (replaced, truncated or rewritten): the counters go on."""
        with self._lock:
            self._read()

    def _read(self) -> None:
        from .. import read
        from ..bundle._build import _distinct_steps

        run = read(self.path)
        self.run: Any = run  # kept until the first page model is built, then dropped
        self.offset = run.size
        tail = [d for d in run.damage if d.kind in _TAIL_KINDS and d.end >= run.size]
        if tail:
            self.offset = tail[-1].start  # a frame being written: read it again later
        self.columns = {
            m: _Column(s.steps, s.values) for m, s in ((m, run.series(m)) for m in run.metrics)
        }
        segments = run.segments
        self.last_step: int | None = segments[-1].last_step if segments else None
        self.steps, _, top = _distinct_steps(run)
        self._top = -math.inf if top is None else top  # the highest step held
        self.sessions = len(run.sessions)
        self.resumes = len(segments) - 1 if segments else 0
        self.objective: dict[str, Any] | None = run.objective
        self.open_sessions = {s.sid for s in run.sessions if not s.closed} if run.live else set()
        self._small = _primed_row_frames(self.path, self.offset)
        self._stat = self._stat_now()
        self._head = _head(self.path, self.offset)
        self.stale = False
        #: (structure, rewrites, last_step) when ``run`` was read: what a bundle built
        #: from it shows, and the step a page drawing that bundle polls after
        self.read_at: tuple[int, int, int | None] = (self.structure, self.rewrites, self.last_step)

    # ------------------------------------------------------------------ reading

    def _stat_now(self) -> tuple[int, int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError:
            return (-1, -1, -1, -1)
        return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)

    def poll(self) -> bool:
        """Read what the writer appended since the last poll; True if anything changed.

        A file that is now another file (another inode, shorter than what was
        read, or other first bytes: truncated and written again) is not read at
        the old offset: it is marked `stale` and the charts must be rebuilt.
        """
        with self._lock:
            if self.stale:
                return False
            now = self._stat_now()
            if now == self._stat:
                return False
            old, self._stat = self._stat, now
            if now[0] < 0:  # deleted: the run list drops it
                return False
            if now[2:] != old[2:] or now[0] < self.offset:
                return self._replaced()
            try:
                with open(self.path, "rb") as f:
                    if f.read(len(self._head)) != self._head:
                        return self._replaced()
                    f.seek(self.offset)
                    chunk = f.read()
            except OSError:
                return False
            if not chunk:
                return False
            return self._consume(chunk)

    def _replaced(self) -> bool:
        self.stale = True
        self.structure += 1
        return True

    def _consume(self, chunk: bytes) -> bool:
        from ..log._chunk import _decode_data
        from ..log._format import scan

        frames, damage = scan(chunk, 0)
        end = frames[-1].end if frames else 0
        for d in damage:
            if d.kind not in _TAIL_KINDS and d.end > end:
                end = d.end  # corruption is skipped for good, a torn tail is read again
        self.offset += end
        changed = False
        new: dict[str, tuple[list[IntArray], list[FloatArray]]] = {}
        for fr in frames:
            rec = fr.record
            kind = rec.get("type")
            small = self._small.decoded(rec)  # a row frame's rows (#12), else None
            if kind == "session":
                self.sessions += 1
                self.open_sessions.add(str(rec.get("sid")))
                if rec.get("objective"):
                    self.objective = rec["objective"]
                self.structure += 1
            elif kind == "end":
                self.open_sessions.discard(str(rec.get("sid")))
                changed = True
            elif kind == "data" or small is not None:
                try:
                    steps, _times, cols = small if small is not None else _decode_data(rec)
                except ValueError:
                    continue
                if not steps.size:
                    continue
                if self.last_step is not None and steps[0] < self.last_step:
                    self.resumes += 1
                    self.structure += 1
                if steps.size > 1 and bool(np.any(steps[1:] < steps[:-1])):
                    self.resumes += int(np.count_nonzero(steps[1:] < steps[:-1]))
                    self.structure += 1
                self.last_step = int(steps[-1])
                above = steps[steps > self._top]  # distinct steps only grow past the top
                if above.size:
                    self.steps += int(np.unique(above).size)
                    self._top = int(above.max())
                for name, rows, values in cols:
                    xs = steps if rows is None else steps[rows]
                    entry = new.setdefault(name, ([], []))
                    entry[0].append(xs.astype(np.int64))
                    entry[1].append(values.astype(np.float64))
        for name, (xs_parts, ys_parts) in new.items():
            if name not in self.columns:
                self.columns[name] = _Column(np.zeros(0, np.int64), np.zeros(0))
                self.structure += 1
            if self.columns[name].merge(np.concatenate(xs_parts), np.concatenate(ys_parts)):
                self.rewrites += 1
            changed = True
        if changed or frames:
            self.version += 1
        return changed

    @property
    def live(self) -> bool:
        """A session is open (its writer has not written its end record)."""
        return bool(self.open_sessions)

    # ------------------------------------------------------------------ answers

    def best(self) -> dict[str, Any] | None:
        """The objective's optimum over the data in memory (earliest step on ties)."""
        obj = self.objective
        if not obj or obj.get("metric") not in self.columns:
            return None
        col = self.columns[obj["metric"]]
        y = col.y
        finite = np.isfinite(y)
        if not finite.any():
            return None
        high = obj.get("mode") == "max"
        i = int(
            np.argmax(np.where(finite, y, -np.inf))
            if high
            else np.argmin(np.where(finite, y, np.inf))
        )
        return {"metric": obj["metric"], "step": int(col.x[i]), "value": float(y[i])}

    def window(self, metric: str, x0: float, x1: float, n: int, method: str = "m4") -> Window:
        """The points of ``metric`` in [x0, x1] (and one beyond each end, so lines leave the frame).

        ``method="m4"`` answers fast: `m4` of ``n // 4`` columns.
        ``method="auto"``: `curvelog.downsample` with ``auto`` and ``n_out=n``
        (on the `m4` pre-selection of a window of more than 10,000,000 points).
        A window of at most ``n`` points is returned whole (``"raw"``).
        """
        from .. import downsample

        col = self.columns[metric]
        with self._lock:  # views: appends write past n, a resume makes new arrays
            x, y, bad = col.x, col.y, col.bad
        i0 = max(int(np.searchsorted(x, math.floor(x0), side="left")) - 1, 0)
        i1 = min(int(np.searchsorted(x, math.ceil(x1), side="right")) + 1, x.size)
        wx, wy = x[i0:i1], y[i0:i1]
        wbad = bad[np.searchsorted(bad, i0) : np.searchsorted(bad, i1)] - i0
        raw = int(wx.size)
        if raw <= n:
            return Window(wx.copy(), wy.copy(), raw, "raw")
        if method != "auto":
            idx = m4(wy, max(n // 4, 1), wbad)
            return Window(wx[idx], wy[idx], raw, "m4")
        pre = m4(wy, _AUTO_INPUT // 4, wbad) if raw > _AUTO_INPUT else np.arange(raw)
        idx = pre[downsample(wx[pre], wy[pre], method="auto", n_out=n)]
        return Window(wx[idx], wy[idx], raw, "auto")

    def after(self, step: int | None, n: int) -> dict[str, Window]:
        """Every metric's points after ``step`` (all of them if None), `m4`-reduced to ``n``.

        The page replaces everything it holds past ``step`` with these: a resume
        writing up through steps already drawn rewrites them there too.
        """
        from ..bundle._series import _events

        out = {}
        for name, col in self.columns.items():
            with self._lock:
                i = 0 if step is None else int(np.searchsorted(col.x, step, side="right"))
                wx, wy = col.x[i:].copy(), col.y[i:].copy()
                bad = col.bad[np.searchsorted(col.bad, i) :] - i
            if wx.size == 0:
                continue
            events = _events(wx, wy, bad)[0]
            if wx.size > n:
                idx = m4(wy, max(n // 4, 1), bad)
                wx, wy = wx[idx], wy[idx]
            out[name] = Window(wx, wy, int(wx.size), "m4", events)
        return out


#: the first bytes of a log compared on each poll: a file truncated and written
#: again (its size past the old one) starts with another session's header
_HEAD = 4096


def _head(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(min(offset, _HEAD))
    except OSError:
        return b""


#: how far before the end of what the first read covered a rows record is looked for
_PRIME_WINDOW = 4 << 20


def _primed_row_frames(path: str, offset: int) -> Any:
    """A `RowFrames` that knows the rows record open at ``offset``, so the row frames
    written after the first read are read against it (#12). Looks at the last 4 MiB
    before ``offset`` (a block is at most 256 small flushes)."""
    from ..log._format import scan
    from ..log._rowblock import RowFrames

    small = RowFrames()
    start = max(0, offset - _PRIME_WINDOW)
    try:
        with open(path, "rb") as f:
            f.seek(start)
            window = f.read(offset - start)
    except OSError:
        return small
    for fr in scan(window, 0)[0]:
        small.decoded(fr.record)
    return small
