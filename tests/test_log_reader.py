"""The reader against damage a checksum cannot see (issue #10, items 3, 5, 8, 9, 14).

A flipped bit in the file signature, a repeated or moved chunk, a
checksum-valid record with wrong types: each is reported as damage, the rest
of the log is read, and no stale or malformed value reaches a `Run`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import curvelog
from _cli import invoke
from curvelog import EventLog
from curvelog.bundle import build_bundle
from curvelog.log import _format, _writer, is_log, read_records


@pytest.fixture(autouse=True)
def _chunks_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests damage, repeat and move data chunks: every flush writes one here, as
    before row frames (#12). Row frames have their own tests (test_log_rowblock.py)."""
    monkeypatch.setattr(_writer, "SMALL", 0)


def _frames(path: Path) -> tuple[bytes, list[tuple[int, int, dict[str, Any]]]]:
    raw = path.read_bytes()
    frames, damage = _format.scan(raw)
    assert not damage
    return raw, [(f.offset, f.end, f.record) for f in frames]


def _small_log(path: Path) -> Path:
    with EventLog(path, best="loss", flush_every=0) as log:
        for i in range(10):
            log.append(i, loss=1.0 / (i + 1), acc=i * 0.1)
    return path


# --------------------------------------------------------------------------- item 3


@pytest.mark.parametrize("bit", range(64))
def test_a_flipped_signature_bit_is_damage_not_the_end(tmp_path: Path, bit: int) -> None:
    path = _small_log(tmp_path / "x.log")
    raw = bytearray(path.read_bytes())
    raw[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(raw))
    assert is_log(path)  # so no command replaces it
    run = curvelog.read(path)
    assert [d.kind for d in run.damage] == ["signature"]
    assert run.damage[0].start == 0 and run.damage[0].end == 8
    assert run.series("loss").steps.tolist() == list(range(10))
    with pytest.raises(curvelog.LogCorruptError, match="signature"):
        curvelog.read(path, strict=True)
    with EventLog(path) as log:  # resuming is allowed: every record is intact
        log.append(10, loss=0.01)
    again = curvelog.read(path)
    assert again.rows == 11 and len(again.sessions) == 2
    assert [d.kind for d in again.damage] == ["signature"]


def test_a_file_far_from_the_signature_is_still_no_log(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"step,metric,value\n0,loss,1.0\n")
    assert not is_log(path)
    with pytest.raises(curvelog.LogFormatError, match="not a curvelog log"):
        curvelog.read(path)
    with pytest.raises(curvelog.LogFormatError, match="refusing to append"):
        EventLog(path)
    assert path.read_bytes() == b"step,metric,value\n0,loss,1.0\n"


# --------------------------------------------------------------------------- item 5


def _two_chunks(path: Path) -> tuple[bytes, list[tuple[int, int, dict[str, Any]]]]:
    """Step 5 written twice in one session: 1.0 in chunk 0, then 2.0 (the truth) in chunk 1."""
    with EventLog(path, flush_every=0) as log:
        for i in range(6):
            log.append(i, x=1.0)
        log.flush()
        log.append(5, x=2.0)
    raw, frames = _frames(path)
    data = [f for f in frames if f[2]["type"] == "data"]
    assert [f[2]["seq"] for f in data] == [0, 1]
    return raw, data


def test_a_repeated_chunk_is_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    raw, data = _two_chunks(path)
    first = raw[data[0][0] : data[0][1]]
    path.write_bytes(raw + first)  # a stale copy of chunk 0 after chunk 1
    run = curvelog.read(path)
    assert run.value_at("x", 5) == 2.0
    assert [d.kind for d in run.damage] == ["repeated"]
    assert run.rows == 7
    tail = list(curvelog.log.follow(path, last=100, watch=False))
    assert [r[0] for r in tail] == [0, 1, 2, 3, 4, 5, 5]  # the copy is not shown again


