"""The name rule for a metric's direction (curvelog/_goals.py), and where it decides."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import curvelog
from curvelog._goals import name_goal
from curvelog.cli import cli


@pytest.mark.parametrize(
    ("name", "goal"),
    [
        ("val/loss", "min"), ("train_loss", "min"), ("trainloss", "min"), ("eval/wer", "min"),
        ("val/acc", "max"), ("val_acc", "max"), ("eval/success_rate", "max"),
        ("rollout/ep_rew_mean", None), ("episode_reward", "max"), ("test/top1", "max"),
        ("eval_std_reward", None), ("lr", None), ("grad_norm", None), ("loss_of_best_acc", "min"),
    ],
)  # fmt: skip
def test_name_goal(name: str, goal: str | None) -> None:
    assert name_goal(name) == goal


def _best_of(path: Path, **kwargs: object) -> curvelog.log.Best | None:
    with curvelog.EventLog(path, flush_every=0, **kwargs) as log:  # type: ignore[arg-type]
        for step, v in enumerate([0.1, 0.9, 0.5]):
            log.append(step, val_acc=v, val_loss=1.0 - v, lr=v)
    return curvelog.read(path).best


def test_best_without_mode_takes_the_direction_from_the_name(tmp_path: Path) -> None:
    best = _best_of(tmp_path / "a.log", best="val_acc")
    assert best is not None and (best.step, best.mode) == (1, "max")
    best = _best_of(tmp_path / "b.log", best="val_loss")
    assert best is not None and (best.step, best.mode) == (1, "min")
    best = _best_of(tmp_path / "c.log", best="lr")  # the name says nothing: a loss's direction
    assert best is not None and (best.step, best.mode) == (0, "min")
    best = _best_of(tmp_path / "d.log", best="val_acc", mode="min")  # given: it wins
    assert best is not None and (best.step, best.mode) == (0, "min")


def test_import_csv_best_without_mode_by_name_and_mode_without_best(tmp_path: Path) -> None:
    src = tmp_path / "h.csv"
    src.write_text("step,metric,value\n0,val_acc,0.1\n1,val_acc,0.9\n2,val_acc,0.5\n")
    runner = CliRunner()
    ok = runner.invoke(cli, ["import", "csv", str(src), "-o", str(tmp_path / "h.log"),
                             "--best", "val_acc"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    best = curvelog.read(tmp_path / "h.log").best
    assert best is not None and (best.step, best.mode) == (1, "max")
    bad = runner.invoke(cli, ["import", "csv", str(src), "-o", str(tmp_path / "i.log"),
                              "--mode", "max"])  # fmt: skip
    assert bad.exit_code == 2 and not (tmp_path / "i.log").exists()
    assert bad.stderr == (
        "Error: --mode is the direction of --best: give the objective metric with --best\n"
    )
