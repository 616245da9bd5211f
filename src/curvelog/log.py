"""EventLog, the writer, and `read`, the reader: the only code that knows what records mean.

The framing lives in `_format`; this module decides what goes into the
frames. The writer keeps every appended value in plain Python lists (the
cheapest thing CPython can do per step) and turns them into columnar chunks
(one float64 array per metric) when it flushes, so the per-step cost is a few
list appends and the per-step size is the raw 8 bytes of each number.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from operator import itemgetter
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from . import _format
from ._format import FILE_MAGIC, Damage, Frame
from ._fs import read_bytes
from .errors import (
    LogClosedError,
    LogCorruptError,
    LogFormatError,
    LogLockedError,
    MetricNotFoundError,
    MetricTypeError,
    PathError,
    StepError,
)

if TYPE_CHECKING:
    import polars as pl

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FORMAT_VERSION",
    "Best",
    "EventLog",
    "Run",
    "Segment",
    "Series",
    "Session",
    "follow",
    "read",
    "read_records",
]

FORMAT_VERSION: Final[int] = 1
_LOGGER = logging.getLogger("curvelog")
_STEP_LIMIT: Final[int] = 2**63
_NEG_INF: Final[float] = float("-inf")
#: rows the writing thread buffers before it flushes by itself: small chunks stay in
#: the CPU cache while they are encoded (measured: 2,048 rows cost ~15% less per step
#: than 65,536) and the per-chunk overhead is still under 0.1 byte per step
_CHUNK_ROWS: Final[int] = 2_048
_MODES: Final[tuple[str, ...]] = ("min", "max")
_DURABILITY: Final[tuple[str, ...]] = ("flush", "fsync")


# --------------------------------------------------------------------------- values


def _is_torch_tensor(value: object) -> bool:
    """True for a torch.Tensor (or subclass) without importing torch."""
    return any(
        c.__name__ == "Tensor" and c.__module__.split(".")[0] == "torch"
        for c in type(value).__mro__
    )


def _coerce(name: str, value: object) -> float:
    """The float to record for ``value``; the slow path of `EventLog.append`."""
    if type(name) is not str:
        raise MetricTypeError(repr(name), type(name).__name__, "metric names must be strings")
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        try:
            return float(value)
        except OverflowError:
            raise MetricTypeError(name, type(value).__name__, "too large for float64") from None
    if isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "biuf":
            return float(value[()])
        shape = "x".join(map(str, value.shape)) or "0-d"
        raise MetricTypeError(name, f"numpy.ndarray[{shape}, {value.dtype}]")
    if _is_torch_tensor(value):
        dims = value.dim()  # type: ignore[attr-defined]
        if dims == 0 and not value.is_complex():  # type: ignore[attr-defined]
            return float(value.item())  # type: ignore[attr-defined]
        shape = "x".join(str(s) for s in value.shape) or "0-d"  # type: ignore[attr-defined]
        raise MetricTypeError(name, f"torch.Tensor[{shape}, {value.dtype}]")  # type: ignore[attr-defined]
    return _raise_type(name, value)


def _raise_type(name: str, value: object) -> float:
    cls = type(value)
    qual = cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
    raise MetricTypeError(name, qual)


def _check_step(step: object) -> int:
    """The int to record for ``step``; the slow path of `EventLog.append`."""
    if isinstance(step, (int, np.integer)) and not isinstance(step, (bool, np.bool_)):
        s = int(step)
        if 0 <= s < _STEP_LIMIT:
            return s
    raise StepError(step)


def _plain(value: Any) -> Any:
    """A msgpack-safe copy of user metadata (config, chart metadata)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            return str(value)
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, np.ndarray) and value.size <= 1024:
        return _plain(value.tolist())
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if hasattr(value, "_get_kwargs"):  # argparse.Namespace
        return {k: _plain(v) for k, v in vars(value).items()}
    return str(value)


# --------------------------------------------------------------------------- header


