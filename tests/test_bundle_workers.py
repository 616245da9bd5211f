"""The per-metric pool of a compaction (`curvelog.bundle._workers`, #12): forked
processes when asked for on Linux, threads otherwise, results always in order."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from typing import Any

import pytest

from curvelog.bundle import _workers
from curvelog.errors import MetricNotFoundError

linux = pytest.mark.skipif(sys.platform != "linux", reason="forked workers are Linux-only")


def _where(task: int) -> tuple[int, int, str]:
    return task, os.getpid(), threading.current_thread().name


@linux
def test_processes_run_the_jobs_in_two_other_processes_in_order() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    with _workers.metric_pool(6, processes=True) as pool:
        out = list(pool(_where, range(6)))
    assert [t for t, _, _ in out] == list(range(6))
    pids = {pid for _, pid, _ in out}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert multiprocessing.active_children() == []  # the workers are gone


def test_threads_run_here_and_one_metric_needs_no_worker() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    with _workers.metric_pool(4) as pool:
        out = list(pool(_where, range(4)))
    assert [t for t, _, _ in out] == list(range(4))
    assert {pid for _, pid, _ in out} == {os.getpid()}
    assert all(name.startswith("curvelog-series") for _, _, name in out)
    with _workers.metric_pool(1, processes=True) as pool:
        assert [pid for _, pid, _ in pool(_where, [7])] == [os.getpid()]


@linux
def test_a_job_that_fails_in_a_worker_raises_its_own_error_here() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    ran_here: list[int] = []

    def job(task: int) -> Any:
        if task == 2:
            if os.getpid() == parent:
                ran_here.append(task)
            raise MetricNotFoundError("run.log", "loss", ["acc"])
        return task * 10

    parent = os.getpid()
    got: list[int] = []
    with (
        pytest.raises(MetricNotFoundError, match="loss") as info,
        _workers.metric_pool(4, processes=True) as pool,
    ):
        for result in pool(job, range(4)):
            got.append(result)
    assert got == [0, 10] and ran_here == [2]  # raised here, with this process's traceback
    assert info.value.metric == "loss"
    assert multiprocessing.active_children() == []  # killed, not waited for


def _die_in_a_worker(parent: int, task: int) -> int:
    if task == 1 and os.getpid() != parent:
        os._exit(3)  # as the OOM killer would end it: no result, no exception
    return task + 100


@linux
def test_a_task_whose_worker_died_is_done_here() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    parent = os.getpid()
    with _workers.metric_pool(3, processes=True) as pool:
        out = list(pool(lambda t: _die_in_a_worker(parent, t), range(3)))
    assert out == [100, 101, 102]
    assert multiprocessing.active_children() == []


def _handlers(_task: int) -> tuple[Any, Any]:
    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


@linux
def test_workers_drop_the_parents_signal_handlers() -> None:
    """A framework's SIGTERM handler (Lightning installs one) would keep a
    worker alive that is asked to end; workers get the defaults back."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    old = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with _workers.metric_pool(2, processes=True) as pool:
            got = list(pool(_handlers, range(2)))
    finally:
        signal.signal(signal.SIGTERM, old)
    assert got == [(signal.SIG_DFL, signal.default_int_handler)] * 2


@linux
@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_fork_that_fails_falls_back_to_threads(
    monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    """fork() refused (EAGAIN: a process limit; ENOMEM) for the first worker or
    the second: the jobs run in threads here, none is lost, no worker is left."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    real_fork = os.fork
    calls = [0]

    def fork() -> int:
        calls[0] += 1
        if calls[0] >= fail_at:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_fork()

    monkeypatch.setattr(os, "fork", fork)
    with _workers.metric_pool(4, processes=True) as pool:
        out = list(pool(_where, range(4)))
    assert calls[0] == fail_at  # it did try to fork
    assert [t for t, _, _ in out] == list(range(4))
    assert {pid for _, pid, _ in out} == {os.getpid()}
    assert all(name.startswith("curvelog-series") for _, _, name in out)
    assert multiprocessing.active_children() == []


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return False


@linux
def test_workers_of_a_killed_compact_end_with_it(tmp_path: Any) -> None:
    """A compact killed by the OOM killer or kill -9 left its forked workers blocked
    on their task pipe for ever, each holding its copy of the log's arrays (QA)."""
    import subprocess
    import time

    import numpy as np

    from curvelog import EventLog

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no pool")
    log = tmp_path / "big.log"
    rng = np.random.default_rng(0)
    n = 1_000_000
    cols = {m: (np.arange(n), rng.random(n)) for m in ("a", "b", "c", "d")}
    with EventLog(log, flush_every=0) as w:
        w._replay_columns(np.arange(n), np.full(n, 1.7e9), cols)
    proc = subprocess.Popen(
        [sys.executable, "-m", "curvelog", "compact", str(log), "-o", str(tmp_path / "b.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while not workers and proc.poll() is None and time.monotonic() < deadline:
        workers = _children(proc.pid)
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    assert workers, "the compaction ended before its workers were seen"
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert left == []