def test_a_moved_chunk_goes_back_in_its_place(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    raw, data = _two_chunks(path)
    (a0, a1, _), (b0, b1, _) = data
    moved = raw[:a0] + raw[b0:b1] + raw[a0:a1] + raw[b1:]  # chunk 1 before chunk 0
    path.write_bytes(moved)
    run = curvelog.read(path)
    assert run.value_at("x", 5) == 2.0  # the stale 1.0 never wins
    assert [d.kind for d in run.damage] == ["reordered"]
    assert run.series("x").steps.tolist() == list(range(6)) and run.rows == 7


# --------------------------------------------------------------------------- items 8, 14


def _forge(path: Path, **changes: Any) -> None:
    """Rewrite the first record of the type ``changes["type"]`` with valid checksums."""
    raw, frames = _frames(path)
    kind = changes.pop("type")
    off, end, rec = next(f for f in frames if f[2]["type"] == kind)
    rec = {**rec, **changes}
    path.write_bytes(raw[:off] + _format.encode_frame(_format.pack(rec)) + raw[end:])


MALFORMED = [
    ("session", {"sid": ["a", "b"]}),
    ("session", {"sid": None}),
    ("session", {"host": b"\xff\xfe"}),
    ("session", {"start_time": math.nan}),
    ("session", {"objective": {"metric": ["loss"], "mode": "min"}}),
    ("session", {"objective": {"metric": "loss", "mode": "median"}}),
    ("session", {"charts": {"loss": {"metrics": [["a", "b"]]}}}),
    ("session", {"git": "deadbeef"}),
    ("data", {"sid": {"x": 1}}),
    ("data", {"seq": "0"}),
    ("data", {"n": True}),
    ("data", {"time": np.full(10, np.nan).tobytes()}),
    ("data", {"step": np.full(10, -1, dtype="<i8").tobytes()}),
    ("data", {"cols": {7: [None, np.zeros(10).tobytes()]}}),
    ("best", {"step": "3"}),
    ("best", {"step": -1}),
    ("best", {"source": "guessed"}),
    ("best", {"value": "low"}),
    ("best", {"metric": 5}),
    ("end", {"time": math.nan}),
    ("end", {"rows": "ten"}),
    ("end", {"sid": [1]}),
]


@pytest.mark.parametrize(
    ("kind", "changes"), MALFORMED, ids=[f"{k}-{next(iter(c))}" for k, c in MALFORMED]
)
def test_malformed_but_checksummed_records_are_damage(
    tmp_path: Path, kind: str, changes: dict[str, Any]
) -> None:
    path = _small_log(tmp_path / "x.log")
    _forge(path, type=kind, **changes)
    run = curvelog.read(path)
    assert [d.kind for d in run.damage] == ["malformed"]
    assert kind in run.damage[0].describe() or run.damage[0].detail
    json.dumps(run.describe(), allow_nan=False)  # what inspect prints
    bundle = build_bundle(run)
    json.dumps(bundle, allow_nan=False)
    with pytest.raises(curvelog.LogCorruptError, match="malformed"):
        curvelog.read(path, strict=True)
    for args in (("inspect", str(path)), ("inspect", "--json", str(path))):
        invoke(*args)
    invoke("export", str(path), "-o", str(tmp_path / "x.csv"))
    invoke("compact", str(path), "-o", str(tmp_path / "x.json"), "--no-png")


def test_a_format_that_is_no_number_gets_a_proper_message(tmp_path: Path) -> None:
    path = _small_log(tmp_path / "x.log")
    _forge(path, type="session", format="1")
    with pytest.raises(curvelog.LogFormatError, match=r"format '1' \(str\), not a format"):
        curvelog.read(path)


def test_a_newer_format_names_both_versions(tmp_path: Path) -> None:
    path = _small_log(tmp_path / "x.log")
    _forge(path, type="session", format=7)
    with pytest.raises(curvelog.LogFormatError, match=r"format 7 is newer than this curvelog"):
        curvelog.read(path)


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize(
    ("charts", "match"),
    [
        ({"loss": {"metrics": [["a", "b"]]}}, "metrics holds"),
        ({"loss": ["a"]}, "must be a mapping"),
        ({"loss": {"metrics": "train/loss"}}, "metrics must be a list"),
        ({"loss": {"title": 5}}, "title must be a string"),
        ({"loss": {"xlabel": "x" * 1001}}, "xlabel must be a string of at most 1,000"),
        ({"loss": {"scale": "symlog"}}, "scale must be 'linear' or 'log'"),
        ({"": {}}, "not a non-empty string"),
        (["loss"], "charts must be a mapping"),
    ],
)
def test_bad_chart_metadata_is_refused_at_open(tmp_path: Path, charts: Any, match: str) -> None:
    path = tmp_path / "x.log"
    with pytest.raises(curvelog.ChartsError, match=match):
        EventLog(path, charts=charts)
    assert not path.exists()


def test_good_chart_metadata_is_kept(tmp_path: Path) -> None:
    charts = {"loss": {"title": "Loss", "metrics": ("train/loss", "val/loss"), "scale": "log"}}
    with EventLog(tmp_path / "x.log", charts=charts) as log:
        log.append(0, {"train/loss": 1.0, "val/loss": 2.0})
    header = read_records(tmp_path / "x.log")[0]
    assert header["charts"]["loss"]["metrics"] == ["train/loss", "val/loss"]


# --------------------------------------------------------------------------- item 12


def test_export_of_many_metrics_keeps_every_point(tmp_path: Path) -> None:
    """20,000 metrics (linear-time export: see tools/bench_export.py for the scaling)."""
    path = tmp_path / "x.log"
    with EventLog(path, flush_every=0) as log:
        for step in range(3):
            log.append(step, {f"m{i}": float(i * 10 + step) for i in range(step, 20_000, 1 + step)})
        log.append(3, {"m0": math.nan})
    run = curvelog.read(path)
    long = run.data
    assert long.height == sum(len(s) for s in run)
    assert long.filter(long["metric"] == "m5")["value"].to_list() == [50.0, 51.0, 52.0]
    wide = run.wide()
    assert wide.shape == (4, 20_001) and wide["step"].to_list() == [0, 1, 2, 3]
    assert wide["m1"].to_list() == [10.0, 11.0, None, None]
    m0 = wide["m0"].to_list()
    assert m0[0] == 0.0 and m0[1:3] == [None, None] and math.isnan(m0[3])
    assert run.export(tmp_path / "x.csv") == long.height


def test_a_dead_writers_torn_frame_after_a_resume_is_unfinished_not_corrupt(
    tmp_path: Path,
) -> None:
    """After a kill and a resume, the dead session's half-written frame sat in the
    middle of the file and was reported as corrupt bytes, telling users to suspect
    their disk (crash QA); it is the torn frame of a crash."""
    path = tmp_path / "r.log"
    with EventLog(path, flush_every=0) as log:
        for i in range(100):
            log.append(i, loss=float(i))
    raw = path.read_bytes()
    path.write_bytes(raw[:-200])  # the last data frame torn, its end record lost
    (torn,) = curvelog.read(path).damage
    assert torn.kind == "torn"
    with EventLog(path, flush_every=0) as log:  # the resume writes after it
        log.append(100, loss=1.0)
    run = curvelog.read(path)
    (d,) = run.damage
    assert (d.start, d.end, d.kind) == (torn.start, torn.end, "unfinished")
    assert "never finished" in d.describe()
    # a whole frame whose bytes changed stays corrupt
    flipped = bytearray(path.read_bytes())
    frames, _ = _format.scan(bytes(flipped))
    second = frames[-2]  # a whole frame of the resume, followed by an intact one
    flipped[(second.offset + _format.HEADER_SIZE + second.end) // 2] ^= 0xFF
    path.write_bytes(bytes(flipped))
    kinds = [d.kind for d in curvelog.read(path).damage]
    assert "corrupt" in kinds and kinds.count("unfinished") == 1
