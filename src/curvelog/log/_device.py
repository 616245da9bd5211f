"""Device tensors read without a device sync: one batched, asynchronous copy per flush.

``float(t)`` or ``t.item()`` on a CUDA tensor waits until the GPU has run
everything queued before it, which stalls the training loop once per step
(issue #13). The writer instead keeps the tensors and, when it flushes,
stacks them on their device, copies the stack with ``non_blocking=True``
into pinned host memory and records a CUDA event behind the copy. Those
rows are written by a later flush, once the event has completed; `close`
waits for it. So a row holding device values reaches the file one flush
later than a row of floats, and a ``kill -9`` loses at most the rows whose
copy is still in flight (the last flush interval plus the GPU's queue).

torch is never imported here: the module comes from the tensor's own class
(``sys.modules["torch"]`` exists once a torch tensor does), so tests can
stand a recording double in for it.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any

from ._deferred import _one, on_host


def _give_up(found: list[tuple[dict[str, Any], str, Any]], error: Exception) -> None:
    """The device copy failed: read each value on its own (NaN, with a warning, if even
    that fails), so the rows are written and the flush does not fail forever."""
    warnings.warn(f"curvelog: batched device copy failed ({error}); reading values one by one",
                  RuntimeWarning, stacklevel=3)  # fmt: skip
    for row, name, value in found:
        row[name] = _one(value)


class _Flight:
    """One batched copy on its way to the host: where each value goes, and the event."""

    __slots__ = ("event", "host", "kept", "slots")

    def __init__(
        self,
        kept: list[tuple[dict[str, Any], str, Any]],
        host: list[Any],
        event: list[Any],
    ) -> None:
        self.kept = kept  # (row, name, device value): the fallback if the copy fails
        self.slots = [(row, name) for row, name, _ in kept]
        self.host = host  # pinned host tensors, one per device
        self.event = event  # one per device; None where the copy was blocking

    def done(self) -> bool:
        return all(e is None or e.query() for e in self.event)

    def deliver(self) -> None:
        """Replace each device value in its row by the number read back (idempotent)."""
        values: list[Any] = []
        for h in self.host:
            values.extend(h.tolist())
        for (row, name), v in zip(self.slots, values, strict=True):
            row[name] = v


def _torch_of(value: object) -> Any:
    return sys.modules[type(value).__module__.split(".")[0]]


def _launch(found: list[tuple[dict[str, Any], str, Any]]) -> _Flight:
    """Stack the values per device, copy each stack to pinned memory, record an event."""
    torch = _torch_of(found[0][2])
    try:  # every value on one device: the common case, one stack and one copy
        groups = [(found, torch.stack([v for _, _, v in found]))]
    except RuntimeError:  # several devices: a stack (and a copy) per device
        by_device: dict[Any, list[tuple[dict[str, Any], str, Any]]] = {}
        for item in found:
            by_device.setdefault(item[2].device, []).append(item)
        groups = [(items, torch.stack([v for _, _, v in items])) for items in by_device.values()]
    kept: list[tuple[dict[str, Any], str, Any]] = []
    hosts: list[Any] = []
    events: list[Any] = []
    for items, stacked in groups:
        device = stacked.device
        if getattr(device, "type", None) == "cuda":
            host = torch.empty(stacked.shape, dtype=stacked.dtype, device="cpu", pin_memory=True)
            host.copy_(stacked, non_blocking=True)
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(device))
        else:  # no pinned memory or events to rely on: a plain copy, in the flush
            host, event = stacked.to("cpu"), None
        kept.extend(items)
        hosts.append(host)
        events.append(event)
    return _Flight(kept, hosts, events)


class Transfers:
    """The writer's device stage: at most one flight at a time, rows kept until it lands."""

    def __init__(self) -> None:
        self.flight: _Flight | None = None

    def settle(self, dicts: list[dict[str, Any]], wait: float | None) -> int:
        """How many leading rows of ``dicts`` hold only host values now.

        Delivers the flight in the air if its event completes within ``wait``
        seconds (None: however long it takes); then launches one flight for
        the device values of the rows after it. Polls the event: waiting on it
        would be a device sync, which ``set_sync_debug_mode("error")`` rejects.
        """
        flight = self.flight
        if flight is not None:
            deadline = None if wait is None else time.monotonic() + wait
            try:
                while not flight.done():
                    if deadline is not None and time.monotonic() >= deadline:
                        return 0
                    time.sleep(0.0005)
                flight.deliver()
            except Exception as e:  # a failed device (a CUDA error): rows must not stall
                _give_up(flight.kept, e)
            self.flight = None
        found: list[tuple[dict[str, Any], str, Any]] = []
        first = len(dicts)
        for i, row in enumerate(dicts):
            for name, v in row.items():
                if type(v) is not float and not on_host(v):
                    found.append((row, name, v))
                    if first > i:
                        first = i
        if found:
            try:
                self.flight = _launch(found)
            except Exception as e:
                _give_up(found, e)
                return len(dicts)
        return first
