"""CSV import: rows replayed in order as appends (resumes, duplicates, nan/inf), errors."""

from __future__ import annotations

import csv
import gzip
import math
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import curvelog
from _cli import assert_one_line_error, invoke
from _real import real_csv
from curvelog.cli import cli
from curvelog.convert import csv_to_log, default_log_path
from curvelog.errors import MetricNotFoundError, OutputExistsError, PathError

GAN_CSV = real_csv("gan_deblurgan_wgan")


def write_csv(
    path: Path, rows: list[tuple[object, ...]], header: str = "step,metric,value"
) -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def last_write_wins(path: Path) -> dict[str, dict[int, float]]:
    """Independent reading of a long CSV: per metric, the last value written for each step."""
    out: dict[str, dict[int, float]] = {}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["metric"], {})[int(row["step"])] = float(row["value"])
    return out


def test_real_gan_run_restarts_and_duplicates(tmp_path: Path) -> None:
    log = tmp_path / "gan.log"
    report = csv_to_log(GAN_CSV, log)
    assert report.rows == 3054 and report.skipped == 0
    assert report.metrics == ("epoch", "session", "iter_time_s", "G_GAN", "G_L1", "D_real+fake")
    assert report.appends == 509  # six metrics per logged line, one append each
    assert report.restarts == 161  # SOURCE.md: 161 step decreases
    run = curvelog.read(log)
    assert run.rows == 509 and run.resumes == 161 and not run.damage
    expected = last_write_wins(GAN_CSV)
    for metric, by_step in expected.items():
        s = run.series(metric)
        assert s.raw_count == 509
        assert s.steps.tolist() == sorted(by_step)
        assert s.values.tolist() == [by_step[k] for k in sorted(by_step)]


def test_rows_of_one_step_share_an_append_until_a_metric_repeats(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "a.csv",
        [(0, "loss", "1.0"), (0, "acc", "0.1"), (1, "loss", "0.9"), (1, "loss", "0.8"),
         (1, "acc", "0.2"), (0, "loss", "5.0")],
    )  # fmt: skip
    report = csv_to_log(src, tmp_path / "a.log")
    assert (report.appends, report.restarts) == (4, 1)
    run = curvelog.read(tmp_path / "a.log")
    assert run.rows == 4 and run.resumes == 1
    loss = run.series("loss")
    assert loss.steps.tolist() == [0, 1] and loss.values.tolist() == [5.0, 0.8]
    assert loss.raw_count == 4


def test_one_metric_after_another_is_not_a_restart(tmp_path: Path) -> None:
    # the RL export lists every training row, then every evaluation row
    rows = [(s, "reward", str(s)) for s in range(0, 50, 10)]
    rows += [(s, "eval", str(-s)) for s in range(0, 50, 25)]
    rows += [(20, "reward", "99")]  # reward goes back below its own last step: a restart
    src = write_csv(tmp_path / "a.csv", rows)
    report = csv_to_log(src, tmp_path / "a.log")
    assert report.restarts == 1
    run = curvelog.read(tmp_path / "a.log")
    assert run.resumes == 1 and run.segments[1].first_step == 20
    assert run.series("eval").steps.tolist() == [0, 25]
    assert run.series("reward").values.tolist() == [0.0, 10.0, 99.0, 30.0, 40.0]


def test_real_rl_run_has_no_spurious_resume(tmp_path: Path) -> None:
    report = csv_to_log(real_csv("rl_tqc_fetchslide"), tmp_path / "rl.log")
    assert report.restarts == 0
    assert curvelog.read(tmp_path / "rl.log").resumes == 0


def test_nan_inf_parsed_and_empty_cells_skipped(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "b.csv",
        [(0, "x", "nan"), (1, "x", "inf"), (2, "x", "-inf"), (3, "x", " 1e-3 "), (4, "x", ""),
         (5, "x", "NaN"), (6, "x", "null"), (7.0, "x", "-Infinity")],
    )  # fmt: skip
    report = csv_to_log(src, tmp_path / "b.log")
    assert report.skipped == 2
    s = curvelog.read(tmp_path / "b.log").series("x")
    assert s.steps.tolist() == [0, 1, 2, 3, 5, 7]
    v = s.values
    assert math.isnan(v[0]) and v[1] == math.inf and v[2] == -math.inf and v[3] == 1e-3
    assert math.isnan(v[4]) and v[5] == -math.inf


