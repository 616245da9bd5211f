"""Every error curvelog raises on purpose.

One root, so ``except CurvelogError`` catches all of them, and each leaf also
inherits the builtin a caller would naturally catch (a bad metric value is a
``TypeError``, a damaged file a ``ValueError``, a missing one an ``OSError``)::

    CurvelogError
    ├── MetricTypeError(TypeError)        a value EventLog cannot record
    │   └── MetricNameError               a metric name EventLog cannot record
    ├── MetricNotFoundError(KeyError)     a metric the log does not hold
    ├── StepError(ValueError)             a step that is not a non-negative int
    ├── ChartsError(ValueError)           chart metadata EventLog cannot store
    ├── ConfigError(TypeError)            a config EventLog cannot store as a mapping
    ├── LogClosedError(ValueError)        append/flush after close
    ├── LogLockedError(OSError)           a second writer for the same log
    ├── LogFormatError(ValueError)        not a curvelog log, or unreadable header
    │   └── LogCorruptError               damage found while reading with strict=True
    ├── PathError(OSError)                missing, unreadable or unwritable path
    │   └── OutputExistsError(FileExistsError)  refusing to overwrite without --force
    ├── SamplingError(ValueError)         unknown method, bad budget or rule
    ├── BundleError(ValueError)           malformed chart bundle (names the JSON pointer)
    │   └── BundleVersionError            a bundle of another major schema version
    ├── PlotError(ValueError)             unknown chart, unsupported output format
    ├── ServeError(RuntimeError)          curvelog serve cannot start (missing extra, port taken)
    └── RegistryError
        ├── RegistryKeyError(ValueError)  a bad key or segment
        ├── VersionNotFoundError(LookupError)
        ├── RegistryCorruptError(ValueError)   versions.json or the index is damaged
        ├── RegistryLockTimeout(TimeoutError)  the registry lock could not be taken
        └── RegistryIndexError             the index database cannot be used (PostgreSQL:
                                           unreachable, a table missing, a newer schema)

Messages are built from the facts, which stay available as attributes, and
every error pickles (they cross process boundaries in multiprocessing code).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BundleError",
    "BundleVersionError",
    "ChartsError",
    "ConfigError",
    "CurvelogError",
    "LogClosedError",
    "LogCorruptError",
    "LogFormatError",
    "LogLockedError",
    "MetricNameError",
    "MetricNotFoundError",
    "MetricTypeError",
    "OutputExistsError",
    "PathError",
    "PlotError",
    "RegistryCorruptError",
    "RegistryError",
    "RegistryIndexError",
    "RegistryKeyError",
    "RegistryLockTimeout",
    "SamplingError",
    "ServeError",
    "StepError",
    "VersionNotFoundError",
]


class CurvelogError(Exception):
    """Root of every error curvelog raises deliberately."""

    def __init__(self, message: str, *args: Any) -> None:
        super().__init__(message)
        self.message = message
        self._init_args: tuple[Any, ...] = (message, *args)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._init_args, self.__dict__))


def _rebuild(cls: type[CurvelogError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    err = cls.__new__(cls)  # the builtin base's __new__ (OSError needs its own)
    Exception.__init__(err, args[0] if args else "")
    err.__dict__.update(state)
    return err


class MetricTypeError(CurvelogError, TypeError):
    """A metric value that is not a real number, a 0-d array or a 0-d tensor."""

    def __init__(self, metric: str, value_type: str, detail: str = "") -> None:
        self.metric = metric
        self.value_type = value_type
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"metric {metric!r}: cannot record a value of type {value_type}{extra}; "
            "expected an int, a float, a numpy scalar, or a 0-d numpy array or torch tensor",
            metric,
            value_type,
            detail,
        )


class MetricNameError(MetricTypeError):
    """A metric name that is not a non-empty string encodable as UTF-8 (the log stores UTF-8).

    A `MetricTypeError`, so ``except MetricTypeError`` still catches it, but its
    message says that the *name* is wrong, not the value.
    """

    def __init__(self, metric: str, value_type: str, detail: str) -> None:
        self.metric = metric
        self.value_type = value_type
        CurvelogError.__init__(
            self,
            f"metric name {metric}: cannot record a name of type {value_type} ({detail}); "
            "metric names must be non-empty strings that encode as UTF-8",
            metric,
            value_type,
            detail,
        )


class MetricNotFoundError(CurvelogError, KeyError):
    """A metric name (or pattern) that matches nothing in the log."""

    def __init__(self, path: str, metric: str, known: list[str]) -> None:
        self.path = path
        self.metric = metric
        self.known = list(known)
        names = ", ".join(known) or "none"
        super().__init__(
            f"{path}: no metric matches {metric!r} (metrics: {names})", path, metric, known
        )


class StepError(CurvelogError, ValueError):
    """A step that is not a non-negative integer."""

    def __init__(self, step: object) -> None:
        self.step_repr = repr(step)
        self.step_type = type(step).__name__
        super().__init__(
            f"step {self.step_repr} ({self.step_type}) is not a non-negative integer below 2**63",
        )


class ChartsError(CurvelogError, ValueError):
    """Chart metadata (``EventLog(charts=...)``) that is not what compact and plot can use."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"charts: {reason}", reason)


