"""System metrics (issue #15): `EventLog(system=...)`, `curvelog.log._system`, their charts.

The samples come from this machine's real /proc and `resource`; the CPU build
of torch is the real thing where a test needs torch. There is no GPU here, so
the CUDA readings are checked against a stand-in object with the attributes of
``torch.cuda`` that `gpu_metrics`/`cuda_info` call (names and units only), and
the driver files against a copy of their text in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import curvelog
from curvelog import EventLog
from curvelog.bundle import build_bundle
from curvelog.log import read_records
from curvelog.log._system import (
    DEFAULT_INTERVAL,
    Sampler,
    cuda_info,
    gpu_metrics,
    system_interval,
)

SYS = ("sys/cpu_percent", "sys/rss_mb", "sys/peak_rss_mb", "sys/host_mem_percent")


def _sampled_run(path: Path, steps: int = 200, pause: float = 0.002) -> curvelog.Run:
    with EventLog(path, system=0.01, flush_every=0.03) as log:
        for i in range(steps):
            log.append(i, loss=1.0 / (i + 1))
            time.sleep(pause)
    return curvelog.read(path)


def _profile_calls(log: EventLog, n: int) -> list[str]:
    """Every call (Python and C) that ``n`` appends make on this thread, made from or
    into curvelog's code: a weakref callback that some other object's death runs in
    the middle (``WeakSet._remove`` of threading's registry) is no work of append's."""
    seen: list[str] = []
    ours = os.path.dirname(curvelog.__file__)

    def prof(frame: Any, event: str, arg: Any) -> None:
        if event in ("call", "c_call") and frame.f_code.co_filename.startswith(ours):
            seen.append(getattr(arg, "__qualname__", None) or frame.f_code.co_qualname)

    append = log.append
    sys.setprofile(prof)
    try:
        for i in range(n):
            append(i, loss=0.5, acc=0.25)
    finally:
        sys.setprofile(None)
    return seen


# --------------------------------------------------------------------------- the hot path


def test_append_does_no_extra_work_with_system_metrics(tmp_path: Path) -> None:
    plain = EventLog(tmp_path / "plain.log")
    sampled = EventLog(tmp_path / "sys.log", system=0.001, flush_every=0.001)
    try:
        # the very same closure code, over the same kinds of cells
        assert sampled.append.__code__ is plain.append.__code__
        kinds = [type(c.cell_contents) for c in sampled.append.__closure__]
        assert kinds == [type(c.cell_contents) for c in plain.append.__closure__]
        time.sleep(0.05)  # the sampler is running meanwhile
        assert sampled._sampler is not None and plain._sampler is None
        calls_plain = _profile_calls(plain, 1000)
        calls_sampled = _profile_calls(sampled, 1000)
        assert calls_sampled == calls_plain
        assert len(calls_plain) >= 1000  # the profiler saw the appends
    finally:
        plain.close()
        sampled.close()
    run = curvelog.read(tmp_path / "sys.log")
    assert "sys/rss_mb" in run.metrics  # it did sample while we counted


# --------------------------------------------------------------------------- the samples


def test_samples_are_rows_at_training_steps(tmp_path: Path) -> None:
    run = _sampled_run(tmp_path / "run.log")
    assert set(SYS) <= set(run.metrics)
    assert run.resumes == 0  # a sample never takes the steps backwards
    train = set(run.series("loss").steps.tolist())
    for m in SYS:
        s = run.series(m)
        assert len(s.steps) >= 3, m
        assert set(s.steps.tolist()) <= train, m
        assert np.isfinite(s.values).all(), m
    rss, peak = run.series("sys/rss_mb").values, run.series("sys/peak_rss_mb").values
    assert (rss > 5).all() and (peak > 5).all()
    assert (np.diff(peak) >= 0).all()  # a peak never falls (the kernel updates it lazily,
    assert (rss < 2 * peak).all()  # so it may trail the current figure a little)
    host = run.series("sys/host_mem_percent").values
    assert ((host > 0) & (host < 100)).all()
    assert (run.series("sys/cpu_percent").values >= 0).all()


def test_a_sample_takes_the_step_of_the_last_row_appended(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "run.log", system=0.01, flush_every=0.02)
    for i in range(10):
        log.append(i, loss=float(i))
    log.flush()  # the buffer is empty: the step comes from what was written
    time.sleep(0.2)
    log.append(50, loss=0.0)
    time.sleep(0.2)
    log.close()
    run = curvelog.read(tmp_path / "run.log")
    assert set(run.series("sys/rss_mb").steps.tolist()) == {9, 50}
    assert run.resumes == 0


def test_no_sample_before_the_first_step(tmp_path: Path) -> None:
    with EventLog(tmp_path / "run.log", system=0.01, flush_every=0.02):
        time.sleep(0.15)
    run = curvelog.read(tmp_path / "run.log")
    assert run.metrics == [] and run.rows == 0


def test_samples_never_split_rows_appended_from_several_threads(tmp_path: Path) -> None:
    """A sampler every millisecond against three appending threads: every row whole,
    every sample at a step that was appended, the steps never going backwards."""
    path = tmp_path / "run.log"
    log = EventLog(path, system=0.001, flush_every=0.005)
    counter = iter(range(10**9))
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3000):
            with lock:  # steps in order across threads, as one loop gives them
                log.append(next(counter), loss=1.0, acc=2.0)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    run = curvelog.read(path)
    assert run.series("loss").steps.tolist() == list(range(9000))
    assert run.series("acc").values.tolist() == [2.0] * 9000
    assert run.resumes == 0
    assert set(run.series("sys/rss_mb").steps.tolist()) <= set(range(9000))
    records = read_records(path)
    ends = [r for r in records if r.get("type") == "end"]
    assert ends[0]["rows"] == run.rows > 9000  # every sample a row of its own
    for r in records:  # a sample is a record of its own: append's chunks never hold one
        if r.get("type") == "data":
            kinds = {name.startswith("sys/") for name in r["cols"]}
            assert len(kinds) == 1 and (r["n"] == 1 or kinds == {False})


def test_a_resumed_session_resumes_at_its_own_first_step(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    _sampled_run(path, steps=50, pause=0.003)
    with EventLog(path, system=0.01, flush_every=0.02) as log:
        time.sleep(0.1)  # samples due before the first step are not taken
        for i in range(20, 60):
            log.append(i, loss=0.1)
            time.sleep(0.002)
    run = curvelog.read(path)
    assert run.resumes == 1
    assert run.segments[1].first_step == 20


# --------------------------------------------------------------------------- options


def test_system_option_values(tmp_path: Path) -> None:
    assert system_interval(True) == DEFAULT_INTERVAL
    assert system_interval(False) is None and system_interval(None) is None
    assert system_interval(2) == 2.0
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            system_interval(bad)
    with pytest.raises(TypeError):
        system_interval("5")
    with pytest.raises(ValueError, match="flush_every"):
        EventLog(tmp_path / "x.log", system=True, flush_every=0)
    assert not (tmp_path / "x.log").exists()  # refused before the file was made


# --------------------------------------------------------------------------- torch and CUDA


def test_torch_is_never_imported(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys, time
        from curvelog import EventLog, read
        with EventLog(sys.argv[1], system=0.01, flush_every=0.02) as log:
            for i in range(30):
                log.append(i, loss=1.0)
                time.sleep(0.005)
        assert "torch" not in sys.modules, "curvelog imported torch"
        run = read(sys.argv[1])
        assert "cuda" not in run.header
        assert not [m for m in run.metrics if m.startswith("sys/gpu")]
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "r.log")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_cpu_torch_adds_no_cuda_entries(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")  # in the [test] extra: always there in CI
    assert torch.version.cuda is None  # the CPU build from the brief
    run = _sampled_run(tmp_path / "run.log", steps=30)
    assert "cuda" not in run.header
    assert "torch" in run.header["packages"]
    assert not [m for m in run.metrics if "gpu" in m]


class _FakeCuda:
    """The few ``torch.cuda`` calls curvelog makes, on two devices (no GPU here)."""

    def __init__(self, initialized: bool) -> None:
        self.initialized = initialized
        self.calls: list[str] = []

    def is_initialized(self) -> bool:
        return self.initialized

    def device_count(self) -> int:
        assert self.initialized, "device_count before CUDA was initialised"
        return 2

    def memory_allocated(self, i: int) -> int:
        self.calls.append(f"allocated {i}")
        return (i + 1) * 3 * 2**20

    def memory_reserved(self, i: int) -> int:
        return (i + 1) * 8 * 2**20

    def get_device_name(self, i: int) -> str:
        return f"NVIDIA H200 #{i}"


def _fake_torch(initialized: bool) -> Any:
    return SimpleNamespace(cuda=_FakeCuda(initialized), version=SimpleNamespace(cuda="12.4"))


def test_gpu_metrics_per_device_in_mib() -> None:
    assert gpu_metrics(_fake_torch(False)) == {}  # CUDA not initialised: nothing asked
    assert gpu_metrics(_fake_torch(True)) == {
        "sys/gpu0_allocated_mb": 3.0,
        "sys/gpu0_reserved_mb": 8.0,
        "sys/gpu1_allocated_mb": 6.0,
        "sys/gpu1_reserved_mb": 16.0,
    }


def _driver_tree(root: Path) -> Path:
    nv = root / "driver" / "nvidia"
    (nv / "gpus" / "0000:1b:00.0").mkdir(parents=True)
    (nv / "version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
    )
    (nv / "gpus" / "0000:1b:00.0" / "information").write_text(
        "Model: \t\t NVIDIA H200\nIRQ:   \t\t 150\nBus Location: \t 0000:1b:00.0\n"
    )
    return root


def test_cuda_info_from_torch_or_from_the_driver(tmp_path: Path) -> None:
    proc = _driver_tree(tmp_path)
    assert cuda_info(SimpleNamespace(version=SimpleNamespace(cuda=None)), proc) is None
    live = cuda_info(_fake_torch(True), proc)
    assert live == {"toolkit": "12.4", "driver": "550.54.15",
                    "devices": ["NVIDIA H200 #0", "NVIDIA H200 #1"],
                    "devices_from": "torch"}  # fmt: skip
    cold = cuda_info(_fake_torch(False), proc)
    assert cold == {"toolkit": "12.4", "driver": "550.54.15", "devices": ["NVIDIA H200"],
                    "devices_from": "driver"}  # fmt: skip
    assert cuda_info(_fake_torch(False), tmp_path / "none")["driver"] is None


def test_sampler_reads_proc_files(tmp_path: Path) -> None:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "statm").write_text("5000 2560 300 10 0 900 0\n")
    (tmp_path / "meminfo").write_text(
        "MemTotal:       1000000 kB\nMemFree:         100000 kB\nMemAvailable:    250000 kB\n"
    )
    import os

    row = Sampler(1.0, proc=tmp_path).read()
    assert row["sys/rss_mb"] == 2560 * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert row["sys/host_mem_percent"] == 75.0
    empty = Sampler(1.0, proc=tmp_path / "missing").read()
    assert "sys/rss_mb" not in empty and "sys/host_mem_percent" not in empty
    assert "sys/cpu_percent" in empty and "sys/peak_rss_mb" in empty


# --------------------------------------------------------------------------- charts


def test_system_metrics_get_their_own_charts(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with EventLog(path) as log:
        for i in range(5):
            log.append(i, {"train/loss": 1.0, "memory/rss_mb": 3.0, "sys/rss_mb": 40.0,
                           "sys/cpu_percent": 50.0, "sys/gpu1_reserved_mb": 9.0,
                           "sys/gpu0_allocated_mb": 1.0, "sys/peak_rss_mb": 41.0,
                           "sys/custom": 2.0, "val/loss": 2.0})  # fmt: skip
    bundle = build_bundle(curvelog.read(path))
    charts = {c["id"]: c for c in bundle["charts"]}
    ids = [c["id"] for c in bundle["charts"]]
    assert ids == ["loss", "rss_mb", "sys/memory", "sys/gpu_memory", "sys/cpu", "sys/custom"]
    assert [s["metric"] for s in charts["rss_mb"]["series"]] == ["memory/rss_mb"]
    mem = charts["sys/memory"]
    assert (mem["title"], mem["ylabel"]) == ("Process memory", "MiB")
    assert [(s["metric"], s["label"]) for s in mem["series"]] == [
        ("sys/rss_mb", "resident"), ("sys/peak_rss_mb", "peak resident")]  # fmt: skip
    gpu = charts["sys/gpu_memory"]
    assert [s["label"] for s in gpu["series"]] == ["gpu1 reserved", "gpu0 allocated"]
    for c in bundle["charts"]:  # never a training metric beside a system one
        kinds = {s["metric"].startswith("sys/") for s in c["series"]}
        assert len(kinds) == 1, c["id"]


def test_header_charts_still_decide(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    charts = {"sys/memory": {"title": "RAM", "labels": {"sys/rss_mb": "now"}},
              "mine": {"metrics": ["sys/cpu_percent"], "title": "CPU"}}  # fmt: skip
    with EventLog(path, charts=charts) as log:
        log.append(0, {"sys/rss_mb": 1.0, "sys/cpu_percent": 2.0})
    out = {c["id"]: c for c in build_bundle(curvelog.read(path))["charts"]}
    assert out["sys/memory"]["title"] == "RAM"
    assert out["sys/memory"]["series"][0]["label"] == "now"
    assert [s["metric"] for s in out["mine"]["series"]] == ["sys/cpu_percent"]


def test_the_sample_draws_system_charts(tmp_path: Path) -> None:
    sample = Path(__file__).parents[1] / "samples" / "train_system.py"
    log = tmp_path / "system.log"
    out = subprocess.run(
        [sys.executable, str(sample), str(log), "--steps", "300", "--interval", "0.02"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    from curvelog.pipeline import load_source
    from curvelog.plot import draw_bundle

    bundle = load_source(log)
    ids = [c["id"] for c in bundle["charts"]]
    assert ids == ["loss", "sys/memory", "sys/cpu", "sys/host_memory"]
    fig = draw_bundle(bundle)
    titles = [ax.get_title(loc=where) for ax in fig.axes for where in ("left", "center")]
    assert "Process memory" in titles and "Process CPU" in titles
