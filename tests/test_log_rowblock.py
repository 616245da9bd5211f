"""Row blocks (#12): small flushes as a rows record and compact row frames, read back exactly."""

from __future__ import annotations

import math
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import curvelog
from curvelog import EventLog
from curvelog.log import _format, _header, _reader, follow, read_records
from curvelog.log._rowblock import MAX_ENTRIES, SMALL

GOLDEN = Path(__file__).parent.parent / "samples" / "golden" / "tiny.log"
NAN_PAYLOAD = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_DEAD_BEEF))[0]


def _row(i: int) -> dict[str, float]:
    row = {"loss": 1.0 / (i + 1), "acc": i * 1e-3, "lr": 3e-4, "grad": i * 0.5}
    if i % 5 == 0:
        row["val"] = -float(i)  # sparse
    if i == 7:
        row["grad"] = NAN_PAYLOAD
    if i == 8:
        row["loss"] = -math.inf
    return row


def _slow_log(path: Path, n: int = 40, per_flush: int = 1, **kw: object) -> list[tuple]:
    """A log whose every flush holds ``per_flush`` rows; the rows appended, with their times."""
    written = []
    with EventLog(path, flush_every=0, **kw) as log:  # type: ignore[arg-type]
        for i in range(n):
            log.append(i * 3, _row(i))
            written.append(log._buf[-3:])
            if (i + 1) % per_flush == 0:
                log.flush()
    return written


def _types(path: Path) -> list[str]:
    return [r["type"] for r in read_records(path)]


def _bits(xs: np.ndarray) -> list[int]:
    return np.asarray(xs, dtype="<f8").view("<u8").tolist()


