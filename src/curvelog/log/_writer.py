"""EventLog, the writer, and `read`, the reader: the only code that knows what records mean.

The framing lives in `_format`; this module decides what goes into the
frames. The writer keeps every appended value in plain Python lists (the
cheapest thing CPython can do per step) and turns them into columnar chunks
(one float64 array per metric) when it flushes, so the per-step cost is a few
list appends and the per-step size is the raw 8 bytes of each number.
"""

from __future__ import annotations

import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, Literal, NamedTuple

from ..errors import (
    ChartsError,
    LogClosedError,
    LogFormatError,
    LogLockedError,
    PathError,
)
from . import _format
from ._chunk import _chunk_best, _encode_rows
from ._format import FILE_MAGIC
from ._header import _disabled_by_rank, _first_record, _session_record
from ._hooks import _LOGGER, _OPEN_LOGS, _deliver_pending_signal, _install_hooks, _MainThreadWrites

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ._records import chart_problem
from ._values import _STEP_LIMIT, _check_names, _check_step, _coerce, _plain

#: than 65,536) and the per-chunk overhead is still under 0.1 byte per step
_CHUNK_ROWS: Final[int] = 2_048
_MODES: Final[tuple[str, ...]] = ("min", "max")
_DURABILITY: Final[tuple[str, ...]] = ("flush", "fsync")


class _Mark(NamedTuple):
    """What is on disk, replaced in one store after each successful write.

    One attribute store is the only step an interrupt (a Ctrl-C runs between
    two bytecodes) or another thread cannot split, so everything a write
    changes lives here: whatever interrupts a flush, the mark still describes
    the file up to its last complete frame, and the next write first cuts off
    any bytes after ``size`` (a frame that failed or was interrupted half way)
    and then writes the rows again. The written rows leave the buffer lazily:
    ``trim`` rows, the last of which holds the dict ``last`` (every append
    makes its own dict, so the identity test tells whether they still lead it).
    """

    size: int
    rows: int
    seq: int
    trim: int
    last: object
    best_key: float
    best_step: int | None
    ended: bool


