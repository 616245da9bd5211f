"""A registry you can query (issue #17): objective and best per version, --sort, `registry
add`, and the same log never filed twice (registry/_query.py, registry/_add.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from curvelog import EventLog
from curvelog.cli import cli
from curvelog.registry import Registry

KEY = "product/P001_all/mlstm"


def run(*args: str | Path) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def fails(*args: str | Path) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1
    return result.stderr


def make_log(path: Path, floor: float, acc: float, seed: int, steps: int = 300) -> Path:
    """Validation loss falling to ``floor`` (best), accuracy rising to ``acc``."""
    rng = np.random.default_rng(seed)
    with EventLog(path, best="val/loss", mode="min", flush_every=0) as log:
        for i in range(steps):
            log.append(i, {"train/loss": floor + 2.0 / (i + 1) + float(rng.random()) * 0.01})
            if i % 10 == 0:
                log.append(i, {"val/loss": floor + 1.0 / (i + 1), "val/acc": acc * i / steps})
    return path


@pytest.fixture
def filed(tmp_path: Path) -> Path:
    """Three runs of KEY filed by `compact --registry`: v1 floor 0.5, v2 floor 0.2, v3 0.35."""
    root = tmp_path / "saved_models"
    for n, (floor, acc) in enumerate([(0.5, 0.7), (0.2, 0.9), (0.35, 0.95)], start=1):
        log = make_log(tmp_path / f"run{n}.log", floor, acc, seed=n)
        run("compact", log, "--registry", root, "--key", KEY, "--no-png")
    return root


def test_list_and_show_print_objective_and_best(filed: Path) -> None:
    out = run("registry", "list", "-r", filed).stdout.splitlines()
    assert out[0] == f"{KEY}  v3     3 versions"
    assert out[1].startswith(
        "  v1     objective val/loss (min)  best val/loss = 0.503436 at step 290"
    )
    assert out[2].startswith(
        "  v2     objective val/loss (min)  best val/loss = 0.203436 at step 290"
    )
    assert len(out) == 4
    shown = run("registry", "show", KEY, "v2", "-r", filed).stdout
    assert "objective:  val/loss (min)\nbest:       val/loss = 0.203436 at step 290\n" in shown
    rows = json.loads(run("registry", "list", "-r", filed, "--json").stdout)
    assert [f["best_value"] for f in rows[0]["filed"]] == pytest.approx(
        [0.5 + 1 / 291, 0.2 + 1 / 291, 0.35 + 1 / 291]
    )
    meta = Registry(filed).version(KEY, 1).metadata()
    assert meta["summary"]["objective"] == {"metric": "val/loss", "mode": "min"}
    assert meta["summary"]["best"]["step"] == 290 and len(meta["log_sha256"]) == 64


def test_sort_finds_the_best_version_by_the_metric_goal(filed: Path) -> None:
    by_loss = run("registry", "list", KEY, "-r", filed, "--sort", "val/loss").stdout.splitlines()
    assert [line.split()[1] for line in by_loss] == ["v2", "v3", "v1"]
    assert by_loss[0] == f"{KEY}  v2     val/loss = 0.203436 at step 290  (min)"
    by_acc = run("registry", "list", "-r", filed, "--sort", "val/acc").stdout.splitlines()
    assert [line.split()[1] for line in by_acc] == ["v3", "v2", "v1"]  # higher is better
    ranked = json.loads(run("registry", "list", "-r", filed, "--sort", "val/acc", "--json").stdout)
    assert [(r["version"], r["goal"]) for r in ranked] == [(3, "max"), (2, "max"), (1, "max")]
    assert fails("registry", "list", "-r", filed, "--sort", "nope") == (
        f"Error: no version under {filed} has a best value of 'nope'\n"
    )


def test_the_same_log_is_never_filed_twice(tmp_path: Path) -> None:
    root = tmp_path / "saved_models"
    log = make_log(tmp_path / "run.log", 0.3, 0.8, seed=1)
    first = CliRunner().invoke(cli, ["compact", str(log), "--registry", str(root), "--key", KEY])
    assert first.exit_code == 0 and f"({KEY} v1)" in first.stderr
    again = CliRunner().invoke(cli, ["compact", str(log), "--registry", str(root), "--key", KEY])
    assert again.exit_code == 0, again.output
    assert f"({KEY} v1 already holds this log, sha256 " in again.stderr
    assert "no new version" in again.stderr
    assert [v.number for v in Registry(root).versions(KEY)] == [1]
    # the same log with other options: refused, and still one version
    err = fails("compact", log, "--registry", root, "--key", KEY, "--points", "50")
    assert "v1 already holds this log" in err and "refusing to file the same log twice" in err
    assert [v.number for v in Registry(root).versions(KEY)] == [1]
    forced = run("compact", log, "--registry", root, "--key", KEY, "--points", "50", "--force")
    assert forced.stderr.startswith(f"replaced {root / KEY / 'v1' / 'curves.json'} ({KEY} v1 ")
    assert "; --force): 2 charts, 3 series, 110 points" in forced.stderr
    assert "no new version" not in forced.stderr
    assert [v.number for v in Registry(root).versions(KEY)] == [1]
    curves = json.loads((root / KEY / "v1" / "curves.json").read_text())
    assert curves["provenance"]["sampling"]["points"] == 50
    # a log that grew is another log: a new version
    with EventLog(log) as more:
        more.append(1000, {"val/loss": 0.1})
    run("compact", log, "--registry", root, "--key", KEY, "--force")
    assert [v.number for v in Registry(root).versions(KEY)] == [1, 2]


def test_registry_add_files_model_files(tmp_path: Path) -> None:
    root = tmp_path / "saved_models"
    model = tmp_path / "model.pth"
    model.write_bytes(b"m" * 3000)
    best = tmp_path / "checkpoint_best.pth"
    best.write_bytes(b"b" * 10)
    out = run("registry", "add", KEY, model, best, "-r", root)
    assert out.stdout == f"{root / KEY / 'v1'}\n"
    assert "filed 2 files into product/P001_all/mlstm v1" in out.stderr
    assert (root / KEY / "v1" / "model.pth").read_bytes() == b"m" * 3000
    epoch = tmp_path / "checkpoint_epoch_5.pth"
    epoch.write_bytes(b"e")
    run("registry", "add", KEY, epoch, "--version", "1", "-r", root)
    assert sorted(n for n, _ in Registry(root).version(KEY, 1).files()) == [
        "checkpoint_best.pth", "checkpoint_epoch_5.pth", "metadata.json", "model.pth",
    ]  # fmt: skip
    model.write_bytes(b"new")
    assert fails("registry", "add", KEY, model, "--version", "v1", "-r", root) == (
        f"Error: {root / KEY / 'v1' / 'model.pth'}: already exists; pass --force to replace it\n"
    )
    run("registry", "add", KEY, model, "--version", "1", "--force", "-r", root)
    assert (root / KEY / "v1" / "model.pth").read_bytes() == b"new"
    curves = tmp_path / "curves.json"
    curves.write_text("{}")
    assert "curves.json is written by the registry" in fails(
        "registry", "add", KEY, curves, "-r", root
    )
    assert fails("registry", "add", KEY, model, "--version", "7", "-r", root).startswith("Error: ")
    assert [v.number for v in Registry(root).versions(KEY)] == [1]  # refusals allocate nothing
    run("registry", "add", KEY, model, "-r", root)
    assert [v.number for v in Registry(root).versions(KEY)] == [1, 2]


def test_two_adds_of_one_name_into_one_version_racing_one_wins_one_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # QA #2: the name was checked once before the (long) copy and the copy then renamed
    # over whatever was there, so both runs were told "filed" and one model was lost
    import shutil

    from curvelog.errors import OutputExistsError
    from curvelog.registry import _add

    reg = Registry(tmp_path / "saved_models")
    v = reg.new_version(KEY)
    a, b = tmp_path / "a" / "model.pth", tmp_path / "b" / "model.pth"
    for path, byte in ((a, b"a"), (b, b"b")):
        path.parent.mkdir()
        path.write_bytes(byte * 5000)
    copy = shutil.copyfileobj
    raced: list[str] = []

    def other_run_files_first(fin: Any, fout: Any, size: int) -> None:
        if not raced:  # the other run checks, copies and files its model while this one copies
            raced.append(fin.name)
            _add.add_files(reg, KEY, [b], version=1)
        copy(fin, fout, size)

    monkeypatch.setattr(_add.shutil, "copyfileobj", other_run_files_first)
    with pytest.raises(OutputExistsError, match="model.pth"):
        _add.add_files(reg, KEY, [a], version=1)
    assert raced == [str(a)] and (v.path / "model.pth").read_bytes() == b"b" * 5000
    assert sorted(p.name for p in v.path.iterdir()) == ["metadata.json", "model.pth"]


def test_an_add_that_loses_a_race_for_one_name_files_none_of_its_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two adds of x.pth and y.pth racing: each lost one name, so both failed, yet the
    version kept x from one run and y from the other. An add is all or nothing."""
    import shutil

    from curvelog.errors import OutputExistsError
    from curvelog.registry import _add

    reg = Registry(tmp_path / "saved_models")
    v = reg.new_version(KEY)
    ours = [tmp_path / "a" / "x.pth", tmp_path / "a" / "y.pth"]
    theirs = tmp_path / "b" / "y.pth"
    for path in (*ours, theirs):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(path.parent.name.encode() * 100)
    copy = shutil.copyfileobj

    def the_other_run_files_y_meanwhile(fin: Any, fout: Any, size: int) -> None:
        if fin.name == str(ours[1]):  # our x is filed; y is being copied
            _add.add_files(reg, KEY, [theirs], version=1)
        copy(fin, fout, size)

    monkeypatch.setattr(_add.shutil, "copyfileobj", the_other_run_files_y_meanwhile)
    with pytest.raises(OutputExistsError, match="y.pth"):
        _add.add_files(reg, KEY, ours, version=1)
    assert sorted(p.name for p in v.path.iterdir()) == ["metadata.json", "y.pth"]
    assert (v.path / "y.pth").read_bytes() == b"b" * 100  # theirs, whole; none of ours


