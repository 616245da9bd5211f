"""The model registry: keys, allocation under a file lock, files, corruption, crashes."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from curvelog.errors import (
    BundleError,
    OutputExistsError,
    PathError,
    PlotError,
    RegistryCorruptError,
    RegistryKeyError,
    RegistryLockTimeout,
    VersionNotFoundError,
)
from curvelog.registry import (
    CHECKPOINT_BEST,
    MODEL,
    Registry,
    checkpoint_epoch,
    global_,
    key_path,
    parse_key,
    parse_version,
    product,
    store,
)
from curvelog.registry import _store as registry_mod

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
KEY = "product/P001_all/mlstm"
FORK = multiprocessing.get_context("fork")
_VERSION_DIR = re.compile(r"v[1-9][0-9]*")


# --------------------------------------------------------------------------- invariants
# Checked from the files themselves, not through the registry's own code.


def folder_state(root: Path) -> dict[str, set[int]]:
    """key -> version numbers, from the folders."""
    out: dict[str, set[int]] = {}
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found = {int(d[1:]) for d in dirnames if _VERSION_DIR.fullmatch(d)}
        if found:
            out[Path(dirpath).relative_to(root).as_posix()] = found
        dirnames[:] = [d for d in dirnames if not _VERSION_DIR.fullmatch(d)]
    return out


def index_state(root: Path) -> dict[str, set[int]]:
    conn = sqlite3.connect(root / "index.db")
    try:
        rows = conn.execute("SELECT key, model_type, version, path FROM model_versions").fetchall()
    finally:
        conn.close()
    out: dict[str, set[int]] = {}
    for key, model_type, version, path in rows:
        assert model_type == key.rsplit("/", 1)[-1]
        assert path == f"{key}/v{version}"
        assert version not in out.get(key, set()), f"duplicate index row {key} v{version}"
        out.setdefault(key, set()).add(version)
    return out


def assert_consistent(
    root: Path, *, exact: bool = True, hand_made: frozenset[tuple[str, int]] = frozenset()
) -> None:
    """Folders, versions.json and the index agree; nothing half-made is left over.

    ``exact``: versions.json equals the highest folder (no trailing skipped number).
    ``hand_made``: folders made outside the registry, which have no metadata.json.
    """
    folders = folder_state(root)
    recorded = json.loads((root / "versions.json").read_text("utf-8"))
    for key, numbers in folders.items():
        assert recorded[key] >= max(numbers), key
        if exact:
            assert recorded[key] == max(numbers), key
        for n in sorted(numbers - {n for k, n in hand_made if k == key}):
            meta = json.loads((root / key / f"v{n}" / "metadata.json").read_text("utf-8"))
            assert (meta["key"], meta["version"]) == (key, n)
    assert index_state(root) == folders
    staging = root / ".staging"
    assert not staging.exists() or not any(staging.iterdir())
    assert not [p.name for p in root.glob(".*.tmp")]


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[Registry]:
    r = Registry(tmp_path / "saved_models", lock_timeout=20)
    yield r
    if (r.root / "versions.json").exists():
        assert_consistent(r.root, exact=False)


# --------------------------------------------------------------------------- keys


def test_presets_follow_the_users_rules() -> None:
    assert product("P001", "all", "mlstm") == "product/P001_all/mlstm"
    assert product("P001", "S002", "tcn") == "product/P001_S002/tcn"
    assert store("S001", "P002", "transformer") == "store/S001_P002/transformer"
    assert store("S001", "all", "kan") == "store/S001_all/kan"
    assert global_("all", "sum", "kan") == "global/all/sum/kan"
    assert global_("stores/S1", "mean", "kan") == "global/stores/S1/mean/kan"
    assert global_("products/P1", "sum", "tcn") == "global/products/P1/sum/tcn"
    assert global_("custom/S1/P2", "sum", "mlstm") == "global/custom/S1/P2/sum/mlstm"
    assert Registry.product("P1", "all", "m") == "product/P1_all/m"


@pytest.mark.parametrize(
    "key",
    [
        "product/P001_all/mlstm",
        "global/custom/S1/P2/sum/kan",
        "experiments/resnet-50/lr0.1",
        "a",
        ("team", "model.v2", "x_y"),
    ],
)
def test_good_keys_round_trip(key: str | tuple[str, ...]) -> None:
    segments = parse_key(key)
    assert key_path(segments) == (key if isinstance(key, str) else "/".join(key))


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "a key needs at least one segment"),
        ("a//b", "empty segment"),
        ("/a", "empty segment"),
        ("a/", "empty segment"),
        ("a/../b", "segment '..' is not allowed"),
        ("a/./b", "segment '.' is not allowed"),
        ("a/.hidden", "starts with '.'"),
        ("a\\b", "contains a path separator"),
        ("a/b c", "contains ' '; allowed are the letters"),
        ("a/prod\u00fckt", "contains '\u00fc'"),
        ("m/v3", "looks like a version folder"),
        ("a/" + "x" * 101, "longer than 100 characters"),
        ("product/P001/mlstm", "product/{product_id}_{scope}/{model_type}"),
        ("product/P_1_all/mlstm", "product/{product_id}_{scope}/{model_type}"),
        ("product/P001_all", "product/{product_id}_{scope}/{model_type}"),
        ("store/S1_/tcn", "store/{store_id}_{scope}/{model_type}"),
        ("global/stores/sum/kan", "global/{all | stores/S | products/P | custom/S/P}"),
        ("global/everything/sum/kan", "global/{all | stores/S | products/P | custom/S/P}"),
        ("global", "global/{all"),
        ("index.postgresql", "'index.postgresql' is the name of a file the registry keeps"),
        ("index.db/a", "'index.db' is the name of a file the registry keeps"),
        ("versions.json", "'versions.json' is the name of a file the registry keeps"),
    ],
)
def test_bad_keys_are_refused_with_the_reason(key: str, reason: str) -> None:
    with pytest.raises(RegistryKeyError, match=re.escape(reason)) as info:
        parse_key(key)
    assert str(info.value).startswith(f"registry key {key!r}")


def test_a_key_named_like_a_registry_file_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    # QA #5: key index.postgresql made a folder of that name, which every later SQLite
    # write (and rebuild-index) took for the PostgreSQL marker
    reg = Registry(tmp_path / "saved_models")
    reg.new_version("exp/a")
    before = sorted(p.name for p in reg.root.iterdir())
    for key in ("index.postgresql", "index.db", "versions.json"):
        with pytest.raises(RegistryKeyError, match="is the name of a file the registry keeps"):
            reg.new_version(key)
    assert sorted(p.name for p in reg.root.iterdir()) == before
    assert json.loads(reg.versions_file.read_text()) == {"exp/a": 1}
    assert key_path("exp/index.db") == "exp/index.db"  # only the root's names are taken
    # a folder left by an older curvelog is neither a marker nor a key
    (reg.root / "index.postgresql" / "v1").mkdir(parents=True)
    assert reg.new_version("exp/a").number == 2
    assert reg.keys() == ["exp/a"]
    reg.rebuild_index()


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: product("P_1", "all", "m"), "product_id 'P_1' contains '_'"),
        (lambda: product("P1", "all_x", "m"), "store_scope 'all_x' contains '_'"),
        (lambda: store("S1", "", "m"), "empty segment"),
        (lambda: global_("everything", "sum", "kan"), "keys under global/"),
        (lambda: global_("custom/S1", "sum", "kan"), "keys under global/"),
        (lambda: product("P1", "all", "../x"), "segment '../x' contains a path separator"),
    ],
)
def test_presets_validate_their_parts(call: object, reason: str) -> None:
    with pytest.raises(RegistryKeyError, match=re.escape(reason)):
        call()  # type: ignore[operator]


def test_parse_version() -> None:
    assert parse_version(3) == parse_version("3") == parse_version("v3") == 3
    for bad in (0, -1, "v0", "x", "3.0", True, "v03"):
        with pytest.raises(RegistryKeyError, match="is not a version number"):
            parse_version(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- allocation


def test_new_version_creates_a_complete_folder(reg: Registry) -> None:
    v1 = reg.new_version(KEY)
    v2 = reg.new_version(KEY)
    assert (v1.number, v2.number) == (1, 2)
    assert v2.path == reg.root / "product" / "P001_all" / "mlstm" / "v2"
    meta = json.loads((v2.path / "metadata.json").read_text())
    assert meta["key"] == KEY and meta["version"] == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", meta["created_at"])
    assert json.loads(reg.versions_file.read_text()) == {KEY: 2}
    rows = reg.index_rows()
    assert [(r.key, r.model_type, r.version, r.path) for r in rows] == [
        (KEY, "mlstm", 1, f"{KEY}/v1"),
        (KEY, "mlstm", 2, f"{KEY}/v2"),
    ]
    assert rows[1].created_at == meta["created_at"]
    assert_consistent(reg.root)


def test_lookups(reg: Registry) -> None:
    other = "products/x"  # a free-form key next to the product/ namespace
    for key in (KEY, KEY, other, global_("all", "sum", "kan")):
        reg.new_version(key)
    assert reg.keys() == ["global/all/sum/kan", KEY, other]
    assert reg.keys("product") == [KEY]  # whole segments: not products/x
    assert reg.keys("global/all") == ["global/all/sum/kan"]
    assert reg.keys("nothing/here") == []
    assert [v.number for v in reg.versions(KEY)] == [1, 2]
    assert reg.versions("store/S9_all/kan") == []
    assert reg.latest(KEY) == reg.version(KEY, "v2") == reg.version(KEY, 2)
    with pytest.raises(VersionNotFoundError) as info:
        reg.version(KEY, 3)
    assert str(info.value) == f"{KEY}: no version v3 in {reg.root} (latest is v2)"
    with pytest.raises(VersionNotFoundError) as info:
        reg.latest("store/S9_all/kan")
    assert str(info.value) == f"store/S9_all/kan: no versions in {reg.root}"


def test_reading_a_missing_registry_is_a_clear_error(tmp_path: Path) -> None:
    r = Registry(tmp_path / "nope")
    for call in (r.keys, lambda: r.latest(KEY), lambda: r.version(KEY, 1), r.index_rows):
        with pytest.raises(PathError) as info:
            call()
        assert str(info.value) == f"{r.root}: no registry here (the folder does not exist)"
    assert not r.root.exists()


def test_hand_made_folders_are_ignored_but_their_numbers_are_not_reused(reg: Registry) -> None:
    reg.new_version(KEY)
    (reg.root / "notes" / "v1").mkdir(parents=True)  # a key 'notes' made by hand: fine
    (reg.root / "bad name" / "v1").mkdir(parents=True)  # not a valid key: ignored
    (reg.root / "product" / "P001_all" / "v1").mkdir()  # not the preset's shape: ignored
    assert reg.keys() == ["notes", KEY]
    # A v<N> made by hand under a key (a copy from elsewhere) is refused until repaired,
    # never overwritten or renumbered silently.
    (reg.root / KEY / "v7").mkdir()
    with pytest.raises(RegistryCorruptError, match="but folder v7 exists"):
        reg.new_version(KEY)
    reg.rebuild_index()
    assert reg.new_version(KEY).number == 8
    assert [(r.key, r.version) for r in reg.index_rows()] == [
        ("notes", 1),
        (KEY, 1),
        (KEY, 7),
        (KEY, 8),
    ]
    (reg.root / "bad name" / "v1").rmdir()
    (reg.root / "product" / "P001_all" / "v1").rmdir()
    assert_consistent(reg.root, hand_made=frozenset({(KEY, 7), ("notes", 1)}))
    shutil.rmtree(reg.root / "notes")
    shutil.rmtree(reg.root / KEY / "v7")
    reg.rebuild_index()  # for the fixture's final check, which expects metadata everywhere


def test_a_file_named_like_a_version_is_no_version_and_its_number_is_not_taken(
    reg: Registry,
) -> None:
    """A stray file ``v7`` used to be the latest version (and `registry show` crashed)."""
    reg.new_version(KEY)
    reg.new_version(KEY)
    (reg.root / KEY / "v7").write_text("not a version")
    assert [v.number for v in reg.versions(KEY)] == [1, 2]
    assert reg.latest(KEY).number == 2
    with pytest.raises(VersionNotFoundError) as info:
        reg.version(KEY, 7)
    assert str(info.value) == f"{KEY}: no version v7 in {reg.root} (latest is v2)"
    assert reg.keys() == [KEY]
    assert reg.new_version(KEY).number == 8  # not v3..v7: v7 is taken by the file
    assert [(r.key, r.version) for r in reg.index_rows()] == [(KEY, 1), (KEY, 2), (KEY, 8)]
    assert reg.rebuild_index().versions == 3
    assert reg.new_version(KEY).number == 9
    assert (reg.root / KEY / "v7").read_text() == "not a version"


def test_a_deleted_version_number_is_never_handed_out_again(reg: Registry) -> None:
    for _ in range(3):
        reg.new_version(KEY)
    shutil.rmtree(reg.root / KEY / "v3")
    assert reg.latest(KEY).number == 2
    assert reg.new_version(KEY).number == 4
    assert folder_state(reg.root)[KEY] == {1, 2, 4}
    assert_consistent(reg.root)  # the index lost v3 and gained v4


def test_a_failed_rename_leaves_no_folder_and_no_row(
    reg: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg.new_version(KEY)

    def fail(src: object, dst: object) -> None:
        raise OSError(errno.EIO, "Input/output error", str(dst))

    monkeypatch.setattr(registry_mod.os, "rename", fail)
    with pytest.raises(PathError, match="cannot write here"):
        reg.new_version(KEY)
    monkeypatch.undo()
    assert folder_state(reg.root) == {KEY: {1}}
    assert index_state(reg.root) == {KEY: {1}}
    assert any((reg.root / ".staging").iterdir())  # invisible leftovers of the attempt
    # The number was taken (versions.json) before the failure: skipped, never reused.
    assert reg.new_version(KEY).number == 3
    assert folder_state(reg.root) == {KEY: {1, 3}}
    assert_consistent(reg.root)  # and the staging area was cleaned


def test_leftovers_of_a_killed_allocation_are_cleaned_under_the_lock(reg: Registry) -> None:
    reg.new_version(KEY)
    (reg.root / ".staging" / "deadbeef").mkdir()
    (reg.root / ".staging" / "deadbeef" / "metadata.json").write_text("{}")
    (reg.root / ".versions.json.k4wft9ok.tmp").write_text("{")
    (reg.root / ".index.db.0123.tmp").write_bytes(b"")
    (reg.root / ".mine.tmp").write_text("not the registry's")
    assert reg.new_version(KEY).number == 2
    assert sorted(p.name for p in reg.root.iterdir()) == [
        ".mine.tmp",
        ".registry.lock",
        ".staging",
        "index.db",
        "product",
        "versions.json",
    ]
    assert not any((reg.root / ".staging").iterdir())
    (reg.root / ".mine.tmp").unlink()


# --------------------------------------------------------------------------- files


def test_artifacts(reg: Registry) -> None:
    v = reg.new_version(KEY)
    assert v.artifact(MODEL) == v.path / "model.pth"
    assert v.artifact(CHECKPOINT_BEST) == v.path / "checkpoint_best.pth"
    assert v.artifact(checkpoint_epoch(50)) == v.path / "checkpoint_epoch_50.pth"
    assert v.save_artifact(MODEL, b"weights") == v.path / "model.pth"
    assert (v.path / "model.pth").read_bytes() == b"weights"
    with v.open_artifact(CHECKPOINT_BEST) as f:
        f.write(b"best-1")
    with pytest.raises(ZeroDivisionError), v.open_artifact(CHECKPOINT_BEST) as f:
        f.write(b"half")
        1 / 0  # noqa: B018
    assert (v.path / "checkpoint_best.pth").read_bytes() == b"best-1"
    assert sorted(p.name for p in v.path.iterdir()) == [
        "checkpoint_best.pth",
        "metadata.json",
        "model.pth",
    ]
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(RegistryKeyError, match="is not a plain file name"):
            v.artifact(bad)
    with pytest.raises(RegistryKeyError, match=re.escape("use Version.save_bundle()")):
        v.save_artifact("curves.json", b"{}")
    with pytest.raises(ValueError, match="non-negative int"):
        checkpoint_epoch(-1)


def test_open_artifact_files_get_the_mode_of_save_artifact_files(reg: Registry) -> None:
    """open_artifact used to leave its files at mkstemp's 0600."""
    v = reg.new_version(KEY)
    v.save_artifact(MODEL, b"weights")
    with v.open_artifact(CHECKPOINT_BEST) as f:
        f.write(b"best")
    umask = os.umask(0o022)
    os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in v.path.iterdir()}
    assert modes[CHECKPOINT_BEST] == modes[MODEL] == 0o666 & ~umask
    assert modes["metadata.json"] == modes[MODEL]
    assert reg.index_file.stat().st_mode & 0o777 == modes[MODEL]


