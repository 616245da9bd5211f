"""`curvelog registry ...`: output on success, one `Error:` line and exit code 2 on failure."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from curvelog.cli import cli
from curvelog.cli._registry import registry_rebuild_index
from curvelog.convert import csv_to_log
from curvelog.registry import Registry, global_

KEY = "product/P001_all/mlstm"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    r = Registry(tmp_path / "saved_models")
    r.new_version(KEY)
    v2 = r.new_version(KEY)
    v2.save_artifact("model.pth", b"w" * 1500)
    v2.save_bundle({"run": {"run_id": "run42"}, "summary": {"steps": 3}}, png=PNG)
    r.new_version(global_("all", "sum", "kan"))
    return r


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A small curvelog log for `compact --registry`."""
    csv = tmp_path / "run.csv"
    csv.write_text("step,metric,value\n1,loss,0.5\n2,loss,0.4\n")
    path = tmp_path / "run.log"
    csv_to_log(csv, path)
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def fails(*args: str | Path) -> str:
    """Run a command that must fail as a user error; return its stderr."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1
    return result.stderr


def test_list(reg: Registry) -> None:
    result = run("registry", "list", "--registry", reg.root)
    assert result.exit_code == 0
    assert result.stdout == (
        "global/all/sum/kan      v1     1 version\nproduct/P001_all/mlstm  v2     2 versions\n"
    )
    assert run("registry", "list", "product", "-r", reg.root).stdout == (
        "product/P001_all/mlstm  v2     2 versions\n"
    )
    # a prefix with no key is probably a typo: said, not an empty listing (exit 2)
    for args in (["store"], ["store", "--json"], ["product/P0"]):
        prefix = args[0]
        assert fails("registry", "list", *args, "-r", reg.root) == (
            f"Error: {prefix}: no keys in {reg.root}\n"
        )


def test_list_with_a_damaged_index_lists_the_folders_and_says_why_facts_are_missing(
    reg: Registry,
) -> None:
    reg.index_file.write_bytes(b"\x00garbage" * 20)
    result = run("registry", "list", "product", "-r", reg.root)
    assert result.exit_code == 0
    assert result.stdout == "product/P001_all/mlstm  v2     2 versions\n"
    assert result.stderr == (
        f"Warning: {reg.index_file}: the index is damaged (file is not a database); run "
        f"`curvelog registry rebuild-index --registry {reg.root}` to rebuild it from the "
        "version folders; versions listed from the folders, without their best values\n"
    )


def test_list_of_an_empty_registry_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = Registry(tmp_path / "empty")
    result = run("registry", "list", "-r", r.root)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"{r.root}: no versions filed yet\n"
    assert run("registry", "list", "--json", "-r", r.root).stdout == "[]\n"


def test_a_file_named_like_a_version_is_not_shown_as_the_latest(reg: Registry) -> None:
    (reg.root / KEY / "v9").write_text("not a version")
    result = run("registry", "show", KEY, "-r", reg.root)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:3] == [
        f"key:        {KEY}",
        "version:    v2",
        f"path:       {reg.root / KEY / 'v2'}",
    ]
    assert run("registry", "latest", KEY, "-r", reg.root).stdout == f"{reg.root / KEY / 'v2'}\n"
    assert run("registry", "list", "product", "-r", reg.root).stdout == (
        "product/P001_all/mlstm  v2     2 versions\n"
    )
    assert fails("registry", "show", KEY, "v9", "-r", reg.root) == (
        f"Error: {KEY}: no version v9 in {reg.root} (latest is v2)\n"
    )


def test_list_json_and_the_environment_variable(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURVELOG_REGISTRY", str(reg.root))
    rows = json.loads(run("registry", "list", "--json").stdout)
    assert rows == [
        {
            "key": "global/all/sum/kan",
            "latest": 1,
            "versions": [1],
            "path": str(reg.root / "global/all/sum/kan/v1"),
            "filed": [],
        },
        {
            "key": KEY,
            "latest": 2,
            "versions": [1, 2],
            "path": str(reg.root / KEY / "v2"),
            "filed": [],
        },
    ]


def test_show(reg: Registry) -> None:
    meta = reg.version(KEY, 2).metadata()
    meta_size = (reg.root / KEY / "v2" / "metadata.json").stat().st_size
    result = run("registry", "show", KEY, "-r", reg.root)
    assert result.stdout == (
        f"key:        {KEY}\n"
        "version:    v2\n"
        f"path:       {reg.root / KEY / 'v2'}\n"
        f"created_at: {meta['created_at']}\n"
        "run_id:     run42\n"
        "files:\n"
        "  curves.json          48 B\n"
        "  loss_curve.png       24 B\n"
        f"  metadata.json   {f'{meta_size} B':>9}\n"
        "  model.pth          1.5 kB\n"
    )
    assert run("registry", "show", KEY, "v1", "-r", reg.root).stdout.splitlines()[1] == (
        "version:    v1"
    )
    shown = json.loads(run("registry", "show", KEY, "1", "--json", "-r", reg.root).stdout)
    assert shown["version"] == 1
    assert shown["metadata"]["key"] == KEY
    assert shown["files"] == [
        {"name": "metadata.json", "bytes": (reg.root / KEY / "v1/metadata.json").stat().st_size}
    ]


def test_latest_prints_the_folder(reg: Registry) -> None:
    assert run("registry", "latest", KEY, "-r", reg.root).stdout == f"{reg.root / KEY / 'v2'}\n"


def test_rebuild_index_repairs_a_corrupt_versions_json(reg: Registry) -> None:
    reg.versions_file.write_text("{oops")
    result = run("registry", "rebuild-index", "-r", reg.root)
    assert result.stdout == (
        f"rebuilt {reg.index_file}: 2 keys, 3 versions\n"
        f"{reg.versions_file} was unreadable; rebuilt from the folders and old index\n"
        "versions.json: global/all/sum/kan (none) -> v1\n"
        f"versions.json: {KEY} (none) -> v2\n"
    )
    assert json.loads(reg.versions_file.read_text()) == {"global/all/sum/kan": 1, KEY: 2}
    assert reg.new_version(KEY).number == 3


def test_rebuild_index_warns_about_folders_without_metadata(reg: Registry) -> None:
    (reg.root / KEY / "v1" / "metadata.json").unlink()
    result = run("registry", "rebuild-index", "-r", reg.root)
    assert result.stdout == f"rebuilt {reg.index_file}: 2 keys, 3 versions\n"
    assert result.stderr == f"warning: {reg.root / KEY / 'v1' / 'metadata.json'}: missing\n"


def test_too_deeply_nested_json_is_a_one_line_error_not_a_traceback(
    reg: Registry, log: Path
) -> None:
    deep = "[" * 100_000
    meta = reg.root / KEY / "v2" / "metadata.json"
    meta.write_text(deep)
    assert fails("registry", "show", KEY, "-r", reg.root) == (
        f"Error: {meta}: not valid JSON (nested too deeply); fix the file or delete it\n"
    )
    result = run("registry", "rebuild-index", "-r", reg.root)
    assert result.stderr == f"warning: {meta}: not valid JSON (nested too deeply)\n"
    reg.versions_file.write_text(deep)
    assert fails("compact", log, "--registry", reg.root, "--key", KEY, "--no-png") == (
        f"Error: {reg.versions_file}: not valid JSON (nested too deeply); "
        f"run `curvelog registry rebuild-index --registry {reg.root}` "
        "to rebuild it from the version folders\n"
    )
    result = run("registry", "rebuild-index", "-r", reg.root)
    assert result.exit_code == 0
    assert f"{reg.versions_file} was unreadable" in result.stdout
    assert json.loads(reg.versions_file.read_text()) == {"global/all/sum/kan": 1, KEY: 2}


def test_refusing_to_replace_a_bundle_names_the_cli_option(reg: Registry, log: Path) -> None:
    args = ["compact", log, "--registry", reg.root, "--key", KEY, "--version", "v2", "--no-png"]
    stderr = fails(*args)
    assert stderr == (
        f"Error: {reg.root / KEY / 'v2' / 'curves.json'}: already exists; it holds a different "
        "bundle; refusing to replace it (file into a new version, or use --force, "
        "or overwrite=True from Python)\n"
    )
    assert run(*args, "--force").exit_code == 0


def test_lock_timeout_option(reg: Registry) -> None:
    import filelock

    from curvelog.registry import DEFAULT_LOCK_TIMEOUT

    lock = reg.root / ".registry.lock"
    with filelock.FileLock(str(lock)):  # another open file: it conflicts, as another process
        t0 = time.monotonic()
        stderr = fails("registry", "rebuild-index", "-r", reg.root, "--lock-timeout", "0.2")
        assert time.monotonic() - t0 >= 0.2
    assert stderr == (
        f"Error: {lock}: could not take the registry lock within 0.2 s; "
        "another process is holding it\n"
    )
    assert run("registry", "rebuild-index", "-r", reg.root, "--lock-timeout", "0").exit_code == 0
    bad = CliRunner().invoke(
        cli, ["registry", "rebuild-index", "-r", str(reg.root), "--lock-timeout", "-1"]
    )
    assert bad.exit_code == 2
    assert "Invalid value for '--lock-timeout': -1.0 is not in the range x>=0" in bad.stderr
    assert "--lock-timeout SECONDS" in run("registry", "rebuild-index", "--help").stdout
    [opt] = [p for p in registry_rebuild_index.params if p.name == "lock_timeout"]
    assert opt.default == DEFAULT_LOCK_TIMEOUT  # the CLI's default is the API's


def test_rebuild_index_refuses_a_folder_that_is_no_registry_unless_init(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "2024" / "summer").mkdir(parents=True)
    (folder / "notes.txt").write_text("x")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert fails("registry", "rebuild-index", "-r", folder) == (
        f"Error: {folder}: not a registry (no versions.json, index.db, .registry.lock or "
        "version folder); refusing to make it one (use --init, or init=True from Python)\n"
    )
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # untouched
    result = run("registry", "rebuild-index", "-r", folder, "--init")
    assert result.stdout == f"rebuilt {folder / 'index.db'}: 0 keys, 0 versions\n"
    assert json.loads((folder / "versions.json").read_text()) == {}
    assert run("registry", "rebuild-index", "-r", folder).exit_code == 0  # a registry now


@pytest.mark.parametrize("marker", ["versions.json", "index.db", ".registry.lock", KEY + "/v3"])
def test_rebuild_index_accepts_any_sign_of_a_registry(tmp_path: Path, marker: str) -> None:
    root = tmp_path / "saved_models"
    (root / marker).parent.mkdir(parents=True, exist_ok=True)
    if marker.endswith("v3"):
        (root / marker).mkdir()  # version folders whose registry files were all lost
    elif marker == "versions.json":
        (root / marker).write_text("{}")
    else:
        (root / marker).touch()
    result = run("registry", "rebuild-index", "-r", root)
    assert result.exit_code == 0, result.output
    versions = json.loads((root / "versions.json").read_text())
    assert versions == ({KEY: 3} if marker.endswith("v3") else {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["show", "product/P001/mlstm"],
            "registry key 'product/P001/mlstm': keys under product/ have the form "
            "product/{product_id}_{scope}/{model_type}",
        ),
        (["latest", "a/../b"], "registry key 'a/../b': segment '..' is not allowed"),
        (
            ["list", "bad prefix"],
            "registry key 'bad prefix': segment 'bad prefix' contains ' '; allowed are "
            "the letters A-Z and a-z, the digits 0-9, '_', '-' and '.'",
        ),
        (["show", KEY, "v9"], f"{KEY}: no version v9 in {{root}} (latest is v2)"),
        (
            ["show", KEY, "x1"],
            "version 'x1' is not a version number (expected N or vN, with N >= 1)",
        ),
        (["latest", "store/S9_all/kan"], "store/S9_all/kan: no versions in {root}"),
    ],
)
def test_user_errors(reg: Registry, args: list[str], message: str) -> None:
    stderr = fails("registry", *args, "-r", reg.root)
    assert stderr == f"Error: {message.replace('{root}', str(reg.root))}\n"


def test_a_missing_or_non_folder_registry(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    for cmd in (["list"], ["show", KEY], ["latest", KEY], ["rebuild-index"]):
        assert fails("registry", *cmd, "-r", missing) == (
            f"Error: {missing}: no registry here (the folder does not exist)\n"
        )
    assert not missing.exists()
    f = tmp_path / "file"
    f.write_text("x")
    assert fails("registry", "list", "-r", f) == f"Error: {f}: not a folder\n"


@pytest.fixture
def unwritable_registry(reg: Registry) -> Iterator[tuple[Registry, int]]:
    """The fixture's registry made unwritable (chattr +i as root, chmod otherwise)."""
    root = reg.root
    (root / ".registry.lock").unlink()
    if os.geteuid() == 0:
        undo = ["chattr", "-i", str(root)]
        if subprocess.run(["chattr", "+i", str(root)], capture_output=True).returncode:
            pytest.skip("running as root and chattr +i is unavailable")
    else:
        root.chmod(0o555)
        undo = ["chmod", "755", str(root)]
    try:
        try:
            (root / "probe").touch()
        except OSError as e:
            err = e.errno
        else:
            pytest.skip("could not make a folder unwritable here")
        yield reg, err
    finally:
        subprocess.run(undo, check=True)


