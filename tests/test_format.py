"""The bytes: golden file, torn tails at every offset, zero and garbage tails, corruption."""

from __future__ import annotations

import math
import os
import random
import re
import struct
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest

import curvelog
from _golden import BEST, DATA, RECORDS, SESSION
from curvelog.log import FORMAT_VERSION, _format, read_records

GOLDEN = Path(__file__).parent.parent / "samples" / "golden" / "tiny.log"


# --------------------------------------------------------------------------- golden


def test_golden_bytes_are_what_the_encoder_writes() -> None:
    expected = _format.FILE_MAGIC + b"".join(_format.encode_frame(_format.pack(r)) for r in RECORDS)
    assert GOLDEN.read_bytes() == expected


def test_golden_first_frame_header_layout() -> None:
    raw = GOLDEN.read_bytes()
    assert raw[:8] == b"\x89CLG\r\n\x1a\n"
    magic, length, crc, hcrc = struct.unpack_from("<4sIII", raw, 8)
    payload = raw[24 : 24 + length]
    assert magic == b"\xc1CLR"
    assert crc == zlib.crc32(payload)
    assert hcrc == zlib.crc32(raw[8:20])
    assert msgpack.unpackb(payload) == SESSION


def test_golden_reads_back_exactly() -> None:
    run = curvelog.read(GOLDEN)
    assert run.header == SESSION
    assert run.metrics == ["train/loss", "val/loss"]
    train = run.series("train/loss")
    assert train.steps.tolist() == [0, 1, 2]
    assert train.values[0] == 2.5 and math.isnan(train.values[1]) and train.values[2] == math.inf
    val = run.series("val/loss")
    assert val.steps.tolist() == [2] and val.values.tolist() == [1.25]
    assert run.best is not None and (run.best.step, run.best.value) == (2, 1.25)
    assert run.sessions[0].closed and run.damage == []
    assert read_records(GOLDEN) == RECORDS


def test_frame_end_offsets_walks_lengths() -> None:
    raw = GOLDEN.read_bytes()
    ends = _format.frame_end_offsets(raw)
    assert len(ends) == len(RECORDS) and ends[-1] == len(raw)


# --------------------------------------------------------------------------- torn tails


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _medium_log(tmp_path: Path, rows: int = 3000, every: int = 97) -> Path:
    """A log of many small frames, with NaN, inf, absent values and a resume."""
    path = tmp_path / "medium.log"
    rng = np.random.default_rng(7)
    vals = rng.standard_normal(rows)
    vals[::37] = np.nan
    vals[::53] = np.inf
    with curvelog.EventLog(path, best="loss", flush_every=0) as log:
        for i in range(rows):
            step = i if i < rows // 2 else i - rows // 4  # goes back once: a resume
            m = {"loss": float(vals[i])}
            if i % 10 == 0:
                m["val"] = float(i)
            log.append(step, m)
            if i % every == 0:
                log.flush()
    return path


def test_cut_at_every_byte_offset_returns_exactly_the_complete_records(tmp_path: Path) -> None:
    raw = GOLDEN.read_bytes()
    ends = _format.frame_end_offsets(raw)
    cut = tmp_path / "cut.log"
    for k in range(len(raw) + 1):
        _write(cut, raw[:k])
        complete = sum(1 for e in ends if e <= k)
        assert read_records(cut) == RECORDS[:complete], k
        if k < 8:
            continue
        run = curvelog.read(cut)
        assert len(run.sessions) == (1 if complete >= 1 else 0)
        assert run.rows == (3 if complete >= 2 else 0)
        tail = [d for d in run.damage if d.tail]
        assert bool(tail) == (k not in ends and k > 8), k
        assert all(d.kind == "torn" for d in tail), (k, run.damage)


def test_cut_at_every_offset_of_a_multi_frame_log(tmp_path: Path) -> None:
    raw = _medium_log(tmp_path, rows=400, every=13).read_bytes()
    ends = _format.frame_end_offsets(raw)
    full = read_records(tmp_path / "medium.log")
    cut = tmp_path / "cut.log"
    for k in range(8, len(raw) + 1):
        _write(cut, raw[:k])
        assert read_records(cut) == full[: sum(1 for e in ends if e <= k)], k