# --------------------------------------------------------------------------- add, interrupted


def test_an_add_killed_mid_copy_leaves_no_version_and_the_next_add_cleans_up(
    tmp_path: Path,
) -> None:
    """Crash QA: v1 was allocated before the copy, so a kill left it visible without its
    model, and `registry latest` pointed at it. The version now appears only when whole."""
    from _addfail import COPIED_BEFORE_THE_KILL, kill_an_add_mid_copy, model_file
    from curvelog.errors import VersionNotFoundError

    reg = Registry(tmp_path / "saved_models")
    model = model_file(tmp_path / "run" / "model.pth", 3 * COPIED_BEFORE_THE_KILL, seed=1)
    kill_an_add_mid_copy(reg, None, KEY, model)
    assert reg.versions(KEY) == []
    with pytest.raises(VersionNotFoundError):
        reg.latest(KEY)
    assert fails("registry", "latest", KEY, "-r", reg.root).startswith("Error: ")
    (left,) = (reg.root / ".incoming").iterdir()  # the copy, out of sight
    assert (left / "model.pth").stat().st_size == COPIED_BEFORE_THE_KILL
    out = run("registry", "add", KEY, model, "-r", reg.root)
    assert out.stdout == f"{reg.root / KEY / 'v1'}\n"
    assert (reg.latest(KEY).path / "model.pth").read_bytes() == model.read_bytes()
    assert sorted(p.name for p in reg.latest(KEY).path.iterdir()) == [
        "metadata.json", "model.pth",
    ]  # fmt: skip
    assert not any((reg.root / ".incoming").iterdir())  # the killed add's copy is gone
    assert not any((reg.root / ".staging").iterdir())