@pytest.mark.parametrize("per_flush", [1, 3, SMALL - 1])
def test_small_flushes_are_row_frames_read_back_bit_for_bit(tmp_path: Path, per_flush: int) -> None:
    path = tmp_path / "x.log"
    written = _slow_log(path, n=60, per_flush=per_flush)
    kinds = _types(path)
    assert "data" not in kinds
    assert kinds.count("rows") == 1 and kinds.count(_format.ROW_FRAME) == -(-60 // per_flush)
    run = curvelog.read(path)
    assert run.damage == [] and run.rows == 60
    for name in ("loss", "acc", "lr", "grad", "val"):
        rows = [(s, v[name]) for s, _t, v in written if name in v]
        s = run.series(name)
        assert s.steps.tolist() == [r[0] for r in rows]
        assert _bits(s.values) == _bits(np.array([r[1] for r in rows]))  # NaN payload kept
    times = [t for _s, t, _v in written]
    assert run.series("loss").times.tolist() == times  # wall times exact, not rounded


@pytest.mark.parametrize("width", [70, 78, 300])
def test_a_row_frame_of_many_metrics_reads_back(tmp_path: Path, width: int) -> None:
    """A presence mask has one bit per name of the block: 78 names or more used
    to make a mask longer than the reader's 70-bit limit, and every such row read
    as damage (the writer never knew); a mask as long as its block is read."""
    path = tmp_path / "wide.log"
    names = [f"m{j}" for j in range(width)]
    with EventLog(path, flush_every=0) as log:
        for i in range(3):
            row = {n: float(i * width + j) for j, n in enumerate(names)}
            if i == 1:
                del row[names[-1]]  # the last bit clear: a shorter mask in the same block
            log.append(i, row)
            log.flush()
    assert _types(path).count(_format.ROW_FRAME) == 3
    run = curvelog.read(path)
    assert run.damage == [] and run.rows == 3
    assert run.series(names[0]).values.tolist() == [0.0, width, 2.0 * width]
    last = run.series(names[-1])
    assert last.steps.tolist() == [0, 2] and last.values.tolist() == [width - 1.0, 3.0 * width - 1]


def test_a_mask_longer_than_its_block_is_still_malformed() -> None:
    from curvelog.log import _rowblock

    buf = bytearray((_format.ROW_TAG, 0))
    for v in (0, 0, 0, 0, 1 << 80):  # seq, index; then a row: step, time, a mask of 81 bits
        _rowblock._uvarint(buf, v)
    with pytest.raises(ValueError):
        _rowblock.decode_entry(bytes(buf) + bytes(8), 78, 0, 0)


def test_a_flush_of_small_rows_or_more_is_a_chunk(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    _slow_log(path, n=2 * SMALL, per_flush=SMALL)
    kinds = _types(path)
    assert kinds.count("data") == 2 and "rows" not in kinds
    assert curvelog.read(path).rows == 2 * SMALL


def test_one_step_per_flush_costs_at_most_60_bytes(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        header = os.path.getsize(path)
        for i in range(600):
            log.append(i, {"train/loss": 1.0 / (i + 1), "train/acc": i * 1e-7,
                           "lr": 3e-4, "grad_norm": i * 0.5})  # fmt: skip
            log.flush()  # as a timed flush does when a step takes longer than flush_every
        size = os.path.getsize(path)
    assert (size - header) / 600 <= 60


def test_a_new_block_for_a_new_name_after_max_entries_and_after_other_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(MAX_ENTRIES + 2):
            log.append(i, a=float(i))
            log.flush()
        log.append(10_000, a=1.0, b=2.0)  # b: not in the block's names
        log.flush()
        log.update_config(lr=1)  # another record: row frames must follow their block
        log.append(10_001, a=3.0)
        log.flush()
    recs = read_records(path)
    assert [r["type"] for r in recs].count("rows") == 4
    run = curvelog.read(path)
    assert run.damage == []
    assert run.series("a").values.tolist()[-3:] == [float(MAX_ENTRIES + 1), 1.0, 3.0]
    assert run.series("b").steps.tolist() == [10_000]
    assert run.config["lr"] == 1


def test_best_is_tracked_over_row_frames_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    _slow_log(path, n=30, best="acc", mode="max")
    bests = [r for r in read_records(path) if r["type"] == "best"]
    assert len(bests) == 1 and bests[0]["step"] == 29 * 3 and bests[0]["value"] == 29e-3


def test_cut_at_every_offset_keeps_every_complete_row_frame(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    _slow_log(path, n=12)
    raw = path.read_bytes()
    ends = _format.frame_end_offsets(raw)
    full = read_records(path)
    final = curvelog.read(path)
    cut = tmp_path / "cut.log"
    for k in range(8, len(raw) + 1):
        cut.write_bytes(raw[:k])
        complete = full[: sum(1 for e in ends if e <= k)]
        assert read_records(cut) == complete, k
        run = curvelog.read(cut)
        frames = sum(1 for r in complete if r["type"] == _format.ROW_FRAME)
        assert run.rows == frames
        if frames:
            want = final.series("loss").values.tolist()[:frames]
            assert run.series("loss").values.tolist() == want
        tail = [d for d in run.damage if d.tail]
        torn = k not in ends and k > 8
        assert [d.kind for d in run.damage] == (["torn"] if torn else []), k
        assert bool(tail) == torn


def test_old_log_resumed_mixes_format_1_chunks_and_row_frames(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    shutil.copy(GOLDEN, path)  # written by format 1: a session, one chunk of 3 rows, best, end
    before = curvelog.read(path)
    with EventLog(path, flush_every=0) as log:
        for i in range(5):
            log.append(10 + i, **{"train/loss": float(i)})
            log.flush()
        for i in range(SMALL):
            log.append(20 + i, **{"train/loss": float(i)})
        log.flush()  # a chunk, after the row frames
        log.append(100, **{"train/loss": 7.0})
    run = curvelog.read(path)
    assert run.damage == [] and [s.header["format"] for s in run.sessions] == [1, 2]
    s = run.series("train/loss")
    old = before.series("train/loss")
    assert s.steps.tolist() == [*old.steps.tolist(), *range(10, 15), *range(20, 20 + SMALL), 100]
    assert _bits(s.values[: len(old.values)]) == _bits(old.values)
    assert s.values.tolist()[len(old.values) :] == [*map(float, range(5)),
                                                    *map(float, range(SMALL)), 7.0]  # fmt: skip


def test_a_reader_of_format_1_refuses_a_log_with_row_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.log"
    _slow_log(path, n=3)
    monkeypatch.setattr(_reader, "FORMAT_VERSION", 1)  # what an older curvelog knows
    with pytest.raises(curvelog.LogFormatError, match="log format 2 is newer"):
        curvelog.read(path)
    assert _header.FORMAT_VERSION == 2


def _frames(raw: bytes) -> list[tuple[int, int]]:
    starts = [len(_format.FILE_MAGIC), *_format.frame_end_offsets(raw)[:-1]]
    return list(zip(starts, _format.frame_end_offsets(raw), strict=True))


def test_row_frames_whose_rows_record_is_damaged_are_never_misread(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(6):
            log.append(i, a=float(i))
            log.flush()
        log.update_config(x=1)
        for i in range(6, 9):
            log.append(i, b=float(i))  # a second block, with other names, whose record we hit
            log.flush()
    raw = bytearray(path.read_bytes())
    recs = read_records(path)
    a, b = _frames(bytes(raw))[[r["type"] for r in recs].index("rows", 3)]
    raw[b - 1] ^= 0xFF  # the second rows record: checksum fails
    path.write_bytes(bytes(raw))
    run = curvelog.read(path)
    assert run.series("a").steps.tolist() == list(range(6))
    assert "b" not in run.metrics
    kinds = [d.kind for d in run.damage]
    assert kinds == ["corrupt", "malformed", "malformed", "malformed"], run.damage
    assert "without its rows record" in run.damage[1].detail


def test_row_frames_of_a_session_whose_records_are_lost_are_never_read_as_another_s(
    tmp_path: Path,
) -> None:
    """Session and rows record of a resume both lost: its row frames follow the first
    session's block, with the same block number (each session counts from 0), and
    only the session tag they carry tells them apart."""
    path = tmp_path / "x.log"
    for first, count, name in ((0, 3, "a"), (100, 6, "b")):  # b's row frames 3..5: new indices
        with EventLog(path, flush_every=0) as log:
            for i in range(first, first + count):
                log.append(i, {name: float(i)})
                log.flush()
    recs = read_records(path)
    kinds = [r["type"] for r in recs]
    second = kinds.index("session", 1)
    assert kinds[second + 1] == "rows" and recs[second + 1]["seq"] == recs[1]["seq"] == 0
    raw = path.read_bytes()
    frames = _frames(raw)
    cut = frames[second][0], frames[second + 1][1]  # the resume's session and rows record
    path.write_bytes(raw[: cut[0]] + raw[cut[1] :])
    for a_run in (curvelog.read(path), curvelog.read(path, times=False)):
        assert a_run.series("a").steps.tolist() == [0, 1, 2]  # not 100, 101, 102 as well
        assert "b" not in a_run.metrics
        assert [d.kind for d in a_run.damage] == ["malformed"] * 6
    followed = list(follow(path, last=100, watch=False))  # the tail reads by the same rule
    assert [step for step, _t, _v in followed] == [0, 1, 2]


def test_a_repeated_row_frame_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    _slow_log(path, n=4)
    raw = path.read_bytes()
    recs = read_records(path)
    i = [r["type"] for r in recs].index(_format.ROW_FRAME) + 1  # the second row frame
    a, b = _frames(raw)[i]
    end_at = _frames(raw)[[r["type"] for r in recs].index("end")][0]
    path.write_bytes(raw[:end_at] + raw[a:b] + raw[end_at:])
    run = curvelog.read(path)
    assert [d.kind for d in run.damage] == ["repeated"]
    assert run.rows == 4 and run.series("loss").steps.tolist() == [0, 3, 6, 9]
    with pytest.raises(curvelog.LogCorruptError, match="repeated row frame"):
        curvelog.read(path, strict=True)


@pytest.mark.parametrize("cut", [1, 3])
def test_a_malformed_row_frame_costs_only_its_rows(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "x.log"
    _slow_log(path, n=4)
    raw = path.read_bytes()
    recs = read_records(path)
    i = [r["type"] for r in recs].index(_format.ROW_FRAME) + 1
    a, b = _frames(raw)[i]
    bad = _format.encode_frame(raw[a + _format.HEADER_SIZE : b - cut])  # checksummed, truncated
    path.write_bytes(raw[:a] + bad + raw[b:])
    run = curvelog.read(path)
    assert [d.kind for d in run.damage] == ["malformed"]
    assert run.series("loss").steps.tolist() == [0, 6, 9]


@pytest.mark.parametrize("raw", [5, None, b"", b"\x00\x01", [1]])
def test_a_msgpack_record_claiming_to_be_a_row_frame_is_malformed(
    tmp_path: Path, raw: object
) -> None:
    path = tmp_path / "x.log"
    _slow_log(path, n=2)
    fake = _format.encode_frame(_format.pack({"type": _format.ROW_FRAME, "raw": raw}))
    path.write_bytes(path.read_bytes() + fake)  # checksummed, after the end record
    run = curvelog.read(path)
    assert run.rows == 2 and [d.kind for d in run.damage] == ["malformed"]
    assert list(follow(path, watch=False))[-1][0] == 3


def _frame_spans(path: Path) -> tuple[bytes, list[int], list[int], list[str]]:
    data = path.read_bytes()
    ends = _format.frame_end_offsets(data)
    return data, [len(_format.FILE_MAGIC), *ends[:-1]], ends, _types(path)


@pytest.mark.parametrize(
    ("first", "last", "after"),
    [(0, 0, 4), (0, 1, 1), (0, 1, 4), (1, 1, 0), (1, 1, 4), (0, 2, 6)],
    ids=["session", "session+rows early", "session+rows late", "rows before", "rows after",
         "session+rows+frame"],
)  # fmt: skip
def test_copies_of_a_blocks_records_cost_no_row(
    tmp_path: Path, first: int, last: int, after: int
) -> None:
    """Byte-identical copies of a block's session and rows records (a repeated range
    of the file) are reported, and every intact row frame is still read against its
    block: before, a copy of the session record ended the block, and the frames
    after it were dropped as 'without its rows record'."""
    path = tmp_path / "x.log"
    written = _slow_log(path, n=10)
    data, starts, ends, types = _frame_spans(path)
    assert types[:3] == ["session", "rows", _format.ROW_FRAME]
    bad = tmp_path / "bad.log"
    bad.write_bytes(data[: ends[after]] + data[starts[first] : ends[last]] + data[ends[after] :])
    run = curvelog.read(bad)
    assert run.rows == 10 and len(run.sessions) == 1
    assert run.series("loss").steps.tolist() == [s for s, _t, _v in written]
    assert {d.kind for d in run.damage} == {"repeated"}
    assert len(run.damage) == last - first + 1


def test_a_copy_of_a_later_block_never_brings_back_older_values(tmp_path: Path) -> None:
    """Session 2 (a resume) rewrites steps 0..9 in a row block; a copy of its session
    and rows records placed early in the file made its real rows record a 'repeat',
    its row frames orphans, and session 1's values came back."""
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for s in range(10):
            log.append(s, loss=1.0)
    with EventLog(path, flush_every=0) as log:
        for s in range(10):
            log.append(s, loss=2.0)
            log.flush()
    data, starts, ends, types = _frame_spans(path)
    s2 = [i for i, t in enumerate(types) if t == "session"][1]
    for k in (2, 3):  # session + rows, and its first row frame too
        bad = tmp_path / f"bad{k}.log"
        bad.write_bytes(data[: ends[0]] + data[starts[s2] : ends[s2 + k - 1]] + data[ends[0] :])
        run = curvelog.read(bad)
        assert run.series("loss").values.tolist() == [2.0] * 10
        assert {d.kind for d in run.damage} == {"repeated"}
