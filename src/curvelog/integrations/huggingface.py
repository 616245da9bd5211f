"""Hugging Face transformers: a `TrainerCallback` that records every optimizer step.

The Trainer logs every ``logging_steps`` (default 500) an *average* of the
step losses, read with ``.item()``, and by default replaces a NaN or inf step
loss by the running average (``logging_nan_inf_filter=True``). This callback
records each optimizer step's own loss instead: a forward hook on the model
keeps the loss the model returns in training mode (detached, no ``.item()``)
and ``on_step_end`` appends it at ``state.global_step``. It also records what
``on_log`` (learning rate, grad norm) and ``on_evaluate`` report, stores the
`TrainingArguments` and the model config in the header, and marks the
Trainer's best step (``state.best_global_step``, chosen by
``metric_for_best_model``) once at the end.

.. code-block:: python

    from curvelog.integrations.huggingface import CurvelogCallback

    trainer = Trainer(model, args, train_dataset=ds, eval_dataset=ev,
                      callbacks=[CurvelogCallback("run.log")])
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from ._common import LazyLog, Training

if TYPE_CHECKING:
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from ..registry import Version

__all__ = ["CurvelogCallback"]

_TRAINING = Training()
#: model -> the callback whose forward hook is on it
_HOOKED: weakref.WeakKeyDictionary[Any, CurvelogCallback] = weakref.WeakKeyDictionary()

#: the Trainer's end-of-training summary (averages over the run, not curves)
_SUMMARY = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos",
     "train_loss"}
)  # fmt: skip


class CurvelogCallback(TrainerCallback):  # type: ignore[misc,unused-ignore]
    """Record every optimizer step's loss, every log and every evaluation of a `Trainer`.

    Names: the step loss is ``train/loss``, other training logs ``train/<key>``
    (``train/learning_rate``, ``train/grad_norm``), evaluation metrics
    ``eval/<key>`` (``eval_loss`` -> ``eval/loss``).

    :param path: the log file.
    :param registry: with ``key``: at the end of training, compact the log and
        file bundle + PNG as a new version of ``key`` in this registry.
    :param log_kwargs: passed on to `curvelog.EventLog`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        registry: str | os.PathLike[str] | None = None,
        key: str | None = None,
        **log_kwargs: Any,
    ) -> None:
        self.run = LazyLog(path, registry=registry, key=key, **log_kwargs)
        self._losses: list[Any] = []
        self._scaled = False
        self._hook: Any = None
        self._saw_loss = False
        self._training = False

    @property
    def filed(self) -> Version | None:
        """The registry version the log was filed as, after training."""
        return self.run.version

    # ------------------------------------------------------------ callbacks

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        model = kwargs.get("model")
        # A train() that raised (exception, Ctrl-C) called no on_train_end: its
        # callback still holds the log open and its forward hook on the model.
        stale = _HOOKED.get(model) if model is not None else None
        if stale is not None and stale is not self:
            stale.close()
        stale = _TRAINING.start(self.run.path, self)
        if stale is not None:
            stale.close()
        self._unhook()  # this callback's own earlier train() raised
        if args.metric_for_best_model and not self.run.opened:
            name = args.metric_for_best_model
            self.run.best = _eval_name(name if name.startswith("eval_") else f"eval_{name}")
            self.run.mode = "max" if args.greater_is_better else "min"
        to_dict: Any = args.to_dict  # untyped in transformers
        config: dict[str, Any] = {"training_args": to_dict()}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            config["model"] = model_config.to_dict()
        self.run.add_config(config)
        _ = self.run.log  # open now: the header holds the config even if nothing follows
        self._training = True
        if model is not None and hasattr(model, "register_forward_hook"):
            self._hook = model.register_forward_hook(self._keep_loss, with_kwargs=True)
            _HOOKED[model] = self

    def _keep_loss(self, module: Any, args: Any, kwargs: Any, output: Any) -> None:
        """Forward hook: keep the loss of a training forward pass (a detached tensor)."""
        if not module.training:
            return
        loss = getattr(output, "loss", None)
        if loss is None and isinstance(output, Mapping):
            loss = output.get("loss")
        if loss is not None and hasattr(loss, "detach"):
            self._losses.append(loss.detach())
            # A model given num_items_in_batch already divides by the tokens of the
            # whole accumulated batch: its micro-batch losses add up to the step's.
            self._scaled = kwargs.get("num_items_in_batch") is not None

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        losses, self._losses = self._losses, []
        if not losses:
            return
        self._saw_loss = True
        total = losses[0]
        for loss in losses[1:]:
            total = total + loss  # tensor arithmetic, queued on the device: no sync
        if len(losses) > 1 and not self._scaled:
            total = total / len(losses)
        self.run.append(state.global_step, {"train/loss": total})

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or _SUMMARY & set(logs):
            return
        values = {}
        for name, value in logs.items():
            if name.startswith("eval_") or name == "epoch" or not _is_number(value):
                continue  # evaluations come through on_evaluate; epoch is the x-axis's job
            if name == "loss" and self._saw_loss:
                continue  # an average of the step losses already recorded
            values[f"train/{name}"] = value
        self.run.append(state.global_step, values)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not metrics:
            return
        prefix = next((k[: -len("_runtime")] for k in metrics if k.endswith("_runtime")), "eval")
        values = {
            _eval_name(k, prefix): v for k, v in metrics.items() if k != "epoch" and _is_number(v)
        }
        if self._training:
            self.run.append(state.global_step, values)
            return
        # trainer.evaluate() outside train(): after training (global_step > 0) it
        # would land on the step of the last in-training evaluation and replace
        # it (with load_best_model_at_end it measures the reloaded best model),
        # so it goes under final/. Its session is closed at once (and refiled
        # into the same registry version): nothing else would close it.
        if state.global_step > 0:
            values = {f"final/{k}": v for k, v in values.items()}
        self.run.append(state.global_step, values)
        self.run.finish()

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._training = False
        self._unhook()
        _TRAINING.end(self.run.path, self)
        if not self.run.opened:
            return
        best = getattr(state, "best_global_step", None)
        if best is not None:
            self.run.log.mark_best(int(best))
        self.run.finish()

    def close(self) -> None:
        """End the session of a `train` that raised (an exception, Ctrl-C): not filed.

        The Trainer calls no callback then, so the log stays open (locked) and
        the model keeps this callback's forward hook. This removes the hook and
        closes the log. The next `CurvelogCallback` training the same model, or
        writing the same path in the same thread, does this by itself. Nothing
        happens after a `train` that ended normally.
        """
        self._training = False
        self._unhook()
        _TRAINING.end(self.run.path, self)
        if self.run.opened:
            self.run.abandon()

    def _unhook(self) -> None:
        self._losses = []
        if self._hook is None:
            return
        self._hook.remove()
        self._hook = None
        for model, owner in list(_HOOKED.items()):
            if owner is self:
                del _HOOKED[model]


def _eval_name(name: str, prefix: str = "eval") -> str:
    """``eval_loss`` -> ``eval/loss``; ``test_loss`` -> ``test/loss`` (``metric_key_prefix``).

    The chart groups metrics by their last component.
    """
    if name.startswith("eval_"):
        return "eval/" + name[len("eval_") :]
    if prefix != "eval" and name.startswith(prefix + "_"):
        return f"{prefix}/{name[len(prefix) + 1 :]}"
    return f"eval/{name}"


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        or (hasattr(value, "dim") and value.dim() == 0)
    )
