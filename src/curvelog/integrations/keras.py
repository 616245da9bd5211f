"""Keras 3: a `Callback` that records every training batch's own loss.

Keras hands ``on_train_batch_end`` the *running mean* of each metric over the
epoch so far, converted to Python floats. This callback records the batch's
own loss as ``train/loss``: while a training batch runs it wraps the model's
``compute_loss`` and keeps the loss tensor it returns (detached, no
``.item()``). The running means Keras reports go in as ``train/<name>``,
the epoch's values as ``epoch/<name>`` and ``val_*`` as ``val/<name>``.

It is ``async_safe``: when every callback is, Keras runs ``on_train_batch_end``
on worker threads so the training thread never waits for the logs. The
callback then only queues the logs there; everything is written to the log
from the training thread. It needs the torch backend (``KERAS_BACKEND=torch``):
JAX and TensorFlow trace the training step into a graph.

.. code-block:: python

    from curvelog.integrations.keras import CurvelogCallback

    model.fit(x, y, validation_data=(xv, yv), callbacks=[CurvelogCallback("run.log")])
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import keras

from ._common import LazyLog, Training

if TYPE_CHECKING:
    from ..registry import Version

__all__ = ["CurvelogCallback"]

_TRAINING = Training()
#: rows held for late batch logs before they are written without them
_MAX_WAITING = 1024


class CurvelogCallback(keras.callbacks.Callback):  # type: ignore[misc,unused-ignore]
    """Record every batch's loss, Keras's batch and epoch logs and the validation.

    :param path: the log file.
    :param monitor: the Keras name of the metric that decides the best epoch
        (as in `keras.callbacks.ModelCheckpoint`); recorded as ``val/loss``
        for ``val_loss``. The first epoch that improves on all earlier ones
        strictly is marked once at the end, the same rule ModelCheckpoint's
        ``save_best_only`` follows.
    :param mode: ``"min"``, ``"max"`` or ``"auto"``: decided as ModelCheckpoint's
        ``mode="auto"`` does, from the direction of the model's metric of that
        name (max for AUC, precision, recall, F1, accuracy...; min for the loss);
        for a name that is not one of the model's metrics, max for accuracy-like
        names and min otherwise.
    :param registry: with ``key``: at the end of training, compact the log and
        file bundle + PNG as a new version of ``key`` in this registry.
    :param log_kwargs: passed on to `curvelog.EventLog`.
    """

    async_safe = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        monitor: str | None = "val_loss",
        mode: Literal["min", "max", "auto"] = "auto",
        registry: str | os.PathLike[str] | None = None,
        key: str | None = None,
        **log_kwargs: Any,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        #: "auto" is resolved in on_train_begin, once the model's metrics are known
        self._auto = mode == "auto"
        if mode == "auto":
            mode = _guess_mode(monitor)
        self.run = LazyLog(
            path, best=_name(monitor) if monitor else None, mode=mode, registry=registry, key=key,
            **log_kwargs,
        )  # fmt: skip
        self._sign = 1.0 if mode == "min" else -1.0
        self._best_key = float("inf")
        self._best_step: int | None = None
        self._step = 0
        self._epoch = 0
        self._in_batch = False
        self._first_epoch = False
        self._batch = self._k = 0
        self._main = threading.main_thread()
        #: (epoch, batch) -> its step and the steps of the execution (one train step
        #: call: several batches with steps_per_execution > 1) it ran in; training thread
        self._steps: dict[tuple[int, int], tuple[int, list[int]]] = {}
        #: step -> its row, held until the batch logs of its execution arrived, so
        #: rows are written in step order (a step going back would be a resume)
        self._rows: dict[int, dict[str, Any]] = {}
        self._waiting: set[int] = set()
        self._exec: list[int] = []
        #: (epoch, batch, logs) queued by on_train_batch_end on Keras's worker threads
        self._arrived: deque[tuple[int, int, dict[str, Any]]] = deque()
        self._wrapped: Any = None

    @property
    def filed(self) -> Version | None:
        """The registry version the log was filed as, after training."""
        return self.run.version

    # ------------------------------------------------------------ training thread

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if keras.backend.backend() != "torch":
            # JAX and TensorFlow trace train_step into a graph: a Python wrapper
            # around compute_loss would see tracers, not values.
            raise ValueError(
                f"CurvelogCallback needs the torch backend (KERAS_BACKEND=torch), "
                f"not {keras.backend.backend()!r}"
            )
        self._main = threading.current_thread()
        # A fit that raised (exception, Ctrl-C) called no on_train_end: its
        # callback still holds the log open and the model its compute_loss wrapper.
        stale = getattr(vars(self.model).get("compute_loss"), "_curvelog_owner", None)
        if stale is not None and stale is not self:
            stale.close()
        stale = _TRAINING.start(self.run.path, self)
        if stale is not None:
            stale.close()
        if self._wrapped is not None:  # this callback's own earlier fit raised
            self._unwrap()
        if self._auto and self.monitor and not self.run.opened:
            mode = _monitor_mode(self.model, self.monitor)
            self.run.mode = mode
            self._sign = 1.0 if mode == "min" else -1.0
        config: dict[str, Any] = {"params": dict(self.params or {})}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "get_config"):
            config["optimizer"] = optimizer.get_config()
        self.run.add_config(config)
        _ = self.run.log
        self._first_epoch = True
        original = self.model.compute_loss

        def compute_loss(*args: Any, **kwargs: Any) -> Any:
            loss = original(*args, **kwargs)
            if self._in_batch and kwargs.get("training", True):
                self._rows[self._step] = {"train/loss": loss.detach()}
                self._waiting.add(self._step)
                # steps_per_execution > 1 runs batches begin..end in one call
                self._exec.append(self._step)
                self._steps[(self._epoch, self._batch + self._k)] = (self._step, self._exec)
                self._step += 1
                self._k += 1
            return loss

        compute_loss._curvelog_owner = self  # type: ignore[attr-defined]
        self._wrapped = original
        self.model.compute_loss = compute_loss

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        if self._first_epoch:
            self._first_epoch = False
            # fit(initial_epoch=N) resumes at epoch N: its first batch is step
            # N * steps-per-epoch, as in an uninterrupted fit, not step 0 (which
            # would overwrite the earlier session's epochs). A dataset of unknown
            # length gives no steps-per-epoch: the steps go on after the log's last.
            steps = (self.params or {}).get("steps")
            if epoch > 0:
                start = epoch * int(steps) if steps else _after_last_step(self.run.path)
                self._step = max(self._step, start)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batch, self._k = batch, 0
        self._exec = []
        self._in_batch = True
        self._drain()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._in_batch = False
        self._drain(everything=True)  # Keras waited for every batch callback before this
        if not logs:
            return
        step = max(self._step - 1, 0)
        values = {_name(k) if k.startswith("val_") else f"epoch/{k}": v for k, v in logs.items()}
        self.run.append(step, values)
        if self.monitor is not None and self.monitor in logs:
            key = float(logs[self.monitor]) * self._sign
            if key < self._best_key:  # NaN compares False: never the best
                self._best_key, self._best_step = key, step

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._end(filed=True)

    def close(self) -> None:
        """End the session of a `fit` that raised (an exception, Ctrl-C): not filed.

        Keras calls no callback then, so the log stays open (locked) and the
        model keeps the ``compute_loss`` wrapper. This restores the model's
        ``compute_loss``, marks the best epoch seen so far and closes the log.
        The next `CurvelogCallback` fit on the same model, or on the same path
        in the same thread, does this by itself. Nothing happens after a
        `fit` that ended normally.
        """
        self._end(filed=False)

    def _end(self, *, filed: bool) -> None:
        """Unwrap the model, write what is pending, mark the best epoch and close
        the session: filed (a fit that ended) or not (one that raised)."""
        self._in_batch = False
        self._unwrap()
        self._drain(everything=True)
        _TRAINING.end(self.run.path, self)
        if not self.run.opened:
            return
        if self._best_step is not None:
            self.run.log.mark_best(self._best_step)
        if filed:
            self.run.finish()
        else:
            self.run.abandon()

    def _unwrap(self) -> None:
        if self._wrapped is None:
            return
        self._wrapped = None
        mine = vars(self.model).get("compute_loss")
        if getattr(mine, "_curvelog_owner", None) is self:
            del self.model.compute_loss  # the instance attribute goes; the method shows again

    def _drain(self, everything: bool = False) -> None:
        """Merge the batch logs that arrived into their rows; write the rows ready, in order.

        Keras's worker threads hand batch logs over late and out of order: a
        row waits until its execution's logs came (``everything``: at the end
        of an epoch, when Keras waited for them all), or until too many wait.
        """
        while self._arrived:
            epoch, batch, logs = self._arrived.popleft()
            found = self._steps.pop((epoch, batch), None)
            if found is None:
                continue
            step, steps = found
            values = {f"train/{k}": v for k, v in logs.items() if k != "loss"}
            if step in self._rows:
                self._rows[step].update(values)
            elif values:  # written already (too many were waiting): late, but kept
                self.run.append(step, values)
            self._waiting.difference_update(steps)
        while self._rows:
            step = next(iter(self._rows))
            if step in self._waiting and not everything and len(self._rows) <= _MAX_WAITING:
                break
            self.run.append(step, self._rows.pop(step))
            self._waiting.discard(step)
        if everything:
            self._steps.clear()

    # ------------------------------------------------------------ any thread

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._in_batch = False if threading.current_thread() is self._main else self._in_batch
        # Only a deque append here: EventLog is written from the training thread.
        # Queued even when empty: it says the batch's row need not wait any more.
        self._arrived.append((self._epoch, batch, dict(logs or {})))
        if threading.current_thread() is self._main:
            self._drain()


def _name(keras_name: str) -> str:
    """``val_loss`` -> ``val/loss`` (the chart groups metrics by their last component)."""
    return "val/" + keras_name[len("val_") :] if keras_name.startswith("val_") else keras_name


def _guess_mode(monitor: str | None) -> Literal["min", "max"]:
    """Keras 2's rule by name, for a monitor that is none of the model's metrics."""
    return "max" if monitor and ("acc" in monitor or monitor.startswith("fmeasure")) else "min"


def _monitor_mode(model: Any, monitor: str) -> Literal["min", "max"]:
    """``mode="auto"`` as Keras 3's ModelCheckpoint decides it (``_set_monitor_op``).

    ``loss`` is minimised; a compiled metric of that name is maximised when its
    ``_direction`` is ``"up"`` (AUC, Precision, Recall, F1Score, R2Score, IoU,
    accuracies) and minimised otherwise.
    """
    name = monitor.removeprefix("val_")
    mode: Literal["min", "max"] | None = "min" if name == "loss" else None
    try:
        from keras.src.trainers import compile_utils  # where ModelCheckpoint looks too
    except ImportError:  # a Keras that moved it: the rule by name
        return mode if mode is not None else _guess_mode(monitor)
    containers = (compile_utils.CompileMetrics, compile_utils.MetricsList)
    for container in getattr(model, "metrics", None) or []:
        if not isinstance(container, containers):
            continue
        for metric in container.metrics:
            if metric.name == name and hasattr(metric, "_direction"):
                mode = "max" if metric._direction == "up" else "min"
    return mode if mode is not None else _guess_mode(monitor)


def _after_last_step(path: str) -> int:
    """The step after the last one the log's earlier sessions wrote (0 if none)."""
    from ..log import read

    last = [s.last_step for s in read(path).sessions if s.last_step is not None]
    return max(last) + 1 if last else 0
