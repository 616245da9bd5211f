"""What charts say (issue #17): per-line NaN counts, all-NaN panels, `--method none`,
upward resumes, useful run names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import curvelog
from _cli import invoke
from curvelog import EventLog, build_bundle, plot_bundle
from curvelog.pipeline import compact


def _lines(ax: Any, prefix: str) -> list[Any]:
    return [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith(prefix)]


def _legend(ax: Any) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg is not None else []


def _two_lines_with_nans(path: Path) -> Path:
    with EventLog(path, flush_every=0) as log:
        for i in range(200):
            train = math.nan if i in (10, 11, 12, 50) else 1.0 / (i + 1)
            val = math.nan if i in (100, 150) else 2.0 / (i + 1)
            log.append(i, {"train/loss": train, "val/loss": val})
    return path


def test_nan_counts_are_per_line_not_summed(tmp_path: Path) -> None:
    bundle, _ = compact(_two_lines_with_nans(tmp_path / "run.log"), write=False)
    ax = plot_bundle(bundle).axes[0]
    texts = _legend(ax)
    assert "train: NaN \u00d74" in texts and "val: NaN \u00d72" in texts
    assert not any(t.startswith("NaN") for t in texts)  # no panel-wide "NaN ×6"


def test_a_panel_whose_values_are_all_nan_says_so(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(50):
            log.append(i, {"loss": 1.0 / (i + 1), "grad_norm": math.nan})
    fig = plot_bundle(build_bundle(curvelog.read(path)))
    alive, dead = fig.axes[:2]  # charts in order of first appearance: loss, grad_norm
    (note,) = [t for t in dead.texts if t.get_gid() == "curvelog-nofinite"]
    assert note.get_text() == "all values are NaN"
    assert list(dead.get_yticks()) == []  # no invented range with ticks
    assert not [t for t in alive.texts if t.get_gid() == "curvelog-nofinite"]
    assert len(alive.get_yticks()) > 0


def test_method_none_keeps_every_point_nan_runs_included(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(300):
            log.append(i, loss=math.nan if 100 <= i < 200 else float(i))
    (s,) = compact(path, write=False, method="none")[0]["charts"][0]["series"]
    assert s["x"] == list(range(300))
    assert s["y"][100:200] == [None] * 100
    assert s["events"] == [{"step": 100, "kind": "nan", "last_step": 199, "count": 100}]
    (auto,) = compact(path, write=False)[0]["charts"][0]["series"]
    assert 100 in auto["x"] and 199 in auto["x"] and 150 not in auto["x"]  # others still drop


def test_a_resume_whose_steps_continue_upward_is_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with EventLog(path) as log:
        for i in range(100):
            log.append(i, loss=1.0)
    with EventLog(path) as log:  # Lightning: the resumed run goes on from step 100
        for i in range(100, 150):
            log.append(i, loss=0.5)
    with EventLog(path) as log:  # and one that goes back, as before
        for i in range(120, 130):
            log.append(i, loss=0.25)
    run = curvelog.read(path)
    assert [(g.session, g.first_step, g.last_step) for g in run.segments] == [
        (0, 0, 99), (1, 100, 149), (2, 120, 129),
    ]  # fmt: skip
    assert run.resumes == 2
    assert [r["step"] for r in run.describe()["resumes"]] == [100, 120]
    bundle = build_bundle(run)
    assert bundle["resumes"] == [{"step": 100, "session": 1}, {"step": 120, "session": 2}]
    text = invoke("inspect", str(path)).output
    assert (
        "resumes   2\n            at step 100 (after 99)\n            at step 120 (after 149)"
        in text
    )


def test_a_session_without_rows_is_no_resume(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with EventLog(path) as log:
        log.append(0, loss=1.0)
    with EventLog(path):
        pass
    with EventLog(path) as log:
        log.append(1, loss=0.5)
    assert curvelog.read(path).resumes == 1


def test_run_log_is_named_after_its_folder_or_its_given_name(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "exp1"
    with EventLog(folder / "run.log") as log:
        log.append(0, loss=1.0)
    with EventLog(tmp_path / "loss.log") as log:
        log.append(0, loss=1.0)
    with EventLog(tmp_path / "runs" / "exp2" / "run.log", name="gpt2-lr3e-4") as log:
        log.append(0, loss=1.0)
    names = {
        p: build_bundle(curvelog.read(tmp_path / p))["run"]["name"]
        for p in ("runs/exp1/run.log", "loss.log", "runs/exp2/run.log")
    }
    assert names == {
        "runs/exp1/run.log": "exp1", "loss.log": "loss", "runs/exp2/run.log": "gpt2-lr3e-4",
    }  # fmt: skip
    fig = plot_bundle(build_bundle(curvelog.read(folder / "run.log")))
    assert fig.get_suptitle() == "exp1"
    invoke("plot", str(folder / "run.log"))
    assert (folder / "run.png").exists()


def test_name_must_be_a_string(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        EventLog(tmp_path / "x.log", name="")
    assert not (tmp_path / "x.log").exists()