def test_save_bundle_writes_strict_compact_json_and_the_summary(reg: Registry) -> None:
    v = reg.new_version(KEY)
    bundle = {
        "schema": "curvelog.bundle/1",
        "run": {"run_id": "abc123"},
        "charts": [{"id": "loss", "title": "Verlust \u00fc", "y": [1.0, None]}],
        "summary": {"steps": 10, "final": {"train/loss": 0.5}},
    }
    path = v.save_bundle(bundle, png=PNG)
    assert path == v.path / "curves.json"
    assert path.read_bytes() == json.dumps(
        bundle, allow_nan=False, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")
    assert (v.path / "loss_curve.png").read_bytes() == PNG
    meta = v.metadata()
    assert meta["run_id"] == "abc123" and meta["summary"] == bundle["summary"]
    assert meta["curves"]["schema"] == "curvelog.bundle/1"
    assert reg.index_rows()[0].metrics_summary == bundle["summary"]


def test_an_existing_different_bundle_is_never_replaced_silently(reg: Registry) -> None:
    v = reg.new_version(KEY)
    v.save_bundle({"a": 1, "summary": {"n": 1}}, png=PNG)
    v.save_bundle({"a": 1, "summary": {"n": 1}})  # the same bundle again: fine
    other_png = PNG + b"other"
    with pytest.raises(OutputExistsError) as info:
        v.save_bundle({"a": 2}, png=other_png)
    assert str(info.value) == (
        f"{v.path / 'curves.json'}: already exists; it holds a different bundle; "
        "refusing to replace it (file into a new version, or use --force, "
        "or overwrite=True from Python)"
    )
    assert json.loads((v.path / "curves.json").read_text()) == {"a": 1, "summary": {"n": 1}}
    assert (v.path / "loss_curve.png").read_bytes() == PNG  # untouched as well
    v.save_bundle({"a": 2, "summary": {"n": 2}}, overwrite=True)
    assert json.loads((v.path / "curves.json").read_text())["a"] == 2
    assert reg.index_rows()[0].metrics_summary == {"n": 2}


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        ({"y": [float("nan")]}, "not strict JSON"),
        ({"y": np.float32(1)}, "not strict JSON"),
        ([1, 2], "expected a JSON object, not list"),
    ],
)
def test_a_bad_bundle_writes_nothing(reg: Registry, bundle: object, reason: str) -> None:
    v = reg.new_version(KEY)
    with pytest.raises(BundleError, match=reason):
        v.save_bundle(bundle)  # type: ignore[arg-type]
    with pytest.raises(BundleError, match=reason):
        reg.file_bundle(KEY, bundle)  # type: ignore[arg-type]
    assert not (v.path / "curves.json").exists()
    assert folder_state(reg.root) == {KEY: {1}}


