"""The process-wide safety nets of log/_hooks.py: exit and SIGTERM close every open log."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import curvelog
from _subproc import run_child


def test_a_log_no_longer_referenced_is_still_closed_at_exit(tmp_path: Path) -> None:
    """flush_every=0 (no thread holds the log) and the program drops it without close."""
    code = """
        import gc, sys
        from curvelog import EventLog
        def train():
            log = EventLog(sys.argv[1], best="loss", flush_every=0)
            for step in range(1000):
                log.append(step, loss=1.0 / (step + 1))
        train()
        gc.collect()  # what ordinary allocations do sooner or later
    """
    path = tmp_path / "run.log"
    done = run_child(code, str(path))
    assert done.returncode == 0, done.stderr
    run = curvelog.read(path)
    assert run.rows == 1000 and run.damage == []
    assert run.sessions[0].closed and run.sessions[0].end is not None
    assert run.sessions[0].end["reason"] == "exit"
    assert run.best is not None and run.best.step == 999


def test_sigterm_closes_a_log_opened_by_a_worker_thread(tmp_path: Path) -> None:
    """The training loop runs in a thread (a launcher's, a GUI's); SIGTERM (what SLURM,
    Kubernetes and systemd send) must still flush and close the log. Only the main
    thread may set a handler: the program calls ``install_sigterm()`` there."""
    code = """
        import sys, threading
        from curvelog import EventLog
        from curvelog.log import install_sigterm
        install_sigterm()
        def train():
            log = EventLog(sys.argv[1], best="loss", flush_every=30)  # no timer flush
            for step in range(10**9):
                try:
                    log.append(step, loss=1.0 / (step + 1))
                except Exception:  # closed by the handler: the loop is over
                    return
                if step == 1000:
                    print("ready", flush=True)
        t = threading.Thread(target=train)
        t.start()
        t.join()
    """
    path = tmp_path / "run.log"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGTERM, err
    run = curvelog.read(path)
    session = run.sessions[0]
    assert session.closed and session.end is not None and session.end["reason"] == "SIGTERM"
    assert run.rows == session.end["rows"] > 1000 and run.damage == []
    assert len(run.best_records) == 1


def test_a_saved_append_raises_in_a_forkedrun_child(tmp_path: Path) -> None:
    code = """
        import os, sys, curvelog
        log = curvelog.EventLog(sys.argv[1], flush_every=0)
        append = log.append  # saved before the fork, as a hot loop does
        append(0, x=1.0)
        log._retry_at = 10**9  # as after a write that failed in the parent
        pid = os.fork()
        if pid == 0:
            try:
                append(1, x=2.0)
            except curvelog.LogClosedError:
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        log.close()
        print(os.waitstatus_to_exitcode(status))
    """
    path = tmp_path / "x.log"
    done = run_child(code, str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"]
    assert curvelog.read(path).series("x").steps.tolist() == [0]


def test_importing_curvelog_leaves_sigterm_alone() -> None:
    """The handler was installed at import: a program that only imports curvelog died
    on SIGTERM only once its main thread ran Python again (seconds later inside a C
    call, never if blocked there). It is installed by the first log opened instead."""
    code = """
        import signal
        import curvelog
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    """
    done = run_child(code)
    assert done.stdout == "True\n", done.stderr


def test_a_handler_chained_to_ours_is_not_chained_back(tmp_path: Path) -> None:
    """A program's handler that calls the one it found (ours), installed after the
    first log opened, was wrapped again by ours at the next log's open: the two called
    each other until a RecursionError (exit 1). Ours is installed once."""
    code = """
        import os, signal, sys
        from curvelog import EventLog
        first = EventLog(sys.argv[1] + "/a.log")
        found = signal.getsignal(signal.SIGTERM)
        def mine(signum, frame):  # a framework's: note it, then the previous handler
            print("mine", flush=True)
            found(signum, frame)
        signal.signal(signal.SIGTERM, mine)
        with EventLog(sys.argv[1] + "/b.log") as log:
            log.append(0, loss=1.0)
            os.kill(os.getpid(), signal.SIGTERM)
    """
    done = run_child(code, str(tmp_path))
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stdout == "mine\n" and "RecursionError" not in done.stderr
    for name in ("a.log", "b.log"):
        session = curvelog.read(tmp_path / name).sessions[0]
        assert session.closed and session.end is not None and session.end["reason"] == "SIGTERM"


def test_a_multiprocessing_child_closes_its_logs_when_it_ends(tmp_path: Path) -> None:
    """fork and forkserver children end with os._exit, past atexit: a log the target
    left open lost its buffered rows and its end record (QA: 0 of 1,000 rows)."""
    code = """
        import multiprocessing as mp, sys
        from curvelog import EventLog

        def train(path):
            log = EventLog(path, best="loss", flush_every=0)  # never closed by the target
            for step in range(1000):
                log.append(step, loss=1.0 / (step + 1))

        if __name__ == "__main__":
            for i, method in enumerate(("fork", "forkserver", "spawn")):
                p = mp.get_context(method).Process(target=train, args=(f"{sys.argv[1]}{i}.log",))
                p.start()
                p.join()
                assert p.exitcode == 0, (method, p.exitcode)
    """
    script = tmp_path / "mp_child.py"
    script.write_text(textwrap.dedent(code))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for i in range(3):
        run = curvelog.read(tmp_path / f"run{i}.log")
        assert run.rows == 1000 and run.sessions[0].closed, i
        assert run.best is not None and run.best.step == 999
