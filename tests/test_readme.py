"""The README's examples run as written, in a fresh folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import curvelog

README = Path(__file__).resolve().parent.parent / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_recording_example_runs_on_a_fresh_checkout(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", _section("Recording"), re.S)
    assert code is not None
    assert not (tmp_path / "runs").exists()
    done = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    run = curvelog.read(tmp_path / "runs" / "exp1" / "run.log")
    assert run.series("train/loss").steps.tolist() == list(range(2_000))
    assert run.series("val/loss").steps.tolist() == [0, 500, 1000, 1500]
    assert run.best is not None and run.best.metric == "val/loss" and run.best.step == 1500
    assert run.config == {"lr": 3e-4, "batch_size": 64, "epochs": 1}
