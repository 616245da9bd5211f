"""The metrics of one compaction, two at a time: in threads, or in forked processes.

A series' sampling (`auto`) is numpy work on arrays of a few thousand
points driven from Python, so it holds the GIL most of the time and two
threads barely overlap (#12). A forked worker shares the parent's arrays
page by page (nothing is copied or pickled on the way in; on the way out,
a chart's points, a summary and an analysis), so two processes keep two cores busy.

Forking is only safe in a process that is ours: ``curvelog compact`` asks
for processes (`metric_pool`'s ``processes``); a library call, which may run
inside a training script with CUDA and data-loader threads, keeps threads.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Final

#: metrics worked on at once: two series in memory at a time, two cores busy
METRIC_WORKERS: Final[int] = 2

Job = Callable[[Any], Any]
Mapper = Callable[[Job, Sequence[Any]], Iterator[Any]]


@contextmanager
def metric_pool(count: int, processes: bool = False) -> Iterator[Mapper]:
    """A ``map`` over ``count`` metric jobs that gives the results in order.

    Two workers where there are several metrics and several cores, plain
    ``map`` otherwise (no thread for one series). ``processes``: forked
    worker processes, on Linux (elsewhere fork is not safe with the system's
    libraries, and spawn would copy every series); threads otherwise.
    """
    workers = min(METRIC_WORKERS, count, os.cpu_count() or 1)
    if workers < 2:
        yield map
    elif processes and sys.platform == "linux":
        yield lambda job, tasks: _forked_map(job, tasks, workers)
    else:
        with _threads(workers) as ex:
            yield ex.map


def _threads(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="curvelog-series")


#: the job of the pool being forked: the children inherit it (a closure cannot be pickled)
_JOB: Job | None = None


def _forked_map(job: Job, tasks: Sequence[Any], workers: int) -> Iterator[Any]:
    """``job`` over ``tasks`` in ``workers`` forked processes, results in order.

    A task that fails in a worker, or whose worker died (killed, out of
    memory), is run again here, so its error (a `CurvelogError`, or a bug) is
    raised with this process's traceback. A Ctrl-C from the terminal reaches
    the workers too and ends their task at once.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _JOB
    ctx = multiprocessing.get_context("fork")
    ex = ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=worker_start, initargs=(os.getpid(),)
    )
    _JOB = job
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() while a thread runs: the file's
            # hash may be in progress (Sha256Job); the children never touch it
            warnings.simplefilter("ignore", DeprecationWarning)
            futures = [ex.submit(_run, task) for task in tasks]  # the first one forks
    except OSError:  # fork failed (a process limit, no memory): threads do the work
        _abandon(ex)
        with _threads(workers) as threads:
            yield from threads.map(job, tasks)
        return
    finally:
        _JOB = None
    try:
        for task, fut in zip(tasks, futures, strict=True):
            try:
                ok, result = fut.result()
            except BrokenProcessPool:
                ok, result = False, None
            yield result if ok else job(task)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _abandon(ex: Any) -> None:
    """Shut a pool whose fork failed: a worker that did start is killed (the
    pool never started the thread that would stop it, and it holds no task).

    SIGKILL, not SIGTERM: a SIGTERM that lands before the worker's Python is
    set up (between fork and the interpreter's after-fork reset of pending
    signals) is lost, and `join` then waited for ever (CI hung here)."""
    for proc in list((getattr(ex, "_processes", None) or {}).values()):
        proc.kill()
        proc.join()
    ex.shutdown(wait=False, cancel_futures=True)


def worker_start(parent: int) -> None:
    """In a forked worker (of this module's pool, of ``compact -j``): die with the
    parent, and take the default Ctrl-C and SIGTERM.

    A worker waits for tasks on a pipe whose write end its sibling inherited
    too, so it never sees the parent go: a ``compact`` killed by the OOM
    killer or ``kill -9`` left its workers blocked for ever, each holding its
    copy-on-write view of the log's arrays (QA). On Linux the kernel kills the
    worker when the parent dies (``PR_SET_PDEATHSIG``); a parent already gone
    before that was set is seen in ``getppid``. The default signal handlers:
    a framework's SIGTERM handler, inherited, would keep a worker alive that
    is asked to end.
    """
    if sys.platform == "linux":
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


#: prctl(2): the signal a process gets when its parent dies
_PR_SET_PDEATHSIG: Final[int] = 1


def _run(task: Any) -> tuple[bool, Any]:
    """In a worker: (True, the job's result), or (False, None) when it raised."""
    assert _JOB is not None
    try:
        return True, _JOB(task)
    except Exception:  # the parent runs it again and raises it there
        return False, None
