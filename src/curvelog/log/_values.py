"""What EventLog records: metric values and steps checked and turned into float and int.

The fast path of `EventLog.append` only asks ``type(v) is float``; everything
else comes here, once per odd value.

The value policy (README, "Recording"): a value is recorded when it is one
number that ``float()`` converts (int, bool, float, numpy scalars,
``Decimal``, ``Fraction``, any ``numbers.Real``, a 1-element numpy array or
torch tensor). Anything else (a string, ``None``, a list, a complex number, a
tensor of several elements, an int too large for float64) is not a number:
`_Policy` raises `MetricTypeError` under ``EventLog(strict=True)``; by default
it warns once per metric, skips the value and counts it, so that a logging
mistake never ends a training run. A step that is not an integer in
``[0, 2**63)`` is handled the same way, for the whole row.
"""

from __future__ import annotations

import enum
import operator
import threading
import warnings
from collections import deque
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, Final, cast

import numpy as np

from .._fs import path_text
from ..errors import (
    ConfigError,
    MetricNameError,
    MetricTypeError,
    StepError,
)

_STEP_LIMIT: Final[int] = 2**63
_NEG_INF: Final[float] = float("-inf")
_NOT_NUMBERS: Final[tuple[type, ...]] = (str, bytes, bytearray, complex, np.complexfloating)


def _is_torch_tensor(value: object) -> bool:
    """True for a torch.Tensor (or subclass) without importing torch."""
    return any(
        c.__name__ == "Tensor" and c.__module__.split(".")[0] == "torch"
        for c in type(value).__mro__
    )


def _type_name(value: object) -> str:
    cls = type(value)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def _coerce(name: str, value: object) -> float:
    """The float to record for ``value``, or `MetricTypeError`; the slow path of append."""
    if type(name) is not str:
        raise MetricTypeError(repr(name), type(name).__name__, "metric names must be strings")
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        try:
            return float(value)
        except OverflowError:
            raise MetricTypeError(name, type(value).__name__, "too large for float64") from None
    if isinstance(value, np.ndarray):
        if value.size == 1 and value.dtype.kind in "biuf":
            return float(value.reshape(-1)[0])
        shape = "x".join(map(str, value.shape)) or "0-d"
        raise MetricTypeError(name, f"numpy.ndarray[{shape}, {value.dtype}]")
    if _is_torch_tensor(value):
        n = value.numel()  # type: ignore[attr-defined]
        if n == 1 and not value.is_complex():  # type: ignore[attr-defined]
            return float(value.item())  # type: ignore[attr-defined]
        shape = "x".join(str(s) for s in value.shape) or "0-d"  # type: ignore[attr-defined]
        raise MetricTypeError(name, f"torch.Tensor[{shape}, {value.dtype}]")  # type: ignore[attr-defined]
    if not isinstance(value, _NOT_NUMBERS) and hasattr(value, "__float__"):
        # Decimal, Fraction, numbers.Real and the 1-element arrays of other frameworks
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError) as e:
            raise MetricTypeError(name, _type_name(value), str(e)) from None
    raise MetricTypeError(name, _type_name(value))


def _check_step(step: object) -> int:
    """The int to record for ``step``, or `StepError`; the slow path of append."""
    if not isinstance(step, (bool, np.bool_, float, np.floating)):
        try:
            s = operator.index(step)  # type: ignore[arg-type]
        except TypeError:
            pass
        else:
            if 0 <= s < _STEP_LIMIT:
                return s
    raise StepError(step)


def _plain_name(name: object) -> object:
    """A ``str`` subclass's plain string (a StrEnum's value); anything else as it is."""
    return str.__str__(name) if isinstance(name, str) and type(name) is not str else name


