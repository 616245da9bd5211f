"""Reading in place (#12): the mapped file and the in-place decoder give what the copies gave.

Every test compares the in-place path with the path it replaces (msgpack's
``unpackb``, the file read into ``bytes``) on the same bytes, damaged ones
included, so the two cannot drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest

import curvelog
from curvelog import EventLog
from curvelog.log import _format, _view


def _plain(obj: Any) -> Any:
    """memoryviews as bytes, recursively: what msgpack would have returned."""
    if isinstance(obj, memoryview):
        return bytes(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _big_log(path: Path, n: int = 60_000, sparse: bool = True) -> Path:
    """A log over MAP_MIN (so it is mapped), with a resume and a metric in some rows only."""
    rng = np.random.default_rng(7)
    loss = rng.standard_normal(n)
    with EventLog(path, best="loss") as log:
        for i in range(n):
            if sparse and i % 7 == 0:
                log.append(i, loss=float(loss[i]), val=float(i))
            else:
                log.append(i, loss=float(loss[i]), acc=i * 1e-3, lr=3e-4)
    with EventLog(path) as log:  # a resume from an earlier checkpoint
        for i in range(n // 2, n // 2 + 5000):
            log.append(i, loss=-float(i), acc=0.5, lr=1e-4)
    assert n < 60_000 or os.path.getsize(path) >= _view.MAP_MIN
    return path


def _same_run(a: curvelog.Run, b: curvelog.Run) -> None:
    assert a.metrics == b.metrics
    assert a.size == b.size and a.rows == b.rows
    assert [(d.start, d.end, d.kind, d.detail) for d in a.damage] == [
        (d.start, d.end, d.kind, d.detail) for d in b.damage
    ]
    np.testing.assert_array_equal(a._steps, b._steps)
    np.testing.assert_array_equal(a._times, b._times)
    for m in a.metrics:
        ra, va = a._cols[m]
        rb, vb = b._cols[m]
        assert (ra is None) == (rb is None)
        if ra is not None:
            np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(va, vb)
        assert va.dtype == vb.dtype == np.float64
    assert [(s.sid, s.rows, s.first_step, s.last_step, s.last_time) for s in a.sessions] == [
        (s.sid, s.rows, s.first_step, s.last_step, s.last_time) for s in b.sessions
    ]
    assert a.describe() == b.describe()


def _read_unmapped(path: Path, monkeypatch: pytest.MonkeyPatch) -> curvelog.Run:
    with monkeypatch.context() as m:
        m.setattr(_view, "MAP_MIN", 1 << 62)  # the whole file into bytes, as before #12
        return curvelog.read(path)


def test_data_payloads_decode_in_place_as_msgpack_decodes_them(tmp_path: Path) -> None:
    path = _big_log(tmp_path / "a.log", n=5000)
    frames, _ = _format.scan(path.read_bytes())
    raw = path.read_bytes()
    data = [f for f in frames if f.record.get("type") == "data"]
    assert data
    for f in frames:
        payload = memoryview(raw)[f.offset + _format.HEADER_SIZE : f.end]
        got = _view.decode_data_payload(payload)
        if f.record.get("type") != "data":
            assert got is None  # msgpack decodes every other record
            continue
        assert got is not None
        assert isinstance(got["step"], memoryview)  # in place, not a copy
        assert _plain(got) == msgpack.unpackb(payload, raw=False, strict_map_key=False)


def test_a_mutated_payload_is_decoded_the_same_or_left_to_msgpack() -> None:
    rng = np.random.default_rng(12)
    record = {
        "type": "data", "sid": "abc", "seq": 3, "n": 3,
        "step": np.arange(3, dtype="<i8").tobytes(), "time": np.ones(3).tobytes(),
        "cols": {"loss": [None, np.ones(3).tobytes()], "v": [b"\x00\x00\x00\x00", b"1" * 8]},
    }  # fmt: skip
    base = _format.pack(record)
    for _ in range(3000):
        buf = bytearray(base)
        for _ in range(int(rng.integers(1, 4))):
            buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
        if rng.random() < 0.2:
            buf = buf[: int(rng.integers(1, len(buf)))]
        got = _view.decode_data_payload(memoryview(bytes(buf)))
        if got is None:
            continue
        assert _plain(got) == msgpack.unpackb(bytes(buf), raw=False, strict_map_key=False)


def test_a_mapped_log_reads_as_the_copied_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _big_log(tmp_path / "a.log")
    mapped = curvelog.read(path)
    assert mapped.resumes == 1 and "val" in mapped.metrics
    _same_run(mapped, _read_unmapped(path, monkeypatch))
    df = mapped.wide()
    assert df.columns == ["step", *mapped.metrics] and df["step"].is_sorted()


@pytest.mark.parametrize("damage", ["corrupt", "torn", "repeated", "reordered", "zeros"])
def test_damage_in_a_mapped_log_is_reported_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    path = _big_log(tmp_path / "a.log", sparse=False)
    raw = path.read_bytes()
    frames, _ = _format.scan(raw)
    data = [f for f in frames if f.record.get("type") == "data"]
    a, b = data[3], data[len(data) // 2]
    if damage == "corrupt":
        buf = bytearray(raw)
        buf[(a.offset + a.end) // 2] ^= 0xFF
        out = bytes(buf)
    elif damage == "torn":
        out = raw[: b.end + 100]
    elif damage == "repeated":
        out = raw[: b.end] + raw[a.offset : a.end] + raw[b.end :]
    elif damage == "reordered":
        out = raw[: a.offset] + raw[a.end : b.end] + raw[a.offset : a.end] + raw[b.end :]
    else:
        out = raw + b"\x00" * 5000
    path.write_bytes(out)
    mapped = curvelog.read(path)
    assert damage in {d.kind for d in mapped.damage}
    _same_run(mapped, _read_unmapped(path, monkeypatch))


def test_a_run_outlives_its_file(tmp_path: Path) -> None:
    path = _big_log(tmp_path / "a.log", sparse=False)
    run = curvelog.read(path)
    expected = run.series("loss").values.copy()
    with open(path, "r+b") as f:  # cut to nothing: a view on the map would now crash
        f.truncate(0)
    np.testing.assert_array_equal(run.series("acc").values[:3], [0.0, 1e-3, 2e-3])
    np.testing.assert_array_equal(run.series("loss").values, expected)
    assert run.wide().height == len(expected)


def test_a_run_read_without_times_has_the_same_data(tmp_path: Path) -> None:
    path = _big_log(tmp_path / "a.log")
    full, lean = curvelog.read(path), curvelog.read(path, times=False)
    np.testing.assert_array_equal(full._steps, lean._steps)
    for m in full.metrics:
        np.testing.assert_array_equal(full.series(m).values, lean.series(m).values)
        assert np.isnan(lean.series(m).times).all()
    assert [s.last_time for s in full.sessions] == [s.last_time for s in lean.sessions]
    assert lean._times.strides == (0,)  # no memory per row