def _git_info(cwd: str) -> dict[str, Any] | None:
    """Commit and dirty flag of the git checkout around ``cwd``; None outside one."""
    here = Path(cwd).resolve()
    if not any((p / ".git").exists() for p in (here, *here.parents)):
        return None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError) as e:
        warnings.warn(f"curvelog: git metadata not recorded ({e})", RuntimeWarning, stacklevel=3)
        return None
    if commit.returncode != 0:
        msg = commit.stderr.strip().splitlines()[-1:] or ["unknown error"]
        warnings.warn(
            f"curvelog: git metadata not recorded ({msg[0]})", RuntimeWarning, stacklevel=3
        )
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _package_versions() -> dict[str, str]:
    from . import __version__

    versions = {"curvelog": __version__, "numpy": np.__version__}
    torch = sys.modules.get("torch")  # only if the user already imported it
    if torch is not None:
        versions["torch"] = str(getattr(torch, "__version__", "unknown"))
    return versions


def _session_record(
    sid: str,
    run_id: str,
    *,
    resumed: bool,
    config: Any,
    charts: Any,
    objective: dict[str, str] | None,
) -> dict[str, Any]:
    cwd = os.getcwd()
    return {
        "type": "session",
        "format": FORMAT_VERSION,
        "run_id": run_id,
        "sid": sid,
        "resumed": resumed,
        "start_time": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": _package_versions(),
        "git": _git_info(cwd),
        "argv": list(sys.argv),
        "cwd": cwd,
        "config": _plain(config) if config is not None else {},
        "charts": _plain(charts) if charts is not None else {},
        "objective": objective,
    }


# --------------------------------------------------------------------------- writer

_OPEN_LOGS: weakref.WeakSet[EventLog] = weakref.WeakSet()
_HOOKS_INSTALLED = False
_PREVIOUS_SIGTERM: Any = None


def _close_all(reason: str) -> None:
    for log in list(_OPEN_LOGS):
        try:
            log._close(reason)
        except Exception as e:  # exit paths must not raise
            _LOGGER.warning("curvelog: could not close %s: %s", log.path, e)


class _MainThreadWrites:
    """How deep the main thread is in a log's write section, and a SIGTERM that must wait.

    Signal handlers run in the main thread between two bytecodes; one that
    arrives while the main thread is writing a frame must not write frames
    itself (the lock is held, the buffer half-encoded), so it is deferred to
    the end of that write section.
    """

    depth = 0
    pending: int | None = None


def _flush_all() -> None:
    for log in list(_OPEN_LOGS):
        try:
            if not log.closed:
                log.flush()
        except Exception as e:  # a signal path must not raise
            _LOGGER.warning("curvelog: could not flush %s: %s", log.path, e)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _MainThreadWrites.depth:
        _MainThreadWrites.pending = signum
        return
    previous = _PREVIOUS_SIGTERM
    if callable(previous):
        # The program handles SIGTERM itself (often: finish the step, save a
        # checkpoint, exit); its logs must stay open for that, so only flush.
        _flush_all()
        previous(signum, frame)
        return
    _close_all("SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _deliver_pending_signal() -> None:
    """Act on a SIGTERM that arrived while the main thread was writing a frame."""
    signum = _MainThreadWrites.pending
    if signum is not None and threading.current_thread() is threading.main_thread():
        _MainThreadWrites.pending = None
        _on_sigterm(signum, None)


def _forget_after_fork() -> None:
    """A forked child must never write into its parent's log (nor flush its buffer twice)."""
    for log in list(_OPEN_LOGS):
        log._closed = True
        log._fd = -1
        log._lock = threading.Lock()
        log.append = log._raise_closed  # type: ignore[method-assign]
    _OPEN_LOGS.clear()


def _install_hooks() -> None:
    """atexit and SIGTERM flush every open log; installed once, on first use."""
    global _HOOKS_INSTALLED, _PREVIOUS_SIGTERM
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_close_all, "exit")
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_forget_after_fork)
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):
        return
    _PREVIOUS_SIGTERM = previous
    signal.signal(signal.SIGTERM, _on_sigterm)


def _check_names(metrics: Mapping[Any, Any], known: set[str]) -> None:
    """Slow path of append for metric names not seen before."""
    for name in metrics:
        if type(name) is not str or not name:
            raise MetricTypeError(
                repr(name), type(name).__name__, "metric names must be non-empty strings"
            )
        known.add(name)


