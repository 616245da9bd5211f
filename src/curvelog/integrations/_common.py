"""What every framework hook shares: a log opened on first use and filing at the end.

Frameworks hand over the run's configuration *after* the logger object exists
(Lightning's ``log_hyperparams``, Accelerate's ``store_init_configuration``,
Hugging Face's ``on_train_begin``), while `EventLog` writes its header when it
opens. So the hooks open the log lazily, on the first value or at the start
of training, with the configuration known by then.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from ..log import EventLog

if TYPE_CHECKING:
    from ..registry import Version

__all__ = ["LazyLog", "Training", "file_run", "flatten"]


def file_run(
    log_path: str | os.PathLike[str],
    registry: str | os.PathLike[str],
    key: str,
    version: int | None = None,
) -> Version:
    """Compact the log at ``log_path`` and file its bundle and PNG under ``key``.

    Without ``version`` a new version is allocated; with it, the bundle of that
    version is replaced by this one (the same log, grown by a later session).
    The integrations' one way into `curvelog.pipeline`'s compact-and-file flow.
    """
    from ..pipeline import compact
    from ..pipeline import file_run as pipeline_file_run
    from ..registry import Registry

    bundle, _ = compact(log_path, write=False)
    return pipeline_file_run(bundle, Registry(registry), key, version=version, overwrite=True)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a/b": 1}``: nested dicts (Accelerate allows them) become names."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        full = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(flatten(value, full + "/"))
        else:
            out[full] = value
    return out


class Training:
    """Which callback's training holds each log path, to clean up after one that raised.

    Keras and the Hugging Face Trainer call no callback when training raises
    (an exception, Ctrl-C in a notebook): the callback that opened the log
    never closes it. A callback that starts training on the same path in the
    *same thread* knows that training is over, and takes the log over; one in
    another thread may still be running and is left alone (its lock holds).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[str, tuple[Any, threading.Thread]] = {}

    def start(self, path: str, owner: Any) -> Any:
        """Register ``owner`` as training on ``path``; return a stale owner to abandon, if any."""
        key = os.path.realpath(path)
        me = threading.current_thread()
        with self._lock:
            old = self._by_path.get(key)
            if old is not None and old[0] is not owner and old[1] is not me:
                return None  # maybe still training: opening the log raises LogLockedError
            self._by_path[key] = (owner, me)
        return None if old is None or old[0] is owner else old[0]

    def end(self, path: str, owner: Any) -> None:
        key = os.path.realpath(path)
        with self._lock:
            if self._by_path.get(key, (None,))[0] is owner:
                del self._by_path[key]


class LazyLog:
    """An `EventLog` that opens on first use, with the configuration gathered until then.

    :param path: the log file.
    :param best: the metric whose optimum the log tracks (and that ``mark_best`` refers to).
    :param mode: ``"min"`` or ``"max"`` for ``best`` (default: from its name, as `EventLog`).
    :param registry: with ``key``, file the compacted bundle and PNG there at `finish`.
    :param log_kwargs: passed on to `EventLog` (``flush_every``, ``durability``, ``charts``,
        ``all_ranks``).
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
        if (registry is None) != (key is None):
            raise ValueError("registry= and key= go together: give both or neither")
        if mode not in ("min", "max", None):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self.path = os.fspath(path)
        self.best = best
        self.mode: Literal["min", "max"] | None = mode
        self.registry = registry
        self.key = key
        self.config: dict[str, Any] = {}
        self.version: Version | None = None
        self._kwargs = log_kwargs
        self._log: EventLog | None = None
        self._writes = False

    @property
    def opened(self) -> bool:
        return self._log is not None

    def add_config(self, config: Mapping[str, Any]) -> None:
        """Merge ``config`` into the run's config: into the header before the log opens,
        as a config record after (`EventLog.update_config`, what `Run.config` merges)."""
        if self._log is not None:
            self._log.update_config(dict(config))
            return
        self.config.update(config)

    @property
    def log(self) -> EventLog:
        """The open log (opened now if it was not)."""
        if self._log is None:
            self._log = EventLog(
                self.path,
                best=self.best,
                mode=self.mode,
                config=self.config or None,
                **self._kwargs,
            )
            # Not rank 0 (and no all_ranks=True): EventLog is a no-op that is born
            # closed and writes nothing, so there is nothing to file either.
            self._writes = not self._log.closed
        return self._log

    def append(self, step: int, values: Mapping[str, Any]) -> None:
        if values:
            self.log.append(step, values)

    def abandon(self) -> None:
        """Close the log of a training that did not end normally: not filed."""
        self.registry = self.key = None
        self.finish()

    def finish(self) -> Version | None:
        """Close the log (flush, best record) and file it when ``registry``/``key`` were given.

        A log that never opened (nothing was logged) is neither created nor
        filed. Values logged after `finish` (Lightning's ``trainer.test`` after
        ``fit``) open the file again as a new session, and the next `finish`
        refiles the grown log into the *same* registry version.
        """
        log, self._log = self._log, None
        if log is None:
            return self.version
        log.close()
        if self.registry is not None and self.key is not None and self._writes:
            number = None if self.version is None else self.version.number
            self.version = file_run(self.path, self.registry, self.key, number)
        return self.version
