"""EventLog under failure: full files, interrupts anywhere, several threads, forked children.

Issue #10, items 1, 2, 4 and 13: a row leaves the writer's buffer only once
its bytes are written; whatever interrupts a call leaves the writer able to
flush and close; a forked child never keeps the log's lock.
"""

from __future__ import annotations

import functools
import linecache
import os
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest

import curvelog
from _subproc import run_child
from curvelog import EventLog
from curvelog.log import _writer, read_records


def _end_rows(path: Path) -> list[int]:
    return [r["rows"] for r in read_records(path) if r.get("type") == "end"]


# --------------------------------------------------------------------------- item 1


def test_a_write_refused_for_file_size_is_written_by_the_retry(tmp_path: Path) -> None:
    """EFBIG (RLIMIT_FSIZE) mid-chunk: nothing lost once the flush is retried, no damage left."""
    code = """
        import os, resource, signal, sys, curvelog
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        path = sys.argv[1]
        log = curvelog.EventLog(path, flush_every=0)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 20_000, hard))
        failed = 0
        for i in range(ROWS):
            try:
                log.append(i, x=float(i), y=i * 0.5)
            except OSError:  # the flush of a full chunk: EFBIG
                failed += 1
        for _ in range(2):
            try:
                log.flush()
            except OSError:
                failed += 1
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space is back
        log.flush()
        log.close()
        print(failed)
    """
    rows = _writer._CHUNK_ROWS + 952  # one full chunk flushed by append, then more
    code = code.replace("ROWS", str(rows))
    path = tmp_path / "x.log"
    done = run_child(code, str(path))
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 3  # the failures really happened
    run = curvelog.read(path)
    assert run.damage == []  # the half-written frame was taken back before the retry
    assert run.series("x").steps.tolist() == list(range(rows))
    assert np.array_equal(run.series("y").values, np.arange(rows) * 0.5)
    assert _end_rows(path) == [rows]


