"""PyTorch Lightning: a `Logger` for what Lightning logs and a callback for every batch.

Lightning hands its loggers values only every ``log_every_n_steps`` batches
(default 50), after turning each tensor into a float with ``.item()``.
`CurvelogCallback` records *every* training batch's loss and ``self.log``'d
step values from ``on_train_batch_end`` as detached 0-d tensors, so it adds
no device sync of its own; `CurvelogLogger` records everything Lightning
logs (validation and epoch values) and marks the best checkpoint once.

.. code-block:: python

    from curvelog.integrations.lightning import CurvelogCallback, CurvelogLogger

    logger = CurvelogLogger("run.log", registry="saved_models", key="demo/v1")
    trainer = L.Trainer(logger=logger, callbacks=[CurvelogCallback(), ModelCheckpoint(
        monitor="val_loss")])
"""

from __future__ import annotations

import os
import weakref
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger

from ._common import LazyLog

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from ..registry import Version

__all__ = ["CurvelogCallback", "CurvelogLogger"]


class CurvelogLogger(Logger):  # type: ignore[misc,unused-ignore]
    """A Lightning logger writing one curvelog log.

    The log opens on the first ``log_hyperparams``/``log_metrics`` call, so the
    hyper-parameters Lightning passes after creating the logger land in the
    header. ``save`` does nothing: the log's own thread flushes it.

    :param path: the log file (created, or appended to as a new session).
    :param best: the metric the best step refers to; by default the ``monitor``
        of the trainer's `ModelCheckpoint` when `CurvelogCallback` is attached.
    :param mode: ``"min"`` or ``"max"`` for ``best`` (default: the checkpoint's mode).
    :param registry: with ``key``: at the end of a successful run, compact the
        log and file bundle + PNG as a new version of ``key`` in this registry.
    :param log_kwargs: passed on to `curvelog.EventLog` (``flush_every``, ``durability``...).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        best: str | None = None,
        mode: Literal["min", "max"] | None = None,
        registry: str | os.PathLike[str] | None = None,
        key: str | None = None,
        **log_kwargs: Any,
    ) -> None:
        super().__init__()
        self._explicit_best = best is not None
        self.run = LazyLog(path, best=best, mode=mode, registry=registry, key=key, **log_kwargs)
        #: the step of the best checkpoint saved by this session's fit (None: none yet)
        self._best_step: int | None = None
        self._last_step: dict[str, int] = {}
        self._seen_paths: set[str] = set()
        #: the trainer, set by CurvelogCallback.setup (a weak reference)
        self._trainer: weakref.ref[pl.Trainer] | None = None
        #: names CurvelogCallback recorded at ``_batch_step`` (not written twice)
        self._batch_step = -1
        self._batch_names: frozenset[str] = frozenset()
        #: the checkpoint's monitor, the name it reaches loggers as once known
        #: (`_learn_objective`), and whether it gave the objective (`_adopt_checkpoint`)
        self._monitor: str | None = None
        self._monitor_as: str | None = None
        self._adopted = False

    # ------------------------------------------------------------ Logger API

    @property
    def name(self) -> str:
        return "curvelog"

    @property
    def version(self) -> str:
        stem = os.path.basename(self.run.path)
        return stem[: -len(".log")] if stem.endswith(".log") else stem

    @property
    def save_dir(self) -> str | None:
        return None  # checkpoints go where the trainer puts them (default_root_dir)

    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Stored in the log's header (only before the first value is logged)."""
        self.run.add_config(vars(params) if isinstance(params, Namespace) else dict(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        step = self._last_any if step is None else int(step)
        if step == self._batch_step and self._batch_names:
            metrics = {k: v for k, v in metrics.items() if k not in self._batch_names}
        for name in metrics:
            self._last_step[name] = step
        self.run.append(step, metrics)

    def save(self) -> None:
        """Nothing: Lightning calls this after every log call, and the log flushes itself."""

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Remember the step behind a new best checkpoint; marked once in `finalize`.

        A new best is a top-k save whose file is the new ``best_model_path``:
        not a ``last.ckpt`` save (which, after a resume, still shows the best
        restored from the checkpoint), and also a new best written over the
        same file (``filename="best"``).
        """
        path = checkpoint_callback.best_model_path
        monitor = checkpoint_callback.monitor
        if not path or monitor is None:
            return
        saved = getattr(checkpoint_callback, "_last_checkpoint_saved", None)
        if saved is None:  # an older Lightning: a best path not seen before is a new best
            if path in self._seen_paths:
                return
        elif saved != path:
            return
        self._seen_paths.add(path)
        if monitor == self._monitor and self._monitor_as is not None:
            monitor = self._monitor_as  # logged on_step and on_epoch: "<monitor>_epoch"
        step = self._pending_epoch_step(monitor)
        if step is None:
            # ModelCheckpoint saves right after the monitored value was logged.
            step = self._last_step.get(monitor)
        if step is not None:
            self._best_step = step

    def _pending_epoch_step(self, monitor: str) -> int | None:
        """The step of a training-epoch value not logged yet, if ``monitor`` is one.

        ModelCheckpoint saves in ``on_train_epoch_end``, *before* Lightning logs
        the epoch's ``self.log(on_epoch=True)`` values from ``training_step``
        (at ``_batches_that_stepped - 1``): the step last seen for the monitor
        is then the previous epoch's.
        """
        trainer = self._trainer() if self._trainer is not None else None
        if trainer is None or not trainer.training:
            return None
        module = trainer.lightning_module
        if getattr(module, "_current_fx_name", None) != "on_train_epoch_end":
            return None
        if monitor not in _epoch_names(trainer):
            return None
        return int(trainer.fit_loop.epoch_loop._batches_that_stepped) - 1

    def finalize(self, status: str) -> None:
        """Mark the best checkpoint's step once, close the log, file it on success."""
        if not self.run.opened:
            return
        if self._best_step is not None:
            self.run.log.mark_best(self._best_step)
        if status != "success":
            self.run.registry = self.run.key = None  # a failed run is not filed
        self.run.finish()
        self._best_step = None

    # ------------------------------------------------------------ extras

    @property
    def filed(self) -> Version | None:
        """The registry version the log was filed as, once `finalize` ran."""
        return self.run.version

    @property
    def _last_any(self) -> int:
        return max(self._last_step.values(), default=0)

    def _adopt_checkpoint(self, trainer: pl.Trainer) -> None:
        """Take ``best``/``mode`` from the trainer's ModelCheckpoint unless given."""
        cb = trainer.checkpoint_callback
        if not isinstance(cb, ModelCheckpoint) or cb.monitor is None:
            return
        self._monitor = cb.monitor
        if self._explicit_best or self.run.opened:
            return
        self._adopted = True
        self.run.best = cb.monitor
        self.run.mode = "max" if cb.mode == "max" else "min"

    def _learn_objective(self, trainer: pl.Trainer) -> None:
        """The name the checkpoint's monitor reaches loggers as, learnt once it is logged.

        A value logged with both ``on_step`` and ``on_epoch`` reaches loggers
        only as ``<name>_step`` and ``<name>_epoch``, and the checkpoint's
        ``<name>`` is the epoch value. Lightning tells how a name is logged
        only once ``self.log`` ran, so this looks at every training and
        validation batch (the sanity check's included) until it knows. Learnt
        before the log opens, it is also the objective; a monitor first
        logged after that (a validation with ``num_sanity_val_steps=0``)
        keeps its plain name as the objective: the best checkpoint's step is
        still marked, but the log holds no value of that name to show.
        """
        if self._monitor is None or self._monitor_as is not None:
            return
        name = _logged_as(trainer, self._monitor)
        if name is None:
            return
        self._monitor_as = name
        if self._adopted and not self.run.opened:
            self.run.best = name


class CurvelogCallback(Callback):  # type: ignore[misc,unused-ignore]
    """Record every training batch into the trainer's `CurvelogLogger`.

    Each batch appends its loss (``outputs["loss"]``, detached) and the values
    ``self.log(..., on_step=True)`` produced in that batch, as 0-d tensors: no
    ``.item()``, so no device sync is added. The step is Lightning's logging
    step (``_batches_that_stepped``), the one `CurvelogLogger` receives, so
    per-batch and validation values share one axis. With gradient
    accumulation, the micro-batches' losses are summed (Lightning already
    divided each by ``accumulate_grad_batches``) and written once per
    optimizer step.

    :param loss_name: the name the batch loss is recorded under.
    """

    def __init__(self, loss_name: str = "train/loss") -> None:
        self.loss_name = loss_name
        self._logger: CurvelogLogger | None = None
        self._acc: Any = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        found = [lg for lg in trainer.loggers if isinstance(lg, CurvelogLogger)]
        if not found:
            raise ValueError(
                "CurvelogCallback needs a CurvelogLogger among the trainer's loggers: "
                "Trainer(logger=CurvelogLogger(path), callbacks=[CurvelogCallback()])"
            )
        self._logger = found[0]
        self._logger._trainer = weakref.ref(trainer)
        self._logger._adopt_checkpoint(trainer)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        logger = self._logger
        if logger is None:
            return
        loop = trainer.fit_loop.epoch_loop
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is not None and hasattr(loss, "detach"):
            loss = loss.detach()
            self._acc = loss if self._acc is None else self._acc + loss
        if loop._should_accumulate():
            return
        values: dict[str, Any] = {}
        if self._acc is not None:
            values[self.loss_name] = self._acc
            self._acc = None
        values.update(_step_values(trainer))
        logger._learn_objective(trainer)
        step = loop._batches_that_stepped
        logger._batch_step = step
        logger._batch_names = frozenset(values)
        logger._last_step.update(dict.fromkeys(values, step))
        logger.run.append(step, values)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        if self._logger is not None:
            self._logger._learn_objective(trainer)


def _step_values(trainer: pl.Trainer) -> dict[str, Any]:
    """This batch's ``self.log(on_step=True, logger=True)`` values, as logged tensors.

    Read from the trainer's result collection rather than ``trainer.logged_metrics``,
    which also converts progress-bar values with ``.item()`` and keeps stale
    epoch values.
    """
    results = getattr(trainer, "_results", None)
    if results is None:
        return {}
    out: dict[str, Any] = {}
    for _, metric in results.valid_items():
        meta = metric.meta
        if not (meta.on_step and meta.logger):
            continue
        value = getattr(metric, "_forward_cache", None)
        if value is None or not hasattr(value, "detach"):
            continue
        _, forked = results._forked_name(metric, True)
        out[forked] = value.detach()
    return out


def _epoch_names(trainer: pl.Trainer) -> set[str]:
    """The names the running loop's ``self.log(on_epoch=True, logger=True)`` values log as."""
    results = getattr(trainer, "_results", None)
    if results is None:
        return set()
    out: set[str] = set()
    for _, metric in results.valid_items():
        meta = metric.meta
        if meta.on_epoch and meta.logger:
            out.add(results._forked_name(metric, False)[1])
    return out


def _logged_as(trainer: pl.Trainer, name: str) -> str | None:
    """The name ``self.log(name, ...)``'s epoch value reaches loggers under: ``name`` or,
    logged with both ``on_step`` and ``on_epoch``, ``name_epoch``; None if the running
    loop has not logged ``name`` (yet)."""
    results = getattr(trainer, "_results", None)
    if results is None:
        return None
    for _, metric in results.valid_items():
        plain, forked = results._forked_name(metric, False)
        if plain == name and metric.meta.logger:
            return str(forked)
    return None
