"""A Python child process for tests of what happens at exit, on signals, after a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (dedented) in a fresh interpreter with ``args``; its output, captured."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
