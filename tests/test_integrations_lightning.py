"""curvelog.integrations.lightning with real Lightning: a tiny regression, 3 epochs on the CPU."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")

import curvelog  # noqa: E402
from curvelog.integrations.lightning import CurvelogCallback, CurvelogLogger  # noqa: E402

# The frameworks' own deprecation chatter is not what these tests check.
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
]

EPOCHS, BATCHES, VAL_BATCHES, NAN_STEP = 3, 8, 2, 5


class Tiny(L.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float = 0.05, hidden: int = 4) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
        )
        self.calls = 0

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_mse", loss, on_step=True, on_epoch=True)
        if self.global_step == NAN_STEP:
            # NaN in the value only: a constant has no gradient, so training goes on.
            loss = loss + torch.tensor(float("nan"))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _loader(n: int, seed: int) -> Any:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n * 4, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n * 4, 1, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("lightning")
    logger = CurvelogLogger(tmp / "run.log", registry=tmp / "reg", key="tiny/lightning")
    ckpt = L.callbacks.ModelCheckpoint(
        dirpath=tmp / "ckpt", monitor="val_loss", mode="min", save_top_k=1,
        filename="{epoch}-{step}",
    )  # fmt: skip
    trainer = L.Trainer(
        max_epochs=EPOCHS, logger=logger, callbacks=[CurvelogCallback(), ckpt],
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        accelerator="cpu", default_root_dir=tmp, log_every_n_steps=4,
    )  # fmt: skip
    model = Tiny()
    trainer.fit(model, _loader(BATCHES, 1), _loader(VAL_BATCHES, 2))
    run, filed = curvelog.read(tmp / "run.log"), logger.filed
    trainer.validate(model, _loader(VAL_BATCHES, 3), verbose=False)
    return {"run": run, "ckpt": ckpt, "logger": logger, "filed": filed, "path": tmp / "run.log"}


def test_every_batch_is_recorded_with_its_nan(fitted: dict[str, Any]) -> None:
    run = fitted["run"]
    loss = run.series("train/loss")
    assert loss.steps.tolist() == list(range(EPOCHS * BATCHES))
    assert np.isnan(loss.values).tolist() == [s == NAN_STEP for s in range(EPOCHS * BATCHES)]
    mse = run.series("train_mse_step")
    assert mse.steps.tolist() == list(range(EPOCHS * BATCHES))
    assert np.isfinite(mse.values).all()  # the logged MSE never saw the NaN
    finite = ~np.isnan(loss.values)
    np.testing.assert_allclose(loss.values[finite], mse.values[finite], rtol=1e-6)


def test_every_validation_and_the_hyperparameters_are_recorded(fitted: dict[str, Any]) -> None:
    run = fitted["run"]
    assert len(run.series("val_loss")) == EPOCHS
    assert len(run.series("train_mse_epoch")) == EPOCHS
    assert run.header["config"]["lr"] == 0.05 and run.header["config"]["hidden"] == 4


def test_best_is_marked_once_and_is_the_checkpoints(fitted: dict[str, Any]) -> None:
    run, ckpt = fitted["run"], fitted["ckpt"]
    assert [b["source"] for b in run.best_records] == ["marked"]
    best = run.best
    assert best is not None and best.metric == "val_loss" and best.mode == "min"
    assert best.value == pytest.approx(float(ckpt.best_model_score), rel=1e-6)
    val = run.series("val_loss")
    assert best.step == int(val.steps[int(np.argmin(val.values))])
    # The checkpoint file names the optimizer step: one past the batch its value came after.
    saved = re.search(r"step=(\d+)", Path(ckpt.best_model_path).name)
    assert saved is not None and int(saved.group(1)) == best.step + 1


def test_bundle_and_png_are_filed(fitted: dict[str, Any]) -> None:
    version = fitted["logger"].filed
    assert version is not None and version.key == "tiny/lightning"
    assert (version.path / "curves.json").is_file()
    assert (version.path / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bundle = curvelog.load_bundle(version.path / "curves.json")
    assert {"train/loss", "val_loss"} <= {
        s["metric"] for c in bundle["charts"] for s in c["series"]
    }
    assert bundle["best"]["step"] == fitted["run"].best.step


def test_the_callback_needs_the_logger(tmp_path: Path) -> None:
    trainer = L.Trainer(
        max_epochs=1, logger=False, callbacks=[CurvelogCallback()], enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, accelerator="cpu",
        default_root_dir=tmp_path,
    )  # fmt: skip
    with pytest.raises(ValueError, match="needs a CurvelogLogger"):
        trainer.fit(Tiny(), _loader(2, 1), _loader(1, 2))


def test_a_later_stage_appends_a_session_and_refiles_the_same_version(
    fitted: dict[str, Any],
) -> None:
    after = curvelog.read(fitted["path"])
    assert len(after.sessions) == 2
    assert len(after.series("val_loss")) == EPOCHS + 1
    assert fitted["logger"].filed == fitted["filed"]
    assert [v.name for v in fitted["filed"].path.parent.iterdir() if v.name.startswith("v")] == [
        "v1"
    ]


class Recording(Tiny):
    """Tiny that remembers each micro-batch's loss (the test may sync; the callback may not)."""

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.losses.append(float(loss.detach()))
        return loss