def test_an_unwritable_registry(unwritable_registry: tuple[Registry, int]) -> None:
    reg, err = unwritable_registry
    assert fails("registry", "rebuild-index", "-r", reg.root) == (
        f"Error: {reg.root / '.registry.lock'}: cannot create the registry lock "
        f"({os.strerror(err)})\n"
    )
    # Reading needs no lock.
    assert run("registry", "latest", KEY, "-r", reg.root).stdout == f"{reg.root / KEY / 'v2'}\n"


@pytest.mark.parametrize("command", ["list", "show", "latest", "rebuild-index"])
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run("registry", command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout
    assert "CURVELOG_REGISTRY" in result.stdout


def test_list_sort_never_ranks_a_version_whose_folder_was_deleted(tmp_path: Path) -> None:
    # QA #4: --sort ranked index rows, so a version deleted by hand came out as the best
    import shutil

    root = tmp_path / "saved_models"
    reg = Registry(root)
    for best in (0.1, 0.3, 0.2):
        v = reg.new_version(KEY)
        summary = {"analysis": {"metrics": {"val/loss": {"goal": "min", "best": {"value": best}}}}}
        v.save_metadata({"summary": summary})
    shutil.rmtree(reg.version(KEY, 1).path)
    out = run("registry", "list", "--registry", root, "--sort", "val/loss").stdout
    assert [line.split()[1] for line in out.splitlines()] == ["v3", "v2"]
    ranked = json.loads(run("registry", "list", "-r", root, "--sort", "val/loss", "--json").stdout)
    assert [(r["version"], Path(r["path"]).is_dir()) for r in ranked] == [(3, True), (2, True)]
    assert [r.version for r in reg.index_rows(KEY)] == [1, 2, 3]  # the index itself, unfiltered
    assert [r.version for r in reg.index_rows(KEY, existing=True)] == [2, 3]