def test_file_bundle_into_a_new_version_appears_complete(reg: Registry) -> None:
    bundle = {"run": {"run_id": "r1"}, "summary": {"steps": 3}}
    v = reg.file_bundle(KEY, bundle, png=PNG)
    assert v.number == 1
    assert sorted(p.name for p in v.path.iterdir()) == [
        "curves.json",
        "loss_curve.png",
        "metadata.json",
    ]
    assert v.metadata()["run_id"] == "r1"
    assert reg.index_rows()[0].metrics_summary == {"steps": 3}
    assert reg.file_bundle(KEY, bundle).number == 2  # no version given: always a new one
    assert_consistent(reg.root)


def test_file_bundle_into_a_given_version(reg: Registry) -> None:
    trained = reg.new_version(KEY)
    trained.save_artifact(MODEL, b"w")
    reg.new_version(KEY)
    v = reg.file_bundle(KEY, {"summary": {"steps": 1}}, version="v1")
    assert v == trained
    assert sorted(p.name for p in v.path.iterdir()) == [
        "curves.json",
        "metadata.json",
        "model.pth",
    ]
    # A version that was never allocated is not created: numbers only come from allocation.
    with pytest.raises(VersionNotFoundError) as info:
        reg.file_bundle(KEY, {"summary": {}}, version=9)
    assert str(info.value) == f"{KEY}: no version v9 in {reg.root} (latest is v2)"
    assert folder_state(reg.root) == {KEY: {1, 2}}
    assert json.loads(reg.versions_file.read_text()) == {KEY: 2}