def test_gradient_accumulation_writes_one_mean_loss_per_optimizer_step(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Recording()
    trainer = L.Trainer(
        max_epochs=1, logger=CurvelogLogger(tmp_path / "run.log"), callbacks=[CurvelogCallback()],
        accumulate_grad_batches=2, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, accelerator="cpu", default_root_dir=tmp_path,
        log_every_n_steps=1,
    )  # fmt: skip
    trainer.fit(model, _loader(8, 1), _loader(1, 2))
    loss = curvelog.read(tmp_path / "run.log").series("train/loss")
    assert loss.steps.tolist() == [0, 1, 2, 3]
    pairs = np.array(model.losses).reshape(4, 2).mean(axis=1)
    np.testing.assert_allclose(loss.values, pairs, rtol=1e-6)


class Scripted(Tiny):
    """val_loss follows a script, one value per epoch."""

    def __init__(self, vals: list[float]) -> None:
        super().__init__()
        self.vals = vals

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", torch.tensor(self.vals[self.current_epoch]))


def _scripted_fit(tmp: Path, vals: list[float], epochs: int, ckpt_path: str | None = None,
                  **ckpt_kwargs: Any) -> Any:  # fmt: skip
    ckpt = L.callbacks.ModelCheckpoint(dirpath=tmp / "ckpt", monitor="val_loss", **ckpt_kwargs)
    trainer = L.Trainer(
        max_epochs=epochs, logger=CurvelogLogger(tmp / "run.log"),
        callbacks=[CurvelogCallback(), ckpt], enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu",
        default_root_dir=tmp, log_every_n_steps=4,
    )  # fmt: skip
    torch.manual_seed(0)
    trainer.fit(Scripted(vals), _loader(BATCHES, 1), _loader(VAL_BATCHES, 2), ckpt_path=ckpt_path)
    return ckpt


def test_a_new_best_saved_over_the_same_file_moves_the_best(tmp_path: Path) -> None:
    vals = [0.9, 0.5, 0.7, 0.3, 0.6]  # the best is epoch 3
    ckpt = _scripted_fit(tmp_path, vals, 5, filename="best")
    assert Path(ckpt.best_model_path).name == "best.ckpt"
    best = curvelog.read(tmp_path / "run.log").best
    assert best is not None and best.step == 4 * BATCHES - 1
    assert best.value == pytest.approx(float(ckpt.best_model_score))


@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_a_resume_with_save_last_keeps_the_earlier_best(tmp_path: Path) -> None:
    vals = [0.9, 0.3, 0.5, 0.6]  # the best is epoch 1; the resumed epochs are worse
    _scripted_fit(tmp_path, vals, 2, save_last=True, filename="{epoch}")
    ckpt = _scripted_fit(tmp_path, vals, 4, str(tmp_path / "ckpt" / "last.ckpt"),
                         save_last=True, filename="{epoch}")  # fmt: skip
    assert Path(ckpt.best_model_path).name == "epoch=1.ckpt"
    run = curvelog.read(tmp_path / "run.log")
    assert len(run.sessions) == 2
    assert run.best is not None and run.best.step == 2 * BATCHES - 1
    assert run.best.value == pytest.approx(0.3)


class TrainEpochLoss(Tiny):
    """Logs its loss only as a training-epoch mean, the checkpoint's monitor."""

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss


@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no")
def test_a_training_epoch_monitor_marks_the_checkpoints_epoch(tmp_path: Path) -> None:
    ckpt = L.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="train_loss")
    trainer = L.Trainer(
        max_epochs=4, logger=CurvelogLogger(tmp_path / "run.log"),
        callbacks=[CurvelogCallback(), ckpt], enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path,
        log_every_n_steps=4,
    )  # fmt: skip
    torch.manual_seed(0)
    trainer.fit(TrainEpochLoss(), _loader(BATCHES, 1))
    run = curvelog.read(tmp_path / "run.log")
    series = run.series("train_loss")
    assert series.steps.tolist() == [(e + 1) * BATCHES - 1 for e in range(4)]
    # The loss falls every epoch: the checkpoint kept is the last epoch's.
    assert Path(ckpt.best_model_path).name == f"epoch=3-step={4 * BATCHES}.ckpt"
    assert run.best is not None and run.best.step == 4 * BATCHES - 1
    assert run.best.value == pytest.approx(float(ckpt.best_model_score))


class StepAndEpoch(Tiny):
    """Logs its monitored values with both on_step and on_epoch: Lightning forks
    them into ``<name>_step`` and ``<name>_epoch`` for its loggers."""

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_mse", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("val_loss", loss, on_step=True, on_epoch=True)


@pytest.mark.parametrize(("monitor", "sanity"), [("train_mse", 0), ("val_loss", 2)])
def test_a_monitor_logged_on_step_and_on_epoch_is_the_epoch_value(
    tmp_path: Path, monitor: str, sanity: int
) -> None:
    ckpt = L.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor=monitor,
                                       filename="{epoch}-{step}")  # fmt: skip
    trainer = L.Trainer(
        max_epochs=4, logger=CurvelogLogger(tmp_path / "run.log"),
        callbacks=[CurvelogCallback(), ckpt], enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path,
        log_every_n_steps=4, num_sanity_val_steps=sanity,
    )  # fmt: skip
    torch.manual_seed(0)
    trainer.fit(StepAndEpoch(), _loader(BATCHES, 1), _loader(VAL_BATCHES, 2))
    run = curvelog.read(tmp_path / "run.log")
    epoch = run.series(f"{monitor}_epoch")
    assert epoch.steps.tolist() == [(e + 1) * BATCHES - 1 for e in range(4)]
    # ModelCheckpoint's "<monitor>" is the epoch value: the objective is what loggers get
    score = float(ckpt.best_model_score)
    best_epoch = int(np.flatnonzero(np.isclose(epoch.values, score))[0])
    assert Path(ckpt.best_model_path).name.startswith(f"epoch={best_epoch}-")
    assert run.best is not None and run.best.source == "marked"
    assert run.best.metric == f"{monitor}_epoch"
    assert run.best.step == (best_epoch + 1) * BATCHES - 1
    assert run.best.value == pytest.approx(score)
