"""TensorBoard import: real writers (torch, tensorboardX) -> our reader -> log, bit for bit;
damaged files give fewer values, never a wrong one; CLI errors are one line."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The real writers, from the [test] extra (never skipped: .ci/run installs them).
import tensorboardX as tbx  # noqa: E402
from torch.utils import tensorboard as torch_tb  # noqa: E402

import curvelog
from _cli import assert_one_line_error, invoke
from curvelog.convert import _crc32c
from curvelog.convert.tensorboard import (
    event_files,
    export_tensorboard,
    import_tensorboard,
    read_event_file,
)
from curvelog.errors import OutputExistsError, PathError

SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e-300, 1e300, 3.4e38, 1 / 3]


def f32(x: float) -> float:
    """What a float32 field stores: round to nearest, overflow to inf."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def values(n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    out = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)).tolist()
    out[: min(n, len(SPECIAL))] = SPECIAL[:n]
    return out


def only_file(folder: Path) -> Path:
    (name,) = event_files(folder)
    return Path(name)


def torch_run(
    folder: Path, n: int = 300, seed: int = 0
) -> dict[str, list[tuple[int, float, float]]]:
    """Write with torch's SummaryWriter; return tag -> [(step, wall time, value as stored)]."""
    vals = values(n, seed)
    truth: dict[str, list[tuple[int, float, float]]] = {"f32": [], "f64": [], "t32": []}
    w = torch_tb.SummaryWriter(str(folder))
    for i, v in enumerate(vals):
        step = i * 1_000_003 + i % 3  # multi-byte varints; step 0 is omitted by protobuf
        wall = 1.7e9 + i * 0.123456789
        w.add_scalar("f32", v, step, walltime=wall)
        truth["f32"].append((step, wall, f32(v)))
        w.add_scalar("f64", v, step, walltime=wall + 1e-6, new_style=True, double_precision=True)
        truth["f64"].append((step, wall + 1e-6, v))
        w.add_scalar("t32", v, step, walltime=wall + 2e-6, new_style=True)
        truth["t32"].append((step, wall + 2e-6, f32(v)))
    w.add_histogram("hist", np.arange(10.0), 0)  # not a scalar: ignored
    w.add_text("note", "hello", 0)
    w.close()
    return truth


def assert_same(got: list[tuple[int, float, float]], want: list[tuple[int, float, float]]) -> None:
    assert [s for s, _, _ in got] == [s for s, _, _ in want]
    assert [bits(t) for _, t, _ in got] == [bits(t) for _, t, _ in want]
    assert [bits(v) for _, _, v in got] == [bits(v) for _, _, v in want]


