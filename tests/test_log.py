"""EventLog: what it records, what it refuses, and what survives crashes."""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from curvelog import EventLog
from curvelog.log import FORMAT_VERSION, read_records


def _run_child(code: str, *args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


# --------------------------------------------------------------------------- values


def test_records_every_step_with_absent_and_nan_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with EventLog(path) as log:
        for step in range(10):
            log.append(step, **{"train/loss": 1.0 / (step + 1)})
            if step % 5 == 0:
                log.append(step, {"val/loss": math.nan if step == 5 else 0.5})
    run = curvelog.read(path)
    assert run.series("train/loss").steps.tolist() == list(range(10))
    val = run.series("val/loss")
    assert val.steps.tolist() == [0, 5]  # absent at the other steps
    assert val.values[0] == 0.5 and math.isnan(val.values[1])  # NaN is a value
    wide = run.wide()
    assert wide.height == 10
    assert wide["val/loss"].null_count() == 8 and wide["val/loss"].is_nan().sum() == 1


def test_nan_and_infinities_round_trip_bit_exactly(tmp_path: Path) -> None:
    special = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
    odd_nan = np.frombuffer(np.uint64(0x7FF8DEADBEEF0001).tobytes(), "<f8")[0]
    with EventLog(tmp_path / "x.log") as log:
        for i, v in enumerate([*special, float(odd_nan)]):
            log.append(i, x=v)
    got = curvelog.read(tmp_path / "x.log").series("x").values
    want = np.array([*special, odd_nan])
    assert got.tobytes() == want.tobytes()


class FakeTensor:
    """Looks like torch.Tensor to the duck check without importing torch."""

    def __init__(self, value: float, shape: tuple[int, ...] = ()) -> None:
        self.value, self.shape, self.dtype = value, shape, "torch.float32"

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return int(np.prod(self.shape))

    def is_complex(self) -> bool:
        return False

    def item(self) -> float:
        return self.value


FakeTensor.__name__ = "Tensor"
FakeTensor.__module__ = "torch"


def test_accepts_python_numpy_and_tensor_scalars(tmp_path: Path) -> None:
    values = {
        "int": 3,
        "bool": True,
        "bigint": 2**60,
        "np_f32": np.float32(0.25),
        "np_i64": np.int64(-7),
        "np_u8": np.uint8(200),
        "zero_d": np.array(1.5),
        "zero_d_int": np.array(4, dtype=np.int16),
        "tensor": FakeTensor(0.75),
    }
    with EventLog(tmp_path / "x.log") as log:
        log.append(np.int64(3), values)
    run = curvelog.read(tmp_path / "x.log")
    got = {m: float(run.series(m).values[0]) for m in run.metrics}
    assert got == {
        "int": 3.0, "bool": 1.0, "bigint": float(2**60), "np_f32": 0.25, "np_i64": -7.0,
        "np_u8": 200.0, "zero_d": 1.5, "zero_d_int": 4.0, "tensor": 0.75,
    }  # fmt: skip
    assert run.series("int").steps.tolist() == [3]


def test_tensor_check_does_not_import_torch(tmp_path: Path) -> None:
    code = """
        import sys, curvelog
        with curvelog.EventLog(sys.argv[1]) as log:
            log.append(0, x=1.0)
            try:
                log.append(1, x=[1.0])
            except TypeError:
                pass
        print("torch" in sys.modules)
    """
    child = _run_child(code, str(tmp_path / "x.log"))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.strip() == "False"


@pytest.mark.parametrize(
    ("value", "type_text"),
    [
        ("0.5", "str"),
        ([1.0], "list"),
        (None, "NoneType"),
        (np.array([1.0, 2.0]), r"numpy.ndarray\[2, float64\]"),
        (np.array(1 + 2j), r"numpy.ndarray\[0-d, complex128\]"),
        (FakeTensor(1.0, (2,)), r"torch.Tensor\[2, torch.float32\]"),
        (1 + 2j, "complex"),
        (10**400, r"int \(too large for float64\)"),
    ],
)
def test_rejects_other_values_naming_metric_and_type(
    tmp_path: Path, value: Any, type_text: str
) -> None:
    with EventLog(tmp_path / "x.log", strict=True) as log:
        with pytest.raises(
            curvelog.MetricTypeError,
            match=rf"metric 'train/loss': cannot record a value of type {type_text}",
        ):
            log.append(1, {"train/loss": value})
        with pytest.raises(TypeError):  # the builtin a caller would catch
            log.append(1, **{"train/loss": value})
        log.append(2, **{"train/loss": 1.0})
    assert curvelog.read(tmp_path / "x.log").series("train/loss").steps.tolist() == [2]


@pytest.mark.parametrize("name", [3, "", None])
def test_rejects_bad_metric_names(tmp_path: Path, name: Any) -> None:
    with EventLog(tmp_path / "x.log", strict=True) as log:
        with pytest.raises(
            curvelog.MetricTypeError, match="metric names must be non-empty strings"
        ):
            log.append(1, {name: 1.0})


@pytest.mark.parametrize("step", [-1, 1.0, "3", None, True, np.float64(2.0), 2**63, np.int64(-5)])
def test_rejects_bad_steps(tmp_path: Path, step: Any) -> None:
    with EventLog(tmp_path / "x.log", strict=True) as log:
        with pytest.raises(curvelog.StepError, match="is not a non-negative integer"):
            log.append(step, x=1.0)
        with pytest.raises(curvelog.StepError):
            log.mark_best(step)


def test_huge_steps_are_exact(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log") as log:
        log.append(2**63 - 1, x=1.0)
        log.append(2**53 + 1, x=2.0)
    assert curvelog.read(tmp_path / "x.log").series("x").steps.tolist() == [2**53 + 1, 2**63 - 1]


def test_a_mapping_is_copied_at_append(tmp_path: Path) -> None:
    m = {"x": 1.0}
    with EventLog(tmp_path / "x.log") as log:
        log.append(0, m)
        m["x"] = 2.0
        log.append(1, m)
    assert curvelog.read(tmp_path / "x.log").series("x").values.tolist() == [1.0, 2.0]


def test_mixed_cadences_in_one_chunk_keep_their_rows(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log", flush_every=0) as log:
        for i in range(5000):
            log.append(i, {"b": float(i)} if i % 3 else {"a": float(-i), "b": float(i)})
            if i % 7 == 0:
                log.append(i, c=float(i * 2))
    run = curvelog.read(tmp_path / "x.log")
    a, b, c = (run.series(m) for m in "abc")
    assert a.steps.tolist() == list(range(0, 5000, 3)) and (a.values == -a.steps).all()
    assert b.steps.tolist() == list(range(5000)) and (b.values == b.steps).all()
    assert c.steps.tolist() == list(range(0, 5000, 7)) and (c.values == 2 * c.steps).all()


# --------------------------------------------------------------------------- header


def test_header_holds_the_run_metadata(tmp_path: Path) -> None:
    charts = {"loss": {"title": "Loss", "metrics": ["train/loss", "val/loss"], "scale": "log"}}
    config = {"lr": np.float32(0.5), "layers": (2, 3), "path": tmp_path}
    with EventLog(
        tmp_path / "x.log", best="val/loss", mode="max", config=config, charts=charts
    ) as log:
        log.append(0, x=1.0)
    h = curvelog.read(tmp_path / "x.log").header
    assert h["format"] == FORMAT_VERSION == 2 and len(h["run_id"]) == 32 and h["pid"] == os.getpid()
    assert h["objective"] == {"metric": "val/loss", "mode": "max"}
    assert h["config"] == {"lr": 0.5, "layers": [2, 3], "path": str(tmp_path)}
    assert h["charts"] == charts
    assert h["packages"]["curvelog"] == curvelog.__version__ and "numpy" in h["packages"]
    for key in ("start_time", "host", "platform", "python", "argv", "git"):
        assert key in h


def test_git_commit_and_dirty_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.chdir(repo)
    with EventLog(tmp_path / "clean.log"):
        pass
    (repo / "a.txt").write_text("b")
    with EventLog(tmp_path / "dirty.log"):
        pass
    assert curvelog.read(tmp_path / "clean.log").header["git"] == {"commit": commit, "dirty": False}
    assert curvelog.read(tmp_path / "dirty.log").header["git"] == {"commit": commit, "dirty": True}


def test_git_failure_only_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()  # looks like a checkout, is not one
    monkeypatch.chdir(tmp_path)
    with pytest.warns(RuntimeWarning, match="git metadata not recorded"):
        with EventLog(tmp_path / "x.log") as log:
            log.append(0, x=1.0)
    assert curvelog.read(tmp_path / "x.log").header["git"] is None


def test_outside_git_no_git_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with EventLog(tmp_path / "x.log"):
        pass
    assert curvelog.read(tmp_path / "x.log").header["git"] is None


# --------------------------------------------------------------------------- best


def test_best_is_tracked_in_memory_and_written_once(tmp_path: Path) -> None:
    vals = [3.0, 2.0, math.nan, 1.0, 1.0, -math.inf, 4.0, 1.5]
    with EventLog(tmp_path / "x.log", best="val", mode="min") as log:
        for i, v in enumerate(vals):
            log.append(i, val=v, other=0.0)
            log.append(i, other=1.0)  # rows without the objective
    records = [r for r in read_records(tmp_path / "x.log") if r["type"] == "best"]
    assert len(records) == 1
    assert (records[0]["step"], records[0]["value"], records[0]["source"]) == (3, 1.0, "tracked")
    best = curvelog.read(tmp_path / "x.log").best
    assert best is not None and (best.step, best.value, best.source) == (3, 1.0, "tracked")


def test_best_max_mode(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log", best="acc", mode="max") as log:
        for i, v in enumerate([0.1, 0.9, math.inf, 0.5, 0.9]):
            log.append(i, acc=v)
    best = curvelog.read(tmp_path / "x.log").best
    # +inf is a divergence, not a best; ties keep the earliest step
    assert best is not None and (best.step, best.value) == (1, 0.9)


def test_mark_best_last_call_wins_written_once(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log", best="val", mode="min") as log:
        for i in range(10):
            log.append(i, val=float(i))
        log.mark_best(4)
        log.mark_best(7)
    records = [r for r in read_records(tmp_path / "x.log") if r["type"] == "best"]
    assert [(r["step"], r["source"]) for r in records] == [(7, "marked")]
    best = curvelog.read(tmp_path / "x.log").best
    assert best is not None and (best.step, best.value, best.source) == (7, 7.0, "marked")


def test_no_objective_no_best(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log") as log:
        log.append(0, val=1.0)
    run = curvelog.read(tmp_path / "x.log")
    assert run.best is None and run.best_records == [] and run.recompute_best() is None


def test_best_overwritten_by_a_resume_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, best="val") as log:
        for i in range(10):
            log.append(i, val=10.0 - i)  # best 1.0 at step 9
    with EventLog(path, best="val") as log:
        for i in range(5, 10):
            log.append(i, val=5.0)  # re-runs steps 5..9, worse
    run = curvelog.read(path)
    assert run.best is not None and (run.best.step, run.best.value) == (5, 5.0)
    assert run.recompute_best() == curvelog.log.Best(5, "val", "min", 5.0, "recomputed")


# --------------------------------------------------------------------------- lifecycle


def test_resume_appends_a_session_and_latest_value_wins(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, config={"run": 1}) as log:
        for i in range(100):
            log.append(i, loss=float(i))
    size = path.stat().st_size
    with EventLog(path, config={"run": 2}) as log:
        for i in range(50, 120):
            log.append(i, loss=float(-i))
    assert path.read_bytes()[:size] == path.read_bytes()[:size]
    run = curvelog.read(path)
    assert [s.header["config"] for s in run.sessions] == [{"run": 1}, {"run": 2}]
    assert run.sessions[1].header["resumed"] is True
    assert run.sessions[1].header["run_id"] == run.header["run_id"]
    assert [(s.index, s.first_step, s.last_step) for s in run.segments] == [
        (0, 0, 99),
        (1, 50, 119),
    ]
    assert run.resumes == 1
    s = run.series("loss")
    assert s.steps.tolist() == list(range(120))
    assert s.values[:50].tolist() == [float(i) for i in range(50)]
    assert s.values[50:].tolist() == [float(-i) for i in range(50, 120)]
    assert s.raw_count == 170


def test_resume_never_truncates(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        log.append(0, x=1.0)
    before = path.read_bytes()
    with EventLog(path):
        pass
    assert path.read_bytes().startswith(before)


def test_appending_to_a_non_log_is_refused_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("precious\n")
    with pytest.raises(curvelog.LogFormatError, match="not a curvelog log .*refusing to append"):
        EventLog(path)
    assert path.read_text() == "precious\n"


def test_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        with pytest.raises(
            curvelog.LogLockedError, match="another writer already has this log open"
        ):
            EventLog(path)
        log.append(0, x=1.0)
    with EventLog(path) as again:  # released at close
        again.append(1, x=2.0)
    assert curvelog.read(path).series("x").steps.tolist() == [0, 1]


def test_second_writer_in_another_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    code = """
        import sys, curvelog
        try:
            curvelog.EventLog(sys.argv[1])
        except curvelog.LogLockedError as e:
            print("refused:", e)
    """
    with EventLog(path):
        child = _run_child(code, str(path))
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.startswith("refused:") and "another writer" in out


def test_closed_log_refuses_appends(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "x.log")
    log.close()
    log.close()  # idempotent
    assert log.closed
    with pytest.raises(curvelog.LogClosedError, match="the log is closed"):
        log.append(0, x=1.0)
    with pytest.raises(curvelog.LogClosedError):
        log.flush()


def test_exception_in_with_block_still_closes(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with EventLog(tmp_path / "x.log", best="x") as log:
            log.append(0, x=1.0)
            raise RuntimeError("boom")
    run = curvelog.read(tmp_path / "x.log")
    assert (
        run.sessions[0].end is not None and run.sessions[0].end["reason"] == "error: RuntimeError"
    )
    assert run.best is not None and run.best.step == 0


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be"):
        EventLog(tmp_path / "x.log", mode="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="durability must be"):
        EventLog(tmp_path / "x.log", durability="always")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flush_every"):
        EventLog(tmp_path / "x.log", flush_every=-1)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(curvelog.PathError, match="cannot create folder"):
        EventLog(tmp_path / "file" / "sub" / "x.log")
    assert not (tmp_path / "x.log").exists()


def test_missing_folders_are_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with EventLog("runs/exp1/run.log") as log:  # relative, as in the README
        log.append(0, x=1.0)
    assert curvelog.read(tmp_path / "runs" / "exp1" / "run.log").series("x").steps.tolist() == [0]


def test_only_rank_zero_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    with EventLog(tmp_path / "r3.log") as log:
        log.append(0, x=1.0)
        log.mark_best(0)
        log.flush()
    assert not (tmp_path / "r3.log").exists()
    with EventLog(tmp_path / "all.log", all_ranks=True) as log:
        log.append(0, x=1.0)
    assert log.path == str(tmp_path / "all.rank3.log")  # each rank its own log (#13)
    assert not (tmp_path / "all.log").exists()
    assert curvelog.read(tmp_path / "all.rank3.log").rows == 1


def test_creation_torn_inside_the_signature_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"\x89CL")
    with EventLog(path) as log:
        log.append(0, x=1.0)
    run = curvelog.read(path)
    assert run.rows == 1 and run.damage == [] and run.sessions[0].header["resumed"] is False


# --------------------------------------------------------------------------- durability


def test_background_flush_makes_data_readable_while_open(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0.05) as log:
        for i in range(10):
            log.append(i, x=float(i))
        deadline = time.monotonic() + 10
        while curvelog.read(path).rows < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert curvelog.read(path).rows == 10
        assert curvelog.read(path).sessions[0].end is None  # still open


def test_fsync_durability_writes_each_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    with EventLog(tmp_path / "x.log", durability="fsync", flush_every=0) as log:
        opened = len(calls)
        log.append(0, x=1.0)
        log.flush()
        assert len(calls) == opened + 1
    with EventLog(tmp_path / "y.log", flush_every=0) as log:
        opened = len(calls)
        log.append(0, x=1.0)
        log.flush()
        assert len(calls) == opened


WRITER = """
import sys, curvelog
path, mode = sys.argv[1], sys.argv[2]
log = curvelog.EventLog(path, best="loss", flush_every=0.05 if mode == "timer" else 0)
for i in range(10**9):
    log.append(i, loss=1.0 / (i + 1), acc=i * 1e-6)
    if mode == "flush" and i % 97 == 96:
        log.flush()
        print(i + 1, flush=True)
    if mode == "timer" and i == 499:
        print(500, flush=True)
        import time; time.sleep(60)
    if mode == "exit" and i == 999:
        sys.exit(0)
"""


def _check_prefix(path: Path, at_least: int) -> None:
    run = curvelog.read(path)
    s = run.series("loss")
    n = len(s)
    assert n >= at_least
    assert s.steps.tolist() == list(range(n))
    assert np.array_equal(s.values, 1.0 / (np.arange(n) + 1.0))
    assert not [d for d in run.damage if not d.tail]


def test_sigkill_at_random_moments_loses_nothing_flushed(tmp_path: Path) -> None:
    rng = random.Random(1234)
    for trial in range(20):
        path = tmp_path / f"k{trial}.log"
        child = _run_child(WRITER, str(path), "flush")
        assert child.stdout is not None
        flushed = 0
        wait_lines = rng.randint(1, 40)
        for _ in range(wait_lines):
            line = child.stdout.readline()
            if not line:
                break
            flushed = int(line)
        time.sleep(rng.random() * 0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()  # type: ignore[union-attr]
        assert flushed > 0
        _check_prefix(path, flushed)


def test_sigkill_after_a_timer_flush_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    child = _run_child(WRITER, str(path), "timer")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "500"
    # no flush() was called: only the timer thread can have written the rows
    deadline = time.monotonic() + 20
    while curvelog.read(path).rows < 500 and time.monotonic() < deadline:
        time.sleep(0.02)
    child.kill()
    child.communicate(timeout=30)
    _check_prefix(path, 500)
    assert curvelog.read(path).rows == 500


def test_sigterm_flushes_and_writes_best_and_end(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    child = _run_child(WRITER, str(path), "timer")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "500"
    child.terminate()
    child.communicate(timeout=30)
    assert child.returncode == -signal.SIGTERM
    run = curvelog.read(path)
    assert run.rows == 500
    assert run.sessions[0].end is not None and run.sessions[0].end["reason"] == "SIGTERM"
    assert run.best is not None and run.best.step == 499


def test_interpreter_exit_without_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    child = _run_child(WRITER, str(path), "exit")
    child.communicate(timeout=60)
    assert child.returncode == 0
    run = curvelog.read(path)
    assert run.rows == 1000
    assert run.sessions[0].end is not None and run.sessions[0].end["reason"] == "exit"


def test_resume_after_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    child = _run_child(WRITER, str(path), "flush")
    assert child.stdout is not None
    for _ in range(5):
        flushed = int(child.stdout.readline())
    child.kill()
    child.communicate(timeout=30)
    with EventLog(path, best="loss") as log:  # resume from a checkpoint at step 100
        for i in range(100, 200):
            log.append(i, loss=1.0 / (i + 1), acc=0.0)
    run = curvelog.read(path)
    assert len(run.sessions) == 2 and not run.sessions[0].closed and run.sessions[1].closed
    s = run.series("loss")
    assert s.steps.tolist() == list(range(len(s))) and len(s) >= max(flushed, 200)
    assert np.array_equal(s.values, 1.0 / (s.steps + 1.0))
    acc = run.series("acc").values
    assert acc[100:200].tolist() == [0.0] * 100  # the re-run steps: latest value wins
    assert np.array_equal(acc[200:], np.arange(200, len(acc)) * 1e-6)  # the rest is kept
    # the crashed session wrote no best record; its steps after 199 (a lower loss) are
    # covered by no record, so the best is recomputed there (docs/FORMAT.md, Best)
    best = run.best or run.recompute_best()
    assert best is not None and best.step == int(s.steps[-1])
    assert best.source == ("tracked" if best.step == 199 else "recomputed")


def test_forked_child_never_writes_into_the_parent_log(tmp_path: Path) -> None:
    code = """
        import os, sys, curvelog
        log = curvelog.EventLog(sys.argv[1], flush_every=0)
        log.append(0, x=1.0)
        pid = os.fork()
        if pid == 0:
            try:
                log.append(1, x=2.0)
            except curvelog.LogClosedError:
                sys.exit(7)  # a normal exit: runs atexit in the child
            sys.exit(1)
        _, status = os.waitpid(pid, 0)
        log.append(2, x=3.0)
        log.close()
        print(os.WEXITSTATUS(status))
    """
    path = tmp_path / "x.log"
    child = _run_child(code, str(path))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.strip() == "7"
    run = curvelog.read(path)
    assert run.series("x").steps.tolist() == [0, 2]
    assert run.rows == 2 and len(run.sessions) == 1
    assert [r["type"] for r in read_records(path)].count("end") == 1


def test_follow_sees_rows_as_they_are_written_and_stops_at_close(tmp_path: Path) -> None:
    path = tmp_path / "live.log"
    log = EventLog(path, flush_every=0)
    log.append(0, x=0.0)
    log.flush()
    code = """
        import sys, time, curvelog
        log = curvelog.EventLog(sys.argv[1])
        print("open", flush=True)
        time.sleep(0.1)
        for i in range(1, 301):
            log.append(i, x=float(i))
            if i % 50 == 0:
                log.flush()
                time.sleep(0.05)
        log.close()
    """
    log.close()
    child = _run_child(code, str(path))
    assert child.stdout is not None and child.stdout.readline() == "open\n"
    rows = list(curvelog.log.follow(path, last=5, poll=0.02, until_closed=True))
    child.communicate(timeout=60)
    assert child.returncode == 0
    assert [r[0] for r in rows] == list(range(301))
    assert all(r[2] == {"x": float(r[0])} for r in rows)


def test_follow_waits_for_a_frame_being_written(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        log.append(0, x=1.0)
    full = path.read_bytes()
    with EventLog(path) as log:
        log.append(1, x=2.0)
    more = path.read_bytes()[len(full) :]
    path.write_bytes(full + more[:10])  # the next frame is half written
    rows = curvelog.log.follow(path, last=5, poll=0.01)
    assert next(rows)[0] == 0
    with open(path, "ab") as f:
        f.write(more[10:])
    assert next(rows)[:1] == (1,)


def test_sigterm_with_the_programs_own_handler_flushes_and_keeps_the_log_open(
    tmp_path: Path,
) -> None:
    code = """
        import os, signal, sys, curvelog
        stop = []
        signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))  # finish the step, then exit
        log = curvelog.EventLog(sys.argv[1], best="loss", flush_every=0)
        for i in range(100):
            log.append(i, loss=1.0 / (i + 1))
        os.kill(os.getpid(), signal.SIGTERM)
        flushed = curvelog.read(sys.argv[1]).rows
        for i in range(100, 150):  # the program goes on after the signal
            log.append(i, loss=1.0 / (i + 1))
        log.close()
        print(stop, flushed)
    """
    path = tmp_path / "x.log"
    child = _run_child(code, str(path))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out.split() == ["[15]", "100"]  # the user's handler ran; our handler flushed first
    run = curvelog.read(path)
    assert run.rows == 150 and run.sessions[0].end is not None
    assert run.sessions[0].end["reason"] == "close"


def test_resume_keeps_the_run_id_behind_a_large_header(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    config = {f"param_{i}": "x" * 100 for i in range(200)}  # a 20 kB header record
    with EventLog(path, config=config) as log:
        log.append(0, x=1.0)
    with EventLog(path) as log:
        log.append(1, x=2.0)
    run = curvelog.read(path)
    assert len(run.sessions) == 2
    assert run.sessions[1].header["run_id"] == run.header["run_id"]


def test_a_failed_close_still_releases_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.log"
    log = EventLog(path, flush_every=0)
    log.append(0, x=1.0)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        log.close()
    monkeypatch.undo()
    assert log.closed
    with EventLog(path) as again:  # not LogLockedError: the descriptor was closed
        again.append(1, x=2.0)
    assert curvelog.read(path).series("x").steps.tolist() == [0, 1]


def test_empty_metric_name_is_refused_as_a_keyword_too(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log", strict=True) as log:
        with pytest.raises(curvelog.MetricTypeError, match="non-empty strings"):
            log.append(0, **{"": 1.0})


# --------------------------------------------------------------------------- importers (#15)


def test_replay_columns_keeps_given_times_and_tracks_the_best(tmp_path: Path) -> None:
    """The importers' private path: rows as columns, their own wall times, best by append's rule."""
    steps = np.arange(5000, dtype=np.int64) * 2
    times = 1e9 + np.arange(5000) * 0.5
    loss_rows = np.arange(0, 5000, 3)
    loss = np.cos(loss_rows / 100.0) + loss_rows / 5000
    loss[10] = -np.inf  # never a "min" best, as with append
    loss[11] = np.nan
    acc_rows = np.arange(5000)
    acc = acc_rows / 5000
    with EventLog(tmp_path / "r.log", best="loss", flush_every=0) as log:
        log.append(0, x=1.0)  # an appended row goes first
        assert (
            log._replay_columns(steps, times, {"loss": (loss_rows, loss), "acc": (acc_rows, acc)})
            == 5000
        )
        log.append(20_000, x=2.0)
    run = curvelog.read(tmp_path / "r.log")
    assert run.rows == 5002
    s = run.series("loss")
    assert s.steps.tolist() == (loss_rows * 2).tolist()
    assert s.times.tolist() == times[loss_rows].tolist()
    assert np.array_equal(s.values, loss, equal_nan=True)
    finite = np.where(np.isfinite(loss), loss, np.inf)
    assert run.best is not None and run.best.step == int(loss_rows[np.argmin(finite)] * 2)
    assert run.series("acc").values.tolist() == acc.tolist()
    with EventLog(tmp_path / "bad.log", flush_every=0) as log:
        with pytest.raises(ValueError, match="ascend"):
            log._replay_columns(steps[:3], times[:3], {"a": (np.array([1, 0]), np.zeros(2))})
        with pytest.raises(ValueError, match="bad row numbers"):
            log._replay_columns(steps[:3], times[:3], {"a": (np.array([0, 3]), np.zeros(2))})
        with pytest.raises(curvelog.errors.StepError):
            log._replay_columns(np.array([-1]), times[:1], {})


# --------------------------------------------------------------------------- config after opening


def test_config_given_after_opening_is_merged(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, config={"lr": 0.1, "depth": 2}) as log:
        log.append(0, x=1.0)
        log.update_config(lr=0.01, seed=7)
        log.update_config({"opt": {"name": "adam"}})
    run = curvelog.read(path)
    assert run.header["config"] == {"lr": 0.1, "depth": 2}  # the header is never rewritten
    assert run.config == {"lr": 0.01, "depth": 2, "seed": 7, "opt": {"name": "adam"}}
    with EventLog(path, config={"resumed_from": "ckpt-1"}) as log:
        log.set_config({"only": True})
        log.update_config(after=1)
    run = curvelog.read(path)
    assert run.config == {"only": True, "after": 1}
    assert run.describe()["config"] == run.config


def test_config_of_a_resume_merges_and_set_config_replaces(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, config={"a": 1}):
        pass
    with EventLog(path, config={"b": 2}) as log:
        assert curvelog.read(path).config == {"a": 1, "b": 2}
        log.set_config(None)
    assert curvelog.read(path).config == {}


def test_config_record_is_written_at_once_and_refused_after_close(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = EventLog(path, flush_every=0)
    log.update_config(lr=3e-4)
    assert curvelog.read(path).config == {"lr": 3e-4}  # before any flush or close
    with pytest.raises(TypeError, match="config must be a mapping"):
        log.set_config([1, 2])
    log.close()
    with pytest.raises(curvelog.LogClosedError):
        log.update_config(lr=1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_stats_a_slice_at_a_time_match_the_whole_array(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    from curvelog.log import _run

    rng = np.random.default_rng(seed)
    n = 1000
    v = rng.standard_normal(n).round(1)  # rounded: ties between slices
    for bad, count in ((np.nan, 30), (np.inf, 5), (-np.inf, 4)):
        v[rng.integers(0, n, count)] = bad
    v[200:330] = np.nan  # a whole slice without a finite value
    path = tmp_path / "a.log"
    with warnings.catch_warnings(), curvelog.EventLog(path) as log:
        warnings.simplefilter("ignore")  # the non-finite values are the point
        for i, x in enumerate(v.tolist()):
            log.append(i, x=x)
    monkeypatch.setattr(_run, "_SLICE", 64)
    got = curvelog.read(path).metric_stats("x")
    finite = np.isfinite(v)
    lo = int(np.argmin(np.where(finite, v, np.inf)))
    hi = int(np.argmax(np.where(finite, v, -np.inf)))
    assert got["min"] == {"step": lo, "value": v[lo]} and got["max"] == {"step": hi, "value": v[hi]}
    assert (got["nan"], got["inf"], got["neg_inf"]) == (
        int(np.isnan(v).sum()), int(np.isposinf(v).sum()), int(np.isneginf(v).sum())
    )  # fmt: skip