class ConfigError(CurvelogError, TypeError):
    """A ``config`` that does not turn into a mapping (a config is one)."""

    def __init__(self, where: str, value_type: str) -> None:
        self.where = where
        self.value_type = value_type
        super().__init__(
            f"{where}: config must be a mapping (or a dataclass, namespace, named tuple, "
            f"attrs or pydantic object), not {value_type} (pass a dict)",
            where,
            value_type,
        )


class LogClosedError(CurvelogError, ValueError):
    """The EventLog was already closed."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: the log is closed", path)


class LogLockedError(CurvelogError, OSError):
    """Another writer (this process or another one) holds the log."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path}: another writer already has this log open; "
            "one writer per file (close the other EventLog or use another path)",
        )


class LogFormatError(CurvelogError, ValueError):
    """A file that is not a curvelog log, or whose header cannot be used."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"{path}: byte {offset}: {reason}", path, offset, reason)


class LogCorruptError(LogFormatError):
    """Damage found while reading with ``strict=True``."""


class PathError(CurvelogError, OSError):
    """A path that is missing, unreadable or unwritable."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}", path, reason)


class OutputExistsError(PathError, FileExistsError):
    """An output file exists and overwriting was not asked for."""

    def __init__(self, path: str, hint: str = "pass --force to replace it") -> None:
        self.hint = hint
        super().__init__(path, f"already exists; {hint}")


class SamplingError(CurvelogError, ValueError):
    """Bad downsampling input: unknown method, bad budget, bad rule or arrays."""


class BundleError(CurvelogError, ValueError):
    """A chart bundle that does not follow the schema; names the JSON pointer."""

    def __init__(self, source: str, pointer: str, reason: str) -> None:
        self.source = source
        self.pointer = pointer
        self.reason = reason
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"{source}: invalid bundle{where}: {reason}", source, pointer, reason)


class BundleVersionError(BundleError):
    """A bundle whose schema major version this curvelog cannot read."""


class PlotError(CurvelogError, ValueError):
    """A plot request that cannot be met (unknown chart, unknown format).

    ``reason`` says what is wrong; ``advice``, when there is one, what to change,
    in the words of the plotting functions' parameters (``size``, ``dpi``,
    ``charts``). A caller that draws on its own account (``compact --registry``
    filing a PNG) reports the reason alone: its user has no such options.
    """

    def __init__(self, reason: str, advice: str = "") -> None:
        super().__init__(f"{reason}; {advice}" if advice else reason, advice)
        self.reason = reason
        self.advice = advice


class ServeError(CurvelogError, RuntimeError):
    """``curvelog serve`` cannot start: its extra is not installed, or it cannot listen."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}", what, reason)


class RegistryError(CurvelogError):
    """Base of registry errors."""


class RegistryKeyError(RegistryError, ValueError):
    """A registry key or key segment that is not allowed; ``key`` is the key as given."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        self.key = key
        super().__init__(message)


class VersionNotFoundError(RegistryError, LookupError):
    """A key or version that the registry does not hold (``key``, ``version``, ``path``)."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        version: int | None = None,
        path: str | None = None,
    ) -> None:
        self.key = key
        self.version = version
        self.path = path
        super().__init__(message)


class RegistryCorruptError(RegistryError, ValueError):
    """versions.json or the index is damaged (``path``); the message names the repair."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(message)


class RegistryLockTimeout(RegistryError, TimeoutError):
    """The registry lock could not be taken in time."""

    def __init__(self, lock_file: str, timeout: float) -> None:
        self.lock_file = lock_file
        self.timeout = timeout
        super().__init__(
            f"{lock_file}: could not take the registry lock within {timeout:g} s; "
            "another process is holding it",
            lock_file,
            timeout,
        )


class RegistryIndexError(RegistryError):
    """The registry's index database cannot be used: it cannot be reached, a table
    is missing, its schema comes from a newer curvelog, or it indexes another
    registry. ``index`` names the database (never with its password)."""

    def __init__(self, index: str, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"{index}: {reason}", index, reason)