@pytest.mark.parametrize("mode", ["zeros", "garbage"])
def test_zero_and_garbage_tails_return_exactly_the_prefix(tmp_path: Path, mode: str) -> None:
    raw = _medium_log(tmp_path, rows=400, every=13).read_bytes()
    ends = _format.frame_end_offsets(raw)
    full = read_records(tmp_path / "medium.log")
    rng = random.Random(11)
    cut = tmp_path / "cut.log"
    for k in range(8, len(raw) + 1, 7):
        t = min(4096, len(raw) - k) or 64
        tail = bytes(t) if mode == "zeros" else rng.randbytes(t)
        _write(cut, raw[:k] + tail)
        j = sum(1 for e in ends if e <= k)
        # a record whose lost bytes equal the tail (a float ending in zero bytes under a
        # zero tail) is byte-for-byte intact, so it is expected too (as in bench/crash.py)
        while j < len(ends) and ends[j] <= k + t and raw[k : ends[j]] == tail[: ends[j] - k]:
            j += 1
        assert read_records(cut) == full[:j], k
        run = curvelog.read(cut)
        assert run.damage and run.damage[-1].end == k + t
        if mode == "zeros" and k in ends:
            assert run.damage[-1].kind == "zeros"


def test_strict_read_raises_on_a_torn_tail(tmp_path: Path) -> None:
    raw = GOLDEN.read_bytes()
    path = _write(tmp_path / "torn.log", raw[:-5])
    with pytest.raises(curvelog.LogCorruptError, match=r"torn\.log: byte \d+: .*torn record"):
        curvelog.read(path, strict=True)
    assert curvelog.read(path).damage[0].kind == "torn"


# --------------------------------------------------------------------------- corruption


def _values_by_row(records: list[dict]) -> set[tuple[int, str, bytes]]:
    """(step, metric, exact float bytes) of every value in the data records."""
    out = set()
    for r in records:
        if r.get("type") != "data":
            continue
        steps = np.frombuffer(r["step"], "<i8")
        for name, (idx, vals) in r["cols"].items():
            v = np.frombuffer(vals, "<f8")
            rows = np.arange(r["n"]) if idx is None else np.frombuffer(idx, "<u4")
            for row, x in zip(rows, v, strict=True):
                out.add((int(steps[row]), name, x.tobytes()))
    return out