def test_a_failed_close_can_be_retried(tmp_path: Path) -> None:
    code = """
        import os, resource, signal, sys, curvelog
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        path = sys.argv[1]
        log = curvelog.EventLog(path, best="x", flush_every=0)
        for i in range(100):
            log.append(i, x=float(-i))
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 100, hard))
        try:
            log.close()
        except OSError:
            print("failed", log.closed)
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
        log.close()
        print(log.closed)
    """
    path = tmp_path / "x.log"
    done = run_child(code, str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed", "False", "True"]
    run = curvelog.read(path)
    assert run.damage == [] and run.rows == 100
    assert run.best is not None and run.best.step == 99
    assert _end_rows(path) == [100]


# --------------------------------------------------------------------------- items 1, 2


def _is_with(frame: FrameType) -> bool:
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    return line.lstrip().startswith("with ")


class _Interrupt:
    """Raise KeyboardInterrupt at the n-th line run in curvelog's log package, or at
    the start of a Python function it calls (a context manager's ``__exit__``).

    What a Ctrl-C does (Python runs signal handlers between bytecodes, at the
    calls and jumps of a line, and as a Python function starts), made
    deterministic so that every such point is tried. Except a ``with`` line:
    the tracer reports it again just before the context's ``__exit__`` runs,
    a point where CPython never runs a signal handler (it checks after a
    call, so after ``__exit__``; a Python-level ``__exit__`` is tried at its start).
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.fired = False
        self.root = os.path.dirname(curvelog.log.__file__)

    def _local(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line" and not self.fired and not _is_with(frame):
            self.n -= 1
            if self.n < 0:
                self.fired = True
                raise KeyboardInterrupt
        return self._local

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Any:
        if self.fired:
            return None
        caller = frame.f_back
        if caller is not None and caller.f_code.co_filename.startswith(self.root):
            self.n -= 1  # a function the log package calls, interrupted as it starts
            if self.n < 0:
                self.fired = True
                raise KeyboardInterrupt
        if not frame.f_code.co_filename.startswith(self.root):
            return None
        return self._local


def _interrupted(fn: Any, n: int) -> tuple[bool, BaseException | None]:
    """Whether the n-th point was reached, and the KeyboardInterrupt raised there:
    kept, with its traceback, as a ``with EventLog`` block's ``__exit__`` has it."""
    trace = _Interrupt(n)
    sys.settrace(trace)
    caught = None
    try:
        fn()
    except KeyboardInterrupt as e:
        caught = e
    finally:
        sys.settrace(None)
    return trace.fired, caught


@pytest.mark.parametrize("call", ["append", "flush", "append_chunk", "close"])
def test_an_interrupt_anywhere_leaves_the_writer_consistent(tmp_path: Path, call: str) -> None:
    """KeyboardInterrupt at every bytecode of append/flush/close: later calls still work,
    every row whose append returned is read back exactly once, the end record is true."""
    last = _writer._CHUNK_ROWS - 1  # the append that fills a chunk flushes it
    n = 0
    while True:
        path = tmp_path / f"{call}-{n}.log"
        log = EventLog(path, best="x", flush_every=0)
        for i in range(last if call == "append_chunk" else 10):
            log.append(i, x=float(i))
        if call == "flush" or call == "close":
            fn = getattr(log, call)
        else:
            step = last if call == "append_chunk" else 10
            fn = functools.partial(log.append, step, x=float(step))
        fired, caught = _interrupted(fn, n)
        if not fired:
            log.close()
            break
        # nothing left held while the interrupt is handled (its traceback alive): a lock
        # kept by a suspended generator made the close of `with EventLog` wait for ever
        assert log._lock.acquire(timeout=5), n
        log._lock.release()
        del caught
        if call != "close":
            log.append(1_000_000, x=-1.0)
            log.flush()
        log.close()  # a retry when close was interrupted
        assert log.closed
        run = curvelog.read(path)
        assert run.damage == [], n
        steps = run.series("x").steps.tolist()
        expect = list(range(last if call == "append_chunk" else 10))
        interrupted_row = last if call == "append_chunk" else 10
        if call in ("append", "append_chunk"):
            # the interrupted row: recorded once or not at all
            assert steps in (expect + [1_000_000], expect + [interrupted_row, 1_000_000]), n
        elif call == "flush":
            assert steps == expect + [1_000_000], n
        else:
            assert steps == expect, n
        assert run.rows == len(steps), n
        assert _end_rows(path) == [run.rows], n
        n += 1
    assert n >= {"append": 8, "flush": 60, "append_chunk": 80, "close": 100}[call]  # all tried


def test_an_interrupted_close_is_finished_at_exit(tmp_path: Path) -> None:
    code = """
        import signal, sys, curvelog
        log = curvelog.EventLog(sys.argv[1], flush_every=0)
        for i in range(100):
            log.append(i, x=float(i))
        def boom(*a):
            raise KeyboardInterrupt
        import os
        real = os.fsync
        def fsync(fd):  # the Ctrl-C arrives while close waits for the disk
            os.fsync = real
            raise KeyboardInterrupt
        os.fsync = fsync
        try:
            log.close()
        except KeyboardInterrupt:
            print("interrupted", log.closed)
    """
    path = tmp_path / "x.log"
    done = run_child(code, str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["interrupted", "False"]
    run = curvelog.read(path)
    assert run.rows == 100 and run.damage == []
    assert _end_rows(path) == [100]  # written once, by the interrupted close


# --------------------------------------------------------------------------- item 4


def test_append_from_several_threads_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        with EventLog(path, best="loss", flush_every=0.001) as log:

            def work(t: int) -> None:
                for i in range(5000):
                    log.append(t * 10_000 + i, {f"t{t}": float(i), "loss": float(t * 10_000 + i)})

            threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
    finally:
        sys.setswitchinterval(old)
    run = curvelog.read(path)
    assert run.damage == [] and run.rows == 20_000
    for t in range(4):
        s = run.series(f"t{t}")
        assert s.steps.tolist() == list(range(t * 10_000, t * 10_000 + 5000))
        assert s.values.tolist() == [float(i) for i in range(5000)]
    assert run.best is not None and run.best.step == 0
    assert _end_rows(path) == [20_000]


# --------------------------------------------------------------------------- item 13


def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    code = """
        import os, sys, time, curvelog
        path = sys.argv[1]
        log = curvelog.EventLog(path, flush_every=0)
        log.append(0, x=1.0)
        r, w = os.pipe()
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # a DataLoader worker: lives on after the parent closed the log
            os.close(w)
            os.write(ready_w, b"x")  # running: the fork hooks are done
            os.read(r, 1)
            os._exit(0)
        os.read(ready_r, 1)
        log.close()
        live = curvelog.read(path).live
        try:
            curvelog.EventLog(path).close()
            reopened = True
        except curvelog.errors.LogLockedError:
            reopened = False
        os.close(r)
        os.write(w, b"x")
        os.waitpid(pid, 0)
        print(live, reopened)
    """
    path = tmp_path / "x.log"
    done = run_child(code, str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


# --------------------------------------------------------------------------- QA finding 2


def test_an_append_that_races_close_is_recorded_or_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Close runs in another thread while an append is between its checks and its extend:
    the final flush cannot have that row, so the append must raise, not drop it."""
    path = tmp_path / "x.log"
    real_time = time.time
    armed = []

    def now() -> float:
        if armed and threading.current_thread() is threading.main_thread():
            armed.clear()
            closer = threading.Thread(target=log.close)
            closer.start()
            closer.join()  # the log is closed before this append's row is buffered
        return real_time()

    monkeypatch.setattr(time, "time", now)  # the append closure reads the clock through it
    log = EventLog(path, flush_every=0)
    log.append(0, x=1.0)
    armed.append(True)
    with pytest.raises(curvelog.LogClosedError):
        log.append(1, x=2.0)
    assert log.closed
    run = curvelog.read(path)
    assert run.series("x").steps.tolist() == [0] and _end_rows(path) == [1]


def test_a_saved_append_raises_after_close(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = EventLog(path, flush_every=0)
    append = log.append  # the hot-loop micro-optimisation
    append(0, x=1.0)
    log.close()
    for step in (1, 2):
        with pytest.raises(curvelog.LogClosedError):
            append(step, x=2.0)
    assert curvelog.read(path).series("x").steps.tolist() == [0]


def _append_until_closed(log: EventLog, started: threading.Event, after: int) -> tuple[int, Any]:
    """Append as fast as possible until the log refuses: (appends that returned, error)."""
    i = 0
    while True:
        try:
            log.append(i, x=float(i))
        except curvelog.LogClosedError:
            return i, None
        except BaseException as e:  # EBADF from a flush after close, say
            return i, e
        i += 1
        if i == after:
            started.set()


def test_every_append_that_returned_before_close_is_in_the_log(tmp_path: Path) -> None:
    """A thread appends as fast as it can while the main thread closes the log."""
    for trial in range(5):
        path = tmp_path / f"x{trial}.log"
        log = EventLog(path, flush_every=0.001)
        started = threading.Event()
        result: list[tuple[int, Any]] = []
        after = 20_000 + 1_000 * trial  # past two chunks, each trial elsewhere
        worker = threading.Thread(
            target=lambda: result.append(_append_until_closed(log, started, after))  # noqa: B023 (joined below)
        )
        worker.start()
        started.wait()
        log.close()
        worker.join()
        accepted, error = result[0]
        assert error is None
        assert curvelog.read(path).rows == accepted


# --------------------------------------------------------------------------- QA finding 11


@pytest.mark.parametrize("every", [float("inf"), 1e10, float("nan"), -1.0])
def test_a_flush_interval_the_thread_cannot_wait_is_refused(tmp_path: Path, every: float) -> None:
    """inf used to be accepted, and the flush thread then died of an OverflowError."""
    with pytest.raises(ValueError, match=r"flush_every must be >= 0 seconds .* at most \d+"):
        EventLog(tmp_path / "x.log", flush_every=every)
    assert not (tmp_path / "x.log").exists()