def test_gzip_and_column_order(tmp_path: Path) -> None:
    src = tmp_path / "c.csv.gz"
    with gzip.open(src, "wt") as f:
        f.write("metric,value,step\nloss,2.0,10\nloss,1.0,20\n")
    assert default_log_path(src) == str(tmp_path / "c.log")
    csv_to_log(src, default_log_path(src))
    s = curvelog.read(tmp_path / "c.log").series("loss")
    assert s.steps.tolist() == [10, 20] and s.values.tolist() == [2.0, 1.0]


def test_objective_gives_a_best_record(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "d.csv", [(0, "val/loss", "3"), (1, "val/loss", "1"), (2, "val/loss", "2")]
    )
    csv_to_log(src, tmp_path / "d.log", best="val/loss", mode="min")
    run = curvelog.read(tmp_path / "d.log")
    assert run.objective == {"metric": "val/loss", "mode": "min"}
    assert run.best is not None and (run.best.step, run.best.value) == (1, 1.0)
    assert run.header["config"] == {"imported_from": "d.csv"}


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([], "time,loss", "expected the columns step,metric,value, found 'time,loss'"),
        (
            [(1.5, "x", "1")],
            "step,metric,value",
            "line 2: step '1.5' is not a non-negative integer below 2**63",
        ),
        (
            [(-1, "x", "1")],
            "step,metric,value",
            "line 2: step '-1' is not a non-negative integer below 2**63",
        ),
        (  # an int64 step is what a log holds: a larger one was skipped with a warning
            [(0, "x", "1"), (2**63, "x", "2")],
            "step,metric,value",
            f"line 3: step '{2**63}' is not a non-negative integer below 2**63",
        ),
        (
            [(0, "x", "1"), ("1e30", "x", "2")],
            "step,metric,value",
            "line 3: step '1e30' is not a non-negative integer below 2**63",
        ),
        (
            [("inf", "x", "1")],
            "step,metric,value",
            "line 2: step 'inf' is not a non-negative integer below 2**63",
        ),
        (
            [(0, "x", "1"), (1, "x", "abc")],
            "step,metric,value",
            "line 3: value 'abc' is not a number",
        ),
        ([(0, "", "1")], "step,metric,value", "line 2: empty metric name"),
        # an unquoted decimal comma: "0,5" imported 0 and dropped the 5
        ([(0, "x", "1"), (1, "x", "0", "5")], "step,metric,value", "line 3: 4 fields, expected 3"),
        ([(0, "x")], "step,metric,value", "line 2: 2 fields, expected 3"),
        (
            [(0, "x", "1", ""), (1, "x", "2", " ", "0")],
            "step,metric,value",
            "line 3: 5 fields, expected 3",
        ),  # fmt: skip
    ],
)
def test_bad_csv_names_the_line_and_writes_nothing(
    tmp_path: Path, rows: list[tuple[object, ...]], header: str, message: str
) -> None:
    src = write_csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(PathError, match="^" + str(src).replace("\\", "\\\\") + ": ") as err:
        csv_to_log(src, tmp_path / "bad.log")
    assert err.value.reason == message
    assert not (tmp_path / "bad.log").exists() and not (tmp_path / "bad.log.part").exists()