def test_save_plot(reg: Registry, tmp_path: Path) -> None:
    v = reg.new_version(KEY)
    assert v.save_plot(PNG).read_bytes() == PNG
    src = tmp_path / "x.png"
    src.write_bytes(PNG + b"2")
    assert v.save_plot(src).read_bytes() == PNG + b"2"
    with pytest.raises(PlotError, match="not a PNG image"):
        v.save_plot(b"GIF89a")
    src.write_bytes(b"GIF89a")
    with pytest.raises(PathError, match="not a PNG image"):
        v.save_plot(src)
    with pytest.raises(PathError, match="cannot read the plot"):
        v.save_plot(tmp_path / "missing.png")


def test_save_metadata_merges_and_protects_the_registry_fields(reg: Registry) -> None:
    v = reg.new_version(KEY)
    created = v.metadata()["created_at"]
    v.save_metadata({"params": {"lr": np.float32(0.5), "layers": np.arange(2)}, "note": "a"})
    v.save_metadata({"note": "b", "version": 1})  # the same version number is fine
    meta = v.metadata()
    assert meta == {
        "key": KEY,
        "version": 1,
        "created_at": created,
        "params": {"lr": 0.5, "layers": [0, 1]},
        "note": "b",
    }
    with pytest.raises(ValueError, match="metadata field 'version' belongs to the registry"):
        v.save_metadata({"version": "1.2"})
    with pytest.raises(ValueError, match="NaN and infinity are not allowed"):
        v.save_metadata({"val_loss": float("nan")})
    assert v.metadata() == meta
    v.save_metadata({"summary": {"rmse": 10.5}})
    assert reg.index_rows()[0].metrics_summary == {"rmse": 10.5}
    v.save_bundle({"charts": []})  # a bundle without a summary keeps the user's
    assert v.metadata()["summary"] == {"rmse": 10.5}
    assert reg.index_rows()[0].metrics_summary == {"rmse": 10.5}
    good = (v.path / "metadata.json").read_bytes()
    (v.path / "metadata.json").write_text("{")
    with pytest.raises(RegistryCorruptError, match="not valid JSON .*; fix the file or delete it"):
        v.save_metadata({"note": "c"})
    (v.path / "metadata.json").write_bytes(good)


