"""The process-wide safety nets of log/_hooks.py: exit and SIGTERM close every open log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import curvelog


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


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
    done = _child(code, str(path))
    assert done.returncode == 0, done.stderr
    run = curvelog.read(path)
    assert run.rows == 1000 and run.damage == []
    assert run.sessions[0].closed and run.sessions[0].end is not None
    assert run.sessions[0].end["reason"] == "exit"
    assert run.best is not None and run.best.step == 999
