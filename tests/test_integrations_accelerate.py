"""curvelog.integrations.accelerate with a real Accelerator on the CPU: a tiny regression loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
accelerate = pytest.importorskip("accelerate")

import curvelog  # noqa: E402
from curvelog.integrations.accelerate import CurvelogTracker  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

STEPS, EVAL_EVERY, NAN_STEP = 32, 8, 5


def _batches(n: int, seed: int) -> list[tuple[Any, Any]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, 3, generator=g)
    return [(xb, xb @ torch.tensor([[1.0], [-2.0], [0.5]])) for xb in x]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("accelerate")
    torch.manual_seed(0)
    tracker = CurvelogTracker(tmp / "run.log", best="val/loss", registry=tmp / "reg", key="t/acc")
    acc = accelerate.Accelerator(cpu=True, log_with=tracker)
    acc.init_trackers("tiny", config={"lr": 0.05, "model": {"hidden": 4}})
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model, opt = acc.prepare(model, opt)
    val = _batches(2, 2)
    saved: list[int] = []
    best = float("inf")
    for step, (x, y) in enumerate(_batches(STEPS, 1)):
        loss = torch.nn.functional.mse_loss(model(x), y)
        acc.backward(loss)
        opt.step()
        opt.zero_grad()
        shown = loss.detach() + (torch.tensor(float("nan")) if step == NAN_STEP else 0.0)
        acc.log({"train/loss": shown, "note": "text is skipped", "opt": {"lr": 0.05}}, step=step)
        if (step + 1) % EVAL_EVERY == 0:
            with torch.no_grad():
                v = float(sum(torch.nn.functional.mse_loss(model(a), b) for a, b in val)) / 2
            acc.log({"val/loss": v}, step=step)
            if v < best:  # the loop's own checkpoint rule
                best = v
                saved.append(step)
                tracker.mark_best(step)
    acc.log({"after": 1.0})  # no step: one past the last
    acc.end_training()
    return {"run": curvelog.read(tmp / "run.log"), "tracker": tracker, "saved": saved}


def test_every_step_is_recorded_with_its_nan(trained: dict[str, Any]) -> None:
    run = trained["run"]
    loss = run.series("train/loss")
    assert loss.steps.tolist() == list(range(STEPS))
    assert np.isnan(loss.values).tolist() == [s == NAN_STEP for s in range(STEPS)]
    assert run.series("opt/lr").steps.tolist() == list(range(STEPS))
    assert "note" not in run.metrics
    assert run.series("after").steps.tolist() == [STEPS]


def test_every_eval_and_the_config_are_recorded(trained: dict[str, Any]) -> None:
    run = trained["run"]
    assert run.series("val/loss").steps.tolist() == [7, 15, 23, 31]
    assert run.header["config"] == {"lr": 0.05, "model": {"hidden": 4}}


def test_best_is_marked_once_and_is_the_loops_last_save(trained: dict[str, Any]) -> None:
    run = trained["run"]
    assert [b["source"] for b in run.best_records] == ["marked"]
    assert run.best is not None and run.best.step == trained["saved"][-1]
    assert run.best.value == run.recompute_best().value  # type: ignore[union-attr]


def test_bundle_and_png_are_filed(trained: dict[str, Any]) -> None:
    version = trained["tracker"].filed
    assert version is not None and version.key == "t/acc"
    assert (version.path / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        curvelog.load_bundle(version.path / "curves.json")["best"]["step"] == trained["saved"][-1]
    )


def test_a_tracker_that_logged_nothing_creates_no_file(tmp_path: Path) -> None:
    tracker = CurvelogTracker(tmp_path / "run.log", registry=tmp_path / "reg", key="k")
    acc = accelerate.Accelerator(cpu=True, log_with=tracker)
    acc.init_trackers("empty")
    acc.end_training()
    assert not (tmp_path / "run.log").exists() and tracker.filed is None