def test_rebuild_index_removes_and_reports_a_killed_adds_copy(tmp_path: Path) -> None:
    from _addfail import COPIED_BEFORE_THE_KILL, kill_an_add_mid_copy, model_file

    reg = Registry(tmp_path / "saved_models")
    reg.new_version(KEY)
    model = model_file(tmp_path / "run" / "model.pth", 2 * COPIED_BEFORE_THE_KILL, seed=2)
    kill_an_add_mid_copy(reg, None, KEY, model)
    (left,) = (reg.root / ".incoming").iterdir()
    out = run("registry", "rebuild-index", "-r", reg.root).stdout
    assert f"removed {left} (1.0 MB), left by an interrupted add\n" in out
    assert not any((reg.root / ".incoming").iterdir())
    assert [v.number for v in reg.versions(KEY)] == [1]


def test_an_add_in_progress_is_never_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another add (or rebuild-index) while this one copies leaves its copy alone."""
    import shutil

    from curvelog.registry import _add

    reg = Registry(tmp_path / "saved_models")
    a = tmp_path / "a" / "model.pth"
    b = tmp_path / "b" / "model.pth"
    for path in (a, b):
        path.parent.mkdir()
        path.write_bytes(path.parent.name.encode() * 5000)
    copy = shutil.copyfileobj
    others: list[int] = []

    def others_meanwhile(fin: Any, fout: Any, size: int) -> None:
        if fin.name == str(a):  # while a is being copied: another add and a rebuild
            others.append(_add.add_files(reg, KEY, [b])[0].number)
            assert reg.rebuild_index().removed_incoming == []
        copy(fin, fout, size)

    monkeypatch.setattr(shutil, "copyfileobj", others_meanwhile)
    v, written = _add.add_files(reg, KEY, [a])
    assert (others, v.number, written) == ([1], 2, [("model.pth", 5000)])
    assert (v.path / "model.pth").read_bytes() == b"a" * 5000
    assert not any((reg.root / ".incoming").iterdir())


def test_a_new_version_add_that_fails_on_a_later_file_leaves_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash QA: a full disk on the second of two files failed the add but left v2
    visible, holding the first file only; `registry latest` pointed at it."""
    from _addfail import disk_full_on

    root = tmp_path / "saved_models"
    first, second = tmp_path / "model.pth", tmp_path / "checkpoint_best.pth"
    first.write_bytes(b"m" * 3000)
    second.write_bytes(b"b" * 3000)
    run("registry", "add", KEY, first, "-r", root)
    disk_full_on(monkeypatch, second)
    err = fails("registry", "add", KEY, first, second, "-r", root)
    assert "checkpoint_best.pth: cannot write (No space left on device)" in err
    reg = Registry(root)
    assert [v.number for v in reg.versions(KEY)] == [1]
    assert run("registry", "latest", KEY, "-r", root).stdout == f"{root / KEY / 'v1'}\n"
    assert not any((root / ".incoming").iterdir()) and not any((root / ".staging").iterdir())
    monkeypatch.undo()
    assert run("registry", "add", KEY, first, second, "-r", root).stdout.endswith("/v2\n")


def test_an_add_into_a_version_that_fails_on_a_later_file_takes_back_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a lost name (OutputExistsError) took back what was filed; a full disk on the
    second file left the first in the version. A file replaced with --force stays."""
    from _addfail import disk_full_on, visible_files

    root = tmp_path / "saved_models"
    v = Registry(root).new_version(KEY)
    first, second = tmp_path / "model.pth", tmp_path / "checkpoint_best.pth"
    first.write_bytes(b"m" * 3000)
    second.write_bytes(b"b" * 3000)
    disk_full_on(monkeypatch, second)
    err = fails("registry", "add", KEY, first, second, "--version", "1", "-r", root)
    assert err.endswith("checkpoint_best.pth: cannot write (No space left on device)\n")
    assert visible_files(v.path) == ["metadata.json"]
    (v.path / "model.pth").write_bytes(b"old")
    fails("registry", "add", KEY, first, second, "--version", "1", "--force", "-r", root)
    assert visible_files(v.path) == ["metadata.json", "model.pth"]
    assert (v.path / "model.pth").read_bytes() == b"m" * 3000  # replaced: not ours to remove
