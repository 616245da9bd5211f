"""The fast read (#12): checksums deferred to a threaded copy, the careful read as the judge.

`read` first takes the fast path (`_fill`): data records are decoded before
their checksum is computed, and each chunk is checked while it is copied,
in threads. Whatever is wrong sends it back to the careful path. Every test
here compares the two: same data, same damage, same strict error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from curvelog import EventLog
from curvelog.errors import LogCorruptError
from curvelog.log import _fill, _format, _reader, _view
from test_log_view import _same_run


def _log(path: Path, n: int = 30_000) -> Path:
    rng = np.random.default_rng(3)
    loss = rng.standard_normal(n)
    with EventLog(path, best="loss") as log:
        for i in range(n):
            if i % 5 == 0:
                log.append(i, loss=float(loss[i]), val=float(i))
            else:
                log.append(i, loss=float(loss[i]), acc=i * 1e-4)
    with EventLog(path) as log:  # a resume
        for i in range(n // 2, n // 2 + 3000):
            log.append(i, loss=-float(i), acc=0.5)
    return path


def _careful(path: Path, strict: bool = False) -> curvelog.Run:
    image = _view.open_image(str(path), False)
    return _reader._read(str(path), image, False, strict, True, fast=False)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Which path each `_read` took, with threads on for small logs too."""
    monkeypatch.setattr(_fill, "_THREADED_MIN", 0)
    monkeypatch.setattr(_fill, "_THREADED_CHUNK", 0)
    monkeypatch.setattr(_fill.os, "cpu_count", lambda: 3)
    taken: list[bool] = []
    inner = _reader._read

    def spy(*args: Any, fast: bool) -> curvelog.Run:
        taken.append(fast)
        return inner(*args, fast=fast)

    monkeypatch.setattr(_reader, "_read", spy)
    return taken


def _data_frames(raw: bytes) -> list[_format.Frame]:
    frames, _ = _format.scan(raw)
    return [f for f in frames if f.record.get("type") == "data"]


def test_an_intact_log_is_read_once_on_the_fast_path(
    tmp_path: Path, paths: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _log(tmp_path / "a.log")
    started: list[int] = []
    thread = _fill.threading.Thread

    def counted(*args: Any, **kwargs: Any) -> Any:
        started.append(1)
        return thread(*args, **kwargs)

    monkeypatch.setattr(_fill.threading, "Thread", counted)
    run = curvelog.read(path)
    assert paths == [True]  # no second, careful read
    assert len(started) == 3  # the chunks were shared among three threads
    assert run.damage == [] and run.resumes == 1 and "val" in run.metrics
    _same_run(run, _careful(path))


def _reframed(frame: _format.Frame, change: Any) -> bytes:
    """The frame with its record changed and its checksums made right again."""
    record = {k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in frame.record.items()}
    change(record)
    return _format.encode_frame(_format.pack(record))


def _negative_step(r: dict[str, Any]) -> None:
    steps = np.frombuffer(r["step"], dtype="<i8").copy()
    steps[len(steps) // 2] = -5
    r["step"] = steps.tobytes()


def _infinite_time(r: dict[str, Any]) -> None:
    times = np.frombuffer(r["time"], dtype="<f8").copy()
    times[-1] = np.inf
    r["time"] = times.tobytes()


@pytest.mark.parametrize(
    "damage",
    ["corrupt-payload", "corrupt-last", "negative-step", "infinite-time", "torn", "repeated"],
)
def test_damage_found_on_the_fast_path_reads_as_the_careful_path(
    tmp_path: Path, paths: list[bool], damage: str
) -> None:
    path = _log(tmp_path / "a.log")
    raw = path.read_bytes()
    data = _data_frames(raw)
    a, b = data[2], data[-2]
    if damage.startswith("corrupt"):
        f = a if damage == "corrupt-payload" else data[-1]
        buf = bytearray(raw)
        buf[f.end - 3] ^= 0x10  # inside a column: the header still checks
        out = bytes(buf)
    elif damage in ("negative-step", "infinite-time"):
        fix = _negative_step if damage == "negative-step" else _infinite_time
        out = raw[: b.offset] + _reframed(b, fix) + raw[b.end :]
    elif damage == "torn":
        out = raw[: b.end + 20]
    else:
        out = raw[: b.end] + raw[a.offset : a.end] + raw[b.end :]
    path.write_bytes(out)
    run = curvelog.read(path)
    taken = list(paths)
    _same_run(run, _careful(path))
    kind = {"torn": "torn", "repeated": "repeated", "negative-step": "malformed"}.get(
        damage, "malformed" if damage == "infinite-time" else "corrupt"
    )
    assert kind in {d.kind for d in run.damage}
    # the scan finds a torn tail or a repeated chunk by their headers; a damaged
    # chunk is only caught when it is copied, and then the log is read again
    assert taken == ([True] if damage in ("torn", "repeated") else [True, False])
    with pytest.raises(LogCorruptError) as fast_error:
        curvelog.read(path, strict=True)
    with pytest.raises(LogCorruptError) as careful_error:
        _careful(path, strict=True)
    assert str(fast_error.value) == str(careful_error.value)


def test_a_corrupt_chunk_sends_the_read_back_to_the_careful_path(
    tmp_path: Path, paths: list[bool]
) -> None:
    path = _log(tmp_path / "a.log")
    raw = bytearray(path.read_bytes())
    f = _data_frames(bytes(raw))[1]
    raw[f.end - 3] ^= 0x10
    path.write_bytes(bytes(raw))
    run = curvelog.read(path)
    assert paths == [True, False]
    assert [d.kind for d in run.damage] == ["corrupt"]
    assert run.damage[0].start == f.offset


def test_chunks_are_shared_among_threads_in_runs_of_about_equal_bytes() -> None:
    frames = [_format.Frame(i * 100, i * 100 + 50 + (i % 3) * 25, {}) for i in range(40)]
    chunks = [_fill.Chunk(f, "s", (0, i), None, False) for i, f in enumerate(frames)]
    total = sum(f.end - f.offset for f in frames)
    for parts in (1, 2, 3, 4):
        bounds = _fill._split(chunks, parts, total)
        assert bounds[0] == 0 and bounds[-1] == len(chunks) and len(bounds) == parts + 1
        assert bounds == sorted(bounds)
        sizes = [
            sum(f.end - f.offset for f in frames[lo:hi])
            for lo, hi in zip(bounds, bounds[1:], strict=False)
        ]
        assert max(sizes) - min(sizes) <= 2 * 100  # within two chunks of each other
