"""The value policy of `EventLog.append` (log/_values.py): store every number, never end a run."""

from __future__ import annotations

import enum
import json
import os
import sys
import threading
import types
import warnings
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import curvelog
from curvelog import EventLog
from curvelog.cli import cli
from curvelog.errors import ConfigError, MetricNameError
from test_log import FakeTensor

NUMBERS: list[tuple[str, Any, float]] = [
    ("tensor_1", FakeTensor(0.75, (1,)), 0.75),
    ("tensor_1x1", FakeTensor(-2.5, (1, 1)), -2.5),
    ("tensor_0d", FakeTensor(1.25), 1.25),
    ("numpy_1", np.array([0.5], dtype=np.float32), 0.5),
    ("numpy_1x1", np.array([[3]], dtype=np.int64), 3.0),
    ("numpy_bool", np.array([True]), 1.0),
    ("decimal", Decimal("0.1"), float(Decimal("0.1"))),
    ("decimal_nan", Decimal("NaN"), float("nan")),
    ("fraction", Fraction(1, 3), 1 / 3),
    ("bool", False, 0.0),
    ("np_bool", np.bool_(True), 1.0),
]

NOT_NUMBERS: list[tuple[str, Any]] = [
    ("string", "0.5"),
    ("none", None),
    ("list", [1.0]),
    ("dict", {"a": 1.0}),
    ("complex", 1 + 2j),
    ("numpy_2", np.array([1.0, 2.0])),
    ("numpy_empty", np.array([])),
    ("numpy_complex", np.array([1 + 1j])),
    ("tensor_2", FakeTensor(1.0, (2,))),
    ("bigint", 10**400),
    ("fraction_huge", Fraction(10**400, 3)),
    ("decimal_snan", Decimal("sNaN")),
    ("object", object()),
]


@pytest.mark.parametrize("strict", [False, True])
def test_every_number_is_stored_as_float_would(tmp_path: Path, strict: bool) -> None:
    path = tmp_path / "x.log"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a number must not warn
        with EventLog(path, strict=strict) as log:
            log.append(1, {name: v for name, v, _ in NUMBERS})
    run = curvelog.read(path)
    for name, _, want in NUMBERS:
        got = run.series(name).values.tolist()
        assert np.array_equal(got, [want], equal_nan=True), name
    assert run.skipped == {"values": {}, "rows": 0}


@pytest.mark.parametrize(("name", "value"), NOT_NUMBERS)
def test_strict_raises_on_what_is_not_a_number(tmp_path: Path, name: str, value: Any) -> None:
    with EventLog(tmp_path / "x.log", strict=True) as log:
        with pytest.raises(curvelog.MetricTypeError, match=rf"metric '{name}': cannot record"):
            log.append(1, {name: value})


@pytest.mark.parametrize(("name", "value"), NOT_NUMBERS)
def test_default_warns_skips_and_counts(tmp_path: Path, name: str, value: Any) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        with pytest.warns(RuntimeWarning, match=rf"metric '{name}': cannot record a value of type"):
            log.append(1, {name: value, "ok": 1.0})
        log.append(2, {name: value, "ok": 2.0})  # warned once per metric: no second warning
    run = curvelog.read(path)
    assert run.series("ok").steps.tolist() == [1, 2]
    assert name not in run.metrics
    assert run.skipped == {"values": {name: 2}, "rows": 0}


