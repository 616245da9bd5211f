"""Run a contender in a fresh process: its wall time from process start and its peak RSS.

The benchmarks measure every contender the same way: ``python -c CODE`` (or any
command) started by `run`, timed from just before the start to its exit, its
peak resident memory taken from ``os.wait4`` (the child's own rusage, not the
maximum over every child). The code may print one float, the seconds it
measured itself (time inside the process); it is returned as ``inner``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass
class Result:
    wall: float  # process start to exit
    inner: float | None  # what the child printed (its own timer), if anything
    peak_mb: float  # peak RSS, MB (1e6 bytes)


def run(cmd: list[str]) -> Result:
    """Run ``cmd``; its output goes to temporary files (a pipe nobody reads until the
    child exits would block ``cat`` of a large file forever)."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.perf_counter()
        sink = subprocess.DEVNULL if cmd[0] == "cat" else fo  # cat's bytes: read, not stored
        proc = subprocess.Popen(cmd, stdout=sink, stderr=fe)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        out = fo.read(1 << 20).decode(errors="replace") if cmd[0] != "cat" else ""
        err = fe.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]}... failed ({proc.returncode}): {err.strip()[-2000:]}")
    inner = None
    lines = out.strip().splitlines()
    if lines:
        try:
            inner = float(lines[-1])
        except ValueError:
            inner = None
    return Result(wall, inner, usage.ru_maxrss * 1024 / 1e6)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def best(cmd: list[str], repeats: int) -> Result:
    """Best wall time of ``repeats`` runs (and the smallest peak, and the best inner time)."""
    results = [run(cmd) for _ in range(repeats)]
    inner = [r.inner for r in results if r.inner is not None]
    return Result(
        min(r.wall for r in results),
        min(inner) if inner else None,
        min(r.peak_mb for r in results),
    )