def _name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a metric name, or None when it can.

    A lone surrogate (``os.fsdecode`` of a non-UTF-8 file name, a
    ``surrogateescape``-decoded line, a truncated emoji) is a ``str`` that
    does not encode as UTF-8, which the log's names are.
    """
    if type(name) is not str:
        return "not a string"
    if not name:
        return "empty"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"not valid UTF-8: {e.reason} at index {e.start}"
    return None


class _Policy:
    """What ``append`` does with data it cannot record: raise (strict) or warn, skip, count.

    The counts go into the session's end record (``skipped``, docs/FORMAT.md);
    `Run.skipped` and ``curvelog inspect`` add them up over the sessions.
    """

    __slots__ = ("_count", "rows", "strict", "values", "warned")

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        #: ``append`` is called from several threads: a count is a read-modify-write,
        #: which two threads interleave (losing one); only this slow path pays for it.
        #: Re-entrant: a SIGTERM that lands while the main thread holds it closes the
        #: logs from that same thread, which reads the counts (a plain lock hung)
        self._count = threading.RLock()
        #: metric -> values skipped; a name that is not a string is counted under its repr
        self.values: dict[str, int] = {}
        #: rows skipped whole: a step that is not a valid integer, or values that are no mapping
        self.rows = 0
        self.warned: set[str] = set()

    def _warn(self, key: str, message: str, depth: int) -> None:
        """Warn once per ``key``; ``depth`` frames up is the caller of ``append``."""
        if key not in self.warned:
            self.warned.add(key)
            warnings.warn(
                f"curvelog: {message}; skipped (counted in the log's end record; "
                "EventLog(strict=True) raises instead)",
                RuntimeWarning,
                stacklevel=depth,
            )

    def _skip_value(self, name: str, error: Exception, depth: int = 5) -> None:
        with self._count:
            self.values[name] = self.values.get(name, 0) + 1
        self._warn(f"value:{name}", str(error).split("; expected")[0], depth)

    def bad_values(self, values: object) -> None:
        """``values`` could not be merged into the row's metrics: not a mapping."""
        if self.strict:
            raise TypeError(f"values must be a mapping of metric names, not {_type_name(values)}")
        with self._count:
            self.rows += 1
        self._warn("values", f"values of type {_type_name(values)} are not a mapping", 4)

    def names(self, metrics: dict[Any, Any], known: set[str]) -> dict[Any, Any]:
        """``metrics`` without the names the log cannot store; new names learnt.

        Only names not yet known come here (``append``'s fast path asks
        ``known.issuperset``), so every check costs once per new name. A name
        must encode as UTF-8 (msgpack writes it so at flush time): one that
        does not would make every flush of the session fail, and every row
        with it, so it is refused here, before its row is buffered. A refused
        name is counted under its ``repr`` (ASCII, so the end record can hold it).

        A name that is a ``str`` subclass (an ``enum.StrEnum`` member, a
        ``numpy.str_``) is recorded as its plain string (``str.__str__``, a
        StrEnum's value); once that is known, the fast path takes the subclass
        as it is (equal strings hash alike, and msgpack writes it as a string).
        """
        bad = []
        plain = False
        for name in metrics:
            key = _plain_name(name)
            problem = _name_problem(key)
            if problem is None:
                known.add(cast(str, key))  # a str: _name_problem says so
                plain = plain or key is not name
                continue
            error = MetricNameError(repr(name), type(name).__name__, problem)
            if self.strict:
                raise error
            self._skip_value(repr(name), error)
            bad.append(name)
        if not (bad or plain):
            return metrics
        return {_plain_name(k): v for k, v in metrics.items() if k not in bad}

    def step(self, step: object) -> int | None:
        """The step as an int, or None (row skipped) when it is not a valid integer."""
        try:
            return _check_step(step)
        except StepError as error:
            if self.strict:
                raise
            with self._count:
                self.rows += 1
            self._warn("step", str(error), 4)
            return None

    def coerce(self, metrics: dict[str, Any]) -> dict[str, float]:
        """Every value as a float; values that are not numbers raise or are skipped."""
        out: dict[str, float] = {}
        for name, value in metrics.items():
            got = value if type(value) is float else self.one(name, value)
            if got is not None:
                out[name] = got
        return out

    def one(self, name: str, value: object) -> float | None:
        """``value`` as a float, or None when it is no number (skipped and counted).

        Called from ``append`` through one helper (`coerce`, or `_deferred.admit`),
        which the warning's stack level counts.
        """
        try:
            return _coerce(name, value)
        except Exception as error:  # a user object's __float__ may raise anything
            if self.strict:
                if isinstance(error, MetricTypeError):
                    raise
                raise MetricTypeError(name, _type_name(value), str(error)) from error
            self._skip_value(name, error, 6)
            return None

    def record(self) -> dict[str, Any]:
        """The end record's ``skipped`` field; empty when nothing was skipped."""
        with self._count:
            if not self.values and not self.rows:
                return {}
            return {"skipped": {"values": dict(self.values), "rows": self.rows}}


#: the strict policy, for names that do not come through ``append`` (importers, samples)
_STRICT: Final = _Policy(True)


def _check_names(metrics: Mapping[Any, Any], known: set[str]) -> None:
    """Raise `MetricTypeError` for a name that is not a non-empty string; learn the others."""
    _STRICT.names(dict(metrics), known)


def _plain_config(config: Any, where: str) -> dict[str, Any]:
    """``config`` as the mapping a session or config record stores; `ConfigError` otherwise.

    The one rule for ``EventLog(config=)``, ``set_config`` and
    ``update_config``: a reader drops a session record whose config is not a
    mapping, and with it the run's header (objective, name, run id), so the
    writer never writes one; an object `_plain` can only turn into a string
    or a list is refused before the file is touched.
    """
    if config is None:
        return {}
    plain = _plain(config)
    if not isinstance(plain, dict):
        raise ConfigError(where, _type_name(config))
    return plain


def _plain(value: Any) -> Any:
    """A msgpack-safe copy of user metadata (config, chart metadata); text that is
    not valid UTF-8 (which msgpack refused, with the whole record) gets U+FFFD."""
    if isinstance(value, str):
        return path_text(str.__str__(value))
    if value is None or isinstance(value, (bool, int, float, bytes)):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            return str(value)
        return value
    if isinstance(value, Mapping):
        return {path_text(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple: its fields
        return _plain(value._asdict())
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, np.ndarray) and value.size <= 1024:
        return _plain(value.tolist())
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if hasattr(value, "__attrs_attrs__"):  # an attrs class
        return {a.name: _plain(getattr(value, a.name)) for a in value.__attrs_attrs__}
    if callable(getattr(value, "model_dump", None)):  # a pydantic (v2) model
        return _plain(value.model_dump())
    if hasattr(value, "_get_kwargs") or isinstance(value, SimpleNamespace):  # argparse's too
        return {k: _plain(v) for k, v in vars(value).items()}
    return path_text(str(value))
