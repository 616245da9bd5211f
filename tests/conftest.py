"""Fixtures shared by several test files: every real run, converted and compacted once.

Also the ``real_full`` marker: the sweep over ``../shared/data/real`` (see
_real.py) runs when that folder is there, and the terminal summary says, in
one line, what real data the run used and whether that sweep ran.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

import curvelog
from _real import BUNDLED_CSVS, OBJECTIVES, SHARED, SHARED_CSVS, digest
from curvelog.bundle import build_bundle
from curvelog.convert import csv_to_log


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_full: the sweep over every run of ../shared/data/real (only where it is present); "
        "deselect with -m 'not real_full'",
    )


_full: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "real_full" not in report.keywords:
        return
    if report.when == "call" or report.outcome != "passed":
        _full[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SHARED_CSVS:
        full = "skipped: not present"
    elif not any(_full.values()):
        full = f"{len(SHARED_CSVS)} runs present, not run (not selected)"
    else:
        full = f"ran over {len(SHARED_CSVS)} runs: " + ", ".join(
            f"{n} {k}" for k, n in _full.items() if n
        )
    where = os.path.relpath(SHARED, Path(__file__).resolve().parents[1])
    terminalreporter.write_line(
        f"real data: {len(BUNDLED_CSVS)} bundled runs (tests/data/real); "
        f"full sweep over {where}: {full}"
    )
    docs = sys.modules.get("test_docs")  # only when tests/test_docs.py was collected
    for line in getattr(docs, "NOT_RUN", []):
        terminalreporter.write_line(f"README example not run: {line}")


class RealRuns:
    """Converts and compacts real runs on first use, once per distinct CSV content.

    A run of ``../shared/data/real`` whose data equals the bundled copy's (the
    usual case) reuses that copy's log: the sweep then checks the same facts
    without converting twice.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._logs: dict[tuple[str, str], Path] = {}
        self._bundles: dict[Path, dict[str, Any]] = {}

    def log(self, source: str, name: str) -> Path:
        src = (BUNDLED_CSVS if source == "bundled" else SHARED_CSVS)[name]
        key = (name, digest(src))
        if key not in self._logs:
            best, mode = OBJECTIVES[name]
            path = self.out / f"{len(self._logs)}" / f"{name}.log"
            path.parent.mkdir()
            csv_to_log(src, path, best=best, mode="max" if mode == "max" else "min")
            self._logs[key] = path
        return self._logs[key]

    def bundle(self, source: str, name: str) -> dict[str, Any]:
        """The run's bundle at the default options (shared: do not modify it)."""
        path = self.log(source, name)
        if path not in self._bundles:
            self._bundles[path] = build_bundle(curvelog.read(path))
        return self._bundles[path]


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> RealRuns:
    return RealRuns(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="session")
def real_logs(real_runs: RealRuns) -> dict[str, Path]:
    """Run name -> its log, converted from the bundled CSV with its objective."""
    return {name: real_runs.log("bundled", name) for name in BUNDLED_CSVS}


@pytest.fixture(scope="session")
def real_bundles(real_runs: RealRuns) -> dict[str, dict[str, Any]]:
    """Run name -> its bundle at the default options (bundled runs)."""
    return {name: real_runs.bundle("bundled", name) for name in BUNDLED_CSVS}
