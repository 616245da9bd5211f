"""``curvelog plot`` and ``curvelog compare``: outputs, options, one-line errors (exit 2)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from _cli import assert_one_line_error, invoke
from _real import real_csv
from curvelog.convert import csv_to_log
from curvelog.pipeline import compact

GAN_CSV = real_csv("gan_deblurgan_wgan")
DETECTRON_CSV = real_csv("detectron2_balloon_metrics")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("logs")
    out = {}
    for name, src, best in (("gan", GAN_CSV, "G_L1"), ("det", DETECTRON_CSV, "total_loss")):
        csv_to_log(src, folder / f"{name}.log", best=best)
        out[name] = (folder / f"{name}.log").read_bytes()
    return out


@pytest.fixture()
def log(logs: dict[str, bytes], tmp_path: Path) -> Path:
    path = tmp_path / "run.log"
    path.write_bytes(logs["gan"])
    return path


@pytest.fixture()
def bundle_path(log: Path) -> Path:
    _, path = compact(log)
    assert path is not None
    return Path(path)


def png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(path.read_bytes())) as img:
        assert img.format == "PNG"
        return img.size


# --------------------------------------------------------------------------- plot


def test_plot_a_bundle_beside_it(bundle_path: Path) -> None:
    result = invoke("plot", str(bundle_path))
    out = bundle_path.with_name("run.png")
    assert result.stdout == ""
    assert result.stderr == f"{out}: 6 charts\n"
    assert png_size(out) == (1410, 700)  # 3 x 2 panels at 100 dpi


def test_plot_a_log_compacts_it_in_memory(log: Path, bundle_path: Path) -> None:
    bundle_path.unlink()
    invoke("plot", str(log), "-o", str(log.with_name("from_log.svg")))
    assert not bundle_path.exists()  # nothing written but the picture
    compact(log)
    invoke("plot", str(bundle_path), "-o", str(log.with_name("from_bundle.svg")))
    assert (
        log.with_name("from_log.svg").read_bytes() == log.with_name("from_bundle.svg").read_bytes()
    )


@pytest.mark.parametrize("ext", ["svg", "pdf"])
def test_plot_reruns_are_byte_identical(bundle_path: Path, ext: str) -> None:
    out = bundle_path.with_name(f"run.{ext}")
    invoke("plot", str(bundle_path), "-o", str(out))
    first = out.read_bytes()
    invoke("plot", str(bundle_path), "-o", str(out))  # an existing picture is replaced
    assert out.read_bytes() == first


def test_plot_options(bundle_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    result = invoke(
        "plot",
        str(bundle_path),
        "-o",
        str(out),
        "--charts",
        "G_L1,G_GAN",
        "--size",
        "6x3",
        "--dpi",
        "50",
        "--smooth",
        "0.8",
        "--logy",
        "--logx",
    )
    assert result.stderr == f"{out}: 2 charts\n"
    assert png_size(out) == (300, 150)
    invoke("plot", str(bundle_path), "-o", str(out), "--charts", "G_L1", "--no-logy")


def test_plot_help_has_an_example() -> None:
    result = invoke("plot", "--help")
    assert "curvelog plot runs/exp1/run.curves.json" in result.output
    assert "--logy / --no-logy" in result.output


def test_plot_of_a_folder_is_one_error_line(tmp_path: Path) -> None:
    # a folder is a rank set's (#13): one without any log is one error line
    result = invoke("plot", str(tmp_path), ok=False)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path}: holds no curvelog log\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{p}: no such file"),
        (b"", "{p}: invalid bundle: empty file, not a chart bundle"),
        (
            b"step,metric,value\n",
            "{p}: invalid bundle: not JSON (Expecting value at line 1 column 1)",
        ),
        (
            b'{"schema": "curvelog.bundle/1"}',
            "{p}: invalid bundle at /run: required field is missing",
        ),
        (
            b'{"schema": "curvelog.bundle/7"}',
            "{p}: invalid bundle at /schema: schema 'curvelog.bundle/7' is version 7; "
            "this curvelog reads curvelog.bundle/1.x only",
        ),
        (b"\x89CLG\r\n\x1a", "{p}: byte 7: "),
    ],
    ids=["missing", "empty", "csv", "incomplete", "version", "torn-log"],
)
def test_plot_bad_input_is_one_error_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    p = tmp_path / "in.json"
    if content is not None:
        p.write_bytes(content)
    result = invoke("plot", str(p), ok=False)
    expected = message.format(p=p)
    if expected.endswith(": "):  # the log reader's own words follow
        assert result.exit_code == 2 and result.stderr.startswith(f"Error: {expected}")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    else:
        assert_one_line_error(result, expected)
    assert not (tmp_path / "in.png").exists()


def test_plot_malformed_chart_names_the_pointer(bundle_path: Path) -> None:
    data = json.loads(bundle_path.read_text())
    data["charts"][2]["series"][0]["y"] = data["charts"][2]["series"][0]["y"][:-1]
    bundle_path.write_text(json.dumps(data))
    result = invoke("plot", str(bundle_path), ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {bundle_path}: invalid bundle at /charts/2/series/0/y: "
    )
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_plot_values_near_the_float_limits(bundle_path: Path) -> None:
    data = json.loads(bundle_path.read_text())
    for k, s in enumerate(data["charts"][0]["series"]):
        s["y"] = [(-1) ** (i + k) * 1e308 for i in range(len(s["y"]))]
    bundle_path.write_text(json.dumps(data))
    result = invoke("plot", str(bundle_path))
    assert result.stderr == f"{bundle_path.with_name('run.png')}: 6 charts\n"


def test_plot_unknown_chart(bundle_path: Path) -> None:
    assert_one_line_error(
        invoke("plot", str(bundle_path), "--charts", "G_L1,loss", ok=False),
        "unknown chart 'loss'; available: epoch, session, iter_time_s, G_GAN, G_L1, D_real+fake",
    )
    assert not bundle_path.with_name("run.png").exists()


def test_plot_unwritable_output(bundle_path: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    assert_one_line_error(
        invoke("plot", str(bundle_path), "-o", str(missing / "x.png"), ok=False),
        f"{missing}: folder does not exist",
    )
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(
        invoke("plot", str(bundle_path), "-o", str(blocker / "x.png"), ok=False),
        f"{blocker}: is not a folder",
    )


def test_plot_unsupported_format_fails_before_reading(tmp_path: Path) -> None:
    out = tmp_path / "x.jpg"
    assert_one_line_error(
        invoke("plot", str(tmp_path / "missing.log"), "-o", str(out), ok=False),
        f"{out}: unsupported output format '.jpg'; use .png, .svg, .pdf or .html",
    )


def test_plot_refuses_to_overwrite_its_input(bundle_path: Path) -> None:
    before = bundle_path.read_bytes()
    renamed = bundle_path.with_name("b.png")
    bundle_path.rename(renamed)
    assert_one_line_error(
        invoke("plot", str(renamed), "-o", str(renamed), ok=False),
        f"{renamed}: the output would replace an input",
    )
    assert renamed.read_bytes() == before


def test_plot_refuses_to_replace_another_log(bundle_path: Path, log: Path) -> None:
    other = log.with_name("other.png")  # a log, whatever its name
    other.write_bytes(log.read_bytes())
    before = other.read_bytes()
    for cmd in (["plot", str(bundle_path)], ["compare", str(bundle_path), str(bundle_path)]):
        assert_one_line_error(
            invoke(*cmd, "-o", str(other), ok=False),
            f"{other}: is a curvelog log, not a picture; refusing to replace it",
        )
        assert other.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "big"], "--size must be WIDTHxHEIGHT in inches, e.g. 12x8, not 'big'"),
        (["--size", "0x3"], "--size must be between 0 and 100 inches each way, not '0x3'"),
    ],
)
def test_plot_bad_size(bundle_path: Path, args: list[str], message: str) -> None:
    assert_one_line_error(invoke("plot", str(bundle_path), *args, ok=False), message)


def test_plot_refuses_a_huge_canvas(bundle_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "huge.png"
    assert_one_line_error(
        invoke(
            "plot", str(bundle_path), "-o", str(out), "--size", "100x100", "--dpi", "1000", ok=False
        ),  # fmt: skip
        "a 100x100 inch figure at 1000 dpi is 100,000x100,000 px, too large "
        "(at most 32,768 px a side and 134,217,728 px in all); use a smaller size or dpi",
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("size", "dpi", "message"),
    [("0.001x8", "100", "a 0.001x8 inch figure at 100 dpi is 0x800 px, too small; "
                        "use a larger size or dpi"),
     ("0.04x3", "10", "a 0.04x3 inch figure at 10 dpi is 0x30 px, too small; "
                      "use a larger size or dpi"),
     ("1x1", "100", "a 1x1 inch figure is too small for its 6 panels (their labels and "
                    "ticks do not fit); use a larger size")],
)  # fmt: skip
def test_plot_refuses_a_canvas_too_small(
    bundle_path: Path, tmp_path: Path, size: str, dpi: str, message: str
) -> None:
    """A tiny --size ended in PIL's "cannot write empty image" traceback, after a raw
    matplotlib warning that the layout was not applied; both are one line, exit 2."""
    out = tmp_path / "tiny.png"
    res = invoke("plot", str(bundle_path), "-o", str(out), "--size", size, "--dpi", dpi, ok=False)
    assert_one_line_error(res, message)
    assert not out.exists()


@pytest.mark.parametrize("args", [["--smooth", "1"], ["--smooth", "-0.5"], ["--dpi", "1"]])
def test_plot_out_of_range_options_are_usage_errors(bundle_path: Path, args: list[str]) -> None:
    result = invoke("plot", str(bundle_path), *args, ok=False)
    assert result.exit_code == 2
    assert "Invalid value for" in result.stderr and "Traceback" not in result.output


# --------------------------------------------------------------------------- compare


def test_compare_two_runs(
    logs: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gan.log").write_bytes(logs["gan"])
    (tmp_path / "det.log").write_bytes(logs["det"])
    _, det = compact(tmp_path / "det.log")
    monkeypatch.chdir(tmp_path)
    result = invoke("compare", "gan.log", str(det), "--charts", "G_L1,total_loss")
    assert result.stderr == "compare.png: 2 charts, 2 runs\n"
    assert png_size(tmp_path / "compare.png")[0] == 950  # two panels side by side
    invoke("compare", "gan.log", str(det), "-o", "c.svg", "--name", "GAN", "--name", "Mask R-CNN")
    svg = (tmp_path / "c.svg").read_text()
    assert "GAN" in svg and "Mask R-CNN" in svg  # legend text is drawn as paths, named in ids
    assert (tmp_path / "c.svg").stat().st_size > 10_000


def test_compare_errors(bundle_path: Path, tmp_path: Path) -> None:
    b = str(bundle_path)
    assert_one_line_error(invoke("compare", b, ok=False), "compare needs at least two runs")
    assert_one_line_error(
        invoke("compare", b, b, "--name", "a", ok=False), "1 --name for 2 runs; give one per run"
    )
    assert_one_line_error(
        invoke("compare", b, b, "--charts", "nope", "-o", str(tmp_path / "c.png"), ok=False),
        "unknown chart 'nope'; available: epoch, session, iter_time_s, G_GAN, G_L1, D_real+fake",
    )
    missing = tmp_path / "missing.json"
    assert_one_line_error(
        invoke("compare", b, str(missing), "-o", str(tmp_path / "c.png"), ok=False),
        f"{missing}: no such file",
    )
    assert not (tmp_path / "c.png").exists()
    result = invoke("compare", ok=False)
    assert result.exit_code == 2 and "Missing argument" in result.stderr


@pytest.mark.parametrize("ext", ["png", "svg", "html"])
def test_plot_counts_the_charts_it_drew_none_for_a_bundle_without(tmp_path: Path, ext: str) -> None:
    from curvelog import EventLog

    log = tmp_path / "empty.log"
    EventLog(log, best="loss").close()
    bundle = tmp_path / "empty.curves.json"
    invoke("compact", str(log), "-o", str(bundle))
    out = tmp_path / f"e.{ext}"
    result = invoke("plot", str(bundle), "-o", str(out))
    assert result.stderr == f"{out}: 0 charts\n" and out.is_file()


def test_plot_says_how_many_charts_it_left_out(
    bundle_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA data #2: past `MAX_PANELS` charts (none picked) the first are drawn, and the
    line says how many were left out and how to pick them, in plot's own options."""
    monkeypatch.setattr("curvelog.plot._figure.MAX_PANELS", 2)
    out = tmp_path / "few.png"
    result = invoke("plot", str(bundle_path), "-o", str(out))
    assert result.stderr == f"{out}: 2 of 6 charts (4 left out; pick them with --charts)\n"
    result = invoke("compare", str(bundle_path), str(bundle_path), "-o", str(out))
    assert result.stderr == f"{out}: 2 of 6 charts (4 left out; pick them with --charts), 2 runs\n"
    result = invoke("plot", str(bundle_path), "-o", str(out), "--charts", "G_L1,G_GAN,epoch")
    assert result.stderr == f"{out}: 3 charts\n"
