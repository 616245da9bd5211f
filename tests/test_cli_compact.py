"""``curvelog compact``: outputs, --force, one-line errors (exit 2), registry, progress."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import curvelog
from _cli import assert_one_line_error, invoke
from _real import real_csv
from curvelog.cli import _compact as cli_mod
from curvelog.cli import cli
from curvelog.convert import csv_to_log
from curvelog.log import _format

GAN_CSV = real_csv("gan_deblurgan_wgan")


@pytest.fixture(scope="module")
def gan_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gan") / "gan.log"
    csv_to_log(GAN_CSV, path, best="G_L1")
    return path


@pytest.fixture()
def log(gan_log: Path, tmp_path: Path) -> Path:
    path = tmp_path / "run.log"
    path.write_bytes(gan_log.read_bytes())
    return path


def test_default_output_beside_the_log(log: Path) -> None:
    result = invoke("compact", str(log))
    out = log.with_name("run.curves.json")
    data = out.read_bytes()
    assert result.stdout == ""  # quiet when piped: the one result line goes to stderr
    assert result.stderr == (
        f"{out}: 6 charts, 6 series, 1,416 points from 509 rows, {len(data) / 1000:.1f} kB\n"
    )
    bundle = curvelog.load_bundle(out)
    # run.log is named after its folder (#17)
    assert bundle["run"]["name"] == log.parent.name and bundle["summary"]["resumes"] == 161
    assert bundle["best"]["metric"] == "G_L1"


def test_never_overwrites_without_force_and_reruns_are_byte_identical(log: Path) -> None:
    out = log.with_name("run.curves.json")
    invoke("compact", str(log))
    first = out.read_bytes()
    assert_one_line_error(
        invoke("compact", str(log), ok=False), f"{out}: already exists; pass --force to replace it"
    )
    assert out.read_bytes() == first
    invoke("compact", str(log), "--force")
    assert out.read_bytes() == first
    other = log.with_name("other.json")
    invoke("compact", str(log), "-o", str(other))
    assert other.read_bytes() == first


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_never_overwrites_the_input_log(log: Path, force: bool) -> None:
    """``compact run.log -o run.log --force`` used to replace the log with its bundle."""
    before = log.read_bytes()
    for out in (str(log), str(log.parent / "." / log.name)):
        args = ["compact", str(log), "-o", out] + (["--force"] if force else [])
        assert_one_line_error(
            invoke(*args, ok=False), f"{out}: is the input log; choose another output"
        )
        assert log.read_bytes() == before
    link = log.with_name("link.log")
    link.symlink_to(log.name)
    args = ["compact", str(link), "-o", str(log)] + (["--force"] if force else [])
    assert_one_line_error(
        invoke(*args, ok=False), f"{log}: is the input log; choose another output"
    )
    assert log.read_bytes() == before
    assert sorted(p.name for p in log.parent.iterdir()) == ["link.log", "run.log"]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_never_overwrites_another_log(log: Path, tmp_path: Path, force: bool) -> None:
    other = tmp_path / "other.log"
    other.write_bytes(log.read_bytes())
    before = other.read_bytes()
    for out in (other, tmp_path / "run.curves.json"):  # a log named like a bundle too
        if out != other:
            out.write_bytes(before)
        args = ["compact", str(log), "-o", str(out)] + (["--force"] if force else [])
        assert_one_line_error(
            invoke(*args, ok=False),
            f"{out}: is a curvelog log, not a bundle; refusing to replace it",
        )
        assert out.read_bytes() == before
    args = ["compact", str(log)] + (["--force"] if force else [])  # the default output
    assert_one_line_error(
        invoke(*args, ok=False),
        f"{tmp_path / 'run.curves.json'}: is a curvelog log, not a bundle; refusing to replace it",
    )
    assert (tmp_path / "run.curves.json").read_bytes() == before


def test_options_reach_the_bundle(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    invoke("compact", str(log), "-o", str(out), "--points", "50", "--method", "none",
           "--metrics", "G_*", "--metrics", "epoch")  # fmt: skip
    bundle = json.loads(out.read_text())
    assert bundle["provenance"]["sampling"]["method"] == "none"
    assert bundle["provenance"]["sampling"]["points"] == 50
    assert [s["metric"] for c in bundle["charts"] for s in c["series"]] == [
        "epoch",
        "G_GAN",
        "G_L1",
    ]


def test_stdout_output(log: Path) -> None:
    result = invoke("compact", str(log), "-o", "-")
    bundle = json.loads(result.stdout)
    assert curvelog.load_bundle(bundle) == bundle
    assert result.stderr == ""
    assert not log.with_name("run.curves.json").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "{p}: no such file"),
        (b"", "{p}: byte 0: empty file, not a curvelog log"),
        (b"step,metric,value\n0,loss,1.0\n", "{p}: byte 0: not a curvelog log (bad signature)"),
        (b'{"schema": "curvelog.bundle/1"}', "{p}: byte 0: not a curvelog log (bad signature)"),
    ],
    ids=["missing", "empty", "csv", "bundle"],
)
def test_bad_input_is_one_error_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    p = tmp_path / "in.log"
    if content is not None:
        p.write_bytes(content)
    assert_one_line_error(invoke("compact", str(p), ok=False), message.format(p=p))
    assert not (tmp_path / "in.curves.json").exists()


def test_unknown_metric_is_one_error_line(log: Path) -> None:
    assert_one_line_error(
        invoke("compact", str(log), "--metrics", "val/*", ok=False),
        f"{log}: no metric matches 'val/*' "
        "(metrics: epoch, session, iter_time_s, G_GAN, G_L1, D_real+fake)",
    )


@pytest.mark.parametrize("names", ["", " , "])
def test_metrics_naming_nothing_is_one_error_line(log: Path, names: str) -> None:
    """``--metrics ''`` (an empty shell variable) compacted every metric; now it is an error."""
    assert_one_line_error(
        invoke("compact", str(log), "--metrics", names, ok=False),
        "--metrics: no names given (e.g. --metrics train/loss,lr)",
    )
    assert not log.with_suffix(".curves.json").exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [("compact", "-o needs a file name (or '-' for stdout)"), ("plot", "-o needs a file name")],
)
def test_an_empty_output_path_is_one_error_line(log: Path, command: str, message: str) -> None:
    """``plot -o ''`` meant "the default" and wrote beside the log; now nothing is written."""
    before = sorted(log.parent.iterdir())
    assert_one_line_error(invoke(command, str(log), "-o", "", ok=False), message)
    assert sorted(log.parent.iterdir()) == before


def test_unknown_bundle_version_is_one_error_line(log: Path, tmp_path: Path) -> None:
    """Commands that read bundles turn BundleVersionError into one line (through the group)."""
    bundle = json.loads(invoke("compact", str(log), "-o", "-").stdout)
    bundle["schema"] = "curvelog.bundle/2"
    p = tmp_path / "future.curves.json"
    p.write_text(json.dumps(bundle))
    message = (
        f"{p}: invalid bundle at /schema: schema 'curvelog.bundle/2' is version 2; "
        "this curvelog reads curvelog.bundle/1.x only"
    )

    @click.command("read-bundle-for-test")
    @click.argument("path")
    def read_bundle(path: str) -> None:
        curvelog.load_bundle(path)

    cli.add_command(read_bundle)
    try:
        assert_one_line_error(invoke("read-bundle-for-test", str(p), ok=False), message)
    finally:
        cli.commands.pop("read-bundle-for-test")
    if "plot" in cli.commands:  # the real reader of bundles, once it is there
        result = invoke("plot", str(p), "-o", str(tmp_path / "x.png"), ok=False)
        assert_one_line_error(result, message)


def test_damaged_log_compacts_with_a_warning(log: Path, tmp_path: Path) -> None:
    raw = log.read_bytes()
    frames, _ = _format.scan(raw)
    data = [f for f in frames if f.record.get("type") == "data"]
    mid = data[0]
    damaged = bytearray(raw)
    damaged[mid.offset + 40] ^= 0xFF  # a flipped bit inside the first data record
    log.write_bytes(bytes(damaged))
    result = invoke("compact", str(log), "-o", str(tmp_path / "d.json"))
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"Warning: {log}: bytes {mid.offset}..{mid.end} ({mid.end - mid.offset} bytes): "
        "corrupt bytes (checksum mismatch), skipped"
    )
    assert lines[1].startswith(f"{tmp_path / 'd.json'}: ") and len(lines) == 2
    bundle = curvelog.load_bundle(tmp_path / "d.json")
    assert bundle["summary"]["damage"][0]["kind"] == "corrupt"


def test_file_into_a_registry(log: Path, tmp_path: Path) -> None:
    reg = tmp_path / "saved_models"
    key = "product/P001_all/gan"
    result = invoke("compact", str(log), "--registry", str(reg), "--key", key, "--no-png")
    folder = reg / "product" / "P001_all" / "gan" / "v1"
    assert result.stderr.startswith(f"filed {folder / 'curves.json'} ({key} v1): 6 charts")
    assert not log.with_name("run.curves.json").exists()  # only the registry copy
    invoke("compact", str(log), "-o", str(tmp_path / "b.json"))
    assert (folder / "curves.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    # the same bundle into the same version is a no-op; the same log again reuses v1 (#17)
    invoke("compact", str(log), "--registry", str(reg), "--key", key, "--version", "v1", "--no-png")
    assert not (folder / "loss_curve.png").exists()
    again = invoke("compact", str(log), "--registry", str(reg), "--key", key)
    assert f"({key} v1 already holds this log" in again.stderr
    assert not (reg / "product" / "P001_all" / "gan" / "v2").exists()
    assert (folder / "loss_curve.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_registry_options_go_together(log: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        invoke("compact", str(log), "--registry", str(tmp_path), ok=False),
        "--registry and --key go together",
    )
    assert_one_line_error(
        invoke("compact", str(log), "--version", "2", ok=False),
        "--version needs --registry and --key",
    )
    result = invoke("compact", str(log), "--registry", str(tmp_path), "--key", "a//b", ok=False)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert not log.with_name("run.curves.json").exists()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal(log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_mod, "_PROGRESS_BYTES", 0)
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    p = cli_mod._CompactProgress(str(log))
    p("read", 0, 1)
    p("series", 1, 1)
    assert piped.getvalue() == ""
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    p = cli_mod._CompactProgress(str(log))
    p("read", 0, 1)
    p("read", 1, 1)
    p("series", 1, 2)
    p("series", 2, 2)
    text = tty.getvalue()
    assert text.startswith(f"reading {log} (") and "sampling" in text


def test_help_has_an_example() -> None:
    for args in (["compact", "-h"], ["import", "csv", "-h"]):
        result = invoke(*args)
        assert "Example:" in result.stdout


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_many_logs_in_parallel_one_bad_one_stops_nothing(
    log: Path, tmp_path: Path, jobs: str
) -> None:
    others = [tmp_path / f"run{i}.log" for i in range(3)]
    for p in others:
        p.write_bytes(log.read_bytes())
    bad = tmp_path / "bad.log"
    bad.write_bytes(b"not a log at all")
    args = [str(others[0]), str(bad), str(others[1]), str(others[2])]
    result = invoke("compact", *args, "-j", jobs, ok=False)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[1] == f"Error: {bad}: byte 0: not a curvelog log (bad signature)"
    assert lines[-1] == "Error: 1 of 4 logs could not be compacted"
    # every good log got its bundle, in input order, each one the same as a lone compaction
    assert [ln.split(":")[0] for ln in lines if not ln.startswith("Error")] == [
        str(p.with_name(p.stem + ".curves.json")) for p in others
    ]
    single = tmp_path / "single.curves.json"
    invoke("compact", str(log), "-o", str(single))

    def without_names(path: Path) -> dict[str, object]:
        b = json.loads(path.read_bytes())
        del b["run"]["name"], b["provenance"]["source"]["name"]
        return b  # type: ignore[no-any-return]

    for p in others:
        assert without_names(p.with_name(p.stem + ".curves.json")) == without_names(single)


def test_several_logs_refuse_one_output(log: Path, tmp_path: Path) -> None:
    result = invoke("compact", str(log), str(log), "-o", str(tmp_path / "x.json"), ok=False)
    assert_one_line_error(result, "-o takes one log; with several, each bundle goes beside its log")


@pytest.mark.parametrize("force", [(), ("--force",)])
def test_logs_whose_bundles_collide_are_refused_before_anything(
    log: Path, tmp_path: Path, force: tuple[str, ...]
) -> None:
    """``p.log`` and ``p.bin`` are both ``p.curves.json``: with --force the second
    bundle replaced the first within the same command (exit 0, both reported); without
    it the second failed on a file the command itself had just written."""
    other = tmp_path / "run.bin"
    other.write_bytes(log.read_bytes())
    bundle = tmp_path / "run.curves.json"
    res = invoke("compact", str(log), str(other), *force, ok=False)
    assert_one_line_error(
        res,
        f"{log} and {other} would both be compacted to {bundle}; give them one at a time with -o",
    )
    assert not bundle.exists()  # refused before anything was written
    res = invoke("compact", str(log), str(log), *force, ok=False)  # the same log twice
    assert "would both be compacted to" in res.stderr and not bundle.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="a file name of any bytes is a Linux thing")
def test_a_file_name_that_is_not_utf8_is_compacted_and_plotted(log: Path) -> None:
    """Linux allows any bytes in a name; Python keeps the others as lone surrogates,
    which no bundle, font or page can hold (compact refused, plot crashed)."""
    import os

    odd = Path(os.fsdecode(bytes(log.parent) + b"/bad\xff.log"))
    odd.write_bytes(log.read_bytes())
    invoke("compact", str(odd))
    bundle = curvelog.load_bundle(Path(os.fsdecode(bytes(log.parent) + b"/bad\xff.curves.json")))
    assert bundle["run"]["name"] == "bad\ufffd"
    assert bundle["provenance"]["source"]["name"] == "bad\ufffd.log"
    for ext in (".png", ".html"):
        out = log.parent / f"p{ext}"
        invoke("plot", str(odd), "-o", str(out))
        assert out.stat().st_size > 1000


def test_a_marked_best_no_chart_can_show_is_said(tmp_path: Path) -> None:
    """mark_best on a step where the objective has no value gave a bundle best with
    value null and a chart without its star, silently (data QA)."""
    log = tmp_path / "m.log"
    with curvelog.EventLog(log, best="loss", flush_every=0) as w:
        for s in range(0, 100, 2):
            w.append(s, loss=1 / (s + 1))
        w.mark_best(51)  # an odd step: loss has no value there
    said = f"Warning: {log}: the best step 51 was marked where loss has no finite value: "
    said += "no chart shows it\n"
    result = CliRunner().invoke(cli, ["compact", str(log), "-o", str(tmp_path / "m.json")])
    assert result.exit_code == 0 and result.stderr.startswith(said)
    out = CliRunner().invoke(cli, ["plot", str(log), "-o", str(tmp_path / "m.png")])
    assert out.exit_code == 0 and out.stderr.startswith(said)
    fine = tmp_path / "f.log"
    with curvelog.EventLog(fine, best="loss", flush_every=0) as w:
        w.append(0, loss=1.0)
    result = CliRunner().invoke(cli, ["compact", str(fine), "-o", str(tmp_path / "f.json")])
    assert "Warning" not in result.stderr


def test_a_picture_that_cannot_be_drawn_never_stops_the_filing(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA data #2: a PNG too large to draw made `compact --registry` exit 2 and file
    nothing, with advice naming options compact does not have ("use a smaller size or
    dpi"). The bundle is filed; the warning names compact's own option."""
    import curvelog.plot
    from curvelog.errors import PlotError
    from curvelog.registry import Registry

    def fails(*_: object, **__: object) -> bytes:
        raise PlotError("a 14.1x343 inch figure at 100 dpi is 1,410x34,300 px, too large",
                        "use a smaller size or dpi")  # fmt: skip

    monkeypatch.setattr(curvelog.plot, "render_png", fails)
    reg = tmp_path / "reg"
    result = invoke("compact", str(log), "--registry", str(reg), "--key", "exp/gan")
    assert result.stderr.splitlines()[-2:] == [
        "Warning: exp/gan v1: loss_curve.png not drawn (a 14.1x343 inch figure at 100 dpi is "
        "1,410x34,300 px, too large); the bundle is filed without it (--no-png skips the "
        "picture)",
        f"filed {reg / 'exp/gan/v1/curves.json'} (exp/gan v1): "
        + result.stderr.splitlines()[-1].split("): ", 1)[1],
    ]
    assert "size" not in result.stderr.replace("14.1x343", "")
    assert (reg / "exp/gan/v1/curves.json").is_file()
    assert not (reg / "exp/gan/v1/loss_curve.png").exists()
    assert [v.number for v in Registry(reg).versions("exp/gan")] == [1]


def test_file_run_warns_and_files_when_the_picture_fails(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The integrations' path (`pipeline.file_run`): any failure of the picture, not
    only a PlotError, is a PngWarning; the run's curves are filed."""
    import curvelog.plot
    from curvelog.pipeline import compact, file_run
    from curvelog.registry import Registry

    def crashes(*_: object, **__: object) -> bytes:
        raise MemoryError("Agg could not allocate the canvas")

    monkeypatch.setattr(curvelog.plot, "render_png", crashes)
    bundle, _ = compact(log, write=False)
    from curvelog.pipeline import PngWarning

    with pytest.warns(PngWarning, match=r"loss_curve.png not drawn \(MemoryError: Agg could"):
        v = file_run(bundle, Registry(tmp_path / "reg"), "exp/gan")
    assert (v.path / "curves.json").is_file() and not (v.path / "loss_curve.png").exists()