def _encode_rows(sid: str, flat: list[Any]) -> dict[str, Any]:
    """Columnar data record of buffered rows (flat step, time, metrics triples).

    The common case, every row with the same metrics in the same order, is
    decoded with C-level iteration only; otherwise rows are grouped by their
    metric tuple first.
    """
    n = len(flat) // 3
    steps = np.fromiter(flat[0::3], dtype="<i8", count=n)
    times = np.fromiter(flat[1::3], dtype="<f8", count=n)
    dicts: list[dict[str, float]] = flat[2::3]
    first = list(dicts[0])
    cols: dict[str, list[Any]] = {}
    dense = sum(map(len, dicts)) == n * len(first)
    if dense:
        try:
            for name in first:
                values = np.fromiter(map(itemgetter(name), dicts), dtype="<f8", count=n)
                cols[name] = [None, values.tobytes()]
        except KeyError:  # same count but other names somewhere: group instead
            cols.clear()
            dense = False
    if not dense:
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, d in enumerate(dicts):
            groups.setdefault(tuple(d), []).append(i)
        parts: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for names, idx in groups.items():
            if not names:
                continue
            sub = [dicts[i] for i in idx]
            table = np.fromiter(
                chain.from_iterable(map(dict.values, sub)), dtype="<f8", count=len(idx) * len(names)
            ).reshape(len(idx), len(names))
            rows_idx = np.asarray(idx, dtype="<u4")
            for j, name in enumerate(names):
                p = parts.setdefault(name, ([], []))
                p[0].append(rows_idx)
                p[1].append(table[:, j])
        for name, (ri, vs) in parts.items():
            r = np.concatenate(ri)
            v = np.concatenate(vs)
            order = np.argsort(r, kind="stable")
            r, v = r[order], v[order]
            cols[name] = [None if len(r) == n else r.tobytes(), v.tobytes()]
    return {
        "type": "data",
        "sid": sid,
        "n": n,
        "step": steps.tobytes(),
        "time": times.tobytes(),
        "cols": cols,
    }


def _first_record(fd: int) -> dict[str, Any]:
    """The log's first record (the run header), read by its length; {} if it is damaged."""
    start = len(FILE_MAGIC)
    head = os.pread(fd, _format.HEADER_SIZE, start)
    if len(head) < _format.HEADER_SIZE or head[:4] != _format.FRAME_MAGIC:
        return {}
    length = int.from_bytes(head[4:8], "little")
    if length > 64 * 2**20:  # a header this large is damage, not a config
        return {}
    frames, _ = _format.scan(os.pread(fd, start + _format.HEADER_SIZE + length, 0))
    return frames[0].record if frames and frames[0].offset == start else {}


