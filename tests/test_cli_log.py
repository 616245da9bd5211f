"""`curvelog inspect` and `curvelog export`."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import curvelog
from curvelog.cli import cli


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, best="val/loss") as log:
        for i in range(200):
            log.append(i, **{"train/loss": 1.0 / (i + 1), "lr": 0.1})
            if i % 50 == 0:
                log.append(i, **{"val/loss": math.nan if i == 100 else 2.0 / (i + 1)})
    with curvelog.EventLog(path) as log:  # a resume from step 150
        log.append(150, **{"train/loss": 9.0})
    return path


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_inspect_text(log_path: Path) -> None:
    result = invoke("inspect", str(log_path))
    assert result.exit_code == 0  # type: ignore[attr-defined]
    out = result.output  # type: ignore[attr-defined]
    assert "rows      205 (steps 0 .. 199)" in out
    assert "sessions  2, all closed" in out
    assert "resumes   1\n            at step 150 (after 199)" in out
    assert "best      val/loss = 0.013245 at step 150 (min, tracked)" in out
    assert "damage    none" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("val/loss"))
    assert row.split()[-3:] == ["1", "0", "0"]  # one NaN


def test_inspect_json(log_path: Path) -> None:
    result = invoke("inspect", str(log_path), "--json")
    info = json.loads(result.output)  # type: ignore[attr-defined]
    assert info["rows"] == 205 and len(info["sessions"]) == 2
    assert info["metrics"]["train/loss"]["last"] == {"step": 199, "value": 1 / 200}
    assert info["metrics"]["train/loss"]["max"] == {"step": 150, "value": 9.0}
    assert info["metrics"]["val/loss"]["nan"] == 1
    assert info["resumes"] == [{"step": 150, "after_step": 199, "session": 1}]


def test_inspect_reports_damage(log_path: Path) -> None:
    raw = log_path.read_bytes()
    log_path.write_bytes(raw[:-7])
    out = invoke("inspect", str(log_path)).output  # type: ignore[attr-defined]
    assert "damage    1\n            bytes" in out and "torn record at the end" in out
    assert "sessions  2, session 1 not closed (writer died)\n" in out


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_export_long_and_wide(log_path: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"out.{ext}"
    result = invoke("export", str(log_path), "-o", str(out))
    assert result.exit_code == 0  # type: ignore[attr-defined]
    df = pl.read_csv(out) if ext == "csv" else pl.read_parquet(out)
    assert df.columns == ["step", "time", "metric", "value"]
    assert df.height == 200 + 200 + 4
    wide_out = tmp_path / f"wide.{ext}"
    invoke("export", str(log_path), "-o", str(wide_out), "--wide")
    wide = pl.read_csv(wide_out) if ext == "csv" else pl.read_parquet(wide_out)
    assert wide.columns == ["step", "train/loss", "lr", "val/loss"] and wide.height == 200
    assert wide.filter(pl.col("step") == 150)["train/loss"].item() == 9.0  # latest wins


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_export_all_writes_keeps_what_a_resume_wrote_again_and_round_trips(
    tmp_path: Path, ext: str
) -> None:
    log = tmp_path / "r.log"
    with curvelog.EventLog(log, flush_every=0) as lg:
        for s in range(6):
            lg.append(s, loss=10.0 + s, lr=0.1)
        lg.append(5, acc=0.5)  # a metric first seen late, at a step written before
    with curvelog.EventLog(log, flush_every=0) as lg:  # resumed from step 3's checkpoint
        for s in range(3, 8):
            lg.append(s, loss=float(s))
    out = tmp_path / f"w.{ext}"
    result = invoke("export", str(log), "-o", str(out), "--all-writes")
    assert result.stderr == f"{out}: 18 rows, 3 metrics\n"  # type: ignore[attr-defined]
    df = pl.read_csv(out) if ext == "csv" else pl.read_parquet(out)
    assert df.columns == ["step", "time", "metric", "value"]
    got = list(zip(df["step"], df["metric"], df["value"], strict=True))
    first = [(s, m, v) for s in range(6) for m, v in (("loss", 10.0 + s), ("lr", 0.1))]
    assert got == [*first, (5, "acc", 0.5), *((s, "loss", float(s)) for s in range(3, 8))]
    assert df["time"].is_sorted()  # file order: the order the values were written
    run = curvelog.read(log)
    assert len(run.data) == 8 + 6 + 1  # the latest write of each step only
    if ext == "csv":  # and back: the same run, its resume included
        back = tmp_path / "back.log"
        invoke("import", "csv", str(out), "-o", str(back))
        again = curvelog.read(back)
        assert len(again.segments) == len(run.segments) == 2
        assert again.writes.drop("time").equals(run.writes.drop("time"))


def test_export_all_writes_is_for_the_long_table(log_path: Path, tmp_path: Path) -> None:
    for extra in (["--wide"], ["--format", "tensorboard"]):
        result = CliRunner().invoke(
            cli, ["export", str(log_path), "-o", str(tmp_path / "o.csv"), "--all-writes", *extra]
        )
        assert result.exit_code == 2 and result.stderr == (
            "Error: --all-writes is for the long table (step,time,metric,value): "
            "a wide table and TensorBoard hold one value per step\n"
        )
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("every", [1, 2])
def test_export_wide_refuses_a_metric_named_step(tmp_path: Path, every: int) -> None:
    """A metric named ``step`` (an optimizer's counter) replaced the step column of a
    wide export (exit 0, the steps lost), or crashed polars with a duplicate column
    where it was sparse. It is one line, exit 2; the long table keeps it."""
    log = tmp_path / "s.log"
    with curvelog.EventLog(log, flush_every=0) as lg:
        for s in range(5):
            lg.append(s * 1000, loss=1.0 / (s + 1))
            if s % every == 0:
                lg.append(s * 1000, step=float(s))
    out = tmp_path / "wide.csv"
    result = CliRunner().invoke(cli, ["export", str(log), "-o", str(out), "--wide"])
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr == (
        f"Error: {log}: has a metric named 'step', which a wide table cannot hold beside its "
        "step column; use the long table (export without --wide)\n"
    )
    invoke("export", str(log), "-o", str(tmp_path / "long.csv"))
    long = pl.read_csv(tmp_path / "long.csv")
    assert long.filter(pl.col("metric") == "step")["step"].to_list() == list(
        range(0, 5000, 1000 * every)
    )


def test_export_never_overwrites_without_force(log_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    result = CliRunner().invoke(cli, ["export", str(log_path), "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {out}: already exists; pass --force to replace it\n"
    assert out.read_text() == "keep me"
    assert (
        CliRunner().invoke(cli, ["export", str(log_path), "-o", str(out), "--force"]).exit_code == 0
    )
    assert out.read_text().startswith("step,time,metric,value")


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_export_never_replaces_a_log_even_with_force(
    log_path: Path, tmp_path: Path, ext: str
) -> None:
    """A log named like an export (a copy, a slip of the shell) is data: refused as
    compact and plot refuse it, --force or not."""
    other = tmp_path / f"other{ext}"
    other.write_bytes(log_path.read_bytes())
    before = other.read_bytes()
    for extra in ([], ["--force"]):
        result = CliRunner().invoke(cli, ["export", str(log_path), "-o", str(other), *extra])
        assert result.exit_code == 2
        assert result.stderr == (
            f"Error: {other}: is a curvelog log, not an export; refusing to replace it\n"
        )
    assert other.read_bytes() == before
    with pytest.raises(curvelog.errors.PathError):
        curvelog.read(log_path).export(other, force=True)
    assert other.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "byte 0: empty file, not a curvelog log"),
        (b"hello world", "byte 0: not a curvelog log (bad signature)"),
    ],
)
def test_bad_logs_give_one_error_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "x.log"
    if content is not None:
        path.write_bytes(content)
    for args in (["inspect", str(path)], ["export", str(path), "-o", str(tmp_path / "o.csv")]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert result.stderr == f"Error: {path}: {message}\n"
        assert "Traceback" not in result.output


def test_export_unknown_format(log_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(log_path), "-o", str(tmp_path / "o.xlsx")])
    assert result.exit_code == 2
    assert "unknown export format; use a .csv or .parquet file name" in result.stderr


def test_tail_without_follow(log_path: Path) -> None:
    result = invoke("tail", str(log_path), "-n", "2", "--no-follow", "--metrics", "train/loss")
    lines = result.output.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 2
    assert lines[0].split()[0] == "199" and lines[0].endswith("train/loss=0.005")
    assert lines[1].split()[0] == "150" and lines[1].endswith("train/loss=9")


def test_tail_of_a_metric_not_there_says_so(log_path: Path) -> None:
    """A typo in --metrics printed nothing and exited 0, like a run that logged nothing."""
    result = CliRunner().invoke(cli, ["tail", str(log_path), "-F", "--metrics", "train/los"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"Error: {log_path}: no metric 'train/los' (metrics: train/loss, lr, val/loss)\n"
    )
    # a sparse metric (an eval every 50 steps): -n counts the rows that hold it
    args = ["tail", str(log_path), "-F", "-n", "3", "--metrics", "val/loss"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and result.stderr == ""
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["50", "100", "150"]
    result = CliRunner().invoke(cli, ["tail", str(log_path), "-F", "--metrics", ""])
    assert result.exit_code == 2
    assert result.stderr == "Error: --metrics: no names given (e.g. --metrics train/loss,lr)\n"
    # -n 0 shows no row on purpose: no error
    assert invoke("tail", str(log_path), "-F", "-n", "0", "--metrics", "x").exit_code == 0  # type: ignore[attr-defined]


def test_tail_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    """``curvelog tail run.log | head -1`` printed "Error: Broken pipe" (exit 2).

    The rows shown are many times a pipe's buffer (64 KiB), so the reader's
    going away always meets a write, however the two processes are scheduled."""
    import subprocess
    import sys

    path = tmp_path / "long.log"
    with curvelog.EventLog(path) as log:
        for i in range(20_000):
            log.append(i, **{"train/loss": 1.0 / (i + 1), "lr": 0.1})
    cmd = [sys.executable, "-c", "from curvelog.cli import main; main()",
           "tail", str(path), "-F", "-n", "20000"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()  # the reader goes away after its first line
    err = proc.stderr.read()
    proc.stderr.close()
    assert (proc.wait(timeout=60), err) == (141, b"")


def test_tail_rejects_a_bad_poll_interval(log_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tail", str(log_path), "--poll", "-1"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--poll" in result.stderr


def test_tail_of_a_log_that_disappears(log_path: Path) -> None:
    rows = curvelog.log.follow(log_path, last=1, poll=0.01)
    assert next(rows)[0] == 150  # the last row written: the resumed session's
    log_path.unlink()
    with pytest.raises(curvelog.PathError, match="cannot read any more"):
        next(rows)


def test_export_into_an_unwritable_place_is_one_error_line(log_path: Path, tmp_path: Path) -> None:
    for out, message in [
        (tmp_path / "missing" / "o.csv", "folder does not exist"),
        (log_path.with_suffix(".csv"), None),
    ]:
        result = CliRunner().invoke(cli, ["export", str(log_path), "-o", str(out)])
        if message is None:
            assert result.exit_code == 0
            continue
        assert result.exit_code == 2
        assert result.stderr.startswith("Error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1


def test_inspect_tells_a_live_writer_from_a_dead_one(tmp_path: Path) -> None:
    path = tmp_path / "live.log"
    log = curvelog.EventLog(path, flush_every=0)
    log.append(0, x=1.0)
    log.flush()
    with open(path, "ab") as f:  # what a reader may see mid-write
        f.write(b"\xc1CLR")
    info = json.loads(invoke("inspect", str(path), "--json").output)  # type: ignore[attr-defined]
    assert info["live"] is True and info["sessions"][0]["closed"] is False
    assert info["damage"][-1]["what"].endswith("a record being written")
    text = invoke("inspect", str(path)).output  # type: ignore[attr-defined]
    assert "sessions  1, session 0 still being written\n" in text and "writer died" not in text
    log.close()
    assert curvelog.read(path).live is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export"], "Missing argument 'LOG'."),
        (["export", "x.log"], "Missing option '-o' / '--output'."),
        (
            ["compact", "x.log", "--points", "0"],
            "Invalid value for '--points': 0 is not in the range x>=2.",
        ),
        (
            ["tail", "x.log", "-n", "-5"],
            "Invalid value for '-n' / '--lines': -5 is not in the range x>=0.",
        ),
        (["nosuch"], "No such command 'nosuch'."),
        (["compact", "x.log", "-o", ""], "-o needs a file name (or '-' for stdout)"),
    ],
)
def test_usage_errors_are_one_line_too(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert "Usage:" not in result.output


def test_fifos_and_devices_are_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    commands = (["inspect", str(fifo)], ["compact", str(fifo)], ["import", "csv", str(fifo)],
                ["plot", str(fifo)])  # fmt: skip
    for args in commands:
        result = CliRunner().invoke(cli, args)  # would block forever on open() without the check
        assert result.exit_code == 2
        assert result.stderr == f"Error: {fifo}: is not a regular file\n"
    result = CliRunner().invoke(cli, ["inspect", "/dev/zero"])
    assert result.stderr == "Error: /dev/zero: is not a regular file\n"


def test_compact_counts_in_the_singular(tmp_path: Path) -> None:
    path = tmp_path / "one.log"
    with curvelog.EventLog(path) as log:
        log.append(0, x=1.0)
    result = CliRunner().invoke(cli, ["compact", str(path)])
    assert "1 chart, 1 series, 1 point from 1 row" in result.stderr


def test_compact_into_a_locked_registry_gives_up_after_lock_timeout(
    log_path: Path, tmp_path: Path
) -> None:
    import filelock

    root = tmp_path / "saved_models"
    root.mkdir()
    lock = root / ".registry.lock"
    with filelock.FileLock(str(lock)):  # another open file conflicts, as another process would
        result = CliRunner().invoke(
            cli,
            ["compact", str(log_path), "--registry", str(root), "--key", "exp/a",
             "--lock-timeout", "0.2", "--no-png"],
        )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {lock}: could not take the registry lock within 0.2 s; "
        "another process is holding it\n"
    )


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "0"])
def test_tail_poll_must_be_a_number_of_seconds(log_path: Path, value: str) -> None:
    """NaN passes click's range checks (every comparison is false) and inf overflows
    sleep(): both crashed with a traceback once the tail had to wait."""
    result = CliRunner().invoke(cli, ["tail", str(log_path), "-n", "0", "-F", "--poll", value])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--poll'")
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1


def test_lock_timeout_nan_is_refused(log_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    args = ["compact", str(log_path), "-o", str(out), "--registry", str(tmp_path / "reg"),
            "--key", "a/b", "--lock-timeout", "nan"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and not out.exists()
    assert (
        result.stderr
        == "Error: Invalid value for '--lock-timeout': 'nan' is not a number of seconds.\n"
    )


def test_names_reach_the_terminal_escaped(tmp_path: Path) -> None:
    """A metric name is data from anywhere (an imported CSV): its escape sequences
    set the terminal's title or cleared it, a newline broke rows and error lines."""
    log = tmp_path / "esc.log"
    evil = "evil\x1b]0;pwned\x07\x1b[2J\n\u202eok"
    with curvelog.EventLog(log, best=evil, flush_every=0) as lg:
        for s in range(3):
            lg.append(s, {"loss": 1.0, evil: 0.5, "x" * 200: 2.0})
    out = invoke("inspect", str(log)).output  # type: ignore[attr-defined]
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    shown = "evil\\x1b]0;pwned\\x07\\x1b[2J\\n\\u202eok"
    assert f"  best      {shown} = 0.5 at step 0" in out
    rows = {line.split()[0]: line for line in out.splitlines()[10:]}
    assert shown in rows and rows[shown].split()[1] == "3"
    cut = "x" * 30 + "…" + "x" * 29  # 60 characters, the middle cut
    assert cut in rows
    tail = invoke("tail", str(log), "-F", "-n", "1").output  # type: ignore[attr-defined]
    assert f"{shown}=0.5" in tail and "\x1b" not in tail
    err = CliRunner().invoke(cli, ["plot", str(log), "--charts", "nope", "-o",
                                   str(tmp_path / "p.png")])  # fmt: skip
    assert err.exit_code == 2 and err.stderr.count("\n") == 1 and "\x1b" not in err.stderr
    assert shown in err.stderr
