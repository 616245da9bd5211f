"""curvelog.integrations itself: no framework imported, the lazily opened log, filing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import curvelog
from curvelog.integrations._common import LazyLog, file_run, flatten


def test_importing_the_package_imports_no_framework() -> None:
    code = (
        "import sys, curvelog.integrations, curvelog.integrations._common; "
        "print(sorted(m for m in ('torch', 'lightning', 'transformers', 'keras', 'accelerate',"
        " 'polars', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_config_given_before_the_first_value_is_in_the_header(tmp_path: Path) -> None:
    run = LazyLog(tmp_path / "run.log", best="loss")
    run.add_config({"lr": 0.1})
    run.add_config({"seed": 3})
    assert not (tmp_path / "run.log").exists()  # nothing logged yet, nothing created
    run.append(0, {"loss": 1.0})
    run.append(1, {"loss": 0.5})
    assert run.finish() is None
    read = curvelog.read(tmp_path / "run.log")
    assert read.header["config"] == {"lr": 0.1, "seed": 3}
    assert read.best is not None and read.best.step == 1


def test_config_given_after_opening_is_recorded(tmp_path: Path) -> None:
    """Lightning calls log_hyperparams after the first values: a config record (#17)."""
    run = LazyLog(tmp_path / "run.log")
    run.add_config({"seed": 3})
    run.append(0, {"loss": 1.0})
    run.add_config({"lr": 0.1})
    run.add_config({"lr": 0.2})
    run.finish()
    read = curvelog.read(tmp_path / "run.log")
    assert read.header["config"] == {"seed": 3}  # the header is never rewritten
    assert read.config == {"seed": 3, "lr": 0.2}


def test_registry_and_key_go_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        LazyLog(tmp_path / "run.log", registry=tmp_path / "reg")


def test_a_second_finish_refiles_the_same_version(tmp_path: Path) -> None:
    run = LazyLog(tmp_path / "run.log", registry=tmp_path / "reg", key="a/b")
    run.append(0, {"loss": 1.0})
    first = run.finish()
    assert first is not None and first.number == 1
    run.append(1, {"loss": 0.5})  # a later stage: a new session of the same file
    second = run.finish()
    assert second == first
    bundle = curvelog.load_bundle(second.path / "curves.json")
    (series,) = [s for c in bundle["charts"] for s in c["series"] if s["metric"] == "loss"]
    assert series["x"] == [0, 1]  # the second session's step is in the refiled bundle


def test_file_run_makes_a_version_with_bundle_and_png(tmp_path: Path) -> None:
    with curvelog.EventLog(tmp_path / "run.log") as log:
        for step in range(10):
            log.append(step, loss=1.0 / (step + 1))
    version = file_run(tmp_path / "run.log", tmp_path / "reg", "x/y")
    assert (version.path / "curves.json").is_file()
    assert (version.path / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_flatten_names_nested_values() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a/b": 1, "a/c/d": 2, "e": 3}
