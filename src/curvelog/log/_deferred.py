"""Values `EventLog.append` keeps as objects and converts when it flushes.

A Python float is recorded as it is. Other numbers used to be turned into a
float on append, rebuilding the metrics dict each step (a numpy float cost
2.1x a Python float, a 0-d tensor 7x, issue #12). Now an immutable number
(an int, a numpy scalar) and a 0-d tensor (detached) stay in the buffer as
they are, and the flush converts whole columns: ``np.fromiter`` for numbers,
``Tensor.tolist`` (a 0-d tensor's number, cheaper than ``item``) mapped over
a column of CPU tensors, and one batched copy for device tensors (`_device`).
`Admission` holds what the append closure has learnt (types and dtypes it may
keep without a call), so after the first step a row of such values costs a
type check per value (and three attribute reads per tensor).

A tensor is read when its row is flushed, not when it is appended: changing
it in place after `append` (an accumulator ``acc += loss``) changes what is
recorded. `float(acc)` or ``acc.clone()`` records the value of the moment.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final, cast

import numpy as np

from ._values import _is_torch_tensor, _Policy

#: ints within this bound convert to float64 without overflow (checked inline)
INT_BOUND: Final[int] = 2**1023


#: what the append closure reads of a kept tensor class's instances
_INLINE: Final[tuple[str, ...]] = ("ndim", "is_cpu", "dtype", "requires_grad")


class Admission:
    """What the append closure may keep without a call (grown by `admit`)."""

    __slots__ = ("device_seen", "dtypes", "numbers", "tensor_seen", "tensors")

    def __init__(self) -> None:
        #: numpy scalar types: immutable numbers np.fromiter converts
        self.numbers: set[type] = set()
        #: tensor classes with the attributes of the inline check (`_INLINE`); the
        #: check passes CPU tensors only, so device tensors always come through `admit`
        self.tensors: set[type] = set()
        #: tensor dtypes seen to be real (not complex)
        self.dtypes: set[object] = set()
        #: sticky: once a tensor was kept, flushes convert columns with `to_column`
        self.tensor_seen = False
        #: sticky: once a device tensor was kept, flushes look for them (`_device`)
        self.device_seen = False


def admit(metrics: Mapping[str, Any], adm: Admission, policy: _Policy) -> dict[str, Any]:
    """The metrics dict to buffer: values kept or converted, odd ones refused.

    The slow path of append (once per row holding a value the inline checks
    do not know): it learns numpy scalar types and tensor classes, reads a
    CPU tensor that requires grad at once and detaches a device one (a kept
    graph would hold its activations until the flush), and hands everything
    else to the value policy (`_values._Policy.one`: converted, or skipped and
    counted, or raised with ``strict``).
    """
    out: dict[str, Any] = {}
    for name, v in metrics.items():
        kind = type(v)
        if kind is float or kind in adm.numbers:
            out[name] = v
        elif kind is int and -INT_BOUND < v < INT_BOUND:
            out[name] = v
        elif isinstance(v, (np.floating, np.integer)):
            adm.numbers.add(kind)
            out[name] = v
        elif kind in adm.tensors or _is_torch_tensor(v):
            # one element converts; others are no number, nor is a tensor on the "meta"
            # device (a shape without data: it was kept, then recorded as NaN at flush)
            if v.dim() != 0 or v.is_complex() or getattr(v, "is_meta", False):
                if (got := policy.one(name, v)) is not None:
                    out[name] = got
                continue
            host = on_host(v)
            if getattr(v, "requires_grad", False):
                if host:  # read now: item() costs less than detach(), and holds no graph
                    out[name] = float(v.item())
                    continue
                v = v.detach()
            adm.tensor_seen = True
            if not host:
                adm.device_seen = True
            elif kind not in adm.tensors and all(hasattr(v, a) for a in _INLINE):
                adm.tensors.add(kind)
                adm.dtypes.add(v.dtype)
            out[name] = v
        elif (got := policy.one(name, v)) is not None:
            out[name] = got
    return out


def on_host(value: object) -> bool:
    """Whether a kept tensor can be read without a device transfer."""
    cpu = getattr(value, "is_cpu", None)
    if cpu is None:
        device = getattr(value, "device", None)
        return device is None or getattr(device, "type", "cpu") == "cpu"
    return bool(cpu)


def _one(value: Any) -> float:
    """One value of a column whose bulk conversion failed: NaN (with a warning) if unreadable."""
    try:
        item = value.item() if _is_torch_tensor(value) else value
        return float(item)
    except Exception as e:  # a flush must not fail on one value: it would fail forever
        warnings.warn(f"curvelog: a kept value could not be read ({e}); recorded as NaN",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
        return float("nan")


def to_column(values: list[Any]) -> np.ndarray:
    """float64 column of buffered values (numbers and CPU tensors), in bulk where possible."""
    n = len(values)
    kinds = set(map(type, values))
    try:
        if len(kinds) == 1:
            (kind,) = kinds
            if _is_torch_tensor(values[0]):
                return np.fromiter(map(cast(Any, kind).tolist, values), dtype="<f8", count=n)
        if not any(map(_is_tensor_type, kinds)):
            return np.fromiter(values, dtype="<f8", count=n)
    except Exception:
        pass
    return np.fromiter(map(_one, values), dtype="<f8", count=n)


def _is_tensor_type(kind: type) -> bool:
    return any(c.__name__ == "Tensor" and c.__module__.split(".")[0] == "torch"
               for c in kind.__mro__)  # fmt: skip


Converter = Callable[[list[Any]], np.ndarray]
