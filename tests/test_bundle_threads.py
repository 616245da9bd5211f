"""Compaction in threads and in place (#12) changes no byte of a bundle.

Every bundled real run is compacted as `curvelog compact` does it (mapped,
without per-row times, two metrics at a time) and one metric at a time from
a log read into memory; the bundle files must be the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _real import RUNS
from curvelog.bundle import _build
from curvelog.log import _view
from curvelog.pipeline import compact


@pytest.mark.parametrize("name", RUNS)
def test_threads_and_the_map_change_no_byte(
    real_logs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    log = real_logs[name]
    fast, slow = tmp_path / "fast.curves.json", tmp_path / "slow.curves.json"
    with monkeypatch.context() as m:
        m.setattr(_view, "MAP_MIN", 1)  # every log mapped, however small
        compact(log, fast)
    with monkeypatch.context() as m:
        m.setattr(_view, "MAP_MIN", 1 << 62)  # read into memory
        m.setattr(_build, "METRIC_THREADS", 1)  # one metric at a time
        compact(log, slow)
    assert fast.read_bytes() == slow.read_bytes()