def test_missing_empty_and_existing(tmp_path: Path) -> None:
    with pytest.raises(PathError, match="no such file"):
        csv_to_log(tmp_path / "nope.csv", tmp_path / "x.log")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PathError, match="empty file"):
        csv_to_log(tmp_path / "empty.csv", tmp_path / "x.log")
    src = write_csv(tmp_path / "ok.csv", [(0, "x", "1")])
    (tmp_path / "x.log").write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        csv_to_log(src, tmp_path / "x.log")
    assert (tmp_path / "x.log").read_bytes() == b"keep me"
    csv_to_log(src, tmp_path / "x.log", overwrite=True)
    assert curvelog.read(tmp_path / "x.log").rows == 1
    with pytest.raises(MetricNotFoundError, match=r"ok.csv: no metric matches 'y' \(metrics: x\)"):
        csv_to_log(src, tmp_path / "y.log", best="y")
    assert not (tmp_path / "y.log").exists()


# --------------------------------------------------------------------------- CLI


def test_cli_import_csv(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "run.csv",
        [(0, "train/loss", "2"), (1, "train/loss", "nan"), (0, "train/loss", "3")],
    )
    result = CliRunner().invoke(
        cli, ["import", "csv", str(src), "--best", "train/loss"], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"{tmp_path / 'run.log'}: 3 rows, 1 metric, 3 steps written, 1 resume\n"
    run = curvelog.read(tmp_path / "run.log")
    assert np.isnan(run.series("train/loss").values[1]) and run.resumes == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "{p}: no such file"),
        (lambda p: p.write_text(""), "{p}: empty file, expected a 'step,metric,value' CSV"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe"), "{p}: not a CSV file"),
    ],
)
def test_cli_import_errors_are_one_line(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "in.csv"
    make(p)
    result = CliRunner().invoke(cli, ["import", "csv", str(p), "-o", str(tmp_path / "o.log")])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: " + message.format(p=p))
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not os.path.exists(tmp_path / "o.log")


def test_import_never_writes_over_its_own_input(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "a.csv", [(0, "x", "1")])
    before = src.read_bytes()
    result = CliRunner().invoke(cli, ["import", "csv", str(src), "-o", str(src), "--force"])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {src}: is the CSV being imported; choose another output\n"
    assert src.read_bytes() == before


def test_import_works_on_any_rank(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")  # a converter is not a training process
    src = write_csv(tmp_path / "a.csv", [(0, "x", "1"), (1, "x", "2")])
    csv_to_log(src, tmp_path / "a.log")
    assert curvelog.read(tmp_path / "a.log").rows == 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.parametrize("kind", ["csv", "tensorboard"])
def test_import_force_never_replaces_a_log_being_written(tmp_path: Path, kind: str) -> None:
    """`import --force` renamed its new log over one an EventLog was writing: the
    writer went on appending to the unlinked file without an error, and the whole
    run was lost. The writer's lock is checked (and held while replacing)."""
    src = tmp_path / "x.csv"
    src.write_text("step,metric,value\n0,x,1\n")
    if kind == "tensorboard":
        with curvelog.EventLog(tmp_path / "x.log") as log:
            log.append(0, x=1.0)
        invoke(
            "export", str(tmp_path / "x.log"), "--format", "tensorboard", "-o", str(tmp_path / "tb")
        )
        src = tmp_path / "tb"
    live = tmp_path / "live.log"
    with curvelog.EventLog(live) as log:
        log.append(0, loss=0.5)
        log.flush()
        res = invoke("import", kind, str(src), "-o", str(live), "--force", ok=False)
        assert_one_line_error(
            res, f"{live}: is being written by an EventLog; refusing to replace it"
        )
        log.append(1, loss=0.25)
    run = curvelog.read(live)  # the run is whole: nothing was replaced
    assert run.series("loss").values.tolist() == [0.5, 0.25]
    invoke("import", kind, str(src), "-o", str(live), "--force")  # closed: --force replaces
    assert curvelog.read(live).metrics == ["x"]


def test_export_then_import_keeps_wall_times_and_names(tmp_path: Path) -> None:
    """`import csv` ignored the ``time`` column `export` writes: every row got the
    moment of the import, so the run's dates and span were lost in a round trip."""
    src = tmp_path / "src.log"
    with curvelog.EventLog(src, flush_every=0) as log:
        for s in range(5):
            log.append(s, {"loss": 1.0 / (s + 1), "val loss": float(s)})
    # wall times 1.25 s apart, as a slow run has them (written over the log's own; a
    # step's values share their row's time, as in the log)
    data = curvelog.read(src).data
    data = data.with_columns(time=1.7e9 + 1.25 * data["step"].cast(float))
    csv_path = tmp_path / "run.csv"
    data.write_csv(csv_path)
    res = invoke("import", "csv", str(csv_path), "-o", str(tmp_path / "back.log"))
    assert res.stderr.endswith(", wall times from the CSV\n")
    back = curvelog.read(tmp_path / "back.log")
    assert back.data.sort("metric", "step").equals(data.sort("metric", "step"))
    assert back.series("loss").times.tolist() == [1.7e9 + 1.25 * s for s in range(5)]
    # without a time column: the import's time, and no claim about the CSV
    write_csv(tmp_path / "plain.csv", [(0, "loss", 1.0)])
    res = invoke("import", "csv", str(tmp_path / "plain.csv"), "-o", str(tmp_path / "p.log"))
    assert "wall times" not in res.stderr


def test_import_time_formats_and_names_that_differ_only_in_spaces(tmp_path: Path) -> None:
    """Names are trimmed ("0, loss, 1.5" is a hand-written CSV, its spacing not always
    the same), so "loss" and "loss " become one metric: said in a warning, not
    silently (they were merged without a word). Times: seconds or ISO 8601 dates."""
    bad = write_csv(tmp_path / "t.csv", [(0, 1.7e9, "loss", 1.0), (1, "yesterday", "loss", 2.0)],
                    header="step,time,metric,value")  # fmt: skip
    with pytest.raises(PathError, match="line 3: time 'yesterday' is neither seconds since 1970"):
        csv_to_log(bad, tmp_path / "t.log")
    assert not (tmp_path / "t.log").exists()
    dated = write_csv(tmp_path / "d.csv", [(0, "2026-12-02T15:44:24Z", "loss", 1.0),
                                           (1, "2026-12-02T15:44:26", "loss", 2.0)],
                      header="step,time,metric,value")  # fmt: skip
    csv_to_log(dated, tmp_path / "d.log")
    assert curvelog.read(tmp_path / "d.log").series("loss").times.tolist() == [
        1796226264.0, 1796226266.0]  # fmt: skip
    (tmp_path / "h.csv").write_text("step,metric,value\n0, loss, 1.5\n1,loss,1.0\n2,loss ,0.5\n")
    res = invoke("import", "csv", str(tmp_path / "h.csv"), "-o", str(tmp_path / "h.log"))
    assert res.stderr.startswith(
        f"Warning: {tmp_path / 'h.csv'}: line 3: metric names ' loss' and 'loss' differ only "
        "in spaces around them; imported as one metric, 'loss'\n"
        f"Warning: {tmp_path / 'h.csv'}: line 4: metric names ' loss' and 'loss ' differ"
    )
    assert curvelog.read(tmp_path / "h.log").series("loss").values.tolist() == [1.5, 1.0, 0.5]


def test_import_force_waits_for_a_reader_not_for_ever(tmp_path: Path) -> None:
    """A reader asks "is a writer live?" with a moment's shared lock; `import --force`
    took that for a writer and refused (56 of 100 imports beside four polling
    readers). Only readers in the way: it waits for them, as a writer's open does."""
    import fcntl
    import threading

    live = tmp_path / "r.log"
    with curvelog.EventLog(live) as log:
        log.append(0, loss=0.5)
    src = write_csv(tmp_path / "x.csv", [(0, "x", 1.0)])
    held, release = threading.Event(), threading.Event()

    def reader() -> None:
        fd = os.open(live, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            held.set()
            release.wait(10)
        finally:
            os.close(fd)  # lets go of the shared lock

    t = threading.Thread(target=reader)
    t.start()
    assert held.wait(10)
    threading.Timer(0.2, release.set).start()  # the reader lets go while the import waits
    csv_to_log(src, live, overwrite=True)
    t.join()
    assert curvelog.read(live).metrics == ["x"]
