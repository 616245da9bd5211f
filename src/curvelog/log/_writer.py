"""EventLog, the writer, and `read`, the reader: the only code that knows what records mean.

The framing lives in `_format`; this module decides what goes into the
frames. The writer keeps every appended value in plain Python lists (the
cheapest thing CPython can do per step) and turns them into columnar chunks
(one float64 array per metric) when it flushes, so the per-step cost is a few
list appends and the per-step size is the raw 8 bytes of each number.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, Literal

from ..errors import (
    LogClosedError,
    LogFormatError,
    LogLockedError,
    PathError,
)
from . import _format
from ._chunk import _encode_rows
from ._format import FILE_MAGIC
from ._header import _disabled_by_rank, _first_record, _session_record
from ._hooks import _LOGGER, _OPEN_LOGS, _deliver_pending_signal, _install_hooks, _MainThreadWrites

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ._values import _NEG_INF, _STEP_LIMIT, _check_step, _plain, _Policy

#: than 65,536) and the per-chunk overhead is still under 0.1 byte per step
_CHUNK_ROWS: Final[int] = 2_048
_MODES: Final[tuple[str, ...]] = ("min", "max")
_DURABILITY: Final[tuple[str, ...]] = ("flush", "fsync")


class EventLog:
    """Append every raw training step to a crash-safe, append-only log.

    ``append`` only appends to in-memory lists; a background thread turns
    them into framed columnar chunks at least every ``flush_every`` seconds,
    and the writing thread does so itself every 2,048 steps. ``close`` (also
    run by the context manager, at interpreter exit and on SIGTERM) flushes,
    then writes the best record once.

    :param path: the log file; created if missing (its folders too), appended to (a new
        session) if not.
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
    :param name: the run's name, shown as the title of its charts (default: the
        log's file name, or its folder's name for ``run.log``).
    :param strict: raise `MetricTypeError` / `StepError` on a value that is not a
        number or a step that is not a valid integer. By default such data is
        skipped with one warning per metric and counted in the end record
        (`Run.skipped`), so a logging mistake never ends a training run.
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
        strict: bool = False,
        name: str | None = None,
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
        if name is not None and (type(name) is not str or not name):
            raise TypeError(f"name must be a non-empty string, not {name!r}")
        self.name = name
        self.best_metric = best
        self.mode = mode
        self._fsync = durability == "fsync"
        #: step, time, {metric: float} per append, flat: see _make_append
        self._buf: list[Any] = []
        self._names: set[str] = set()
        self._policy = _Policy(strict)
        self._rows_done = 0
        self._rows_total = 0
        self._best_sign = 1.0 if mode == "min" else -1.0
        self._best_key = float("inf")
        self._best_step: int | None = None
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
        for name in ("append", "mark_best", "flush", "close", "set_config", "update_config"):
            setattr(self, name, self._noop)

    def _noop(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _open(self, config: Any, charts: Any) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):  # runs/exp1/run.log on a fresh checkout
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as e:
                raise PathError(folder, f"cannot create folder ({e.strerror or e})") from None
        try:
            fd = os.open(
                self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o644
            )
        except OSError as e:
            raise PathError(self.path, f"cannot open for writing ({e.strerror})") from None
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise LogLockedError(self.path) from None
            size = os.fstat(fd).st_size
            head = os.pread(fd, len(FILE_MAGIC), 0) if size else b""
            if 0 < size < len(FILE_MAGIC) and FILE_MAGIC.startswith(head):
                # A creation that died before its signature was complete: no record
                # exists yet, so starting over loses nothing.
                os.ftruncate(fd, 0)
                size, head = 0, b""
            run_id, resumed = uuid.uuid4().hex, size > 0
            if resumed:
                if not head.startswith(FILE_MAGIC):
                    raise LogFormatError(
                        self.path, 0, "not a curvelog log (bad signature); refusing to append"
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
                self.sid, run_id, resumed=resumed, config=config, charts=charts,
                objective=objective, name=self.name,
            )  # fmt: skip
            data = _format.encode_frame(_format.pack(record))
            self._fd = fd
            self._write(data if resumed else FILE_MAGIC + data)
            os.fsync(fd)
            if not resumed:
                from .._fs import fsync_dir

                fsync_dir(folder)
        except BaseException:
            self._fd = -1
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

        A row is three items appended to one flat list (step, time, metrics);
        nothing per row is a GC-tracked object, and the flush thread takes
        ``len(buf) // 3`` rows, so a row is committed when its third item lands.
        """
        buf = self._buf
        push = buf.append
        now = time.time
        known = self._names
        best = self.best_metric
        sign = self._best_sign
        limit = _STEP_LIMIT
        chunk = _CHUNK_ROWS * 3
        flush = self.flush
        log = self
        policy = self._policy  # the slow path: _values._Policy (skip and count, or raise)

        def append(step: int, values: Mapping[str, Any] | None = None, /, **metrics: Any) -> None:
            if values is not None:
                try:
                    metrics = {**values, **metrics}
                except Exception:
                    policy.bad_values(values)  # raises (strict) or counts the row skipped
                    return
            if not known.issuperset(metrics):
                metrics = policy.names(metrics, known)
            if type(step) is not int or step < 0 or step >= limit:
                if (checked := policy.step(step)) is None:
                    return
                step = checked
            for value in metrics.values():
                if type(value) is not float:
                    metrics = policy.coerce(metrics)
                    if not metrics:
                        return
                    break
            push(step)
            push(now())
            push(metrics)
            if best is not None and best in metrics:
                key = metrics[best] * sign
                if key < log._best_key and key != _NEG_INF:  # NaN compares False
                    log._best_key = key
                    log._best_step = step
            if len(buf) >= chunk:
                flush()

        append.__doc__ = EventLog.append.__doc__
        return append

    def set_config(self, config: Any) -> None:
        """Record hyper-parameters known only after opening; they replace the config so far.

        Written at once as a ``config`` record (docs/FORMAT.md); `Run.config`
        and the bundle show the result. Accepts what ``config=`` accepts.
        """
        self._write_config(config, merge=False)

    def update_config(self, config: Any = None, /, **values: Any) -> None:
        """Record more hyper-parameters: merged key by key into the config so far.

        For loggers that learn the hyper-parameters after they are created
        (Lightning's ``log_hyperparams``): ``log.update_config(args)`` or
        ``log.update_config(lr=3e-4)``.
        """
        merged = dict(_plain(config)) if isinstance(_plain(config), dict) else {}
        merged.update(_plain(values))
        self._write_config(merged, merge=True)

    def _write_config(self, config: Any, *, merge: bool) -> None:
        if self._closed:
            raise LogClosedError(self.path)
        plain = _plain(config) if config is not None else {}
        if not isinstance(plain, dict):
            raise TypeError(f"config must be a mapping, dataclass or namespace, not {plain!r}")
        record = {"type": "config", "sid": self.sid, "time": time.time(),
                  "merge": merge, "config": plain}  # fmt: skip
        with self._writing():
            self._write(_format.encode_frame(_format.pack(record)))

    def mark_best(self, step: int) -> None:
        """Declare ``step`` the best one; the last call wins, written once at close."""
        if self._closed:
            raise LogClosedError(self.path)
        self._marked = step if type(step) is int and 0 <= step < _STEP_LIMIT else _check_step(step)

    # ------------------------------------------------------------------ flushing

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def _encode_pending(self) -> bytes:
        """Frame the committed rows not yet written; caller holds the lock."""
        buf = self._buf
        n = len(buf) // 3
        start = self._rows_done
        if n == start:
            return b""
        record = _encode_rows(self.sid, buf[3 * start : 3 * n])
        self._rows_done = n
        return _format.encode_frame(_format.pack(record))

    def _flush_locked(self, owner: bool) -> None:
        data = self._encode_pending()
        if data:
            self._write(data)
            if self._fsync:
                os.fsync(self._fd)
        if owner:
            # Only the appending thread may shrink the buffer: it is not appending now.
            self._rows_total += self._rows_done
            del self._buf[: 3 * self._rows_done]
            self._rows_done = 0

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
        """Write everything appended so far (and fsync with ``durability="fsync"``)."""
        if self._closed:
            raise LogClosedError(self.path)
        self._raise_background_error()
        with self._writing():
            self._flush_locked(owner=True)

    def _flush_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if len(self._buf) // 3 == self._rows_done:
                continue
            try:
                with self._lock:
                    if not self._closed:
                        self._flush_locked(owner=False)
            except BaseException as e:  # reported to the writing thread on its next flush
                self._error = e
                _LOGGER.warning("curvelog: background flush of %s failed: %s", self.path, e)
                return

    def _raise_background_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    # ------------------------------------------------------------------ closing

    def _best_record(self) -> dict[str, Any] | None:
        if self._marked is not None:
            return {"type": "best", "sid": self.sid, "source": "marked", "step": self._marked,
                    "metric": self.best_metric, "mode": self.mode, "value": None,
                    "time": time.time()}  # fmt: skip
        if self.best_metric is None or self._best_step is None:
            return None
        return {"type": "best", "sid": self.sid, "source": "tracked", "step": self._best_step,
                "metric": self.best_metric, "mode": self.mode,
                "value": self._best_key * self._best_sign, "time": time.time()}  # fmt: skip

    def _close(self, reason: str) -> None:
        if self._closed:
            return
        try:
            with self._writing():
                if self._closed:
                    return
                self._closed = True
                self._stop.set()
                try:
                    tail = self._encode_pending()
                    best = self._best_record()
                    if best is not None:
                        tail += _format.encode_frame(_format.pack(best))
                    rows = self._rows_total + self._rows_done
                    end = {"type": "end", "sid": self.sid, "time": time.time(),
                           "reason": reason, "rows": rows}  # fmt: skip
                    end.update(self._policy.record())  # "skipped", when anything was
                    tail += _format.encode_frame(_format.pack(end))
                    self._write(tail)
                    os.fsync(self._fd)
                finally:
                    os.close(self._fd)  # releases the flock, even when the disk is full
                    self._fd = -1
        finally:
            _OPEN_LOGS.discard(self)
            self.append = self._raise_closed  # type: ignore[method-assign]

    def _raise_closed(self, *args: Any, **kwargs: Any) -> None:
        raise LogClosedError(self.path)

    def close(self) -> None:
        """Flush, write the best record once and release the file. Idempotent."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._stop.set()
            self._thread.join()
        self._close("close")
        self._raise_background_error()

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
