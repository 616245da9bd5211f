"""Hostile inputs: each is one clear error or a bounded result, never a hang or a crash.

Issue #10, items 11, 12 and 14: bundles without charts, stdout bundles,
huge titles and metric names, gzip bombs, FIFOs and devices as a log path,
and CSVs with a byte-order mark.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

import pytest

import curvelog
from _cli import invoke
from curvelog import EventLog
from curvelog.bundle import build_bundle
from curvelog.convert import _csv as convert
from curvelog.convert import csv_to_log
from curvelog.errors import PathError
from curvelog.plot import MAX_DRAWN_LABEL, MAX_DRAWN_TEXT, plot_bundle


def _log(path: Path, **metrics: float) -> Path:
    with EventLog(path) as log:
        for i in range(20):
            log.append(i, {k: v / (i + 1) for k, v in metrics.items()})
    return path


# --------------------------------------------------------------------------- item 11


def test_compare_bundles_without_charts(tmp_path: Path) -> None:
    EventLog(tmp_path / "empty.log").close()  # a run that never appended: no charts
    invoke("compact", str(tmp_path / "empty.log"), "-o", str(tmp_path / "e.json"), "--no-png")
    _log(tmp_path / "a.log", loss=1.0)
    invoke("compact", str(tmp_path / "a.log"), "-o", str(tmp_path / "a.json"), "--no-png")
    for pair in (("e.json", "e.json"), ("e.json", "a.json")):
        invoke("compare", *(str(tmp_path / p) for p in pair), "-o", str(tmp_path / "c.png"))
        assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_compact_to_stdout_is_validated_like_a_file(tmp_path: Path) -> None:
    _log(tmp_path / "a.log", loss=1.0)
    out = invoke("compact", str(tmp_path / "a.log"), "-o", "-", "--no-png").stdout
    curvelog.load_bundle(json.loads(out))


# --------------------------------------------------------------------------- item 12


def test_a_10_mb_title_and_metric_name_are_drawn_cut(tmp_path: Path) -> None:
    name = "m" * 10_000_000
    with EventLog(tmp_path / "x.log", charts={"c": {"metrics": [name]}}) as log:
        for i in range(20):
            log.append(i, {name: 1.0 / (i + 1)})
    bundle = build_bundle(curvelog.read(tmp_path / "x.log"))
    bundle["charts"][0]["title"] = "T" * 10_000_000
    bundle["charts"][0]["ylabel"] = "Y" * 10_000_000
    t0 = time.perf_counter()
    fig = plot_bundle(bundle)
    ax = fig.axes[0]
    title = ax.get_title("left") or ax.get_title()
    # cut in the middle (the end tells names apart), to fit its panel: at most the limit
    assert len(title) <= MAX_DRAWN_TEXT and title.startswith("T") and "…" in title
    assert len(ax.get_ylabel()) <= MAX_DRAWN_LABEL and "…" in ax.get_ylabel()
    labels = ax.get_legend_handles_labels()[1]
    assert all(len(t) <= MAX_DRAWN_TEXT for t in labels)
    fig.savefig(tmp_path / "x.png")
    assert time.perf_counter() - t0 < 120  # a hang guard, not a performance figure


def test_a_gzip_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(b"step,metric,value\n0,")
        chunk = b"a" * 2**20
        for _ in range(300):  # a 300 MB metric name on one line
            f.write(chunk)
        f.write(b",1.0\n")
    assert os.path.getsize(bomb) < 400_000
    with pytest.raises(PathError, match="longer than"):
        csv_to_log(bomb, tmp_path / "bomb.log")
    assert not (tmp_path / "bomb.log").exists()


def test_a_gzip_file_that_inflates_past_the_ratio_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(convert, "_INFLATION_FLOOR", 2**20)  # the ratio, not the 64 MiB floor
    bomb = tmp_path / "rows.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(b"step,metric,value\n")
        f.write(b"0,a,1.0\n" * (8 * 2**20 // 8))  # 8 MB of rows that compress 500:1
    with pytest.raises(PathError, match="inflates"):
        csv_to_log(bomb, tmp_path / "rows.log")
    assert not (tmp_path / "rows.log").exists()


# --------------------------------------------------------------------------- item 14


@pytest.mark.parametrize("kind", ["fifo", "devnull"])
def test_a_fifo_or_device_as_log_path_is_one_line_with_the_path(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = str(tmp_path / "pipe.log")
        os.mkfifo(path)
    else:
        path = os.devnull
    with pytest.raises(PathError, match="not a regular file") as e:
        EventLog(path)
    assert str(e.value).startswith(path)
    assert e.value.path == path


def test_a_csv_with_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    src = tmp_path / "bom.csv"
    src.write_bytes(b"\xef\xbb\xbfstep,metric,value\n0,loss,1.0\n1,loss,0.5\n")
    report = csv_to_log(src, tmp_path / "bom.log")
    assert report.rows == 2
    assert curvelog.read(tmp_path / "bom.log").series("loss").values.tolist() == [1.0, 0.5]
