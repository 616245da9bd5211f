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


def test_a_mark_stands_only_for_the_objective_and_the_values_it_marked(tmp_path: Path) -> None:
    """Every integration marks its best (``mark_best``), and a mark skipped the rules the
    tracked records follow: after a resume that changed the objective the run's best
    was still the old metric's, and after a resume that re-ran the marked step with
    a worse value the best was that worse step (0.59, while 0.0196 survives)."""
    a = tmp_path / "a.log"
    with EventLog(a, best="val/loss", mode="min") as log:  # session 1: loss, marked
        for s in range(0, 100, 10):
            log.append(s, {"val/loss": 1 / (s + 1), "val/acc": 0.5 + s / 400})
        log.mark_best(90)
    assert curvelog.read(a).best == Best(90, "val/loss", "min", 1 / 91, "marked")
    with EventLog(a, best="val/acc", mode="max") as log:  # resumed, another objective
        for s in range(100, 200, 10):
            log.append(s, {"val/loss": 0.5, "val/acc": 0.9 + s / 1e4})
    run = curvelog.read(a)
    assert run.best is not None and (run.best.metric, run.best.step) == ("val/acc", 190)
    b = tmp_path / "b.log"
    with EventLog(b, best="val/loss") as log:
        for s in range(0, 100, 10):
            log.append(s, {"val/loss": 1 / (s + 1)})
        log.mark_best(90)
    with EventLog(b, best="val/loss") as log:  # resumed at 60, diverges, marks nothing
        for s in range(60, 100, 10):
            log.append(s, {"val/loss": 0.5 + s / 1000})
    run = curvelog.read(b)
    assert run.best is None  # so inspect and the bundle recompute it from the data
    assert run.recompute_best() == Best(50, "val/loss", "min", 1 / 51, "recomputed")
    c = tmp_path / "c.log"  # a mark a resume did not touch still stands, optimum or not
    with EventLog(c, best="val/loss") as log:
        for s in range(0, 100, 10):
            log.append(s, {"val/loss": 1 / (s + 1)})
        log.mark_best(40)
    with EventLog(c, best="val/loss") as log:
        log.append(100, {"val/loss": 0.001})
    assert curvelog.read(c).best == Best(40, "val/loss", "min", 1 / 41, "marked")
