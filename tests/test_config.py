"""Config given after opening (`set_config` / `update_config`) reaches the bundle."""

from __future__ import annotations

from pathlib import Path

import curvelog
from curvelog import EventLog, build_bundle
from curvelog.log import read_records


def test_bundle_shows_the_merged_config(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with EventLog(path, config={"lr": 0.1}) as log:
        for step in range(10):
            log.append(step, loss=1.0 / (step + 1))
        log.update_config({"lr": 0.05, "batch_size": 32})
    bundle = build_bundle(curvelog.read(path))
    assert bundle["run"]["config"] == {"lr": 0.05, "batch_size": 32}


def test_config_is_a_record_of_its_own(tmp_path: Path) -> None:
    """A record type of its own: readers that do not know it skip it and read the data."""
    path = tmp_path / "run.log"
    with EventLog(path) as log:
        log.append(0, loss=1.0)
        log.set_config({"a": 1})
        log.append(1, loss=0.5)
    records = read_records(path)
    # the two rows of the closing flush are few: a rows record and its row frame (format 2)
    assert [r["type"] for r in records] == ["session", "config", "rows", "row frame", "end"]
    assert records[1]["config"] == {"a": 1} and records[1]["merge"] is False
    assert curvelog.read(path).series("loss").steps.tolist() == [0, 1]