# --------------------------------------------------------------------------- damage


def test_corrupt_versions_json_stops_allocation_and_names_the_repair(reg: Registry) -> None:
    for _ in range(3):
        reg.new_version(KEY)
    reg.versions_file.write_text('{"product/P001_all/mlstm": 3', "utf-8")  # torn by hand
    with pytest.raises(RegistryCorruptError) as info:
        reg.new_version(KEY)
    assert str(info.value) == (
        f"{reg.versions_file}: not valid JSON (Expecting ',' delimiter: line 1 column 29 "
        "(char 28)); run `curvelog registry rebuild-index --registry "
        f"{reg.root}` to rebuild it from the version folders"
    )
    assert folder_state(reg.root) == {KEY: {1, 2, 3}}  # nothing allocated
    report = reg.rebuild_index()
    assert report.versions_json_was_corrupt
    assert (report.keys, report.versions) == (1, 3)
    assert reg.new_version(KEY).number == 4
    assert_consistent(reg.root)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[]", "expected a JSON object, found list"),
        ('{"product/P001_all/mlstm": "3"}', "entry 'product/P001_all/mlstm' is '3'"),
        ('{"product/P001_all/mlstm": -1}', "is -1, not a version number"),
        ('{"../x": 1}', "registry key '../x'"),
        ("\xff", "not valid JSON"),
        ("[" * 100_000, "not valid JSON (nested too deeply)"),  # RecursionError, caught
    ],
)
def test_every_kind_of_bad_versions_json_is_refused(
    reg: Registry, content: str, reason: str
) -> None:
    reg.new_version(KEY)
    reg.versions_file.write_bytes(content.encode("latin-1"))
    with pytest.raises(RegistryCorruptError, match=re.escape(reason)) as info:
        reg.new_version(KEY)
    assert "curvelog registry rebuild-index" in str(info.value)
    reg.rebuild_index()
    assert reg.new_version(KEY).number == 2


def test_too_deeply_nested_metadata_and_summary_are_corruption_not_a_crash(
    reg: Registry,
) -> None:
    v = reg.new_version(KEY)
    meta_path = v.path / "metadata.json"
    meta_path.write_text("[" * 100_000)
    with pytest.raises(RegistryCorruptError) as info:
        v.metadata()
    assert str(info.value) == (
        f"{meta_path}: not valid JSON (nested too deeply); fix the file or delete it"
    )
    report = reg.rebuild_index()  # indexed from the folder's mtime, reported
    assert report.problems == [f"{meta_path}: not valid JSON (nested too deeply)"]
    assert [(r.key, r.version) for r in reg.index_rows()] == [(KEY, 1)]
    # an index whose metrics_summary is nested too deeply reads as no summary
    conn = sqlite3.connect(reg.index_file)
    with conn:
        conn.execute("UPDATE model_versions SET metrics_summary=?", ("[" * 100_000,))
    conn.close()
    assert reg.index_rows()[0].metrics_summary is None
    meta_path.write_text(json.dumps({"key": KEY, "version": 1, "created_at": "x"}))