def _disabled_by_rank() -> bool:
    """torch.distributed and launchers set RANK; only rank 0 writes by default."""
    rank = os.environ.get("RANK", "").strip()
    return rank not in ("", "0")


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
        self.best_metric = best
        self.mode = mode
        self._fsync = durability == "fsync"
        #: step, time, {metric: float} per append, flat: see _make_append
        self._buf: list[Any] = []
        self._names: set[str] = set()
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
        for name in ("append", "mark_best", "flush", "close"):
            setattr(self, name, self._noop)

    def _noop(self, *args: Any, **kwargs: Any) -> None:
        return None

    def _open(self, config: Any, charts: Any) -> None:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise PathError(folder, "folder does not exist")
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
                self.sid, run_id, resumed=resumed, config=config, charts=charts, objective=objective
            )
            data = _format.encode_frame(_format.pack(record))
            self._fd = fd
            self._write(data if resumed else FILE_MAGIC + data)
            os.fsync(fd)
            if not resumed:
                from ._fs import fsync_dir

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

    def mark_best(self, step: int) -> None:
        """Declare ``step`` the best one; the last call wins, written once at close."""
        if self._closed:
            raise LogClosedError(self.path)
        self._marked = step if type(step) is int and 0 <= step < _STEP_LIMIT else _check_step(step)

    def _replay_columns(
        self,
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
        if self._closed:
            raise LogClosedError(self.path)
        steps = np.asarray(steps, dtype="<i8")
        times = np.asarray(times, dtype="<f8")
        n = len(steps)
        if len(times) != n:
            raise ValueError("steps and times differ in length")
        _check_names(dict.fromkeys(cols), self._names)
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
        self._track_best(steps, prepared)
        self.flush()  # rows appended before go first
        per = _CHUNK_ROWS * 32
        for a in range(0, n, per):
            b = min(a + per, n)
            out: dict[str, list[Any]] = {}
            for name, (r, v) in prepared.items():
                i, j = np.searchsorted(r, [a, b])
                if j > i:
                    whole = j - i == b - a
                    out[name] = [None if whole else (r[i:j] - a).astype("<u4").tobytes(),
                                 v[i:j].tobytes()]  # fmt: skip
            record = {"type": "data", "sid": self.sid, "n": b - a, "cols": out,
                      "step": steps[a:b].tobytes(), "time": times[a:b].tobytes()}  # fmt: skip
            data = _format.encode_frame(_format.pack(record))
            with self._writing():
                self._write(data)
                self._rows_total += b - a
        return n

    def _track_best(
        self, steps: np.ndarray, cols: Mapping[str, tuple[np.ndarray, np.ndarray]]
    ) -> None:
        """The best of replayed columns, by the rule of `append` (the first minimum of
        value * sign, NaN and the wrong infinity never best)."""
        best = self.best_metric
        if best is None or best not in cols:
            return
        rows, values = cols[best]
        keys = values * self._best_sign
        ok = ~np.isnan(keys) & (keys != _NEG_INF)
        if not ok.any():
            return
        idx = np.flatnonzero(ok)
        k = int(idx[np.argmin(keys[idx])])
        if float(keys[k]) < self._best_key:
            self._best_key = float(keys[k])
            self._best_step = int(steps[rows[k]])

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


# --------------------------------------------------------------------------- reader


@dataclass(frozen=True)
class Series:
    """One metric after deduplication: sorted unique steps, latest value per step."""

    metric: str
    steps: np.ndarray
    values: np.ndarray
    times: np.ndarray
    raw_count: int

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Segment:
    """A stretch of rows whose steps never go backwards; a new one starts at each resume."""

    index: int
    session: int
    first_row: int
    rows: int
    first_step: int
    last_step: int


@dataclass
class Session:
    """One opening of the log by a writer."""

    index: int
    sid: str
    header: dict[str, Any]
    offset: int
    rows: int = 0
    first_step: int | None = None
    last_step: int | None = None
    #: wall time of the session's last row
    last_time: float | None = None
    end: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        return self.end is not None


@dataclass(frozen=True)
class Best:
    """The run's best step: as the writer marked it, or recomputed from the data."""

    step: int
    metric: str | None
    mode: str
    value: float | None
    source: Literal["tracked", "marked", "recomputed"]


@dataclass
class Run:
    """Everything a log holds: header, sessions, segments, best, damage and the data."""

    path: str
    size: int
    header: dict[str, Any]
    sessions: list[Session]
    damage: list[Damage]
    best_records: list[dict[str, Any]]
    #: a writer had the file open when it was read: the last session is still
    #: running, not dead, and a torn tail may be a frame being written
    live: bool
    _steps: np.ndarray = field(repr=False)
    _times: np.ndarray = field(repr=False)
    #: metric -> (global row numbers, or None for every row; values)
    _cols: dict[str, tuple[np.ndarray | None, np.ndarray]] = field(repr=False)
    _series: dict[str, Series] = field(default_factory=dict, repr=False)

    # -------------------------------------------------------------- structure

    @property
    def metrics(self) -> list[str]:
        """Metric names in order of first appearance."""
        return list(self._cols)

    @property
    def rows(self) -> int:
        """Appended rows (steps as written, before deduplication)."""
        return len(self._steps)

    @property
    def objective(self) -> dict[str, str] | None:
        obj = self.header.get("objective")
        for s in reversed(self.sessions):  # the latest session's objective rules
            if s.header.get("objective"):
                obj = s.header["objective"]
                break
        return obj if isinstance(obj, dict) and obj.get("metric") else None

    @cached_property
    def segments(self) -> list[Segment]:
        steps = self._steps
        if len(steps) == 0:
            return []
        starts = np.flatnonzero(steps[1:] < steps[:-1]) + 1
        bounds = np.concatenate(([0], starts, [len(steps)]))
        session_starts = np.cumsum([0] + [s.rows for s in self.sessions])
        out = []
        for i in range(len(bounds) - 1):
            a, b = int(bounds[i]), int(bounds[i + 1])
            sess = int(np.searchsorted(session_starts, a, side="right")) - 1
            seg = steps[a:b]
            out.append(Segment(i, max(sess, 0), a, b - a, int(seg[0]), int(seg[-1])))
        return out

    @property
    def resumes(self) -> int:
        """Times the steps went backwards (a restart from an earlier checkpoint)."""
        return max(len(self.segments) - 1, 0)

    # -------------------------------------------------------------- data

    def series(self, metric: str) -> Series:
        """Steps (sorted, unique), values and times of one metric; the latest write wins."""
        if metric in self._series:
            return self._series[metric]
        if metric not in self._cols:
            raise MetricNotFoundError(self.path, metric, list(self._cols))
        rows, values = self._cols[metric]
        steps = self._steps if rows is None else self._steps[rows]
        times = self._times if rows is None else self._times[rows]
        raw = len(steps)
        if raw > 1 and not bool(np.all(steps[1:] > steps[:-1])):
            order = np.argsort(steps, kind="stable")
            s = steps[order]
            last = np.ones(len(s), dtype=bool)
            last[:-1] = s[1:] != s[:-1]
            keep = order[last]
            steps, values, times = steps[keep], values[keep], times[keep]
        result = Series(metric, steps, values, times, raw)
        self._series[metric] = result
        return result

    def __iter__(self) -> Iterator[Series]:
        return (self.series(m) for m in self.metrics)

    @cached_property
    def data(self) -> pl.DataFrame:
        """Long table: ``step`` Int64, ``time`` Float64, ``metric`` Enum, ``value`` Float64."""
        import polars as pl

        names = self.metrics
        enum = pl.Enum(names)
        if not names:
            return pl.DataFrame(
                schema={"step": pl.Int64, "time": pl.Float64, "metric": enum, "value": pl.Float64}
            )
        # One frame per metric straight from its numpy arrays, concatenated without
        # a rechunk: no copy of the 10M-row columns beyond what polars needs.
        frames = []
        for name in names:
            s = self.series(name)
            frame = pl.DataFrame({"step": s.steps, "time": s.times, "value": s.values})
            frames.append(
                frame.select("step", "time", pl.lit(name, dtype=enum).alias("metric"), "value")
            )
        return pl.concat(frames, rechunk=False)

    def wide(self) -> pl.DataFrame:
        """One row per step, one column per metric; null where a metric is absent."""
        import polars as pl

        frames = [
            pl.DataFrame({"step": s.steps, s.metric: s.values})
            for s in (self.series(m) for m in self.metrics)
        ]
        if not frames:
            return pl.DataFrame(schema={"step": pl.Int64})
        out = frames[0]
        for f in frames[1:]:
            if f.height == out.height and bool((f["step"] == out["step"]).all()):
                out = out.with_columns(f.drop("step"))
            else:
                out = out.join(f, on="step", how="full", coalesce=True)
        return out.sort("step")

    # -------------------------------------------------------------- summary

    def metric_stats(self, metric: str) -> dict[str, Any]:
        """Points, writes, first/last/min/max (with their steps) and non-finite counts.

        Values are plain floats (first and last may be NaN or infinite); min and
        max are over finite values only, None when there is none; ties keep the
        earliest step. ``writes`` counts every append, re-run steps included.
        """
        s = self.series(metric)
        v = s.values
        finite = np.isfinite(v)
        all_finite = bool(finite.all())
        nan = 0 if all_finite else int(np.isnan(v).sum())
        pos = 0 if all_finite else int(np.isposinf(v).sum())
        out: dict[str, Any] = {
            "points": len(s),
            "writes": s.raw_count,
            "first": _point(s, 0) if len(s) else None,
            "last": _point(s, len(s) - 1) if len(s) else None,
            "min": None,
            "max": None,
            "nan": nan,
            "inf": pos,
            "neg_inf": len(v) - int(finite.sum()) - nan - pos,
        }
        if all_finite and len(v):
            out["min"], out["max"] = _point(s, int(np.argmin(v))), _point(s, int(np.argmax(v)))
        elif finite.any():
            out["min"] = _point(s, int(np.argmin(np.where(finite, v, np.inf))))
            out["max"] = _point(s, int(np.argmax(np.where(finite, v, -np.inf))))
        return out

    def describe(self) -> dict[str, Any]:
        """What `curvelog inspect` shows: a JSON-ready overview of the whole log."""
        steps, times = self._steps, self._times
        best = self.best
        recomputed = None if best is not None else self.recompute_best()
        return {
            "path": self.path,
            "size": self.size,
            "run_id": self.header.get("run_id"),
            "live": self.live,
            "rows": self.rows,
            "steps": {"first": int(steps.min()), "last": int(steps.max())} if len(steps) else None,
            "time": {
                "start": float(times.min()),
                "end": float(times.max()),
                "span": float(times.max() - times.min()),
            }
            if len(times)
            else None,  # fmt: skip
            "sessions": [
                {
                    "index": x.index,
                    "start_time": x.header.get("start_time"),
                    "host": x.header.get("host"),
                    "rows": x.rows,
                    "first_step": x.first_step,
                    "last_step": x.last_step,
                    "closed": x.closed,
                    "end_reason": x.end.get("reason") if x.end else None,
                }
                for x in self.sessions
            ],  # fmt: skip
            "resumes": [
                {
                    "step": g.first_step,
                    "after_step": int(steps[g.first_row - 1]),
                    "session": g.session,
                }
                for g in self.segments[1:]
            ],
            "objective": self.objective,
            "best": _best_dict(best or recomputed),
            "metrics": {m: _json_stats(self.metric_stats(m)) for m in self.metrics},
            "damage": [
                {"start": d.start, "end": d.end, "kind": d.kind, "what": self._describe(d)}
                for d in self.damage
            ],
        }

    def export(
        self, out: str | os.PathLike[str], *, wide: bool = False, force: bool = False
    ) -> int:
        """Write the data as CSV or Parquet (by extension), atomically.

        An existing file is never replaced without ``force``.

        Returns the number of rows written.
        """
        from ._fs import atomic_path, same_file

        out = os.fspath(out)
        ext = os.path.splitext(out)[1].lower()
        if ext not in (".csv", ".parquet"):
            raise PathError(out, "unknown export format; use a .csv or .parquet file name")
        if same_file(out, self.path):
            raise PathError(out, "is the log being exported; choose another output")
        frame = self.wide() if wide else self.data
        with atomic_path(out, overwrite=force) as tmp:
            try:
                if ext == ".csv":
                    frame.write_csv(tmp)
                else:
                    frame.write_parquet(tmp)
            except Exception as e:  # polars raises its own error types for I/O
                raise PathError(out, f"cannot write ({e})") from None
        return frame.height

    def _describe(self, d: Damage) -> str:
        if self.live and d.kind == "torn" and d.end == self.size:
            return f"bytes {d.start}..{d.end} ({d.end - d.start} bytes): a record being written"
        return d.describe()

    # -------------------------------------------------------------- best

    @cached_property
    def best(self) -> Best | None:
        """The best step the writer recorded, if it still holds after deduplication.

        The latest ``mark_best`` wins. Otherwise each session's tracked best
        that the data still confirms (a later session may have re-run and
        overwritten that step) competes, by the objective's mode. None when
        the writer recorded nothing usable: see `recompute_best`.
        """
        marked = [b for b in self.best_records if b.get("source") == "marked"]
        if marked:
            b = marked[-1]
            metric = b.get("metric") or None
            value = self.value_at(metric, int(b["step"])) if metric else None
            return Best(int(b["step"]), metric, str(b.get("mode") or "min"), value, "marked")
        valid: list[Best] = []
        for b in self.best_records:
            metric, step = b.get("metric"), b.get("step")
            if not isinstance(metric, str) or not isinstance(step, int):
                continue
            value = self.value_at(metric, step)
            if value is not None and value == b.get("value"):
                valid.append(Best(step, metric, str(b.get("mode", "min")), value, "tracked"))
        if not valid:
            return None
        sign = -1.0 if valid[-1].mode == "max" else 1.0
        return min(valid, key=lambda b: (sign * (b.value or 0.0), b.step))

    def recompute_best(self) -> Best | None:
        """The objective's optimum over the deduplicated data (earliest step on ties)."""
        obj = self.objective
        if obj is None or obj["metric"] not in self._cols:
            return None
        s = self.series(obj["metric"])
        finite = np.isfinite(s.values)
        if not finite.any():
            return None
        vals = np.where(finite, s.values, np.inf if obj.get("mode") != "max" else -np.inf)
        i = int(np.argmax(vals) if obj.get("mode") == "max" else np.argmin(vals))
        return Best(
            int(s.steps[i]), obj["metric"], obj.get("mode", "min"), float(s.values[i]), "recomputed"
        )

    def value_at(self, metric: str, step: int) -> float | None:
        """The (deduplicated) value of ``metric`` at ``step``; None where it is absent."""
        if metric not in self._cols:
            return None
        s = self.series(metric)
        i = int(np.searchsorted(s.steps, step))
        if i < len(s.steps) and s.steps[i] == step:
            return float(s.values[i])
        return None


def _point(s: Series, i: int) -> dict[str, Any]:
    return {"step": int(s.steps[i]), "value": float(s.values[i])}


def _json_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """`Run.metric_stats` with non-finite values spelled as JSON-safe strings."""
    return {
        k: {"step": v["step"], "value": _json_float(v["value"])} if isinstance(v, dict) else v
        for k, v in stats.items()
    }


def _json_float(v: float) -> float | str:
    """JSON has no NaN or infinity: those become the strings "nan", "inf", "-inf"."""
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def _best_dict(best: Best | None) -> dict[str, Any] | None:
    if best is None:
        return None
    value = None if best.value is None else _json_float(best.value)
    return {"step": best.step, "metric": best.metric, "mode": best.mode, "value": value,
            "source": best.source}  # fmt: skip


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


_Columns = list[tuple[str, "np.ndarray | None", np.ndarray]]


def _decode_data(record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, _Columns]:
    """Steps, times and (name, row numbers or None for every row, values) of a data record.

    Zero-copy views on the record's bytes. Anything malformed is a ValueError:
    a checksum only proves the bytes are the ones written, not that a writer
    (ours or another implementation) wrote them right.
    """
    try:
        n = int(record["n"])
        steps = np.frombuffer(record["step"], dtype="<i8")
        times = np.frombuffer(record["time"], dtype="<f8")
        if len(steps) != n or len(times) != n:
            raise ValueError("column lengths differ from n")
        decoded: _Columns = []
        for name, (idx, vals) in record["cols"].items():
            v = np.frombuffer(vals, dtype="<f8")
            if idx is None:
                if len(v) != n:
                    raise ValueError(f"metric {name!r} has {len(v)} values for {n} rows")
                decoded.append((str(name), None, v))
                continue
            r = np.frombuffer(idx, dtype="<u4")
            if len(r) != len(v) or (len(r) and int(r.max()) >= n):
                raise ValueError(f"metric {name!r} has bad row indices")
            decoded.append((str(name), r, v))
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(str(e) or type(e).__name__) from None
    return steps, times, decoded


def _rows_of(record: dict[str, Any]) -> list[tuple[int, float, dict[str, float]]]:
    """The rows of one data record, one Python dict each: for people reading a tail, not bulk."""
    try:
        steps, times, columns = _decode_data(record)
    except ValueError:
        return []  # damaged: the reader reports it, the tail skips it
    rows: list[dict[str, float]] = [{} for _ in range(len(steps))]
    for name, idx, vals in columns:
        where = range(len(steps)) if idx is None else idx.tolist()
        for i, v in zip(where, vals.tolist(), strict=True):
            rows[i][name] = v
    return list(zip(steps.tolist(), times.tolist(), rows, strict=True))


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
    backlog = [row for f in frames if f.record.get("type") == "data" for row in _rows_of(f.record)]
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
            if f.record.get("type") == "data":
                yield from _rows_of(f.record)
        open_sessions = _open_sessions(frames, open_sessions)
        offset += _resume_offset(frames, damage, 0)


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
            sessions.append(s)
            by_sid[s.sid] = s
        elif kind == "best":
            bests.append(rec)
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
    )
