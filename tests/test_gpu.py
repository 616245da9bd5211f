"""On a real GPU: appending CUDA scalars never synchronises the device (#13).

Runs only where ``torch.cuda.is_available()``; elsewhere the same path is
tested with a recording double (test_log_device.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import curvelog
from curvelog import EventLog

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch==2.13.0)")
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here (the sync-free test needs a GPU)"
)


def test_ten_thousand_cuda_appends_never_sync_and_read_back_exactly(tmp_path: Path) -> None:
    torch.manual_seed(13)
    xs = torch.randn(10_000, device="cuda")
    expected = xs.double().cpu().tolist()  # before the checked section: this one syncs
    w = torch.ones((), device="cuda", requires_grad=True)
    path = tmp_path / "x.log"
    log = EventLog(path, flush_every=0.01)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for i in range(10_000):
            x = xs[i] * w  # a fresh 0-d CUDA tensor in a graph, as a loss is
            log.append(i, loss=x, lr=torch.full((), 1e-3, device="cuda"))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    log.close()
    run = curvelog.read(path)
    assert run.series("loss").values.tolist() == expected
    assert run.series("lr").values.tolist() == [torch.tensor(1e-3).item()] * 10_000
