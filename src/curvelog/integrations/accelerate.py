"""Hugging Face Accelerate: a `GeneralTracker` for ``Accelerator(log_with=...)``.

.. code-block:: python

    from curvelog.integrations.accelerate import CurvelogTracker

    accelerator = Accelerator(log_with=CurvelogTracker("run.log", best="val/loss"))
    accelerator.init_trackers("demo", config=vars(args))   # -> the log's header
    ...
    accelerator.log({"train/loss": loss.detach()}, step=step)  # a 0-d tensor: no .item()
    accelerator.end_training()                                  # closes (and files) the log

Call ``accelerator.log`` every step: the tracker costs what `EventLog.append`
costs. Give it the detached loss tensor rather than ``loss.item()``, so the
training loop does not wait for the device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from accelerate.tracking import GeneralTracker

from ._common import LazyLog, flatten

if TYPE_CHECKING:
    from ..log import EventLog
    from ..registry import Version

__all__ = ["CurvelogTracker"]


class CurvelogTracker(GeneralTracker):  # type: ignore[misc,unused-ignore]
    """Write everything ``accelerator.log`` receives into one curvelog log.

    Nested dicts become ``parent/child`` names; strings (which other trackers
    show as text) are not metrics and are skipped. Only the process whose
    ``RANK`` is 0 writes (`EventLog`'s rule).

    :param path: the log file.
    :param best: the metric whose optimum is the run's best step (tracked by
        the log; or declare it yourself with `mark_best`).
    :param mode: ``"min"`` or ``"max"`` for ``best`` (default: from its name, as `EventLog`).
    :param registry: with ``key``: at ``end_training``, compact the log and file
        bundle + PNG as a new version of ``key`` in this registry.
    :param log_kwargs: passed on to `curvelog.EventLog`.
    """

    name = "curvelog"
    requires_logging_directory = False
    main_process_only = True

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
        self.run = LazyLog(path, best=best, mode=mode, registry=registry, key=key, **log_kwargs)
        self._next_step = 0

    @property
    def tracker(self) -> EventLog:
        """The underlying `curvelog.EventLog` (opened on first access)."""
        return self.run.log

    @property
    def filed(self) -> Version | None:
        """The registry version the log was filed as, after ``end_training``."""
        return self.run.version

    def store_init_configuration(self, values: Mapping[str, Any]) -> None:
        """``init_trackers(config=...)``: stored in the log's header."""
        self.run.add_config(values)

    def log(self, values: Mapping[str, Any], step: int | None = None, **kwargs: Any) -> None:
        """Append ``values`` at ``step`` (without a step: one past the last one)."""
        if step is None:
            step = self._next_step
        self._next_step = step + 1
        metrics = {k: v for k, v in flatten(values).items() if not isinstance(v, str)}
        self.run.append(step, metrics)

    def mark_best(self, step: int) -> None:
        """Declare ``step`` the best one (say, the step whose checkpoint you keep)."""
        self.run.log.mark_best(step)

    def finish(self) -> None:
        """``accelerator.end_training()``: close the log and file it if asked to."""
        self.run.finish()