def by_tag(rows: list[tuple[int, float, dict[str, float]]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for step, wall, row in rows:
        for tag, v in row.items():
            out.setdefault(tag, []).append((step, wall, v))
    return out


def test_torch_writer_round_trip_bit_identical(tmp_path: Path) -> None:
    truth = torch_run(tmp_path / "run")
    r = read_event_file(only_file(tmp_path / "run"))
    assert r.damage == [] and r.dropped == 0
    got = by_tag(r.rows)
    assert sorted(got) == ["f32", "f64", "t32"]
    for tag, want in truth.items():
        assert_same(got[tag], want)
    # and through the log: every value, step and wall time, as read back by curvelog
    (imp,) = import_tensorboard(tmp_path / "run", tmp_path / "run.log")
    assert imp.points == 3 * 300 and imp.damage == []
    run = curvelog.read(tmp_path / "run.log")
    for tag, want in truth.items():
        s = run.series(tag)
        assert_same(
            list(zip(s.steps.tolist(), s.times.tolist(), s.values.tolist(), strict=True)), want
        )


def test_tensorboardx_writer_round_trip(tmp_path: Path) -> None:
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto

    vals = values(200, 1)
    w = tbx.SummaryWriter(str(tmp_path))
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    fw = w._get_file_writer()
    for i, v in enumerate(vals):
        w.add_scalar("x", v, i, walltime=1.6e9 + i)
        # doubles two ways: double_val, and raw tensor_content; metadata on the first only
        t1 = TensorProto(dtype=2, double_val=[v])
        t2 = TensorProto(dtype=2, tensor_content=struct.pack("<d", v))
        m = {"metadata": meta} if i == 0 else {}
        fw.add_summary(Summary(value=[Summary.Value(tag="dv", tensor=t1, **m)]), i, 1.6e9 + i)
        fw.add_summary(Summary(value=[Summary.Value(tag="dc", tensor=t2, **m)]), i, 1.6e9 + i)
    w.close()
    got = by_tag(read_event_file(only_file(tmp_path)).rows)
    steps = list(range(200))
    assert_same(got["x"], [(s, 1.6e9 + s, f32(v)) for s, v in zip(steps, vals, strict=True)])
    for tag in ("dv", "dc"):
        assert_same(got[tag], [(s, 1.6e9 + s, v) for s, v in zip(steps, vals, strict=True)])


def test_values_match_tensorboards_own_loader(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    torch_run(tmp_path, n=120, seed=5)
    acc = ea.EventAccumulator(str(tmp_path), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    got = by_tag(read_event_file(only_file(tmp_path)).rows)
    theirs = [(e.step, e.wall_time, e.value) for e in acc.Scalars("f32")]
    assert_same(got["f32"], theirs)
    for tag in ("f64", "t32"):
        ts = acc.Tensors(tag)
        assert_same(
            got[tag],
            [(e.step, e.wall_time, float(tensor_util.make_ndarray(e.tensor_proto))) for e in ts],
        )


def test_files_of_one_run_merge_in_order_and_runs_become_logs(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for name, seed in (("a", 0), ("b/c", 1)):
        folder = root / name
        for k in range(2):  # two sessions of one run: two event files, written in order
            w = torch_tb.SummaryWriter(str(folder), filename_suffix=f".{k}")
            for i in range(5):
                w.add_scalar("loss", seed + k + i / 10, k * 5 + i, walltime=1e9 + k * 5 + i)
            w.close()
    out = tmp_path / "logs"
    done = import_tensorboard(root, out)
    assert sorted(Path(r.log).name for r in done) == ["a.log", "b__c.log"]
    for r in done:
        assert len(r.files) == 2 and r.points == 10
        s = curvelog.read(r.log).series("loss")
        assert s.steps.tolist() == list(range(10))
        assert s.times.tolist() == [1e9 + i for i in range(10)]
    with pytest.raises(OutputExistsError):
        import_tensorboard(root, out)
    assert len(import_tensorboard(root, out, overwrite=True)) == 2


def test_repeated_steps_and_resumes_keep_every_point(tmp_path: Path) -> None:
    w = torch_tb.SummaryWriter(str(tmp_path))
    for step, v in ((0, 1.0), (1, 2.0), (2, 3.0), (1, 4.0), (2, 5.0), (2, 6.0)):
        w.add_scalar("m", v, step, walltime=1e9 + v)
    w.close()
    import_tensorboard(tmp_path, tmp_path / "r.log")
    run = curvelog.read(tmp_path / "r.log")
    assert run.rows == 6 and run.resumes == 1
    s = run.series("m")
    assert s.steps.tolist() == [0, 1, 2] and s.values.tolist() == [1.0, 4.0, 6.0]


# --------------------------------------------------------------------------- damage


def truth_rows(path: Path) -> list[tuple[int, float, dict[str, float]]]:
    r = read_event_file(path)
    assert r.damage == []
    return r.rows


def keyed(rows: list[Any]) -> list[Any]:
    """Rows compared by bits (NaN equals itself)."""
    return [(s, bits(t), sorted((k, bits(v)) for k, v in row.items())) for s, t, row in rows]


def is_subsequence(got: list[Any], want: list[Any]) -> bool:
    it = iter(keyed(want))
    return all(any(g == w for w in it) for g in keyed(got))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[Any]]:
    folder = tmp_path_factory.mktemp("clean")
    torch_run(folder, n=60, seed=9)
    path = only_file(folder)
    return path.read_bytes(), truth_rows(path)


def test_cut_at_random_offsets_gives_a_prefix_and_reports_the_torn_tail(
    tmp_path: Path, clean: tuple[bytes, list[Any]]
) -> None:
    data, want = clean
    rng = np.random.default_rng(11)
    for cut in sorted(set(rng.integers(1, len(data), 60).tolist())):
        path = tmp_path / f"events.out.tfevents.cut{cut}"
        path.write_bytes(data[:cut])
        r = read_event_file(path)
        assert keyed(r.rows) == keyed(
            want[: len(r.rows)]
        )  # a prefix: nothing wrong, nothing reordered
        assert [d.what for d in r.damage] in ([], ["torn tail"])
        if r.damage:
            assert r.damage[0].end == cut
        else:  # only a cut exactly between records leaves no torn tail
            assert cut in record_ends(data)


def record_ends(data: bytes) -> set[int]:
    ends, p = set(), 0
    while p < len(data):
        p += 16 + int.from_bytes(data[p : p + 8], "little")
        ends.add(p)
    return ends


def test_flipped_bytes_are_skipped_and_reported_never_read(
    tmp_path: Path, clean: tuple[bytes, list[Any]]
) -> None:
    data, want = clean
    rng = np.random.default_rng(12)
    for trial in range(120):
        buf = bytearray(data)
        for at in rng.integers(0, len(buf), 1 + trial % 3).tolist():
            buf[at] ^= int(rng.integers(1, 256))
        path = tmp_path / f"events.out.tfevents.flip{trial}"
        path.write_bytes(bytes(buf))
        r = read_event_file(path)
        assert r.damage, "a flipped byte must be reported"
        assert all(d.what == "checksum" for d in r.damage)
        assert is_subsequence(r.rows, want)
        assert len(r.rows) >= len(want) - 3 * 3  # one damaged record loses only itself


def test_numpy_crc_fallback_reads_the_same(
    tmp_path: Path, clean: tuple[bytes, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, want = clean
    buf = bytearray(data)
    buf[len(buf) // 2] ^= 0x40
    path = tmp_path / "events.out.tfevents.x"
    path.write_bytes(bytes(buf))
    with_c = read_event_file(path)
    monkeypatch.setattr(_crc32c, "_c", lambda: None)
    assert _crc32c.backend() == "numpy"
    without = read_event_file(path)
    assert keyed(without.rows) == keyed(with_c.rows) and without.damage == with_c.damage


def test_a_record_with_a_good_checksum_but_no_event_is_malformed(tmp_path: Path) -> None:
    payload = b"\x2a\x05\x0a\x09\x0a"  # a summary whose value claims more bytes than exist
    head = len(payload).to_bytes(8, "little")
    rec = (
        head
        + _crc32c.mask(_crc32c.crc32c(head)).to_bytes(4, "little")
        + payload
        + _crc32c.mask(_crc32c.crc32c(payload)).to_bytes(4, "little")
    )
    path = tmp_path / "events.out.tfevents.m"
    path.write_bytes(rec)
    r = read_event_file(path)
    assert r.rows == [] and [d.what for d in r.damage] == ["malformed event"]


def test_not_an_event_file_is_all_damage(tmp_path: Path) -> None:
    path = tmp_path / "events.out.tfevents.txt"
    path.write_bytes(os.urandom(0) + b"this is not a TFRecord file, just some text\n" * 20)
    r = read_event_file(path)
    assert r.rows == [] and r.damage and r.damage[0].start == 0


# --------------------------------------------------------------------------- CLI


def test_cli_import(tmp_path: Path) -> None:
    torch_run(tmp_path / "run", n=20)
    res = invoke("import", "tensorboard", str(tmp_path / "run"), "-o", str(tmp_path / "r.log"))
    assert "60 points, 3 metrics from 1 event file" in res.stderr
    res = invoke(
        "import", "tensorboard", str(tmp_path / "run"), "-o", str(tmp_path / "r.log"), ok=False
    )
    assert_one_line_error(res, f"{tmp_path / 'r.log'}: already exists; pass --force to replace it")
    res = invoke("import", "tensorboard", str(tmp_path / "nope"), "-o", "x.log", ok=False)
    assert_one_line_error(res, f"{tmp_path / 'nope'}: no such file or folder")
    (tmp_path / "empty").mkdir()
    res = invoke("import", "tensorboard", str(tmp_path / "empty"), "-o", "x.log", ok=False)
    assert_one_line_error(
        res, f"{tmp_path / 'empty'}: holds no TensorBoard event files (*tfevents*)"
    )


def test_cli_reports_damage(tmp_path: Path) -> None:
    torch_run(tmp_path / "run", n=20)
    path = only_file(tmp_path / "run")
    path.write_bytes(path.read_bytes()[:-3])
    res = invoke("import", "tensorboard", str(path), "-o", str(tmp_path / "r.log"))
    # the torn record is the last one written, the text note: every scalar is still there
    assert "torn tail, skipped" in res.stderr and "60 points" in res.stderr


def test_missing_source_error() -> None:
    with pytest.raises(PathError):
        import_tensorboard("/nonexistent/x", "/tmp/never.log")


# --------------------------------------------------------------------------- export

# NaN with a payload and a sign, subnormals, -0.0, the float64 extremes: none survive float32
EXPORT_SPECIAL = [
    math.nan,
    struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_DEAD_BEEF))[0],
    math.inf,
    -math.inf,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    0.1,
    1 / 3,
]


def native_log(path: Path, n: int = 400, seed: int = 2) -> Path:
    rng = np.random.default_rng(seed)
    with curvelog.EventLog(path, flush_every=0) as log:
        for i in range(n):
            row = {"train/loss": float(rng.standard_normal()) * 1e-3}
            if i < len(EXPORT_SPECIAL):
                row["train/loss"] = EXPORT_SPECIAL[i]
            if i % 7 == 0:
                row["val/acc"] = float(rng.random())
            log.append(i * 3, row)
    return path


def log_points(path: Path) -> dict[str, list[tuple[int, float, float]]]:
    run = curvelog.read(path)
    return {
        s.metric: list(zip(s.steps.tolist(), s.times.tolist(), s.values.tolist(), strict=True))
        for s in run
    }


def test_export_reads_back_identical_in_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util

    log = native_log(tmp_path / "run.log")
    r = export_tensorboard(log, tmp_path / "tb")
    assert r.points == 400 + 58 and r.metrics == ("train/loss", "val/acc")
    assert r.events == r.points  # one value per event, as add_scalar writes them
    acc = ea.EventAccumulator(str(tmp_path / "tb"), size_guidance={ea.TENSORS: 0})
    acc.Reload()
    want = log_points(log)
    assert sorted(acc.Tags()["tensors"]) == sorted(want)
    for tag, points in want.items():
        got = [
            (e.step, e.wall_time, float(tensor_util.make_ndarray(e.tensor_proto)))
            for e in acc.Tensors(tag)
        ]
        assert_same(got, points)


def test_export_is_what_tensorboards_scalar_dashboard_serves(tmp_path: Path) -> None:
    """The data provider behind TensorBoard's Scalars dashboard lists them as scalars."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    log = native_log(tmp_path / "run.log", n=50)
    export_tensorboard(log, tmp_path / "tb" / "run")
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"scalars": 0})
    mux.AddRunsFromDirectory(str(tmp_path / "tb"))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(tmp_path / "tb"))
    got = provider.read_scalars(
        context.RequestContext(), experiment_id="", plugin_name="scalars", downsample=10**6
    )
    for tag, points in log_points(log).items():
        assert_same([(d.step, d.wall_time, d.value) for d in got["run"][tag]], points)


def test_export_then_import_round_trip(tmp_path: Path) -> None:
    log = native_log(tmp_path / "run.log")
    export_tensorboard(log, tmp_path / "tb")
    import_tensorboard(tmp_path / "tb", tmp_path / "back.log")
    back, want = log_points(tmp_path / "back.log"), log_points(log)
    assert sorted(back) == sorted(want)
    for tag in want:
        assert_same(back[tag], want[tag])


def test_export_of_a_resumed_log_is_what_read_shows(tmp_path: Path) -> None:
    with curvelog.EventLog(tmp_path / "r.log", flush_every=0) as log:
        for step in (0, 1, 2, 3, 1, 2):  # resumed from step 1
            log.append(step, loss=float(step))
    with curvelog.EventLog(tmp_path / "r.log", flush_every=0) as log:
        log.append(2, loss=99.0)
    export_tensorboard(tmp_path / "r.log", tmp_path / "tb")
    import_tensorboard(tmp_path / "tb", tmp_path / "back.log")
    s = curvelog.read(tmp_path / "back.log").series("loss")
    assert s.steps.tolist() == [0, 1, 2, 3] and s.values.tolist() == [0.0, 1.0, 99.0, 3.0]


def test_export_refuses_to_mix_runs_and_to_overwrite(tmp_path: Path) -> None:
    log = native_log(tmp_path / "run.log", n=20)
    r = export_tensorboard(log, tmp_path / "tb")
    with pytest.raises(OutputExistsError):
        export_tensorboard(log, tmp_path / "tb")
    assert export_tensorboard(log, tmp_path / "tb", overwrite=True).event_file == r.event_file
    other = native_log(tmp_path / "other.log", n=20)
    with pytest.raises(PathError, match="TensorBoard would merge them"):
        export_tensorboard(other, tmp_path / "tb")
    (tmp_path / "file").write_text("x")
    with pytest.raises(PathError, match="is a file"):
        export_tensorboard(other, tmp_path / "file")


def test_cli_export_tensorboard(tmp_path: Path) -> None:
    log = str(native_log(tmp_path / "run.log", n=30))
    out = str(tmp_path / "tb")
    res = invoke("export", log, "--format", "tensorboard", "-o", out)
    assert "35 points, 2 metrics" in res.stderr  # 30 + val/acc every 7th
    res = invoke("export", log, "--format", "tensorboard", "-o", out, ok=False)
    assert res.exit_code == 2 and res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1
    res = invoke("export", log, "--format", "tensorboard", "-o", out, "--wide", ok=False)
    assert_one_line_error(
        res, "--wide is for CSV and Parquet; TensorBoard keeps one series per metric"
    )
    res = invoke("export", log, "--format", "csv", "-o", str(tmp_path / "x.parquet"), ok=False)
    assert_one_line_error(
        res,
        f"--format csv needs an output file ending in .csv, not {str(tmp_path / 'x.parquet')!r}",
    )


def test_import_with_an_objective_tracks_the_best(tmp_path: Path) -> None:
    w = torch_tb.SummaryWriter(str(tmp_path / "run"))
    for step, v in enumerate([3.0, 1.0, math.nan, 2.0, 1.0]):
        w.add_scalar("val/loss", v, step)
        w.add_scalar("acc", 1 - v / 4 if v == v else 0.0, step)
    w.close()
    res = invoke(
        "import", "tensorboard", str(tmp_path / "run"), "-o", str(tmp_path / "r.log"),
        "--best", "val/loss",
    )  # fmt: skip
    assert "10 points, 2 metrics" in res.stderr
    best = curvelog.read(tmp_path / "r.log").best
    assert best is not None and (best.step, best.value, best.source) == (1, 1.0, "tracked")
    (r,) = import_tensorboard(tmp_path / "run", tmp_path / "m.log", best="acc", mode="max")
    assert curvelog.read(r.log).best.step == 1  # type: ignore[union-attr]
    res = invoke(
        "import", "tensorboard", str(tmp_path / "run"), "-o", str(tmp_path / "x.log"),
        "--best", "nope", ok=False,
    )  # fmt: skip
    assert res.exit_code == 2 and res.stderr.startswith("Error: ") and "nope" in res.stderr
    assert not (tmp_path / "x.log").exists()


def test_tensors_before_their_tags_metadata_and_a_tag_twice_in_one_event(tmp_path: Path) -> None:
    """TensorBoard gives a tag its plugin wherever the metadata is; so does the reader."""
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto

    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    w = tbx.SummaryWriter(str(tmp_path))
    fw = w._get_file_writer()
    for i in range(6):
        m = {"metadata": meta} if i == 3 else {}  # metadata only on the 4th value
        t = TensorProto(dtype=2, double_val=[i / 7])
        fw.add_summary(Summary(value=[Summary.Value(tag="late", tensor=t, **m)]), i, 1e9 + i)
    other = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="histograms"))
    t = TensorProto(dtype=2, double_val=[1.0])
    fw.add_summary(Summary(value=[Summary.Value(tag="h", tensor=t, metadata=other)]), 0, 1e9)
    twice = [Summary.Value(tag="d", simple_value=1.5), Summary.Value(tag="d", simple_value=2.5)]
    fw.add_summary(Summary(value=twice), 9, 1e9 + 9)
    w.close()
    r = read_event_file(only_file(tmp_path))
    got = by_tag(r.rows)
    assert sorted(got) == ["d", "late"]  # "h" is a histogram-plugin tensor: not a scalar
    assert_same(got["late"], [(i, 1e9 + i, i / 7) for i in range(6)])
    assert [(s, row) for s, _, row in r.rows if "d" in row] == [(9, {"d": 1.5}), (9, {"d": 2.5})]


def test_many_layouts_and_writers_agree_with_the_slow_decoder(tmp_path: Path) -> None:
    """A file mixing writers, tags and step sizes: the grouped fast path gives exactly what
    decoding every record one by one gives."""
    from curvelog._fs import read_bytes
    from curvelog.convert import _tb_proto, _tfrecord

    rng = np.random.default_rng(21)
    w = torch_tb.SummaryWriter(str(tmp_path))
    for i in range(400):
        step = int(rng.integers(0, 2**40)) if i % 5 == 0 else i
        tag = f"m{int(rng.integers(0, 7))}"
        kind = int(rng.integers(0, 3))
        w.add_scalar(tag if kind == 0 else f"{tag}/{kind}", float(rng.standard_normal()), step,
                     new_style=kind > 0, double_precision=kind == 2)  # fmt: skip
    w.close()
    path = only_file(tmp_path)
    buf = read_bytes(path)
    starts, lengths, _ = _tfrecord.frame(buf)
    plugins: dict[str, str] = {}
    slow = []
    for a, ln in zip(starts.tolist(), lengths.tolist(), strict=True):
        step, wall, values, _, _ = _tb_proto.event(buf, a, a + ln, plugins, set())
        if values:
            slow.append((step, wall, dict(values)))
    assert keyed(read_event_file(path).rows) == keyed(slow)


def test_a_file_with_no_readable_record_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not an event file\n" * 10)
    res = invoke("import", "tensorboard", str(path), "-o", str(tmp_path / "x.log"), ok=False)
    assert_one_line_error(
        res,
        f"{path}: no readable TensorBoard record (not an event file, or damaged throughout)",
    )
    assert not (tmp_path / "x.log").exists()
    empty = tmp_path / "events.out.tfevents.0.empty"  # a writer that wrote nothing yet
    empty.write_bytes(b"")
    res = invoke("import", "tensorboard", str(empty), "-o", str(tmp_path / "e.log"), ok=False)
    assert_one_line_error(res, f"{empty}: holds no scalar points: nothing to import")
    assert not (tmp_path / "e.log").exists()  # an empty log would look like a good import


def test_a_run_without_scalars_among_several_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A folder of runs often holds one without scalars (images only, a writer that
    wrote nothing yet): the others are imported, that one is named, no log for it."""
    root = tmp_path / "runs"
    w = torch_tb.SummaryWriter(str(root / "good"))
    for i in range(5):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    w.close()
    w = torch_tb.SummaryWriter(str(root / "pictures"))
    w.add_histogram("weights", np.arange(10.0), 0)
    w.close()
    out = tmp_path / "logs"
    res = invoke("import", "tensorboard", str(root), "-o", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["good.log"]
    assert f"Warning: {root / 'pictures'}: holds no scalar points; no log written" in res.stderr
    assert f"{out / 'good.log'}: 5 points, 1 metric from 1 event file" in res.stderr
    # every run empty: an error, nothing written
    bare = tmp_path / "bare"
    (bare / "x").mkdir(parents=True)
    (bare / "x" / "events.out.tfevents.0.h").write_bytes(b"")
    (bare / "y").mkdir()
    (bare / "y" / "events.out.tfevents.0.h").write_bytes(b"")
    res = invoke("import", "tensorboard", str(bare), "-o", str(tmp_path / "none"), ok=False)
    assert_one_line_error(res, f"{bare}: holds no readable scalar points in any of its 2 runs")
    assert not (tmp_path / "none").exists()


def test_an_unreadable_run_among_several_is_skipped_not_fatal(tmp_path: Path) -> None:
    """A folder of runs with one garbled event file stopped with exit 2 after the runs
    before it were written (a rerun then failed on "already exists"), or left an empty
    output folder when it came first: it is skipped with a warning, like a run without
    scalars, and the others are imported."""
    for order in ("abad", "zbad"):
        root = tmp_path / order / "runs"
        torch_run(root / "good", n=5)
        (root / order).mkdir()
        rng = np.random.default_rng(3)
        (root / order / "events.out.tfevents.1.host").write_bytes(rng.bytes(1000))
        out = tmp_path / order / "logs"
        res = invoke("import", "tensorboard", str(root), "-o", str(out))
        assert sorted(p.name for p in out.iterdir()) == ["good.log"]
        assert (
            f"Warning: {root / order}: no readable TensorBoard record (not an event file, "
            "or damaged throughout); no log written"
        ) in res.stderr
        assert len(curvelog.read(out / "good.log").series("f32")) == 5


def test_runs_whose_names_collide_each_get_their_own_log(tmp_path: Path) -> None:
    """Nested run folders are joined with ``__``: runs ``a/b`` and ``a__b`` were both
    ``a__b.log``, so with --force one run silently replaced the other (exit 0), and
    without it the command failed half-way on a file it had just written."""
    root = tmp_path / "tb"
    torch_run(root / "a" / "b", n=5)
    w = torch_tb.SummaryWriter(str(root / "a__b"))
    for i in range(7):
        w.add_scalar("acc", i / 10, i)
    w.close()
    for force in ((), ("--force",)):
        out = tmp_path / f"out{len(force)}"
        invoke("import", "tensorboard", str(root), "-o", str(out), *force)
        logs = sorted(p.name for p in out.iterdir())
        assert logs == ["a__b (2).log", "a__b.log"]
        got = {n: tuple(curvelog.read(out / n).metrics) for n in logs}
        assert sorted(got.values()) == [("acc",), ("f32", "f64", "t32")]  # a log per run


def test_one_run_into_an_existing_folder_is_named_by_its_folder(tmp_path: Path) -> None:
    torch_run(tmp_path / "exp7", n=5)
    (tmp_path / "logs").mkdir()
    (r,) = import_tensorboard(tmp_path / "exp7", tmp_path / "logs")
    assert r.log == str(tmp_path / "logs" / "exp7.log")
    (r,) = import_tensorboard(only_file(tmp_path / "exp7"), tmp_path / "logs", overwrite=True)
    assert r.log == str(tmp_path / "logs" / "exp7.log") and r.points == 15