@pytest.mark.parametrize("damage", ["rolled_back", "entry_missing", "file_missing"])
def test_a_stale_versions_json_is_refused_not_trusted(reg: Registry, damage: str) -> None:
    for _ in range(3):
        reg.new_version(KEY)
    if damage == "rolled_back":
        reg.versions_file.write_text(json.dumps({KEY: 1}))
        expected = f"says the latest version of {KEY} is v1 but folder v3 exists"
    elif damage == "entry_missing":
        reg.versions_file.write_text("{}")
        expected = f"has no entry for {KEY} but its folders go up to v3"
    else:
        reg.versions_file.unlink()
        expected = f"is missing but {KEY} has version folders up to v3"
    with pytest.raises(RegistryCorruptError, match=re.escape(expected)) as info:
        reg.new_version(KEY)
    assert str(info.value).endswith(
        "so it cannot be trusted to prevent reusing a version number; run `curvelog registry "
        f"rebuild-index --registry {reg.root}` to rebuild it from the version folders"
    )
    assert folder_state(reg.root) == {KEY: {1, 2, 3}}
    reg.rebuild_index()
    assert reg.new_version(KEY).number == 4


def test_rebuild_never_lowers_a_number_it_can_still_find(reg: Registry) -> None:
    for _ in range(5):
        reg.new_version(KEY)
    shutil.rmtree(reg.root / KEY / "v5")
    shutil.rmtree(reg.root / KEY / "v4")
    # versions.json is lost, but the index still remembers v5 was handed out.
    reg.versions_file.write_text("garbage")
    report = reg.rebuild_index()
    assert report.versions_json_changes == {KEY: (None, 5)}
    assert reg.new_version(KEY).number == 6


def test_rebuild_refuses_to_turn_an_arbitrary_folder_into_a_registry(tmp_path: Path) -> None:
    folder = tmp_path / "home"
    (folder / "docs").mkdir(parents=True)
    (folder / "v2").mkdir()  # a v<N> folder in the root is no version: there is no key
    with pytest.raises(PathError, match=r"not a registry .*use --init, or init=True") as info:
        Registry(folder).rebuild_index()
    assert info.value.path == str(folder)
    assert sorted(os.listdir(folder)) == ["docs", "v2"]  # no index.db, versions.json or lock made
    (folder / "src" / "v1").mkdir(parents=True)
    report = Registry(folder).rebuild_index()  # a version folder under a key: a registry
    assert (report.keys, report.versions) == (1, 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert Registry(empty).rebuild_index(init=True).keys == 0
    assert sorted(os.listdir(empty)) == [".registry.lock", "index.db", "versions.json"]


def test_a_damaged_index_is_refused_and_rebuilt(reg: Registry) -> None:
    v = reg.new_version(KEY)
    v.save_bundle({"summary": {"loss": 0.25}})
    reg.index_file.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryCorruptError) as info:
        reg.new_version(KEY)
    assert str(info.value) == (
        f"{reg.index_file}: the index is damaged (file is not a database); "
        f"run `curvelog registry rebuild-index --registry {reg.root}` "
        "to rebuild it from the version folders"
    )
    with pytest.raises(RegistryCorruptError, match="the index is damaged"):
        reg.index_rows()
    assert json.loads(reg.versions_file.read_text()) == {KEY: 1}  # no number burnt
    reg.rebuild_index()
    [row] = reg.index_rows()
    assert row.metrics_summary == {"loss": 0.25}  # recovered from metadata.json
    assert row.created_at == v.metadata()["created_at"]
    assert reg.new_version(KEY).number == 2


def test_a_missing_index_is_rebuilt_on_the_next_write(reg: Registry) -> None:
    reg.new_version(KEY)
    reg.new_version("other")
    reg.index_file.unlink()
    with pytest.raises(RegistryCorruptError, match="the index is missing"):
        reg.index_rows()
    reg.new_version(KEY)
    assert [(r.key, r.version) for r in reg.index_rows()] == [("other", 1), (KEY, 1), (KEY, 2)]


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A folder nobody (root included, via chattr +i) can create entries in."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        undo = ["chattr", "-i", str(d)]
        if subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode:
            pytest.skip("running as root and chattr +i is unavailable")
    else:
        d.chmod(0o555)
        undo = ["chmod", "755", str(d)]
    try:
        try:
            (d / "probe").touch()
        except OSError as e:
            err = e.errno
        else:
            pytest.skip("could not make a folder unwritable here")
        yield d, err
    finally:
        subprocess.run(undo, check=True)


def test_an_unwritable_root_is_a_clear_error(unwritable_dir: tuple[Path, int]) -> None:
    root, err = unwritable_dir
    with pytest.raises(PathError) as info:
        Registry(root).new_version(KEY)
    assert str(info.value) == (
        f"{root / '.registry.lock'}: cannot create the registry lock ({os.strerror(err)})"
    )
    with pytest.raises(PathError) as info:
        Registry(root / "sub").new_version(KEY)
    assert str(info.value) == (
        f"{root / 'sub'}: cannot create the registry folder ({os.strerror(err)})"
    )


def test_a_root_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    for call in (Registry(f).new_version, Registry(f).latest):
        with pytest.raises(PathError) as info:
            call(KEY)
        assert str(info.value) == f"{f}: not a folder"


# --------------------------------------------------------------------------- processes


