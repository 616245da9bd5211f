"""curvelog.integrations.keras with real Keras 3 on the torch backend: a tiny regression."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "torch"
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import curvelog  # noqa: E402
from curvelog.integrations.keras import CurvelogCallback  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

EPOCHS, BATCHES, BATCH, NAN_STEP = 4, 8, 4, 11


class NaNOnce(keras.Sequential):  # type: ignore[misc]
    """A model whose training loss reads NaN at one step; the gradient stays finite."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.train_losses = 0

    def compute_loss(self, *args: Any, training: bool = True, **kwargs: Any) -> Any:
        loss = super().compute_loss(*args, training=training, **kwargs)
        if training:
            self.train_losses += 1
            if self.train_losses == NAN_STEP + 1:
                loss = loss + torch.tensor(float("nan"))  # a constant: no gradient
        return loss


def _model() -> Any:
    keras.utils.set_random_seed(0)
    model = NaNOnce([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                     keras.layers.Dense(1)])  # fmt: skip
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(n, 1))).astype(
        "float32"
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("keras")
    cb = CurvelogCallback(tmp / "run.log", registry=tmp / "reg", key="tiny/keras")
    ckpt = keras.callbacks.ModelCheckpoint(
        str(tmp / "best-{epoch}.weights.h5"), monitor="val_loss", save_best_only=True,
        save_weights_only=True,
    )  # fmt: skip
    model = _model()
    history = model.fit(
        *_data(BATCHES * BATCH, 1), batch_size=BATCH, epochs=EPOCHS, verbose=0,
        validation_data=_data(8, 2), callbacks=[cb, ckpt], shuffle=False,
    )  # fmt: skip
    return {"run": curvelog.read(tmp / "run.log"), "cb": cb, "ckpt": ckpt, "tmp": tmp,
            "history": history.history, "model": model}  # fmt: skip


def test_every_batch_loss_is_recorded_with_its_nan(fitted: dict[str, Any]) -> None:
    loss = fitted["run"].series("train/loss")
    assert loss.steps.tolist() == list(range(EPOCHS * BATCHES))
    assert np.isnan(loss.values).tolist() == [s == NAN_STEP for s in range(EPOCHS * BATCHES)]
    # Keras's running mean is written beside it, at every batch.
    assert fitted["run"].series("train/mae").steps.tolist() == list(range(EPOCHS * BATCHES))
    # The model's compute_loss is its own again after training.
    assert "compute_loss" not in vars(fitted["model"])


def test_every_epoch_and_validation_is_recorded(fitted: dict[str, Any]) -> None:
    run, history = fitted["run"], fitted["history"]
    val = run.series("val/loss")
    assert val.steps.tolist() == [(e + 1) * BATCHES - 1 for e in range(EPOCHS)]
    np.testing.assert_allclose(val.values, history["val_loss"], rtol=1e-6)
    assert len(run.series("epoch/loss")) == EPOCHS


def test_best_is_marked_once_and_is_the_checkpoints(fitted: dict[str, Any]) -> None:
    run, ckpt = fitted["run"], fitted["ckpt"]
    assert [b["source"] for b in run.best_records] == ["marked"]
    best = run.best
    assert best is not None and best.metric == "val/loss" and best.value == pytest.approx(ckpt.best)
    # save_best_only: the newest file is the best epoch's.
    saved = sorted(int(p.name.split("-")[1].split(".")[0]) for p in fitted["tmp"].glob("best-*"))
    assert best.step == saved[-1] * BATCHES - 1


def test_bundle_and_png_are_filed(fitted: dict[str, Any]) -> None:
    version = fitted["cb"].filed
    assert version is not None and version.key == "tiny/keras"
    assert (version.path / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    bundle = curvelog.load_bundle(version.path / "curves.json")
    assert bundle["best"]["step"] == fitted["run"].best.step


class _Threads(CurvelogCallback):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.threads: set[str] = set()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.threads.add(threading.current_thread().name)
        super().on_train_batch_end(batch, logs)


def test_async_batch_callbacks_lose_nothing(tmp_path: Path) -> None:
    cb = _Threads(tmp_path / "run.log")
    _model().fit(*_data(BATCHES * BATCH, 1), batch_size=BATCH, epochs=2, verbose=0,
                 callbacks=[cb])  # fmt: skip
    assert threading.main_thread().name not in cb.threads  # Keras ran them on workers
    run = curvelog.read(tmp_path / "run.log")
    assert run.series("train/loss").steps.tolist() == list(range(2 * BATCHES))
    assert run.series("train/mae").steps.tolist() == list(range(2 * BATCHES))


def test_resume_with_initial_epoch_continues_the_steps(tmp_path: Path) -> None:
    # The job is pre-empted after 2 epochs; a new job loads the model and resumes
    # with initial_epoch=2. Its steps continue at 2 * BATCHES: nothing is overwritten.
    data, val = _data(BATCHES * BATCH, 1), _data(8, 2)
    model = _model()
    first = model.fit(*data, batch_size=BATCH, epochs=2, verbose=0, validation_data=val,
                      shuffle=False,
                      callbacks=[CurvelogCallback(tmp_path / "run.log")])  # fmt: skip
    second = model.fit(*data, batch_size=BATCH, epochs=4, initial_epoch=2, verbose=0,
                       validation_data=val, shuffle=False,
                       callbacks=[CurvelogCallback(tmp_path / "run.log")])  # fmt: skip
    run = curvelog.read(tmp_path / "run.log")
    assert len(run.sessions) == 2
    assert run.series("train/loss").steps.tolist() == list(range(4 * BATCHES))
    val_loss = run.series("val/loss")
    assert val_loss.steps.tolist() == [(e + 1) * BATCHES - 1 for e in range(4)]
    np.testing.assert_allclose(
        val_loss.values, first.history["val_loss"] + second.history["val_loss"], rtol=1e-6
    )


def test_resume_of_unknown_length_continues_after_the_logs_last_step(tmp_path: Path) -> None:
    # A generator has no length: Keras gives no steps-per-epoch, so the resumed
    # steps cannot be initial_epoch * steps; they go on after the earlier session's.
    data, model = _data(BATCHES * BATCH, 1), _model()
    model.fit(*data, batch_size=BATCH, epochs=2, verbose=0, shuffle=False,
              callbacks=[CurvelogCallback(tmp_path / "run.log")])  # fmt: skip
    x, y = data

    def batches() -> Any:
        for i in range(BATCHES):
            yield x[i * BATCH : (i + 1) * BATCH], y[i * BATCH : (i + 1) * BATCH]

    cb = CurvelogCallback(tmp_path / "run.log")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "your input ran out of data"
        model.fit(batches(), epochs=3, initial_epoch=2, verbose=0, callbacks=[cb])
    run = curvelog.read(tmp_path / "run.log")
    assert len(run.sessions) == 2
    assert run.sessions[1].first_step == 2 * BATCHES
    assert run.series("train/loss").steps.tolist() == list(range(3 * BATCHES))


class _Boom(keras.callbacks.Callback):  # type: ignore[misc]
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if batch == 2:
            raise RuntimeError("boom")


def test_a_fit_that_raised_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    model, data = _model(), _data(BATCHES * BATCH, 1)
    stale = CurvelogCallback(tmp_path / "run.log")
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(*data, batch_size=BATCH, epochs=2, verbose=0, callbacks=[stale, _Boom()])
    assert stale.run.opened and "compute_loss" in vars(model)  # Keras called no on_train_end
    # Re-running the cell: a new callback on the same path and model works.
    cb = CurvelogCallback(tmp_path / "run.log")
    model.fit(*data, batch_size=BATCH, epochs=1, verbose=0, callbacks=[cb])
    assert not stale.run.opened and not cb.run.opened
    assert "compute_loss" not in vars(model)
    run = curvelog.read(tmp_path / "run.log")
    assert len(run.sessions) == 2 and run.sessions[0].end is not None
    assert run.sessions[1].rows > 0
    # The stale wrapper is gone: a fit without curvelog appends nothing more.
    size = (tmp_path / "run.log").stat().st_size
    model.fit(*data, batch_size=BATCH, epochs=1, verbose=0)
    assert (tmp_path / "run.log").stat().st_size == size


def test_close_ends_a_fit_that_raised(tmp_path: Path) -> None:
    model, data = _model(), _data(BATCHES * BATCH, 1)
    cb = CurvelogCallback(tmp_path / "run.log", registry=tmp_path / "reg", key="tiny/k")
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(*data, batch_size=BATCH, epochs=2, verbose=0, callbacks=[cb, _Boom()])
    cb.close()
    assert not cb.run.opened and "compute_loss" not in vars(model)
    assert cb.filed is None  # a failed fit is not filed
    assert curvelog.read(tmp_path / "run.log").series("train/loss").steps.tolist() == [0, 1, 2]


def test_auto_mode_maximises_what_model_checkpoint_maximises(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x[:, :1] + 0.5 * rng.normal(size=(128, 1)) > 0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    metrics = [keras.metrics.AUC(name="auc"), keras.metrics.Precision(name="prec")]
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=metrics)  # fmt: skip
    ckpt = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_auc",
                                           save_best_only=True)  # fmt: skip
    history = model.fit(x, y, batch_size=32, epochs=4, validation_data=(x[:64], y[:64]),
                        callbacks=[CurvelogCallback(tmp_path / "run.log", monitor="val_auc"),
                                   ckpt], verbose=0, shuffle=False)  # fmt: skip
    best = curvelog.read(tmp_path / "run.log").best
    assert best is not None and best.metric == "val/auc" and best.mode == "max"
    assert best.value == pytest.approx(float(ckpt.best))
    epoch = int(np.argmax(history.history["val_auc"]))
    assert best.step == (epoch + 1) * 4 - 1


class _LateLogs(CurvelogCallback):
    """Batch 0's logs reach the callback only once batch 2 began on the training thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_2 = threading.Event()

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_train_batch_begin(batch, logs)
        if batch == 2:
            self.batch_2.set()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if batch == 0 and threading.current_thread() is not threading.main_thread():
            self.batch_2.wait(60)  # a worker thread: the training thread goes on meanwhile
        super().on_train_batch_end(batch, logs)


def test_late_batch_logs_are_no_resume(tmp_path: Path) -> None:
    cb = _LateLogs(tmp_path / "run.log")
    _model().fit(*_data(BATCHES * BATCH, 1), batch_size=BATCH, epochs=2, verbose=0,
                 callbacks=[cb], shuffle=False)  # fmt: skip
    assert cb.batch_2.is_set()
    run = curvelog.read(tmp_path / "run.log")
    assert run.resumes == 0 and len(run.segments) == 1
    assert run.series("train/loss").steps.tolist() == list(range(2 * BATCHES))
    assert run.series("train/mae").steps.tolist() == list(range(2 * BATCHES))
