"""append keeps numbers and 0-d tensors as they are and converts them in bulk at flush (#12)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from _torch import real_torch
from curvelog import EventLog
from curvelog.errors import MetricTypeError
from curvelog.log._deferred import to_column


def _values(path: Path, metric: str) -> list[float]:
    return curvelog.read(path).series(metric).values.tolist()


def test_known_numbers_are_buffered_unconverted_and_recorded_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    xs = rng.standard_normal(300)
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i, x in enumerate(xs):
            log.append(
                i, {"f64": np.float64(x), "f32": np.float32(x), "int": i * 7, "py": float(x)}
            )
        # the row dict holds the caller's objects: nothing converted, nothing rebuilt
        row = log._buf[-1]
        assert type(row["f64"]) is np.float64 and type(row["f32"]) is np.float32
        assert type(row["int"]) is int
    assert _values(path, "f64") == xs.tolist()
    assert _values(path, "f32") == xs.astype(np.float32).astype(np.float64).tolist()
    assert _values(path, "int") == [float(i * 7) for i in range(300)]
    assert _values(path, "py") == xs.tolist()


def test_ints_beyond_float64_are_still_refused_on_append(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log", strict=True) as log:
        log.append(0, x=2**1000)  # large, but a float64
        with pytest.raises(MetricTypeError, match="too large"):
            log.append(1, x=10**400)
    assert _values(tmp_path / "x.log", "x") == [float(2**1000)]


def test_mixed_kinds_in_one_column_dense_and_sparse(tmp_path: Path) -> None:
    torch = real_torch()
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(50):
            v: Any = [float(i), np.float32(i), i, torch.tensor(float(i))][i % 4]
            log.append(i, a=v)
            if i % 3 == 0:
                log.append(i, b=torch.tensor(i, dtype=torch.int64), c=np.int16(i))
    run = curvelog.read(path)
    assert run.series("a").values.tolist() == [float(i) for i in range(50)]
    assert run.series("b").values.tolist() == [float(i) for i in range(0, 50, 3)]
    assert run.series("c").steps.tolist() == list(range(0, 50, 3))


def test_cpu_tensors_are_kept_detached_and_read_at_flush(tmp_path: Path) -> None:
    torch = real_torch()
    w = torch.tensor(2.0, requires_grad=True)
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(10):
            loss = torch.tensor(float(i), dtype=torch.float32) * w
            log.append(i, loss=loss, plain=torch.tensor(i / 4, dtype=torch.float64))
            kept = log._buf[-1]["loss"]
            assert type(kept) is float  # read at once: no graph held until the flush
        assert type(log._buf[-1]["plain"]) is torch.Tensor  # not converted on append
        log.append(10, bf=torch.tensor(1.5, dtype=torch.bfloat16), b=torch.tensor(True))
    run = curvelog.read(path)
    assert run.series("loss").values.tolist() == [2.0 * i for i in range(10)]
    assert run.series("plain").values.tolist() == [i / 4 for i in range(10)]
    assert run.series("bf").values.tolist() == [1.5]
    assert run.series("b").values.tolist() == [1.0]


@pytest.mark.parametrize("bad", ["vector", "complex", "meta"])
def test_tensors_that_are_no_real_scalar_are_refused_on_append(tmp_path: Path, bad: str) -> None:
    """A 0-d tensor on the "meta" device (a shape, no data) was kept like a device
    tensor and recorded as NaN at the flush; it is refused like any other no-number."""
    torch = real_torch()
    good = torch.tensor(1.0)
    value = {"vector": torch.ones(3), "complex": torch.tensor(1 + 2j),
             "meta": torch.empty((), device="meta")}[bad]  # fmt: skip
    with EventLog(tmp_path / "x.log", strict=True) as log:
        log.append(0, x=good)  # the tensor class is known to the inline check from here on
        with pytest.raises(MetricTypeError, match="torch.Tensor"):
            log.append(1, x=value)
    assert _values(tmp_path / "x.log", "x") == [1.0]


def test_to_column_reads_what_bulk_conversion_cannot_one_by_one() -> None:
    class Odd(float):
        pass

    assert to_column([1.0, Odd(2.5), np.float32(0.5), 3]).tolist() == [1.0, 2.5, 0.5, 3.0]

    class Broken:
        def __float__(self) -> float:
            raise ValueError("no")

    with pytest.warns(RuntimeWarning, match="recorded as NaN"):
        col = to_column([1.0, Broken()])
    assert col[0] == 1.0 and math.isnan(col[1])


def test_numpy_kinds_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np, curvelog\n"
        "with curvelog.EventLog(sys.argv[1]) as log:\n"
        "    log.append(0, x=np.float64(1.0), y=3, z=np.float32(2))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.log")],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


KEPT_WRITER = """
import sys, numpy as np, curvelog
log = curvelog.EventLog(sys.argv[1], flush_every=0)
for i in range(100_000):
    log.append(i, {"loss": np.float64(1.0 / (i + 1.0)), "n": i, "h": np.float32(0.5)})
    if i % 1000 == 999:
        log.flush()
        print(i + 1, flush=True)
"""


def test_sigkill_loses_no_flushed_row_of_kept_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(1210)
    for trial in range(5):
        path = tmp_path / f"k{trial}.log"
        child = subprocess.Popen([sys.executable, "-c", KEPT_WRITER, str(path)],
                                 stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert child.stdout is not None
        flushed = 0
        for _ in range(int(rng.integers(1, 20))):
            line = child.stdout.readline()
            if not line:
                break
            flushed = int(line)
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
        assert flushed > 0
        run = curvelog.read(path)
        n = len(run.series("loss"))
        assert n >= flushed
        assert run.series("loss").values.tolist() == [1.0 / (i + 1.0) for i in range(n)]
        assert run.series("n").values.tolist() == [float(i) for i in range(n)]
        assert not [d for d in run.damage if not d.tail]


def test_threads_appending_kept_values_lose_nothing(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0.001) as log:

        def work(k: int) -> None:
            for i in range(5_000):
                log.append(k * 10_000 + i, {f"m{k}": np.float32(i) if i % 2 else i})

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    run = curvelog.read(path)
    for k in range(4):
        s = run.series(f"m{k}")
        assert sorted(s.steps.tolist()) == [k * 10_000 + i for i in range(5_000)]
        assert sorted(s.values.tolist()) == [float(i) for i in range(5_000)]


def test_a_tensor_that_is_no_number_is_skipped_and_counted_by_default(tmp_path: Path) -> None:
    torch = real_torch()
    with EventLog(tmp_path / "x.log") as log:
        log.append(0, x=torch.tensor(1.0))
        with pytest.warns(RuntimeWarning, match="torch.Tensor"):
            log.append(1, x=torch.ones(3), y=2.0)
    assert _values(tmp_path / "x.log", "x") == [1.0]
    assert curvelog.read(tmp_path / "x.log").skipped == {"values": {"x": 1}, "rows": 0}
