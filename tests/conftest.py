"""Fixtures shared by several test files: every real run, converted and compacted once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import curvelog
from _real import OBJECTIVES, REAL, RUNS
from curvelog.bundle import build_bundle
from curvelog.convert import csv_to_log


@pytest.fixture(scope="session")
def real_logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run name -> its log, converted from ../shared/data/real with its objective."""
    out = tmp_path_factory.mktemp("real")
    logs = {}
    for name in RUNS:
        src = next((REAL / name).glob("*.csv*"))
        best, mode = OBJECTIVES[name]
        logs[name] = out / f"{name}.log"
        csv_to_log(src, logs[name], best=best, mode="max" if mode == "max" else "min")
    return logs


@pytest.fixture(scope="session")
def real_bundles(real_logs: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Run name -> its bundle at the default options."""
    return {name: build_bundle(curvelog.read(p)) for name, p in real_logs.items()}