def test_the_warning_names_the_type_and_points_at_the_caller(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log") as log:
        with pytest.warns(RuntimeWarning) as got:
            log.append(1, loss="0.5")
    assert len(got) == 1
    assert "metric 'loss': cannot record a value of type str" in str(got[0].message)
    assert got[0].filename == __file__


@pytest.mark.parametrize("step", [-1, 1.0, "3", None, True, np.float64(2.0), 2**63, [1]])
def test_a_bad_step_skips_the_row_by_default(tmp_path: Path, step: Any) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        log.append(0, x=0.0)
        with pytest.warns(RuntimeWarning, match="is not a non-negative integer"):
            log.append(step, x=1.0)
        log.append(step, x=1.0)
        log.append(2, x=2.0)
    run = curvelog.read(path)
    assert run.series("x").steps.tolist() == [0, 2]
    assert run.skipped == {"values": {}, "rows": 2}


def test_integer_like_steps_are_steps(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log", strict=True) as log:
        log.append(np.uint32(3), x=1.0)
        log.append(np.int64(4), x=1.0)
    assert curvelog.read(tmp_path / "x.log").series("x").steps.tolist() == [3, 4]


def test_values_that_are_no_mapping_and_bad_names(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        with pytest.warns(RuntimeWarning, match="values of type float are not a mapping"):
            log.append(0, 0.5)  # type: ignore[arg-type]
        with pytest.warns(RuntimeWarning, match="metric names must be non-empty strings"):
            log.append(1, {3: 1.0, "x": 1.0})
    run = curvelog.read(path)
    assert run.series("x").steps.tolist() == [1]
    assert run.skipped == {"values": {"3": 1}, "rows": 1}
    with EventLog(tmp_path / "y.log", strict=True) as log:
        with pytest.raises(TypeError, match="values must be a mapping"):
            log.append(0, 0.5)  # type: ignore[arg-type]


def test_a_name_that_is_not_utf8_is_skipped_and_the_rows_around_it_written(
    tmp_path: Path,
) -> None:
    """A lone surrogate (os.fsdecode of a non-UTF-8 file name) used to fail every flush."""
    bad = os.fsdecode(b"val/\xff")  # a str, 'val/\udcff', that UTF-8 cannot encode
    rows = 20_000  # past two chunks that append flushes itself
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        with pytest.warns(RuntimeWarning, match=r"metric name 'val/\\udcff'.*not valid UTF-8"):
            log.append(0, {bad: 0.5, "loss": 0.25})
        for step in range(1, rows):
            log.append(step, loss=1.0 / step)
    run = curvelog.read(path)
    assert run.damage == []
    assert run.series("loss").steps.tolist() == list(range(rows))
    assert run.metrics == ["loss"]
    assert run.skipped == {"values": {repr(bad): 1}, "rows": 0}
    with EventLog(tmp_path / "y.log", strict=True) as log:
        with pytest.raises(MetricNameError, match="not valid UTF-8") as raised:
            log.append(0, {bad: 0.5})
        assert isinstance(raised.value, curvelog.MetricTypeError)


def test_a_string_at_step_5000_of_10000_does_not_end_the_run(tmp_path: Path) -> None:
    """The issue's training loop: a string logged by mistake from step 5,000 on."""
    path = tmp_path / "run.log"
    rng = np.random.default_rng(17)
    losses = rng.random(10_000)
    with pytest.warns(RuntimeWarning, match="metric 'val/acc'") as got:
        with EventLog(path, best="train/loss") as log:
            for step in range(10_000):
                row: dict[str, Any] = {"train/loss": float(losses[step])}
                if step % 100 == 0:
                    row["val/acc"] = f"{step / 10_000:.2%}" if step >= 5_000 else step / 10_000
                log.append(step, row)
    assert len(got) == 1  # once per metric, not 50 times
    run = curvelog.read(path)
    assert run.series("train/loss").steps.tolist() == list(range(10_000))
    assert run.series("val/acc").steps.tolist() == list(range(0, 5_000, 100))
    assert run.skipped == {"values": {"val/acc": 50}, "rows": 0}
    assert run.sessions[-1].end is not None and run.sessions[-1].end["skipped"] == {
        "values": {"val/acc": 50}, "rows": 0
    }  # fmt: skip
    text = CliRunner().invoke(cli, ["inspect", str(path)], catch_exceptions=False).output
    assert "  skipped   50 values that were not a number (val/acc: 50)" in text
    info = json.loads(
        CliRunner().invoke(cli, ["inspect", str(path), "--json"], catch_exceptions=False).output
    )
    assert info["skipped"] == {"values": {"val/acc": 50}, "rows": 0}


def test_counts_add_up_over_sessions_and_nothing_is_written_when_clean(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        log.append(0, x=1.0)
    assert "skipped" not in curvelog.read(path).sessions[0].end  # type: ignore[operator]
    for step in (1, 2):
        with EventLog(path) as log, pytest.warns(RuntimeWarning):
            log.append(step, x="bad")
            log.append(-step, x=1.0)
    run = curvelog.read(path)
    assert run.skipped == {"values": {"x": 2}, "rows": 2}
    text = CliRunner().invoke(cli, ["inspect", str(path)], catch_exceptions=False).output
    assert "skipped   2 values that were not a number (x: 2); 2 rows (step not a valid" in text


def test_clean_log_inspect_says_none(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        log.append(0, x=1.0)
    text = CliRunner().invoke(cli, ["inspect", str(path)], catch_exceptions=False).output
    assert "  skipped   none\n" in text


# --------------------------------------------------------------------------- configs


def test_a_simple_namespace_config_is_a_mapping_and_the_header_survives(tmp_path: Path) -> None:
    """An object stored as a string made the reader drop the session record: no header."""
    path = tmp_path / "x.log"
    cfg = types.SimpleNamespace(lr=3e-4, batch_size=64)
    with EventLog(path, best="loss", config=cfg, name="myrun") as log:
        log.append(0, loss=1.0)
    run = curvelog.read(path)
    assert run.damage == [] and len(run.sessions) == 1
    assert run.config == {"lr": 3e-4, "batch_size": 64}
    assert run.objective == {"metric": "loss", "mode": "min"} and run.name == "myrun"


@pytest.mark.parametrize("config", ["lr=3e-4", [("lr", 3e-4)], object()])
def test_a_config_that_is_no_mapping_is_refused_before_the_file_is_touched(
    tmp_path: Path, config: Any
) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, config={"a": 1}) as log:
        log.append(0, x=1.0)
    size = path.stat().st_size
    with pytest.raises(ConfigError, match=r"x\.log: config must be a mapping \(or a dataclass"):
        EventLog(path, config=config)  # a resume: its session record would be dropped
    assert path.stat().st_size == size
    with pytest.raises(ConfigError, match="config must be a mapping"):
        EventLog(tmp_path / "new.log", config=config)
    assert not (tmp_path / "new.log").exists()
    run = curvelog.read(path)
    assert run.damage == [] and run.config == {"a": 1}


def test_names_that_are_str_subclasses_are_recorded_as_their_plain_string(
    tmp_path: Path,
) -> None:
    """StrEnum members and numpy.str_ (names from np.array) are strings: nothing skipped."""

    class M(enum.StrEnum):
        LOSS = "train/loss"

    names = np.array(["val/loss", "val/acc"])  # numpy.str_ elements
    path = tmp_path / "x.log"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no value skipped, so no warning either
        with EventLog(path, best=M.LOSS) as log:
            for step in range(20):
                log.append(step, {M.LOSS: 1.0 / (step + 1)})
                log.append(step, dict(zip(names, [2.0 / (step + 1), step / 100], strict=True)))
    run = curvelog.read(path)
    assert sorted(run.metrics) == ["train/loss", "val/acc", "val/loss"]
    assert run.skipped == {"values": {}, "rows": 0}
    assert run.series("val/acc").steps.tolist() == list(range(20))
    assert run.objective == {"metric": "train/loss", "mode": "min"}
    assert run.best is not None and run.best.step == 19
    assert all(type(r["metric"]) is str for r in run.best_records)


def test_a_name_of_the_wrong_type_is_reported_as_a_name(tmp_path: Path) -> None:
    with EventLog(tmp_path / "x.log") as log:
        with pytest.warns(RuntimeWarning, match="metric name 3: cannot record a name of type int"):
            log.append(0, {3: 1.0, "x": 1.0})


@pytest.mark.parametrize("config", [[("b", 2)], "c=3"])
def test_update_config_refuses_what_set_config_refuses(tmp_path: Path, config: Any) -> None:
    """It used to record an empty merge and return: the hyper-parameters silently missing."""
    path = tmp_path / "x.log"
    with EventLog(path, config={"a": 1}) as log:
        with pytest.raises(ConfigError, match="config must be a mapping"):
            log.update_config(config)
        with pytest.raises(ConfigError, match="config must be a mapping"):
            log.set_config(config)
        log.update_config(types.SimpleNamespace(d=4), e=5)
    assert curvelog.read(path).config == {"a": 1, "d": 4, "e": 5}


def test_skips_from_several_threads_are_all_counted(tmp_path: Path) -> None:
    """A count is a read-modify-write: unlocked, two threads interleaving lose one."""
    path = tmp_path / "x.log"
    threads, n = 4, 20_000
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with EventLog(path) as log:

                def work() -> None:
                    for i in range(n):
                        log.append(i, bad=None, ok=1.0)
                        log.append(-1, ok=1.0)  # a row skipped whole

                workers = [threading.Thread(target=work) for _ in range(threads)]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
    finally:
        sys.setswitchinterval(old)
    run = curvelog.read(path)
    assert run.skipped == {"values": {"bad": threads * n}, "rows": threads * n}
    assert run.rows == threads * n


def test_config_text_that_is_not_utf8_is_recorded_with_replacement_characters(
    tmp_path: Path,
) -> None:
    """A config string holding a lone surrogate (``os.fsdecode`` of a file name that is
    not UTF-8, a cut emoji) made ``EventLog()``/``set_config`` raise a bare
    ``UnicodeEncodeError`` from msgpack; it is recorded with U+FFFD in its place."""
    path = tmp_path / "r.log"
    odd = os.fsdecode(b"data/\xff.bin")
    with EventLog(path, config={"file": odd, os.fsdecode(b"k\xfe"): 1, "emoji": "\ud83d"}) as log:
        log.append(0, loss=1.0)
        log.update_config({"more": [odd]})
    assert curvelog.read(path).config == {
        "file": "data/\ufffd.bin", "k\ufffd": 1, "emoji": "\ufffd\ufffd\ufffd",
        "more": ["data/\ufffd.bin"],
    }  # fmt: skip


def test_the_skip_counts_can_be_read_by_the_thread_that_is_counting() -> None:
    """A SIGTERM landing while the main thread counted a skipped value closes the logs
    from that same thread, which reads the counts: with a plain lock it waited for
    itself for ever (the job ended only by SIGKILL, its end record lost)."""
    from curvelog.log._values import _Policy

    policy = _Policy(strict=False)
    got: list[dict[str, object]] = []

    def counting_then_interrupted() -> None:
        with policy._count:  # the skip path, mid-count
            got.append(policy.record())  # the handler's close, on the same thread

    t = threading.Thread(target=counting_then_interrupted, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive() and got == [{}]


def test_configs_of_the_usual_kinds_are_recorded_as_mappings(tmp_path: Path) -> None:
    """A NamedTuple was refused with a hint (``vars(obj)``) that fails for it, attrs and
    pydantic models were refused, and an enum or a deque inside became a repr string."""
    import collections
    from typing import NamedTuple

    attrs = pytest.importorskip("attrs")
    pydantic = pytest.importorskip("pydantic")

    class Opt(enum.Enum):
        ADAM = "adam"

    class Hp(NamedTuple):
        lr: float
        opt: Opt

    @attrs.define
    class Data:
        batch: int
        crops: collections.deque[int]

    class Model(pydantic.BaseModel):
        width: int
        dropout: float

    cases = [
        (Hp(3e-4, Opt.ADAM), {"lr": 3e-4, "opt": "adam"}),
        (Data(32, collections.deque([1, 2])), {"batch": 32, "crops": [1, 2]}),
        (Model(width=64, dropout=0.1), {"width": 64, "dropout": 0.1}),
    ]
    for i, (config, want) in enumerate(cases):
        path = tmp_path / f"{i}.log"
        with EventLog(path, config=config) as log:
            log.append(0, x=1.0)
        assert curvelog.read(path).config == want