@pytest.mark.parametrize("kind", ["bitflip", "zero_block", "insert"])
def test_seeded_corruption_never_yields_a_wrong_value(tmp_path: Path, kind: str) -> None:
    path = _medium_log(tmp_path, rows=6000, every=61)
    raw = path.read_bytes()
    frames = [(f.offset, f.end, f.record) for f in _format.scan(raw)[0]]
    all_records = [r for _, _, r in frames]
    truth = _values_by_row(all_records)
    rng = random.Random({"bitflip": 1, "zero_block": 2, "insert": 3}[kind])
    bad = tmp_path / "bad.log"
    trials = 70
    for _ in range(trials):
        data = bytearray(raw)
        if kind == "bitflip":
            spots = sorted(rng.randrange(8, len(raw)) for _ in range(rng.randint(1, 4)))
            for s in spots:
                data[s] ^= 1 << rng.randrange(8)
            hit = [(s, s + 1) for s in spots]
        elif kind == "zero_block":
            start = rng.randrange(1, len(raw) // 4096 + 1) * 4096 - 4096
            start = max(start, 8)
            end = min(start + 4096, len(raw))
            data[start:end] = bytes(end - start)
            hit = [(start, end)]
        else:
            at = rng.randrange(8, len(raw))
            data[at:at] = rng.randbytes(rng.randint(1, 300))
            hit = [(at, at)]
        _write(bad, bytes(data))
        got = read_records(bad)
        # never a record that was not written
        assert all(r in all_records for r in got)
        # never a wrong value
        assert _values_by_row(got) <= truth
        # only records overlapping the damage are lost
        for off, end, rec in frames:
            overlaps = any(a < end and b > off if a != b else off < a < end for a, b in hit)
            if not overlaps:
                assert rec in got, (kind, off, end, hit)
        run = curvelog.read(bad)
        if len(got) < len(all_records):
            assert run.damage


def test_corrupt_middle_is_reported_with_its_byte_range(tmp_path: Path) -> None:
    path = _medium_log(tmp_path, rows=600, every=50)
    raw = bytearray(path.read_bytes())
    frames = _format.scan(bytes(raw))[0]
    victim = frames[3]
    raw[victim.offset + 30] ^= 0xFF
    path.write_bytes(bytes(raw))
    run = curvelog.read(path)
    assert [(d.start, d.end, d.kind) for d in run.damage] == [
        (victim.offset, victim.end, "corrupt")
    ]
    assert "checksum" in run.damage[0].describe()
    with pytest.raises(curvelog.LogCorruptError, match=f"byte {victim.offset}"):
        curvelog.read(path, strict=True)


def test_valid_frame_with_non_map_payload_is_undecodable(tmp_path: Path) -> None:
    raw = GOLDEN.read_bytes() + _format.encode_frame(msgpack.packb([1, 2, 3]))
    run = curvelog.read(_write(tmp_path / "x.log", raw))
    assert [d.kind for d in run.damage] == ["undecodable"]
    assert run.rows == 3


def test_malformed_data_record_is_skipped_and_reported(tmp_path: Path) -> None:
    broken = dict(DATA, n=5)  # claims 5 rows, carries 3
    raw = GOLDEN.read_bytes() + _format.encode_frame(_format.pack(broken))
    path = _write(tmp_path / "x.log", raw)
    run = curvelog.read(path)
    assert run.rows == 3 and [d.kind for d in run.damage] == ["malformed"]
    with pytest.raises(curvelog.LogFormatError, match="malformed data record"):
        curvelog.read(path, strict=True)


def test_unknown_record_types_are_skipped(tmp_path: Path) -> None:
    extra = _format.encode_frame(_format.pack({"type": "future-thing", "x": 1}))
    run = curvelog.read(_write(tmp_path / "x.log", GOLDEN.read_bytes() + extra))
    assert run.damage == [] and run.rows == 3 and run.best_records == [BEST]


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    newer = dict(SESSION, format=FORMAT_VERSION + 1)
    raw = _format.FILE_MAGIC + _format.encode_frame(_format.pack(newer))
    with pytest.raises(curvelog.LogFormatError, match=f"log format {FORMAT_VERSION + 1} is newer"):
        curvelog.read(_write(tmp_path / "x.log", raw))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "byte 0: empty file, not a curvelog log"),
        (b"step,metric,value\n1,loss,2\n", "byte 0: not a curvelog log (bad signature)"),
        (b"\x89CL", "byte 3: log ends inside its signature"),
    ],
)
def test_not_a_log(tmp_path: Path, content: bytes, message: str) -> None:
    path = _write(tmp_path / "x.log", content)
    with pytest.raises(curvelog.LogFormatError, match=re.escape(f"x.log: {message}")):
        curvelog.read(path)


def test_missing_and_directory_paths(tmp_path: Path) -> None:
    with pytest.raises(curvelog.PathError, match="nope.log: no such file"):
        curvelog.read(tmp_path / "nope.log")
    with pytest.raises(curvelog.PathError, match="is a directory"):
        curvelog.read(tmp_path)


def test_encode_frame_rejects_empty_payload() -> None:
    with pytest.raises(ValueError):
        _format.encode_frame(b"")


def test_medium_log_survives_reading(tmp_path: Path) -> None:
    run = curvelog.read(_medium_log(tmp_path))
    assert run.resumes == 1
    assert os.path.getsize(tmp_path / "medium.log") == run.size


@pytest.mark.parametrize(
    "broken",
    [dict(DATA, cols=[1, 2]), dict(DATA, cols={"x": 5}), dict(DATA, step=3), dict(DATA, n=None)],
    ids=["cols-not-a-map", "column-not-a-pair", "step-not-bytes", "n-missing"],
)
def test_checksummed_but_malformed_data_never_raises(tmp_path: Path, broken: dict) -> None:
    raw = GOLDEN.read_bytes() + _format.encode_frame(_format.pack(broken))
    path = _write(tmp_path / "x.log", raw)
    run = curvelog.read(path)
    assert run.rows == 3 and [d.kind for d in run.damage] == ["malformed"]
    assert [r[0] for r in curvelog.log.follow(path, watch=False)] == [0, 1, 2]