def _allocate(root: str, keys: list[str], count: int, out: str, seed: int, go: object) -> None:
    """Worker: allocate ``count`` versions, claim each folder exclusively, record them."""
    rng = random.Random(seed)
    reg = Registry(root, lock_timeout=30)
    go.wait()  # type: ignore[attr-defined]
    with open(out, "a") as f:
        for _ in range(count):
            v = reg.new_version(rng.choice(keys))
            # O_EXCL: a second holder of the same version would fail here.
            os.close(os.open(v.path / "claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            f.write(f"{v.key} {v.number}\n")
            f.flush()


def _run_workers(
    root: Path, keys: list[str], procs: int, count: int, tmp: Path
) -> list[tuple[str, int]]:
    go = FORK.Event()
    outs = [tmp / f"worker{i}.txt" for i in range(procs)]
    workers = [
        FORK.Process(target=_allocate, args=(str(root), keys, count, str(o), 1000 + i, go))
        for i, o in enumerate(outs)
    ]
    for w in workers:
        w.start()
    go.set()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * procs
    return _read_results(outs)


def _read_results(outs: list[Path]) -> list[tuple[str, int]]:
    got = []
    for o in outs:
        if o.exists():
            for line in o.read_text().splitlines():
                key, n = line.split()
                got.append((key, int(n)))
    return got


def test_16_processes_allocating_one_key_get_400_distinct_consecutive_versions(
    reg: Registry, tmp_path: Path
) -> None:
    got = _run_workers(reg.root, [KEY], 16, 25, tmp_path)
    assert sorted(n for _, n in got) == list(range(1, 401))
    assert json.loads(reg.versions_file.read_text()) == {KEY: 400}
    assert len(reg.index_rows()) == 400
    assert_consistent(reg.root)


def test_16_processes_allocating_mixed_keys(reg: Registry, tmp_path: Path) -> None:
    keys = [
        KEY,
        store("S001", "P002", "transformer"),
        global_("all", "sum", "kan"),
        global_("custom/S1/P2", "mean", "kan"),
    ]
    got = _run_workers(reg.root, keys, 16, 25, tmp_path)
    assert len(got) == 400
    recorded = json.loads(reg.versions_file.read_text())
    for key in keys:
        numbers = sorted(n for k, n in got if k == key)
        assert numbers == list(range(1, len(numbers) + 1)), key
        assert recorded[key] == len(numbers)
    assert sum(recorded.values()) == 400
    assert len(reg.index_rows()) == 400
    assert_consistent(reg.root)


def _hold_lock(root: str, ready: object) -> None:
    with Registry(root)._locked(None):
        ready.set()  # type: ignore[attr-defined]
        time.sleep(120)


def _die_mid_allocation(root: str, ready: object) -> None:
    def stall(src: object, dst: object) -> None:
        ready.set()  # type: ignore[attr-defined]
        time.sleep(120)

    os.rename = stall  # this child only: stop just before the folder becomes visible
    Registry(root).new_version(KEY)


@pytest.mark.parametrize("holder", [_hold_lock, _die_mid_allocation])
def test_a_holder_killed_with_sigkill_blocks_nobody_and_loses_nothing(
    reg: Registry, tmp_path: Path, holder: object
) -> None:
    reg.new_version(KEY)
    ready, go = FORK.Event(), FORK.Event()
    victim = FORK.Process(target=holder, args=(str(reg.root), ready))
    victim.start()
    assert ready.wait(20)
    outs = [tmp_path / f"w{i}.txt" for i in range(4)]
    workers = [
        FORK.Process(target=_allocate, args=(str(reg.root), [KEY], 10, str(o), i, go))
        for i, o in enumerate(outs)
    ]
    for w in workers:
        w.start()
    go.set()
    time.sleep(0.5)
    assert all(w.is_alive() for w in workers)  # waiting for the lock...
    assert folder_state(reg.root) == {KEY: {1}}  # ...so nothing was allocated
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    victim.join()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * 4
    got = sorted(n for _, n in _read_results(outs))
    assert len(got) == len(set(got)) == 40
    if holder is _hold_lock:
        assert got == list(range(2, 42))
    else:  # the victim had taken v2 but never made it visible: skipped, not reused
        assert got == list(range(3, 43))
    assert folder_state(reg.root) == {KEY: {1, *got}}
    assert_consistent(reg.root)


def test_random_sigkills_during_allocation_never_duplicate_a_version(
    reg: Registry, tmp_path: Path
) -> None:
    rng = random.Random(5)
    go = FORK.Event()
    go.set()
    survivors_out = [tmp_path / f"s{i}.txt" for i in range(3)]
    survivors = [
        FORK.Process(target=_allocate, args=(str(reg.root), [KEY], 40, str(o), i, go))
        for i, o in enumerate(survivors_out)
    ]
    for w in survivors:
        w.start()
    victims_out = []
    for i in range(6):
        out = tmp_path / f"v{i}.txt"
        victims_out.append(out)
        victim = FORK.Process(target=_allocate, args=(str(reg.root), [KEY], 10**6, str(out), i, go))
        victim.start()
        time.sleep(rng.uniform(0.02, 0.15))
        os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
        victim.join()
    for w in survivors:
        w.join(60)
    assert [w.exitcode for w in survivors] == [0] * 3
    reg.new_version(KEY)  # one allocation after the last kill repairs its leftovers
    got = [n for _, n in _read_results(survivors_out + victims_out)]
    assert len(got) == len(set(got))  # never the same version twice
    folders = folder_state(reg.root)[KEY]
    assert set(got) <= folders  # every version handed out exists
    assert all((reg.root / KEY / f"v{n}" / "claim").exists() for n in got)
    assert_consistent(reg.root)


def test_a_lock_held_too_long_times_out_naming_the_lock_file(reg: Registry) -> None:
    import filelock

    reg.new_version(KEY)
    other = filelock.FileLock(str(reg.root / ".registry.lock"))  # another fd: conflicts
    with other:
        quick = Registry(reg.root, lock_timeout=0.2)
        t0 = time.monotonic()
        with pytest.raises(RegistryLockTimeout) as info:
            quick.new_version(KEY)
        assert time.monotonic() - t0 >= 0.2  # no upper bound: a loaded machine is slow
    assert str(info.value) == (
        f"{reg.root / '.registry.lock'}: could not take the registry lock within 0.2 s; "
        "another process is holding it"
    )
    assert info.value.lock_file == str(reg.root / ".registry.lock")
    assert reg.new_version(KEY).number == 2


def test_the_training_sample_files_everything_into_one_version(tmp_path: Path) -> None:
    sample = Path(__file__).parent.parent / "samples" / "train_registry.py"
    root = tmp_path / "saved_models"
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(sample), "--registry", str(root), "--epochs", "3"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    reg = Registry(root)
    v = reg.latest("product/P001_all/mlp")
    assert v.number == 2
    assert [name for name, _ in v.files()] == [
        "checkpoint_best.pth",
        "curves.json",
        "loss_curve.png",
        "metadata.json",
        "model.pth",
        "run.log",
    ]
    bundle = json.loads((v.path / "curves.json").read_text("utf-8"))
    assert bundle["schema"] == "curvelog.bundle/1"
    meta = v.metadata()
    # the bundle's summary, plus the objective and best that `registry list` prints (#17)
    extra = {"objective": {"metric": "val/loss", "mode": "min"}, "best": meta["summary"]["best"]}
    assert meta["summary"] == {**bundle["summary"], **extra} and meta["params"]["epochs"] == 3
    assert reg.index_rows()[1].metrics_summary == meta["summary"]
    assert_consistent(root)


def test_errors_keep_their_facts(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "saved_models", lock_timeout=20)
    reg.new_version(KEY)
    with pytest.raises(VersionNotFoundError) as missing:
        reg.version(KEY, 9)
    assert (missing.value.key, missing.value.version) == (KEY, 9)
    with pytest.raises(RegistryKeyError) as bad:
        reg.new_version("product/../x")
    assert bad.value.key == "product/../x"
    (reg.root / "versions.json").write_text("{", encoding="utf-8")
    with pytest.raises(RegistryCorruptError) as corrupt:
        reg.new_version(KEY)
    assert corrupt.value.path == str(reg.root / "versions.json")


def _write_forever(root: str, key: str, ready: int) -> None:
    """Start writing model.pth into v1, say so, and wait to be killed mid-write."""
    v = Registry(root).version(key, 1)
    with v.open_artifact("model.pth") as f:
        f.write(b"w" * 100_000)
        f.flush()
        os.write(ready, b"1")
        while True:
            signal.pause()


def test_rebuild_index_removes_what_a_killed_write_left_in_a_version_folder(
    tmp_path: Path,
) -> None:
    # QA #11: a write killed mid-way left .model.pth.*.tmp in the version folder forever
    root = tmp_path / "saved_models"
    reg = Registry(root)
    v = reg.new_version(KEY)
    r, w = os.pipe()
    child = multiprocessing.get_context("fork").Process(
        target=_write_forever, args=(str(root), KEY, w)
    )
    child.start()
    assert os.read(r, 1) == b"1"
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    (left,) = [p for p in v.path.iterdir() if p.name.startswith(".model.pth.")]
    with v.open_artifact("checkpoint_best.pth") as f:  # a write still running
        f.write(b"c")
        report = reg.rebuild_index()
        (running,) = [p for p in v.path.iterdir() if p.name.startswith(".checkpoint_best")]
    assert report.removed_temp_files == [(str(left), 100_000)]
    assert not left.exists() and not running.exists()
    assert sorted(p.name for p in v.path.iterdir()) == ["checkpoint_best.pth", "metadata.json"]
    assert (v.path / "checkpoint_best.pth").read_bytes() == b"c"


def test_rebuild_index_leaves_a_write_alone_until_it_is_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file's lock was dropped when its writer closed it, before the fsync and
    the rename: a rebuild-index in between took it for a killed write and removed it,
    and the copy failed with "No such file or directory" after writing the whole model."""
    import threading

    import curvelog._fs as fs

    reg = Registry(tmp_path / "saved_models")
    v = reg.new_version(KEY)
    syncing, done = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:  # the copy's disk takes its time: rebuild-index runs
        if threading.current_thread() is not threading.main_thread() and not done.is_set():
            syncing.set()
            assert done.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(fs.os, "fsync", slow_fsync)
    errors: list[BaseException] = []

    def copy() -> None:
        try:
            with v.open_artifact("model.pth") as f:
                f.write(b"w" * 1000)
        except BaseException as e:  # the copy's failure, reported below
            errors.append(e)

    t = threading.Thread(target=copy)
    t.start()
    assert syncing.wait(10), errors
    report = reg.rebuild_index()
    done.set()
    t.join()
    assert errors == [] and report.removed_temp_files == []
    assert (v.path / "model.pth").read_bytes() == b"w" * 1000
