"""Seeded stress: sessions that append, flush, fill the disk, take Ctrl-Cs, resume and die.

Issue #10 ("must show"): every value the writer reported written is read back
exactly, and no stale value wins: at each step the value read is the one the
latest session wrote (or a later one that reached the disk unconfirmed).
Each session is a process (tests/_stress_worker.py); sessions resume at an
earlier step now and then, as a training run restarted from a checkpoint does.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import curvelog

WORKER = Path(__file__).with_name("_stress_worker.py")


def _journal(path: Path) -> tuple[list[tuple[int, float]], set[tuple[int, float]]]:
    intents: list[tuple[int, float]] = []
    confirmed: set[tuple[int, float]] = set()
    for line in path.read_text().splitlines():
        tag, s, v = line.split()
        (intents.append if tag == "A" else confirmed.add)((int(s), float(v)))  # type: ignore[func-returns-value]
    return intents, confirmed


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_stress_nothing_reported_written_is_lost_and_no_stale_value_wins(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    log, journal = tmp_path / "run.log", tmp_path / "journal"
    step = 0
    for session in range(12):
        start = step if rng.random() < 0.6 else rng.randint(0, step)  # resume from a checkpoint
        done = subprocess.run(
            [sys.executable, str(WORKER), str(log), str(journal), str(seed * 100 + session + 1),
             str(start)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        intents, _ = _journal(journal)
        step = max((s for s, _ in intents), default=0) + 1
    intents, confirmed = _journal(journal)
    run = curvelog.read(log)
    assert {d.kind for d in run.damage} <= {"corrupt", "torn", "unfinished"}, run.damage
    raw = set(zip(run._steps.tolist(), run._cols["x"][1].tolist(), strict=True))
    assert run._cols["x"][0] is None  # x is in every row
    # 1. every value the writer reported written is there, exactly
    assert confirmed <= raw, sorted(confirmed - raw)[:5]
    assert len(confirmed) > 1000
    # 2. nothing is there that was never appended, and nothing twice
    assert raw <= set(intents)
    assert len(raw) == run.rows
    # 3. at each step the latest value present wins: never an older one
    order = {sv: i for i, sv in enumerate(intents)}
    latest: dict[int, tuple[int, float]] = {}
    for sv in raw:
        if sv[0] not in latest or order[sv] > order[latest[sv[0]]]:
            latest[sv[0]] = sv
    series = run.series("x")
    got = dict(zip(series.steps.tolist(), series.values.tolist(), strict=True))
    assert got == {s: v for s, (_, v) in latest.items()}
    # 4. sessions that closed say how many rows they wrote, truthfully
    for sess in run.sessions:
        if sess.end is not None:
            assert sess.end["rows"] == sess.rows
    assert np.all(np.isfinite(series.values))
