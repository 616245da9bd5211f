"""`Run` (log/_run.py): what a reader makes of the records, here the run's best step."""

from __future__ import annotations

from pathlib import Path

import curvelog
from curvelog import EventLog
from curvelog.log import Best


def test_a_best_no_surviving_record_covers_is_not_replaced_by_a_worse_one(
    tmp_path: Path,
) -> None:
    """A resume re-runs (worse) from a checkpoint before session 1's best: session 1's
    record is rightly dropped, but session 2's record never saw step 2, which is better."""
    path = tmp_path / "x.log"
    with EventLog(path, best="val/loss") as log:
        for step, v in {0: 3.0, 1: 2.0, 2: 1.5, 3: 1.8, 4: 1.2, 5: 1.0}.items():
            log.append(step, {"val/loss": v})
    with EventLog(path, best="val/loss") as log:
        for step, v in {3: 2.4, 4: 2.2, 5: 2.1, 6: 2.0, 7: 2.05}.items():
            log.append(step, {"val/loss": v})
    run = curvelog.read(path)
    assert run.best is None  # nothing the writer recorded holds: recompute
    assert run.recompute_best() == Best(2, "val/loss", "min", 1.5, "recomputed")
    assert run.describe()["best"] == {
        "step": 2, "metric": "val/loss", "mode": "min", "value": 1.5, "source": "recomputed"
    }  # fmt: skip


def test_a_surviving_record_that_is_the_optimum_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, best="val/loss") as log:
        for step, v in {0: 3.0, 1: 2.0, 2: 1.5}.items():
            log.append(step, {"val/loss": v})
    with EventLog(path, best="val/loss") as log:
        for step, v in {2: 1.6, 3: 1.2, 4: 1.4}.items():
            log.append(step, {"val/loss": v})
    run = curvelog.read(path)
    assert run.best == Best(3, "val/loss", "min", 1.2, "tracked")


def test_only_records_of_the_runs_objective_compete(tmp_path: Path) -> None:
    """A resume changed the objective (val/loss min -> val/acc max): a loss is no accuracy."""
    path = tmp_path / "x.log"
    with EventLog(path, best="val/loss", mode="min") as log:
        for step in range(10):
            log.append(step, {"val/loss": 2.0 - step * 0.1, "val/acc": 0.5 + step * 0.01})
    with EventLog(path, best="val/acc", mode="max") as log:
        for step in range(10, 20):
            log.append(step, {"val/loss": 1.5 - step * 0.01, "val/acc": 0.5 + step * 0.02})
    run = curvelog.read(path)
    assert run.objective == {"metric": "val/acc", "mode": "max"}
    assert run.best == Best(19, "val/acc", "max", 0.5 + 19 * 0.02, "tracked")
