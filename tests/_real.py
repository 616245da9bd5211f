"""Where the real training curves are, and the objective each run is judged by.

Two places. ``BUNDLED`` (tests/data/real, in the repository) holds the seven runs
the tests are written against, so the suite runs on any clone. ``SHARED``
(``../shared/data/real`` beside the clone, or ``$CURVELOG_REAL_DATA``) is the
workspace's full set: when it is there, the tests marked ``real_full`` sweep
every run in it as well, and the terminal summary says whether that sweep ran
(conftest.py). The objectives table is the converter's (tools/csv_to_log.py).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]
_TOOL = _ROOT / "tools" / "csv_to_log.py"
_spec = importlib.util.spec_from_file_location("_csv_to_log", _TOOL)
assert _spec is not None and _spec.loader is not None
_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tool)

BUNDLED: Path = _tool.BUNDLED_ROOT
SHARED: Path = Path(os.environ.get("CURVELOG_REAL_DATA") or _tool.SHARED_ROOT)
#: run -> (objective metric, mode), as tools/csv_to_log.py --real converts them
OBJECTIVES: dict[str, tuple[str, str]] = _tool.REAL_OBJECTIVES


def csvs(root: Path) -> dict[str, Path]:
    """Run name -> its CSV (``<run>/<run>.csv[.gz]``) under ``root``; empty when it is absent."""
    return {p.parent.name: p for p in sorted(root.glob("*/*.csv*"))} if root.is_dir() else {}


BUNDLED_CSVS = csvs(BUNDLED)
SHARED_CSVS = csvs(SHARED)
RUNS = sorted(BUNDLED_CSVS)
# Without the data the parametrized tests would not fail, they would vanish.
assert RUNS, f"no <run>/<run>.csv.gz under {BUNDLED}: the bundled real runs are missing"


def real_csv(name: str) -> Path:
    """The bundled CSV of run ``name`` (gzipped)."""
    return BUNDLED_CSVS[name]


def read_csv_text(path: Path) -> str:
    """A long CSV's text, decompressed when it is gzipped."""
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode()


def digest(path: Path) -> str:
    """SHA-256 of a CSV's decompressed bytes: equal digests, equal data."""
    return hashlib.sha256(read_csv_text(path).encode()).hexdigest()


def sweep() -> list[object]:
    """Parameters ``(source, run)`` for the tests that check every real run.

    Always every bundled run; then, marked ``real_full``, every run of ``SHARED``
    when it is there (selected or deselected with ``-m``, reported in the summary).
    """
    params: list[object] = [pytest.param("bundled", n, id=f"bundled-{n}") for n in RUNS]
    params += [
        pytest.param("shared", n, id=f"shared-{n}", marks=pytest.mark.real_full)
        for n in SHARED_CSVS
    ]
    return params
