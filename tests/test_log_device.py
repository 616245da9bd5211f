"""Device tensors are read without a sync: one batched copy per flush (#13), tested with a double.

A recording stand-in for torch (installed as ``sys.modules["torch"]`` for the
test) provides a device tensor class and the stack / pinned copy / event API
the writer uses; every host transfer is recorded, and reading a value one at
a time (``item``, ``float``) fails the test. The real GPU is in test_gpu.py.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from curvelog import EventLog
from curvelog.log import _writer, read_records


class Device:
    def __init__(self, kind: str, index: int = 0) -> None:
        self.type, self.index = kind, index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


class FakeTorch(types.ModuleType):
    """The slice of torch the writer calls, recording each call."""

    def __init__(self) -> None:
        super().__init__("torch")
        self.calls: list[tuple[Any, ...]] = []
        self.events: list[Event] = []
        self.complete_after = 0  # queries an event answers False before it completes
        self.broken = False  # the device failed: every call raises
        owner = self

        class Tensor:
            def __init__(self, value: float, device: Device, dtype: str = "float32") -> None:
                self.value, self.device, self.dtype = value, device, dtype
                self.ndim, self.requires_grad = 0, False

            def dim(self) -> int:
                return 0

            def is_complex(self) -> bool:
                return False

            def detach(self) -> Tensor:
                return self

            def item(self) -> float:
                owner.calls.append(("item",))
                if owner.broken:
                    raise RuntimeError("CUDA error: an illegal memory access was encountered")
                pytest.fail("a device value was read one at a time (a sync per value)")

            __float__ = item

        Tensor.__module__ = "torch"
        self.Tensor = Tensor
        self.cuda = types.SimpleNamespace(
            Event=self._event, current_stream=lambda device: ("stream", device)
        )

    def tensor(self, value: float, device: str = "cuda:0") -> Any:
        kind, _, index = device.partition(":")
        return self.Tensor(value, Device(kind, int(index or 0)))

    def stack(self, values: list[Any]) -> Stack:
        if self.broken:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        devices = {v.device for v in values}
        if len(devices) > 1:
            raise RuntimeError("Expected all tensors to be on the same device")
        self.calls.append(("stack", len(values)))
        return Stack([v.value for v in values], devices.pop())

    def empty(self, shape: tuple[int, ...], *, dtype: str, device: str, pin_memory: bool) -> Host:
        assert device == "cpu"
        self.calls.append(("empty", shape, pin_memory))
        return Host(self, shape[0], pin_memory)

    def _event(self) -> Event:
        e = Event(self.complete_after)
        self.events.append(e)
        return e

    def transfers(self) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] in ("copy", "item")]


class Stack:
    def __init__(self, values: list[float], device: Device) -> None:
        self.values, self.device = values, device
        self.shape, self.dtype = (len(values),), "float32"


class Event:
    def __init__(self, pending: int) -> None:
        self.pending, self.recorded_on, self.hold = pending, None, False

    def record(self, stream: Any) -> None:
        self.recorded_on = stream

    def query(self) -> bool:
        if self.hold:
            return False
        if self.pending > 0:
            self.pending -= 1
            return False
        return True


class Host:
    """Pinned host memory: holds the values only once they are copied; read via tolist."""

    def __init__(self, torch: FakeTorch, n: int, pinned: bool) -> None:
        self.torch, self.n, self.pinned, self.values = torch, n, pinned, None

    def copy_(self, src: Stack, non_blocking: bool = False) -> None:
        assert self.pinned and non_blocking, "the copy must be asynchronous, into pinned memory"
        self.torch.calls.append(("copy", len(src.values), src.device.type))
        self.values = list(src.values)
        self.event_index = len(self.torch.events)  # the event recorded right after

    def tolist(self) -> list[float]:
        event = self.torch.events[self.event_index]
        assert event.query(), "a host copy was read before its event completed"
        assert self.values is not None
        return self.values


@pytest.fixture(autouse=True)
def _chunks_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count the rows of each data chunk: every flush writes one here, as
    before row frames (#12), which test_log_rowblock.py covers."""
    monkeypatch.setattr(_writer, "SMALL", 0)


@pytest.fixture
def fake_torch(monkeypatch: pytest.MonkeyPatch) -> FakeTorch:
    fake = FakeTorch()
    monkeypatch.setitem(sys.modules, "torch", fake)
    return fake