class EventLog:
    """Append every raw training step to a crash-safe, append-only log.

    ``append`` only appends to in-memory lists; a background thread turns
    them into framed columnar chunks at least every ``flush_every`` seconds,
    and the writing thread does so itself every 2,048 steps. ``close`` (also
    run by the context manager, at interpreter exit and on SIGTERM) flushes,
    then writes the best record once.

    :param path: the log file; created if missing, appended to (a new session) if not.
    :param best: metric whose optimum is tracked and written once at close.
    :param mode: ``"min"`` or ``"max"`` for ``best``. Ties keep the earliest step.
    :param config: hyper-parameters to store in the header (any mapping,
        dataclass or argparse namespace; unknown objects are stored as strings).
    :param charts: chart metadata, ``{chart_id: {"title", "xlabel", "ylabel",
        "metrics": [...], "scale"}}``; overrides the default grouping by the
        last name component.
    :param flush_every: seconds between background flushes; ``0`` disables
        the background thread (flush on chunk size, ``flush()`` and close only).
    :param durability: ``"flush"`` hands data to the OS (survives ``kill -9``);
        ``"fsync"`` also forces it to disk each flush (survives power loss).
    :param all_ranks: write even when ``RANK`` says this is not rank 0.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        best: str | None = None,
        mode: Literal["min", "max"] = "min",
        config: Any = None,
        charts: Mapping[str, Mapping[str, Any]] | None = None,
        flush_every: float = 1.0,
        durability: Literal["flush", "fsync"] = "flush",
        all_ranks: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        if mode not in _MODES:
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        if durability not in _DURABILITY:
            raise ValueError(f"durability must be 'flush' or 'fsync', not {durability!r}")
        if not flush_every >= 0:
            raise ValueError(f"flush_every must be >= 0 seconds, not {flush_every!r}")
        if best is not None and type(best) is not str:
            raise TypeError(f"best must be a metric name (str), not {type(best).__name__}")
        if charts is not None:
            problem = chart_problem(_plain(charts))
            if problem:
                raise ChartsError(problem)
        self.best_metric = best
        self.mode = mode
        self._fsync = durability == "fsync"
        #: step, time, {metric: float} per append, flat: see _make_append
        self._buf: list[Any] = []
        self._names: set[str] = set()
        self._best_sign = 1.0 if mode == "min" else -1.0
        self._mark = _Mark(0, 0, 0, 0, None, float("inf"), None, False)
        #: buffer length (items) at which append tries to flush again after a failed write
        self._retry_at = 0
        self._marked: int | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False
        self._fd = -1
        if not all_ranks and _disabled_by_rank():
            self._disable()
            return
        self._open(config, charts)
        self.append = self._make_append()  # type: ignore[method-assign]
        _OPEN_LOGS.add(self)
        _install_hooks()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if flush_every > 0:
            self._thread = threading.Thread(
                target=self._flush_loop, args=(flush_every,), name="curvelog-flush", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------------ opening

    def _disable(self) -> None:
        """Not rank 0: every call becomes a no-op and the file is never touched."""
        self._closed = True
        self._thread = None
        for name in ("append", "mark_best", "flush", "close"):
            setattr(self, name, self._noop)

    def _noop(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _open(self, config: Any, charts: Any) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise PathError(folder, "folder does not exist")
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        try:
            # O_NONBLOCK: a FIFO must not block the open (it is refused just below)
            fd = os.open(self.path, flags | getattr(os, "O_NONBLOCK", 0), 0o644)
        except OSError as e:
            raise PathError(self.path, f"cannot open for writing ({e.strerror})") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PathError(
                    self.path, "is not a regular file (a FIFO, device or socket); a log is a file"
                )
            if hasattr(os, "O_NONBLOCK"):
                os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        size = -1  # known once the lock is held: only then may a failed open cut the file
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise LogLockedError(self.path) from None
            size = os.fstat(fd).st_size
            head = os.pread(fd, len(FILE_MAGIC) + _format.HEADER_SIZE, 0) if size else b""
            if 0 < size < len(FILE_MAGIC) and FILE_MAGIC.startswith(head):
                # A creation that died before its signature was complete: no record
                # exists yet, so starting over loses nothing.
                os.ftruncate(fd, 0)
                size, head = 0, b""
            run_id, resumed = uuid.uuid4().hex, size > 0
            if resumed:
                state = _format.signature_state(head)
                if state == "none":
                    raise LogFormatError(
                        self.path, 0, "not a curvelog log (bad signature); refusing to append"
                    )
                if state == "damaged":  # the records are intact: appending loses nothing
                    _LOGGER.warning(
                        "curvelog: %s has a damaged file signature; appending anyway "
                        "(readers report it and read every record)",
                        self.path,
                    )
                first = _first_record(fd)
                if first.get("type") == "session" and isinstance(first.get("run_id"), str):
                    run_id = first["run_id"]
            objective = (
                {"metric": self.best_metric, "mode": self.mode} if self.best_metric else None
            )
            self.sid = uuid.uuid4().hex[:16]
            self.run_id = run_id
            record = _session_record(
                self.sid, run_id, resumed=resumed, config=config, charts=charts, objective=objective
            )
            data = _format.encode_frame(_format.pack(record))
            self._fd = fd
            written = self._append_bytes(data if resumed else FILE_MAGIC + data, size)
            os.fsync(fd)
            self._mark = self._mark._replace(size=written)
            if not resumed:
                from .._fs import fsync_dir

                fsync_dir(folder)
        except BaseException:
            self._fd = -1
            try:
                if os.fstat(fd).st_size > size > 0:
                    os.ftruncate(fd, size)  # no half session record left behind
            except OSError:
                pass
            finally:
                os.close(fd)
            raise

    # ------------------------------------------------------------------ hot path

    def append(self, step: int, values: Mapping[str, Any] | None = None, /, **metrics: Any) -> None:
        """Record ``metrics`` at ``step`` with the current wall time.

        Metrics may be given as keywords or as a mapping (for names such as
        ``"train/loss"``); a metric not given at this step is absent there.
        (Replaced per instance by the closure `_make_append` builds.)
        """
        raise LogClosedError(self.path)  # pragma: no cover - shadowed while open

    def _make_append(self) -> Any:
        """The hot path, as a closure: locals and cells are the cheapest lookups CPython has.

        A row is three items (step, time, metrics) added to one flat list by a
        single ``list.extend`` of a tuple: one C call that neither a signal
        handler (a Ctrl-C raising KeyboardInterrupt) nor another thread can
        split, so the list always holds whole rows and ``append`` is safe from
        several threads. Nothing per row is a GC-tracked object besides the
        metrics dict. The best step is found per chunk when it is written, not here.
        """
        buf = self._buf
        extend = buf.extend
        now = time.time
        known = self._names
        limit = _STEP_LIMIT
        chunk = _CHUNK_ROWS * 3
        flush = self._auto_flush

        def append(step: int, values: Mapping[str, Any] | None = None, /, **metrics: Any) -> None:
            if values is not None:
                metrics = {**values, **metrics}
            if not known.issuperset(metrics):
                _check_names(metrics, known)
            if type(step) is not int or step < 0 or step >= limit:
                step = _check_step(step)
            for value in metrics.values():
                if type(value) is not float:
                    metrics = {name: _coerce(name, v) for name, v in metrics.items()}
                    break
            extend((step, now(), metrics))
            if len(buf) >= chunk:
                flush()

        append.__doc__ = EventLog.append.__doc__
        return append

    def mark_best(self, step: int) -> None:
        """Declare ``step`` the best one; the last call wins, written once at close."""
        if self._closed:
            raise LogClosedError(self.path)
        self._marked = step if type(step) is int and 0 <= step < _STEP_LIMIT else _check_step(step)

    # ------------------------------------------------------------------ flushing

    def _append_bytes(self, data: bytes, size: int) -> int:
        """Write ``data`` after the first ``size`` bytes of the file; the new size.

        Bytes beyond ``size`` are the start of a frame whose write failed (a
        full disk, a file size limit) or was interrupted: nothing refers to
        them, so they are cut off first and the retry leaves no damage.
        """
        fd = self._fd
        actual = os.fstat(fd).st_size
        if actual > size:
            os.ftruncate(fd, size)
            actual = size
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        return actual + len(data)

    def _flush_locked(self) -> None:
        """Write the buffered rows as one chunk; caller holds the lock.

        The rows stay in the buffer until their frame is written (a failed
        write loses nothing, the next flush retries); every state change is
        the single store of `_Mark` (see there).
        """
        m = self._mark
        buf = self._buf
        k = m.trim
        if k and len(buf) >= 3 * k and buf[3 * k - 1] is m.last:
            del buf[: 3 * k]  # written by a flush that was interrupted before this
        n = len(buf) // 3
        if not n:
            return
        rows = buf[: 3 * n]
        record = _encode_rows(self.sid, rows, m.seq)
        best_key, best_step = m.best_key, m.best_step
        if self.best_metric is not None:
            found = _chunk_best(record, self.best_metric, self._best_sign)
            if found is not None and found[0] < best_key:
                best_key, best_step = found
        size = self._append_bytes(_format.encode_frame(_format.pack(record)), m.size)
        if self._fsync:
            os.fsync(self._fd)
        self._mark = _Mark(size, m.rows + n, m.seq + 1, n, rows[-1], best_key, best_step, False)
        del buf[: 3 * n]

    def _auto_flush(self) -> None:
        """The flush `append` runs every 2,048 rows; after a failed write it waits
        for another 2,048 rows before trying again (the rows stay buffered)."""
        if len(self._buf) < self._retry_at:
            return
        try:
            self.flush()
        except OSError:
            self._retry_at = len(self._buf) + 3 * _CHUNK_ROWS
            raise
        self._retry_at = 0

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The lock, with SIGTERM deferred while the main thread holds it."""
        main = threading.current_thread() is threading.main_thread()
        if main:
            _MainThreadWrites.depth += 1
        try:
            with self._lock:
                yield
        finally:
            if main:
                _MainThreadWrites.depth -= 1
        if main and not _MainThreadWrites.depth:
            _deliver_pending_signal()

    def flush(self) -> None:
        """Write everything appended so far (and fsync with ``durability="fsync"``).

        If the write fails (a full disk: ``OSError``), or a Ctrl-C interrupts
        it, the rows stay buffered and the next ``flush`` or ``close`` writes them.
        """
        if self._closed:
            raise LogClosedError(self.path)
        with self._writing():
            self._flush_locked()
        self._error = None

    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if len(self._buf) < 3:
                continue
            try:
                with self._lock:
                    if not self._closed:
                        self._flush_locked()
                self._error = None
            except Exception as e:  # the rows stay buffered: retried next time
                if self._error is None:
                    _LOGGER.warning(
                        "curvelog: background flush of %s failed (retrying): %s", self.path, e
                    )
                self._error = e

    # ------------------------------------------------------------------ closing

    def _best_record(self) -> dict[str, Any] | None:
        if self._marked is not None:
            return {"type": "best", "sid": self.sid, "source": "marked", "step": self._marked,
                    "metric": self.best_metric, "mode": self.mode, "value": None,
                    "time": time.time()}  # fmt: skip
        m = self._mark
        if self.best_metric is None or m.best_step is None:
            return None
        return {"type": "best", "sid": self.sid, "source": "tracked", "step": m.best_step,
                "metric": self.best_metric, "mode": self.mode,
                "value": m.best_key * self._best_sign, "time": time.time()}  # fmt: skip

    def _close(self, reason: str) -> None:
        """Flush, write the best and end records once, fsync, release the file.

        A write that fails (``OSError``) or is interrupted leaves the log open
        with its rows buffered, so ``close`` can be called again (at the
        latest, at interpreter exit). Once the end record is written, a failed
        fsync still releases the file: the data is with the OS.
        """
        if self._closed:
            return
        with self._writing():
            if self._closed:
                return
            self._stop.set()
            try:
                self._flush_locked()
                m = self._mark
                if not m.ended:
                    tail = b""
                    best = self._best_record()
                    if best is not None:
                        tail += _format.encode_frame(_format.pack(best))
                    end = {"type": "end", "sid": self.sid, "time": time.time(),
                           "reason": reason, "rows": m.rows}  # fmt: skip
                    tail += _format.encode_frame(_format.pack(end))
                    size = self._append_bytes(tail, m.size)
                    self._mark = m._replace(size=size, ended=True)
                os.fsync(self._fd)
            except OSError:
                if self._mark.ended:
                    self._release()
                raise
            self._release()

    def _release(self) -> None:
        """Close the descriptor (which releases the flock); the log is closed from here on."""
        fd = self._fd
        self._closed = True  # first: a retry after an interrupt from here on is a no-op
        self._fd = -1
        try:
            os.close(fd)
        finally:
            _OPEN_LOGS.discard(self)
            self.append = self._raise_closed  # type: ignore[method-assign]
            self._error = None

    def _raise_closed(self, *args: Any, **kwargs: Any) -> None:
        raise LogClosedError(self.path)

    def close(self) -> None:
        """Flush, write the best record once and release the file. Idempotent."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._stop.set()
            self._thread.join()
        self._close("close")

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            if self._thread is not None:
                self._stop.set()
                self._thread.join()
            self._close(f"error: {exc_type.__name__}")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<EventLog {self.path!r} {state}>"
