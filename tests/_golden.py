"""The records of samples/golden/tiny.log, spelled out: the golden-bytes test encodes them."""

from __future__ import annotations

import struct
from typing import Any

SESSION: dict[str, Any] = {
    "type": "session",
    "format": 1,
    "run_id": "0123456789abcdef0123456789abcdef",
    "sid": "00112233aabbccdd",
    "resumed": False,
    "start_time": 1700000000.0,
    "host": "golden",
    "pid": 4242,
    "platform": "Linux",
    "python": "3.11.7",
    "packages": {"curvelog": "0.1.0", "numpy": "2.0.0"},
    "git": None,
    "argv": ["train.py"],
    "cwd": "/work",
    "config": {"lr": 0.001},
    "charts": {},
    "objective": {"metric": "val/loss", "mode": "min"},
}

STEPS = [0, 1, 2]
TIMES = [1700000000.5, 1700000001.0, 1700000001.5]
TRAIN = [2.5, float("nan"), float("inf")]
VAL_ROWS = [2]
VAL = [1.25]


def f64(xs: list[float]) -> bytes:
    return struct.pack(f"<{len(xs)}d", *xs)


DATA: dict[str, Any] = {
    "type": "data",
    "sid": "00112233aabbccdd",
    "n": 3,
    "step": struct.pack("<3q", *STEPS),
    "time": f64(TIMES),
    "cols": {"train/loss": [None, f64(TRAIN)], "val/loss": [struct.pack("<I", 2), f64(VAL)]},
}
BEST: dict[str, Any] = {
    "type": "best",
    "sid": "00112233aabbccdd",
    "source": "tracked",
    "step": 2,
    "metric": "val/loss",
    "mode": "min",
    "value": 1.25,
    "time": 1700000002.0,
}
END: dict[str, Any] = {
    "type": "end",
    "sid": "00112233aabbccdd",
    "time": 1700000002.0,
    "reason": "close",
    "rows": 3,
}
RECORDS = [SESSION, DATA, BEST, END]
