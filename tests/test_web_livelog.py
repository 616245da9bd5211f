"""LiveLog: a log followed by byte offset, its columns merged as the reader deduplicates."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

import curvelog
from curvelog.web.livelog import LiveLog, m4


def _same_as_reader(live: LiveLog, path: Path) -> None:
    run = curvelog.read(path)
    assert sorted(live.columns) == sorted(run.metrics)
    for m in run.metrics:
        s = run.series(m)
        np.testing.assert_array_equal(live.columns[m].x, s.steps)
        np.testing.assert_array_equal(live.columns[m].y, s.values)


def test_poll_reads_only_the_new_frames(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    log = curvelog.EventLog(path, best="loss", flush_every=0)
    try:
        for s in range(100):
            log.append(s, {"loss": 1.0 / (s + 1)})
        log.flush()
        live = LiveLog(path)
        assert live.live and live.last_step == 99
        start = live.offset
        assert not live.poll()  # nothing new: one stat, nothing read
        for s in range(100, 150):
            log.append(s, {"loss": 1.0 / (s + 1), "acc": s / 150})
        log.flush()
        assert live.poll()
        assert live.offset == path.stat().st_size > start
        assert live.last_step == 149 and live.structure == 1  # a new metric: new charts
        _same_as_reader(live, path)
        assert live.best() == {"metric": "loss", "step": 149, "value": 1.0 / 150}
    finally:
        log.close()
    assert live.poll() and not live.live  # the end record closes the session


def test_a_torn_tail_is_read_again_not_decoded(tmp_path: Path) -> None:
    # a log cut in the middle of a frame, as a writer mid-write leaves it
    other = tmp_path / "cut.log"
    with curvelog.EventLog(other, flush_every=0) as log:
        for s in range(5):
            log.append(s, {"loss": float(s)})
        log.flush()
        head = other.stat().st_size
    full = other.read_bytes()
    cut = tmp_path / "torn.log"
    cut.write_bytes(full[: head + 7])
    live = LiveLog(cut)
    assert live.offset == head and live.columns["loss"].n == 5
    with open(cut, "ab") as f:
        f.write(full[head + 7 :])
    live.poll()
    assert live.offset == len(full)
    _same_as_reader(live, cut)


def test_a_resume_rewrites_steps_latest_wins(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(100):
            log.append(s, {"loss": 1.0})
    live = LiveLog(path)
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(60, 120):
            log.append(s, {"loss": 2.0, "lr": math.nan})
    live.poll()
    assert live.resumes == 1 and live.sessions == 2 and live.structure >= 2
    _same_as_reader(live, path)
    col = live.columns["loss"]
    assert col.y[59] == 1.0 and col.y[60] == 2.0 and col.n == 120


def test_window_is_raw_when_small_and_keeps_extremes_when_large(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(size=50_000))
    y[123] = math.inf
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s, v in enumerate(y.tolist()):
            log.append(2 * s, {"v": v})
    live = LiveLog(path)
    w = live.window("v", 1000, 1100, 200)
    assert w.method == "raw" and w.x.tolist() == list(range(998, 1104, 2))
    big = live.window("v", 0, 100_000, 800)
    assert big.method == "m4" and big.x.size <= 800 + 8
    finite = y[np.isfinite(y)]
    assert big.y[np.isfinite(big.y)].max() == finite.max()
    assert 246 in big.x.tolist()  # the inf
    auto = live.window("v", 0, 100_000, 800, method="auto")
    assert auto.method == "auto" and auto.x.size <= 800


@pytest.mark.parametrize("n", [1, 7, 100, 1001, 4096])
@pytest.mark.parametrize("columns", [1, 3, 50])
def test_m4_against_a_loop(n: int, columns: int) -> None:
    rng = np.random.default_rng(n * 31 + columns)
    y = rng.normal(size=n)
    y[rng.integers(0, n, size=max(n // 50, 1))] = math.nan
    a = int(rng.integers(0, n))  # a diverged stretch: NaN, then +inf, then -inf runs
    y[a : a + n // 5] = math.nan
    y[a + n // 5 : a + n // 4] = math.inf
    y[a + n // 4 : a + n // 3] = -math.inf
    got = m4(y, columns).tolist()
    assert got == m4(y, columns, np.flatnonzero(~np.isfinite(y))).tolist()
    if n <= 4 * columns:
        assert got == list(range(n))
        return
    size = -(-n // columns)
    want: set[int] = set()
    full = n // size * size
    for a in range(0, full, size):
        chunk = y[a : a + size]
        want |= {a, a + size - 1}
        ok = np.flatnonzero(np.isfinite(chunk))
        if ok.size:
            want |= {a + int(ok[np.argmin(chunk[ok])]), a + int(ok[np.argmax(chunk[ok])])}
        else:
            want.add(a)
    want |= set(range(full, n))
    kind = [
        "ok" if math.isfinite(v) else "nan" if math.isnan(v) else "inf" if v > 0 else "-inf"
        for v in y.tolist()
    ]
    for i in np.flatnonzero(~np.isfinite(y)).tolist():  # a run of one kind: its two ends
        inner = 0 < i < n - 1 and kind[i - 1] == kind[i] == kind[i + 1]
        if not inner:
            want.add(i)
    assert got == sorted(want)


def test_a_diverged_window_is_reduced_to_the_ends_of_its_nan_run(tmp_path: Path) -> None:
    """regress2 finding 4: every NaN was kept, so a diverged run was never re-sampled."""
    y = np.cumsum(np.random.default_rng(5).normal(size=30_000))
    y[3000:] = math.nan
    y[29_000:29_010] = math.inf
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s, v in enumerate(y.tolist()):
            log.append(s, {"v": v})
    w = LiveLog(path).window("v", 0, 30_000, 2000)
    assert w.method == "m4" and w.x.size <= 2000 + 8
    assert {2999, 3000, 28_999, 29_000, 29_009, 29_010, 29_999} <= set(w.x.tolist())
    assert np.isnan(w.y[w.x.tolist().index(28_999)]) and np.isinf(w.y[w.x.tolist().index(29_000)])


def test_a_replaced_log_asks_for_a_fresh_read(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(100):
            log.append(s, {"loss": 1.0})
    live = LiveLog(path)
    path.unlink()
    with curvelog.EventLog(path, flush_every=0) as log:
        log.append(0, {"loss": 2.0})
    assert live.poll() and live.structure == 1


def test_a_resume_going_up_through_old_steps_counts_as_rewrites(tmp_path: Path) -> None:
    """Only the resume's first frame goes back; its later frames land on steps held
    before, and a bundle built before them no longer holds (finding 1)."""
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(100):
            log.append(s, {"loss": 1.0})
    live = LiveLog(path)
    log = curvelog.EventLog(path, flush_every=0)
    try:
        for s in range(20, 30):
            log.append(s, {"loss": 2.0})
        log.flush()
        live.poll()
        structure, rewrites = live.structure, live.rewrites
        for s in range(30, 60):
            log.append(s, {"loss": 2.0})
        log.flush()
        assert live.poll()
        assert live.structure == structure  # no new chart: the tail says it
        assert live.rewrites > rewrites  # but what was read before is stale
        assert live.last_step == 59 and live.steps == 100
        assert live.after(29, 100)["loss"].y.tolist() == [2.0] * 30 + [1.0] * 40
        _same_as_reader(live, path)
    finally:
        log.close()


def test_a_log_replaced_by_a_bigger_one_is_stale_not_read_at_the_old_offset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(10):
            log.append(s, {"loss": 1.0})
    live = LiveLog(path)
    other = tmp_path / "other.tmp"
    with curvelog.EventLog(other, flush_every=0) as log:
        for s in range(500):
            log.append(s, {"loss": 100.0 + s})
    os.replace(other, path)  # atomically: same size or bigger, another inode
    assert live.poll() and live.stale and live.structure == 1
    assert live.columns["loss"].n == 10  # nothing read from the middle of the new file
    assert not live.poll()  # and nothing later either, until it is read again
    live.reload()
    assert not live.stale and live.structure == 1 and live.last_step == 499
    _same_as_reader(live, path)


def test_a_log_truncated_and_written_again_past_its_old_size_is_stale(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    with curvelog.EventLog(path, flush_every=0) as log:
        for s in range(10):
            log.append(s, {"loss": 1.0})
    live = LiveLog(path)
    inode = path.stat().st_ino
    with curvelog.EventLog(tmp_path / "other.log", flush_every=0) as log:
        for s in range(500):
            log.append(s, {"loss": 5.0})
    with open(path, "r+b") as f:  # the same file, rewritten in place
        f.truncate(0)
        f.write((tmp_path / "other.log").read_bytes())
    assert path.stat().st_ino == inode
    assert live.poll() and live.stale
