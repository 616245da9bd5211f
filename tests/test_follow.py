"""`curvelog tail --until-closed` (log/_follow.py): ends when the LATEST session closes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import curvelog
from curvelog import EventLog
from curvelog.log import follow

WRITER = """
    import sys, time, curvelog
    log = curvelog.EventLog(sys.argv[1], flush_every=0.05)
    for step in range(100):
        log.append(step, loss=1.0 / (step + 1))
    log.flush()
    print("ready", flush=True)
    time.sleep(600)
"""


def _killed_writer(path: Path) -> None:
    """A writer that flushed 100 rows, then died by SIGKILL without an end record."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    run = curvelog.read(path)
    assert len(run.sessions) == 1 and not run.sessions[0].closed


def test_tail_until_closed_exits_after_a_crash_and_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    _killed_writer(path)
    log = EventLog(path, flush_every=0.05)  # the resume
    for step in range(50, 80):
        log.append(step, loss=0.5)
    log.flush()
    tail = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "curvelog",
            "tail",
            str(path),
            "--until-closed",
            "--poll",
            "0.1",
            "-n",
            "1",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tail.stdout is not None
        assert tail.stdout.readline().split()[0] == "79"  # tail is following now
        time.sleep(0.5)
        assert tail.poll() is None  # the resumed writer is still open: tail keeps waiting
        log.append(80, loss=0.25)
        log.close()
        closed = time.monotonic()
        out, err = tail.communicate(timeout=30)
        waited = time.monotonic() - closed
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.communicate()
    assert tail.returncode == 0, err
    assert waited < 2.0, f"tail exited {waited:.2f} s after the close"
    assert out.split()[:1] == ["80"], (out, err)  # the row written after tail started


def test_follow_ignores_an_earlier_dead_session_but_waits_for_the_latest(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    _killed_writer(path)
    with EventLog(path) as log:  # resumed and closed
        log.append(100, loss=0.1)
    rows = list(follow(path, last=2, poll=0.02, until_closed=True))
    assert [r[0] for r in rows] == [99, 100]
    log = EventLog(path, flush_every=0)  # open: the latest session is not closed
    got: list[int] = []
    reader = threading.Thread(
        target=lambda: got.extend(r[0] for r in follow(path, last=0, poll=0.02, until_closed=True))
    )
    reader.start()
    try:
        time.sleep(0.5)
        assert reader.is_alive()  # the closed sessions before it do not end the wait
        log.append(101, loss=0.05)
    finally:
        log.close()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert got == [101]


def test_tail_until_closed_ends_when_the_writer_dies_and_says_so(tmp_path: Path) -> None:
    # A writer killed while tail waits for its close: nothing will ever close the
    # session, so waiting would hang a script that waits for training to end.
    path = tmp_path / "run.log"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(path)], stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    tail = subprocess.Popen(
        [sys.executable, "-m", "curvelog", "tail", str(path), "--until-closed", "--poll", "0.05",
         "-n", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert tail.stdout is not None
        assert tail.stdout.readline().split()[0] == "99"
        time.sleep(0.5)
        assert tail.poll() is None  # a live writer that writes nothing is waited for
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        out, err = tail.communicate(timeout=30)
    finally:
        for p in (tail, child):
            if p.poll() is None:
                p.kill()
                p.communicate()
        if child.stdout is not None:
            child.stdout.close()
    assert tail.returncode == 1, err
    assert err.strip() == (
        f"{path}: the writer stopped without closing the log (killed or crashed; session 0)"
    )


def test_follow_until_closed_ends_on_a_dead_session(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    _killed_writer(path)
    got: list[int] = []
    reader = threading.Thread(
        target=lambda: got.extend(r[0] for r in follow(path, last=1, poll=0.02, until_closed=True))
    )
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive() and got == [99]
