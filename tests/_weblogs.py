"""Logs for the web tests: a resumed run with a NaN, a best step and a hostile metric name."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from curvelog import EventLog

HOSTILE = "<img src=x onerror=alert(1)>"
BEST_STEP = 200
NAN_STEP = 120
RESUME_FROM = 250


def val_loss(step: int) -> float:
    return 1.0 + ((step - BEST_STEP) / 100.0) ** 2


def write_run(path: Path, seed: int = 0) -> Path:
    """400 steps in two sessions (the second resumes from step 250), val/loss best at step 200."""
    rng = np.random.default_rng(seed)
    with EventLog(path, best="val/loss", mode="min", flush_every=0) as log:
        for s in range(300):
            row = {"train/loss": 3.0 / (1 + s * 0.02) + float(rng.normal(0, 0.01)), "lr": 1e-3}
            if s == NAN_STEP:
                row["train/loss"] = math.nan
            if s % 10 == 0:
                row["val/loss"] = val_loss(s)
            row[HOSTILE] = s * 0.5
            log.append(s, row)
    with EventLog(path, best="val/loss", mode="min", flush_every=0) as log:
        for s in range(RESUME_FROM, 400):
            row = {"train/loss": 3.0 / (1 + s * 0.02), "lr": 1e-4, HOSTILE: s * 0.5}
            if s % 10 == 0:
                row["val/loss"] = val_loss(s)
            log.append(s, row)
    return path
