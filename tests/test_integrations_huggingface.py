"""curvelog.integrations.huggingface with a real Trainer: a 2-layer GPT-2 built from a config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is downloaded: the model comes from a config
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import curvelog  # noqa: E402
from curvelog.integrations.huggingface import CurvelogCallback  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

EPOCHS, STEPS_PER_EPOCH, BATCH, NAN_STEP = 3, 8, 4, 6  # NAN_STEP counts from 1, as HF does


class NaNOnce(transformers.GPT2LMHeadModel):  # type: ignore[misc]
    """GPT-2 whose training loss reads NaN at one step; the gradient stays finite."""

    forwards = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = super().forward(*args, **kwargs)
        if self.training:
            type(self).forwards += 1
            if type(self).forwards == NAN_STEP:
                out.loss = out.loss + torch.tensor(float("nan"))  # a constant: no gradient
        return out


def _data(n: int, seed: int) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    # A learnable pattern: each sequence counts up from a random start.
    starts = torch.randint(0, 16, (n, 1), generator=g)
    ids = (starts + torch.arange(12)) % 32
    return [{"input_ids": row, "labels": row} for row in ids]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("hf")
    transformers.set_seed(0)
    config = transformers.GPT2Config(
        vocab_size=32, n_positions=16, n_embd=16, n_layer=2, n_head=2, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    args = transformers.TrainingArguments(
        output_dir=str(tmp / "out"), num_train_epochs=EPOCHS, per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH, learning_rate=5e-3, eval_strategy="steps",
        eval_steps=4, save_strategy="steps", save_steps=4, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", logging_steps=5, report_to="none", use_cpu=True,
        seed=0, disable_tqdm=True, remove_unused_columns=False,
        label_names=["labels"],
    )  # fmt: skip
    cb = CurvelogCallback(tmp / "run.log", registry=tmp / "reg", key="tiny/hf")
    trainer = transformers.Trainer(
        model=NaNOnce(config), args=args, train_dataset=_data(STEPS_PER_EPOCH * BATCH, 1),
        eval_dataset=_data(8, 2), callbacks=[cb],
    )  # fmt: skip
    trainer.train()
    return {"run": curvelog.read(tmp / "run.log"), "state": trainer.state, "cb": cb}


def test_every_optimizer_step_is_recorded_with_its_nan(trained: dict[str, Any]) -> None:
    loss = trained["run"].series("train/loss")
    steps = list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))
    assert loss.steps.tolist() == steps
    assert np.isnan(loss.values).tolist() == [s == NAN_STEP for s in steps]
    # HF's own logged losses (every 5 steps, NaN filtered) are not written over them.
    lr = trained["run"].series("train/learning_rate")
    assert lr.steps.tolist() == [5, 10, 15, 20]


def test_every_evaluation_and_the_config_are_recorded(trained: dict[str, Any]) -> None:
    run, state = trained["run"], trained["state"]
    evals = [h for h in state.log_history if "eval_loss" in h]
    series = run.series("eval/loss")
    assert series.steps.tolist() == [h["step"] for h in evals] == [4, 8, 12, 16, 20, 24]
    np.testing.assert_allclose(series.values, [h["eval_loss"] for h in evals])
    assert run.header["config"]["training_args"]["learning_rate"] == 5e-3
    assert run.header["config"]["model"]["n_layer"] == 2


def test_best_is_marked_once_and_is_the_trainers(trained: dict[str, Any]) -> None:
    run, state = trained["run"], trained["state"]
    assert [b["source"] for b in run.best_records] == ["marked"]
    best = run.best
    assert best is not None and best.metric == "eval/loss" and best.mode == "min"
    assert best.step == state.best_global_step
    assert Path(state.best_model_checkpoint).name == f"checkpoint-{best.step}"
    assert best.value == pytest.approx(state.best_metric)


def test_bundle_and_png_are_filed(trained: dict[str, Any]) -> None:
    version = trained["cb"].filed
    assert version is not None and version.key == "tiny/hf" and version.number == 1
    assert (version.path / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    bundle = curvelog.load_bundle(version.path / "curves.json")
    assert "train/loss" in {s["metric"] for c in bundle["charts"] for s in c["series"]}
    assert bundle["best"]["step"] == trained["state"].best_global_step


def test_evaluate_after_train_keeps_the_curve_and_closes_the_log(tmp_path: Path) -> None:
    # The standard pattern: load_best_model_at_end, then trainer.evaluate() (the
    # reloaded best model) and a test-set evaluation. greater_is_better=True makes
    # the first evaluation the best, so the reloaded model is not the last one.
    transformers.set_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=8, n_layer=1,
                                     n_head=2, bos_token_id=0, eos_token_id=0)  # fmt: skip
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=6, per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH, learning_rate=5e-2, eval_strategy="steps",
        eval_steps=2, save_strategy="steps", save_steps=2, load_best_model_at_end=True,
        metric_for_best_model="eval_loss", greater_is_better=True, logging_steps=1,
        report_to="none", use_cpu=True, seed=0, disable_tqdm=True,
    )  # fmt: skip
    log = tmp_path / "run.log"
    cb = CurvelogCallback(log, registry=tmp_path / "reg", key="tiny/hf")
    trainer = transformers.Trainer(
        model=transformers.GPT2LMHeadModel(config), args=args, train_dataset=_data(24, 1),
        eval_dataset=_data(8, 2), callbacks=[cb],
    )  # fmt: skip
    trainer.train()
    in_training = [(h["step"], h["eval_loss"]) for h in trainer.state.log_history
                   if "eval_loss" in h]  # fmt: skip
    final = trainer.evaluate()["eval_loss"]
    test = trainer.evaluate(_data(8, 3), metric_key_prefix="test")["test_loss"]
    assert not cb.run.opened  # closed again: the lock is released
    run = curvelog.read(log)
    series = run.series("eval/loss")
    assert series.steps.tolist() == [s for s, _ in in_training] == [2, 4, 6]
    np.testing.assert_allclose(series.values, [v for _, v in in_training])
    assert trainer.state.best_global_step == 2 and final != pytest.approx(in_training[-1][1])
    assert run.series("final/eval/loss").values.tolist() == pytest.approx([final])
    assert run.series("final/test/loss").values.tolist() == pytest.approx([test])
    assert run.best is not None and run.best.step == trainer.state.best_global_step
    version = cb.filed
    assert version is not None and version.number == 1  # refiled, not a new version
    bundle = curvelog.load_bundle(version.path / "curves.json")
    names = {s["metric"] for c in bundle["charts"] for s in c["series"]}
    assert {"final/eval/loss", "final/test/loss"} <= names
    # The next experiment in the same process appends to the same log.
    transformers.Trainer(
        model=transformers.GPT2LMHeadModel(config), args=args, train_dataset=_data(24, 1),
        eval_dataset=_data(8, 2), callbacks=[CurvelogCallback(log)],
    ).train()  # fmt: skip
    assert len(curvelog.read(log).sessions) == 4  # train, evaluate, evaluate, train


class _Boom(transformers.TrainerCallback):  # type: ignore[misc]
    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == 2:
            raise RuntimeError("boom")


def test_a_train_that_raised_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    transformers.set_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=8, n_layer=1,
                                     n_head=2, bos_token_id=0, eos_token_id=0)  # fmt: skip
    model = transformers.GPT2LMHeadModel(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=BATCH,
        save_strategy="no", report_to="none", use_cpu=True, seed=0, disable_tqdm=True,
    )  # fmt: skip
    log = tmp_path / "run.log"
    stale = CurvelogCallback(log)
    with pytest.raises(RuntimeError, match="boom"):
        transformers.Trainer(model=model, args=args, train_dataset=_data(16, 1),
                             callbacks=[stale, _Boom()]).train()  # fmt: skip
    assert stale.run.opened and len(model._forward_hooks) == 1  # no on_train_end
    # Re-running the cell: a new callback on the same path and model works.
    cb = CurvelogCallback(log)
    transformers.Trainer(model=model, args=args, train_dataset=_data(16, 1),
                         callbacks=[cb]).train()  # fmt: skip
    assert not stale.run.opened and not cb.run.opened
    assert len(model._forward_hooks) == 0 and stale._losses == []
    run = curvelog.read(log)
    assert len(run.sessions) == 2 and run.sessions[0].end is not None
    assert run.series("train/loss").steps.tolist() == [1, 2, 3, 4]
    # close() ends a train that raised by hand, without filing it.
    cb = CurvelogCallback(log, registry=tmp_path / "reg", key="tiny/hf")
    with pytest.raises(RuntimeError, match="boom"):
        transformers.Trainer(model=model, args=args, train_dataset=_data(16, 1),
                             callbacks=[cb, _Boom()]).train()  # fmt: skip
    cb.close()
    assert not cb.run.opened and len(model._forward_hooks) == 0 and cb.filed is None
