"""EventLog, the writer: the buffer `append` fills, and the flushes that turn it into chunks.

The framing lives in `_format`, the chunk codec in `_chunk`, the opening
sequence in `_open`, and the records written beside the buffer (configs,
replayed columns, system samples) in `_side`. The writer keeps every appended
value in one plain Python list (the cheapest thing CPython can do per step)
and turns it into columnar chunks (one float64 array per metric) when it
flushes, so the per-step cost is one list extend and the per-step size is the
raw 8 bytes of each number.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, TypeVar

import numpy as np

from .._goals import name_goal
from ..errors import (
    ChartsError,
    LogClosedError,
)
from . import _side
from ._chunk import _encode_rows
from ._deferred import INT_BOUND, Admission, admit, to_column
from ._device import Transfers
from ._hooks import _LOGGER, _OPEN_LOGS, _deliver_pending_signal, _install_hooks, _MainThreadWrites
from ._mark import _Mark
from ._open import open_session as _open_session
from ._rowblock import SMALL

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ._ranks import current_rank, rank_path
from ._records import chart_problem
from ._system import Sampler, system_interval
from ._values import _STEP_LIMIT, _check_step, _plain, _plain_config, _Policy

_T = TypeVar("_T")

#: rows per columnar chunk that `append` flushes itself: big enough that a reader
#: pays its per-chunk work (decoding, checks, one copy per column) rarely (read
#: of 10M x 4 steps: 0.35 s against 0.8 s with 2,048-row chunks) and that the
#: chunk overhead is under 0.02 byte per step, small enough that the encoding
#: reads the rows' dicts from the CPU's cache (`_chunk._BLOCK` at a time)
_CHUNK_ROWS: Final[int] = 8_192
_MODES: Final[tuple[str, ...]] = ("min", "max")
_DURABILITY: Final[tuple[str, ...]] = ("flush", "fsync")
#: seconds the background flush waits for a device copy before leaving its rows for the next
_DEVICE_WAIT: Final[float] = 0.05


class EventLog:
    """Append every raw training step to a crash-safe, append-only log.

    ``append`` only appends to in-memory lists; a background thread turns
    them into framed columnar chunks at least every ``flush_every`` seconds,
    and the writing thread does so itself every 8,192 steps. ``close`` (also
    run by the context manager, at interpreter exit and on SIGTERM) flushes,
    then writes the best record once.

    :param path: the log file; created if missing (its folders too), appended to (a new
        session) if not.
    :param best: metric whose optimum is tracked and written once at close.
    :param mode: ``"min"`` or ``"max"`` for ``best``. Ties keep the earliest step. By
        default from ``best``'s name (`_goals.name_goal`): ``"max"`` for accuracies,
        rewards and scores (``val/acc``), ``"min"`` for anything else.
    :param config: hyper-parameters to store in the header: a mapping, dataclass,
        argparse or ``types.SimpleNamespace`` (values of other types inside it are
        stored as strings); anything else raises `ConfigError` before the file is touched.
    :param charts: chart metadata, ``{chart_id: {"title", "xlabel", "ylabel",
        "metrics": [...], "scale"}}``; overrides the default grouping by the
        last name component.
    :param flush_every: seconds between background flushes; ``0`` disables
        the background thread (flush on chunk size, ``flush()`` and close only).
        At most ``threading.TIMEOUT_MAX`` (the longest a thread can wait); more, or
        ``inf``, raises ``ValueError``: use ``0`` for no timer flush.
    :param durability: ``"flush"`` hands data to the OS (survives ``kill -9``);
        ``"fsync"`` also forces it to disk each flush (survives power loss).
    :param all_ranks: every rank writes, each its own log beside rank 0's: rank
        *r* writes ``run.rank<r>.log`` when rank 0 writes ``run.log`` (``self.path``
        says which); by default only rank 0 writes (``RANK`` or torch.distributed).
    :param system: also record ``sys/*`` metrics (memory, CPU, GPU memory) from
        the background thread: ``True`` every 5 s, or every given seconds (#15).
    :param name: the run's name, shown as the title of its charts (default: the
        log's file name, or its folder's name for ``run.log``).
    :param strict: raise `MetricTypeError` / `StepError` on a value that is not a
        number or a step that is not a valid integer. By default such data is
        skipped with one warning per metric and counted in the end record
        (`Run.skipped`), so a logging mistake never ends a training run.
    """

    #: this session's id and the run's (kept across resumes); set by `_open.open_session`
    sid: str
    run_id: str
    #: closes (True) or reopens the append closure's threshold; set by `_make_append`
    _seal: Callable[[bool], None]

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        best: str | None = None,
        mode: Literal["min", "max"] | None = None,
        config: Any = None,
        charts: Mapping[str, Mapping[str, Any]] | None = None,
        flush_every: float = 1.0,
        durability: Literal["flush", "fsync"] = "flush",
        all_ranks: bool = False,
        system: bool | float = False,
        strict: bool = False,
        name: str | None = None,
        _any_rank: bool = False,
    ) -> None:
        """Check every option before the file is touched, then open (see the class).

        Long because each keyword is checked here, where the user's mistake is
        reported with the option's name, and the writer's state is set in one
        place that `_make_append` and the flushes can rely on.
        """
        self.path = os.fspath(path)
        interval = system_interval(system)
        if interval is not None and not flush_every > 0:
            raise ValueError("system metrics are sampled by the background thread: flush_every > 0")
        self._sampler = Sampler(interval) if interval is not None else None
        if mode is not None and mode not in _MODES:
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        if durability not in _DURABILITY:
            raise ValueError(f"durability must be 'flush' or 'fsync', not {durability!r}")
        if not 0 <= flush_every <= threading.TIMEOUT_MAX:  # the longest Event.wait can wait
            raise ValueError(
                "flush_every must be >= 0 seconds (0: no background flush) and at most "
                f"{threading.TIMEOUT_MAX:.0f}, not {flush_every!r}"
            )
        if isinstance(best, str):  # a StrEnum member or numpy.str_: its plain string
            best = str.__str__(best)
        elif best is not None:
            raise TypeError(f"best must be a metric name (str), not {type(best).__name__}")
        if charts is not None:
            problem = chart_problem(_plain(charts))
            if problem:
                raise ChartsError(problem)
        if name is not None and (type(name) is not str or not name):
            raise TypeError(f"name must be a non-empty string, not {name!r}")
        config = _plain_config(config, self.path)
        self.name = name
        self.best_metric = best
        self.mode: Literal["min", "max"] = mode or (name_goal(best) if best else None) or "min"
        self._fsync = durability == "fsync"
        #: step, time, {metric: float} per append, flat: see _make_append
        self._buf: list[Any] = []
        self._names: set[str] = set()
        self._policy = _Policy(strict)
        self._best_sign = 1.0 if self.mode == "min" else -1.0
        self._mark = _Mark(0, 0, 0, 0, None, float("inf"), None, False)
        #: what append keeps unconverted (see _deferred), and the device copies in flight
        self._adm = Admission()
        self._xfer = Transfers()
        #: buffer length (items) at which append tries to flush again after a failed write
        self._retry_at = 0
        self._marked: int | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._closed = False
        self._fd = -1
        rank = 0 if _any_rank else current_rank()
        if rank is not None and rank != 0:  # another rank of a distributed run (#13)
            if not all_ranks:
                self._disable()
                return
            self.path = rank_path(self.path, rank)
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

    def _open(self, config: dict[str, Any], charts: Any) -> None:
        _open_session(self, config, charts)

    # ------------------------------------------------------------------ hot path

    def append(self, step: int, values: Mapping[str, Any] | None = None, /, **metrics: Any) -> None:
        """Record ``metrics`` at ``step`` with the current wall time.

        Metrics may be given as keywords or as a mapping (for names such as
        ``"train/loss"``); a metric not given at this step is absent there.
        Values are numbers (Python, numpy) or 0-d tensors on any device;
        tensors are read when the row is flushed, never with a device sync.
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

        Closing seals the closure (`_seal`: the chunk threshold becomes 0), so
        that every append from then on, also one that was already past its
        ``extend`` or made through a saved ``log.append``, goes through
        `_auto_flush`, which raises `LogClosedError` for a row the final flush
        did not write. An append that returns normally is therefore recorded,
        and the open path pays nothing for it.
        """
        buf = self._buf
        extend = buf.extend
        now = time.time
        known = self._names
        limit = _STEP_LIMIT
        chunk = _CHUNK_ROWS * 3
        flush = self._auto_flush
        adm = self._adm
        numbers, tensors, dtypes, bound = adm.numbers, adm.tensors, adm.dtypes, INT_BOUND
        policy = self._policy  # values it cannot record: _values._Policy

        def seal(sealed: bool) -> None:
            nonlocal chunk
            chunk = 0 if sealed else _CHUNK_ROWS * 3

        self._seal = seal

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
                    # kept as is, converted in bulk at flush (_deferred): known numpy
                    # scalars, ints, 0-d real CPU tensors that need no detach; device
                    # tensors are kept too, by admit (which marks them for _device)
                    kind = type(value)
                    if kind in numbers or (kind is int and -bound < value < bound):
                        continue
                    if (kind in tensors and value.ndim == 0 and value.is_cpu
                            and value.dtype in dtypes and not value.requires_grad):  # fmt: skip
                        continue
                    metrics = admit(metrics, adm, policy)
                    if not metrics:
                        return
                    break
            extend((step, now(), metrics))
            if len(buf) >= chunk:
                flush(metrics)

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
        ``log.update_config(lr=3e-4)``. Accepts what ``config=`` accepts
        (`ConfigError` otherwise, as `set_config`).
        """
        merged = _plain_config(config, self.path)
        merged.update(_plain(values))
        self._write_config(merged, merge=True)

    def _write_config(self, config: Any, *, merge: bool) -> None:
        _side.write_config(self, config, merge=merge)

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
        """Private, for importers (#15): rows recorded elsewhere, as columns, with *their*
        wall times (`_side.replay_columns`)."""
        return _side.replay_columns(self, steps, times, cols)

    # ------------------------------------------------------------------ flushing

    def _flush_locked(self, wait: float | None = 0.0) -> None:
        """Write the buffered rows as one chunk; caller holds the lock.

        The rows stay in the buffer until their frame is written (a failed
        write loses nothing, the next flush retries); every state change is
        the single store of `_Mark` (see there). Rows holding device tensors
        wait for their copy (`_device`): up to ``wait`` seconds for the one
        in flight, then they are left for the next flush; ``wait=None``
        writes everything, waiting as long as the copies take.
        """
        while True:
            m = self._mark
            buf = self._buf
            k = m.trim
            if k and len(buf) >= 3 * k and buf[3 * k - 1] is m.last:
                del buf[: 3 * k]  # written by a flush that was interrupted before this
            n = len(buf) // 3
            if not n:
                return
            convert = None
            if self._adm.tensor_seen:
                convert = to_column
            if self._adm.device_seen:
                n = self._xfer.settle(buf[2 : 3 * n : 3], wait)
                if not n:
                    if wait is None:
                        continue  # a flight was just launched: wait for it
                    return
            rows = buf[: 3 * n]
            record = _encode_rows(self.sid, rows, m.seq, convert)
            block, seq = None, m.seq + 1
            if n < SMALL:  # a few rows: row frames, not a chunk each (#12, `_rowblock`)
                size, best_key, best_step, block = _side.write_small(self, record)
                seq = block.seq + 1
            else:
                size, best_key, best_step = _side.write_chunk(self, record)
            self._mark = _Mark(
                size, m.rows + n, seq, n, rows[-1], best_key, best_step, False, rows[-3], block
            )
            del buf[: 3 * n]
            if wait is not None or self._xfer.flight is None:
                return  # (wait=None: the rows behind the copy just launched go next)

    def _auto_flush(self, row: object) -> None:
        """The flush `append` runs every 8,192 rows (and, once the log is closing,
        after every row, see `_make_append`); after a failed write it waits
        for another 8,192 rows before trying again (the rows stay buffered)."""
        if len(self._buf) < self._retry_at:
            return
        try:
            self._under_lock(self._auto_flush_locked, row)
        except OSError:
            self._retry_at = len(self._buf) + 3 * _CHUNK_ROWS
            raise
        self._error = None
        # rows wait for their device copy: try again after a chunk more, not at every append
        self._retry_at = len(self._buf) + 3 * _CHUNK_ROWS if self._xfer.flight is not None else 0

    def _auto_flush_locked(self, row: object) -> None:
        if self._closed:
            self._refuse_late(row)
            return
        self._flush_locked(0.0)  # never waits for a device copy in the loop

    def _refuse_late(self, row: object) -> None:
        """``row`` reached the buffer of a closed log: `LogClosedError`, unless the
        final flush wrote it (its append raced ``close``). Caller holds the lock."""
        buf = self._buf
        for i in range(2, len(buf), 3):
            if buf[i] is row:
                del buf[i - 2 : i + 1]
                raise LogClosedError(self.path)

    def _under_lock(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` holding the lock, with SIGTERM deferred while the main thread
        holds it (`_hooks._MainThreadWrites`).

        Not a ``@contextmanager``: a Ctrl-C landing as a generator context
        manager's ``__exit__`` begins (Python looks for signals when a Python
        function starts) leaves the generator suspended, the lock in it held
        for ever, and the ``close`` of the ``with EventLog`` block or at exit
        waits for it for ever. The lock's own ``with`` is C code, which
        releases it on every path. Nothing else is kept: a SIGTERM's handler
        tells from the stack whether it landed here (`_hooks._in_write_section`).
        """
        try:
            with self._lock:
                return fn(*args)
        finally:
            if _MainThreadWrites.pending is not None:
                _deliver_pending_signal(sys._getframe().f_back)  # this section is over

    def flush(self) -> None:
        """Write everything appended so far (and fsync with ``durability="fsync"``).

        If the write fails (a full disk: ``OSError``), or a Ctrl-C interrupts
        it, the rows stay buffered and the next ``flush`` or ``close`` writes them.
        """
        self._under_lock(self._flush_open)
        self._error = None

    def _flush_open(self) -> None:
        if self._closed:  # under the lock: a close in another thread has released the fd
            raise LogClosedError(self.path)
        self._flush_locked(None)

    def _flush_loop(self, interval: float) -> None:
        sampler = self._sampler
        next_flush = time.monotonic() + interval
        while not self._stop.wait(interval if sampler is None else sampler.wait(next_flush)):
            try:
                if sampler is not None:
                    sampler.tick(self._write_sample)
                    if time.monotonic() < next_flush:
                        continue
                    next_flush = time.monotonic() + interval
                if len(self._buf) < 3:
                    continue
                with self._lock:
                    if not self._closed:
                        self._flush_locked(_DEVICE_WAIT)
                self._error = None
            except Exception as e:  # the rows stay buffered: retried next time
                if self._error is None:
                    _LOGGER.warning(
                        "curvelog: background flush of %s failed (retrying): %s", self.path, e
                    )
                self._error = e

    def _write_sample(self, row: dict[str, float], t: float) -> bool:
        """The system sampler's way in (#15): `_side.write_sample`."""
        return _side.write_sample(self, row, t)

    # ------------------------------------------------------------------ closing

    def _close(self, reason: str) -> None:
        """Flush, write the best and end records once, fsync, release the file.

        A write that fails (``OSError``) or is interrupted leaves the log open
        with its rows buffered, so ``close`` can be called again (at the
        latest, at interpreter exit). Once the end record is written, a failed
        fsync still releases the file: the data is with the OS.
        """
        if not self._closed:
            self._under_lock(self._close_locked, reason)

    def _close_locked(self, reason: str) -> None:
        if self._closed:
            return
        self._stop.set()
        self._seal(True)  # appends from here on check whether the final flush has them
        self._retry_at = 0
        try:
            self._flush_locked(None)
            if not self._mark.ended:
                _side.write_end_locked(self, reason)
            os.fsync(self._fd)
        except BaseException as e:
            if not self._mark.ended:  # still open: the rows appended meanwhile wait
                self._seal(False)
            elif isinstance(e, OSError):
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


_MainThreadWrites.sections.add(EventLog._under_lock.__code__)