def test_one_batched_transfer_per_flush_and_no_read_per_value(
    tmp_path: Path, fake_torch: FakeTorch
) -> None:
    rng = np.random.default_rng(13)
    xs = rng.standard_normal(10_000).astype(np.float32).astype(np.float64).tolist()
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i, x in enumerate(xs):
            log.append(i, {"loss": fake_torch.tensor(x), "lr": 1e-3})
            if i % 10 == 9:
                log.append(i, acc=fake_torch.tensor(i / 10_000))
            if i == 4_999:
                log.flush()
    copies = [c for c in fake_torch.transfers() if c[0] == "copy"]
    assert not [c for c in fake_torch.transfers() if c[0] == "item"]
    # auto flushes every _CHUNK_ROWS buffered rows (11,000 rows), one explicit flush, close:
    # each launches exactly one copy of every device value of its rows
    assert sum(n for _, n, _ in copies) == 10_000 + 1_000
    assert all(kind == "cuda" for _, _, kind in copies)
    stacks = [c for c in fake_torch.calls if c[0] == "stack"]
    assert len(stacks) == len(copies) and all(e.recorded_on for e in fake_torch.events)
    assert len(fake_torch.events) == len(copies)
    run = curvelog.read(path)
    assert run.series("loss").values.tolist() == xs
    assert run.series("lr").values.tolist() == [1e-3] * 10_000
    assert run.series("acc").steps.tolist() == list(range(9, 10_000, 10))
    assert run.series("acc").values.tolist() == pytest.approx(
        [i / 10_000 for i in range(9, 10_000, 10)]
    )


def test_rows_wait_for_their_copy_and_are_written_once_it_completes(
    tmp_path: Path, fake_torch: FakeTorch
) -> None:
    path = tmp_path / "x.log"
    rows = _writer._CHUNK_ROWS  # append flushes itself every so many rows
    log = EventLog(path, flush_every=0)
    try:
        for i in range(5):
            log.append(i, x=float(i))  # host rows before any device value: written at once
        for i in range(5, rows):
            log.append(i, x=fake_torch.tensor(float(i)))  # the chunk's last row flushes
        assert len(fake_torch.events) == 1
        fake_torch.events[0].hold = True  # the GPU has not got there yet
        log.append(rows, x=fake_torch.tensor(float(rows)))
        with log._lock:
            log._flush_locked(0.0)  # a background flush: does not wait, writes nothing
        data = [r for r in read_records(path) if r["type"] == "data"]
        assert [r["n"] for r in data] == [5]
        assert len(fake_torch.transfers()) == 1  # nothing copied again, nothing read
        fake_torch.events[0].hold = False
        with log._lock:
            log._flush_locked(0.0)
        data = [r for r in read_records(path) if r["type"] == "data"]
        assert [r["n"] for r in data] == [5, rows - 5]  # the next row is in the next flight
        assert len(fake_torch.events) == 2
    finally:
        fake_torch.complete_after = 3  # close waits (polling) for the last copy
        log.close()
    assert curvelog.read(path).series("x").values.tolist() == [float(i) for i in range(rows + 1)]


def test_values_on_several_devices_copy_once_per_device(
    tmp_path: Path, fake_torch: FakeTorch
) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(100):
            log.append(i, a=fake_torch.tensor(float(i), "cuda:0"),
                       b=fake_torch.tensor(-float(i), "cuda:1"))  # fmt: skip
    copies = [c for c in fake_torch.transfers() if c[0] == "copy"]
    assert sorted(n for _, n, _ in copies) == [100, 100]
    run = curvelog.read(path)
    assert run.series("a").values.tolist() == [float(i) for i in range(100)]
    assert run.series("b").values.tolist() == [-float(i) for i in range(100)]


def test_a_failed_device_costs_its_values_not_the_rows(
    tmp_path: Path, fake_torch: FakeTorch
) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(10):
            log.append(i, x=fake_torch.tensor(float(i)), y=float(i))
        fake_torch.broken = True
        with pytest.warns(RuntimeWarning) as caught:
            log.flush()  # recorded as NaN (each with its own warning), the rows written
        messages = [str(w.message) for w in caught]
        assert "batched device copy failed" in messages[0]
        assert len(messages) == 11 and all("recorded as NaN" in m for m in messages[1:])
        fake_torch.broken = False
        log.append(10, x=fake_torch.tensor(10.0), y=10.0)
    run = curvelog.read(path)
    assert run.series("y").values.tolist() == [float(i) for i in range(11)]
    x = run.series("x").values
    assert np.isnan(x[:10]).all() and x[10] == 10.0


def test_the_background_flush_writes_device_rows_once_their_copy_lands(
    tmp_path: Path, fake_torch: FakeTorch
) -> None:
    import time

    path = tmp_path / "x.log"
    fake_torch.complete_after = 2  # the GPU is a little behind
    with EventLog(path, flush_every=0.005) as log:
        for i in range(300):
            log.append(i, x=fake_torch.tensor(float(i)))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # no flush() from here: only the thread writes
            data = [r for r in read_records(path) if r["type"] == "data"]
            if sum(r["n"] for r in data) == 300:
                break
            time.sleep(0.01)
        assert sum(r["n"] for r in data) == 300
    assert not [c for c in fake_torch.transfers() if c[0] == "item"]
    assert curvelog.read(path).series("x").values.tolist() == [float(i) for i in range(300)]
