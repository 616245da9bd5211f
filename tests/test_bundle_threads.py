"""Compaction in threads, in forked processes and in place (#12) changes no byte of a bundle.

Every bundled real run is compacted as `curvelog compact` does it (mapped,
without per-row times, two metrics at a time in forked processes), as the
library does it (two threads), and one metric at a time from a log read into
memory; the bundle files must be the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _real import RUNS
from curvelog.bundle import _workers
from curvelog.log import _view
from curvelog.pipeline import compact


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
@pytest.mark.parametrize("name", RUNS)
def test_workers_and_the_map_change_no_byte(
    real_logs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    processes: bool,
) -> None:
    log = real_logs[name]
    fast, slow = tmp_path / "fast.curves.json", tmp_path / "slow.curves.json"
    with monkeypatch.context() as m:
        m.setattr(_view, "MAP_MIN", 1)  # every log mapped, however small
        compact(log, fast, processes=processes)
    with monkeypatch.context() as m:
        m.setattr(_view, "MAP_MIN", 1 << 62)  # read into memory
        m.setattr(_workers, "METRIC_WORKERS", 1)  # one metric at a time
        compact(log, slow)
    assert fast.read_bytes() == slow.read_bytes()
