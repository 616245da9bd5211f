"""What EventLog records: metric values and steps checked and turned into float and int.

The fast path of `EventLog.append` only asks ``type(v) is float``; everything
else comes here, once per odd value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np

from ..errors import (
    MetricTypeError,
    StepError,
)

_STEP_LIMIT: Final[int] = 2**63
_NEG_INF: Final[float] = float("-inf")


def _is_torch_tensor(value: object) -> bool:
    """True for a torch.Tensor (or subclass) without importing torch."""
    return any(
        c.__name__ == "Tensor" and c.__module__.split(".")[0] == "torch"
        for c in type(value).__mro__
    )


def _coerce(name: str, value: object) -> float:
    """The float to record for ``value``; the slow path of `EventLog.append`."""
    if type(name) is not str:
        raise MetricTypeError(repr(name), type(name).__name__, "metric names must be strings")
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        try:
            return float(value)
        except OverflowError:
            raise MetricTypeError(name, type(value).__name__, "too large for float64") from None
    if isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "biuf":
            return float(value[()])
        shape = "x".join(map(str, value.shape)) or "0-d"
        raise MetricTypeError(name, f"numpy.ndarray[{shape}, {value.dtype}]")
    if _is_torch_tensor(value):
        dims = value.dim()  # type: ignore[attr-defined]
        if dims == 0 and not value.is_complex():  # type: ignore[attr-defined]
            return float(value.item())  # type: ignore[attr-defined]
        shape = "x".join(str(s) for s in value.shape) or "0-d"  # type: ignore[attr-defined]
        raise MetricTypeError(name, f"torch.Tensor[{shape}, {value.dtype}]")  # type: ignore[attr-defined]
    return _raise_type(name, value)


def _raise_type(name: str, value: object) -> float:
    cls = type(value)
    qual = cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
    raise MetricTypeError(name, qual)


def _check_step(step: object) -> int:
    """The int to record for ``step``; the slow path of `EventLog.append`."""
    if isinstance(step, (int, np.integer)) and not isinstance(step, (bool, np.bool_)):
        s = int(step)
        if 0 <= s < _STEP_LIMIT:
            return s
    raise StepError(step)


def _plain(value: Any) -> Any:
    """A msgpack-safe copy of user metadata (config, chart metadata)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
            return str(value)
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, np.ndarray) and value.size <= 1024:
        return _plain(value.tolist())
    if hasattr(value, "__dataclass_fields__"):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if hasattr(value, "_get_kwargs"):  # argparse.Namespace
        return {k: _plain(v) for k, v in vars(value).items()}
    return str(value)


def _check_names(metrics: Mapping[Any, Any], known: set[str]) -> None:
    """Slow path of append for metric names not seen before."""
    for name in metrics:
        if type(name) is not str or not name:
            raise MetricTypeError(
                repr(name), type(name).__name__, "metric names must be non-empty strings"
            )
        known.add(name)
