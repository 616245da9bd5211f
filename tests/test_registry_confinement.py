"""The registry never writes or deletes outside its root; odd numbers are clear errors.

Issue #10, items 6, 7 and 10: a symlinked ``.staging``, key or version folder
is refused before anything is written or deleted; a version number past
SQLite's range or a NaN in a metadata file is reported, and rebuild-index
really repairs what it says it repairs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from _cli import invoke
from curvelog.errors import PathError, RegistryCorruptError, RegistryKeyError, VersionNotFoundError
from curvelog.registry import MODEL, Registry, Version, product

KEY = product("P001", "all", "mlstm")


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the registry, with a file the registry must never touch."""
    out = tmp_path / "outside"
    (out / "precious").mkdir(parents=True)
    (out / "precious" / "thesis.tex").write_text("years of work")
    (out / "keep.txt").write_text("keep")
    return out


# --------------------------------------------------------------------------- item 6


def test_a_symlinked_staging_folder_is_refused_and_its_target_kept(
    tmp_path: Path, outside: Path
) -> None:
    reg = Registry(tmp_path / "reg")
    reg.new_version(KEY)
    (tmp_path / "reg" / ".staging").rmdir()
    os.symlink(outside, tmp_path / "reg" / ".staging")
    before = _tree(outside)
    with pytest.raises(PathError, match="link"):
        reg.new_version(KEY)
    with pytest.raises(PathError, match="link"):
        reg.rebuild_index()
    assert _tree(outside) == before
    assert [v.number for v in reg.versions(KEY)] == [1]


def test_a_symlinked_incoming_folder_is_refused_and_its_target_kept(
    tmp_path: Path, outside: Path
) -> None:
    """`registry add` copies a new version's files into ``.incoming`` first."""
    from curvelog.registry._add import add_files

    reg = Registry(tmp_path / "reg")
    reg.new_version(KEY)
    os.symlink(outside / "precious", tmp_path / "reg" / ".incoming")
    model = tmp_path / "model.pth"
    model.write_bytes(b"weights")
    before = _tree(outside)
    with pytest.raises(PathError, match="link"):
        add_files(reg, KEY, [model])
    with pytest.raises(PathError, match="link"):
        reg.rebuild_index()
    assert _tree(outside) == before
    assert [v.number for v in reg.versions(KEY)] == [1]


def test_a_file_that_is_a_link_is_replaced_never_written_through(
    tmp_path: Path, outside: Path
) -> None:
    """A version's model.pth linking to another version's (or to a file outside the
    root): saving replaces the link in this version; the file it led to is untouched."""
    reg = Registry(tmp_path / "reg")
    v1 = reg.new_version(KEY)
    v1.save_artifact(MODEL, b"v1 weights")
    v2 = reg.new_version(KEY)
    os.symlink(os.path.join("..", "v1", MODEL), v2.path / MODEL)
    v3 = reg.new_version(KEY)
    os.symlink(outside / "keep.txt", v3.path / MODEL)
    before = _tree(outside)
    v2.save_artifact(MODEL, b"v2 weights")
    v3.save_artifact(MODEL, b"v3 weights")
    assert (v1.path / MODEL).read_bytes() == b"v1 weights"
    assert _tree(outside) == before
    for v, data in ((v2, b"v2 weights"), (v3, b"v3 weights")):
        assert not (v.path / MODEL).is_symlink() and (v.path / MODEL).read_bytes() == data


# --------------------------------------------------------------------------- item 7


def test_a_symlinked_key_folder_is_refused(tmp_path: Path, outside: Path) -> None:
    reg = Registry(tmp_path / "reg")
    reg.new_version(product("P002", "all", "mlstm"))
    os.makedirs(tmp_path / "reg" / "product" / "P001_all")
    os.symlink(outside, tmp_path / "reg" / "product" / "P001_all" / "mlstm")
    before = _tree(outside)
    with pytest.raises(PathError, match="outside the registry"):
        reg.new_version(KEY)
    assert _tree(outside) == before


def test_a_symlinked_version_folder_is_refused(tmp_path: Path, outside: Path) -> None:
    reg = Registry(tmp_path / "reg")
    v1 = reg.new_version(KEY)
    v2 = reg.new_version(KEY)
    for name in os.listdir(v2.path):
        os.unlink(v2.path / name)
    v2.path.rmdir()
    os.symlink(outside, v2.path)
    before = _tree(outside)
    # a link is no version folder: not found by readers, refused to a handle made before
    with pytest.raises(VersionNotFoundError, match="no version v2"):
        reg.version(KEY, 2)
    with pytest.raises(VersionNotFoundError, match="no version v2"):
        reg.file_bundle(KEY, {"schema": "x"}, version=2)
    with pytest.raises(PathError, match="outside the registry"):
        v2.save_artifact(MODEL, b"weights")
    with pytest.raises(PathError, match="outside the registry"):
        v2.save_metadata({"note": "x"})
    with pytest.raises(PathError, match="outside the registry"):
        v2.save_plot(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    assert _tree(outside) == before
    v1.save_artifact(MODEL, b"ok")  # the real folder still works
    assert (v1.path / MODEL).read_bytes() == b"ok"


def test_a_key_folder_reached_through_a_link_is_no_part_of_the_registry(
    tmp_path: Path, outside: Path
) -> None:
    # QA #10: readers followed a linked key folder (another key's, or one outside the
    # root) that writers and rebuild-index's walk ignore; allocation for it was refused
    # with a rebuild-index hint that could not repair it
    reg = Registry(tmp_path / "reg")
    reg.new_version("exp/a")
    os.symlink("a", reg.root / "exp" / "b")  # exp/b is exp/a's folder
    (outside / "a" / "v1").mkdir(parents=True)
    os.symlink(outside, reg.root / "out")  # out/a/v1 lies outside the root
    before = _tree(outside)
    for key in ("exp/b", "out/a"):
        assert reg.versions(key) == []
        with pytest.raises(VersionNotFoundError, match="no versions"):
            reg.latest(key)
        with pytest.raises(VersionNotFoundError, match="no versions"):
            reg.version(key, 1)
        with pytest.raises(PathError, match="symbolic link") as info:
            reg.new_version(key)
        assert "rebuild-index" not in str(info.value)
    assert reg.keys() == ["exp/a"]
    assert reg.keys("out") == []
    assert [r.key for r in reg.index_rows(existing=True)] == ["exp/a"]
    with pytest.raises(PathError, match="is a symbolic link"):
        Version(reg, "exp/b", 1).save_artifact(MODEL, b"weights")
    assert _tree(outside) == before
    assert sorted(os.listdir(reg.root / "exp" / "a")) == ["v1"]
    assert reg.new_version("exp/a").number == 2


def test_a_symlinked_index_is_refused(tmp_path: Path, outside: Path) -> None:
    reg = Registry(tmp_path / "reg")
    reg.new_version(KEY)
    index = tmp_path / "reg" / "index.db"
    os.replace(index, outside / "index.db")
    os.symlink(outside / "index.db", index)
    before = _tree(outside)
    with pytest.raises(PathError, match="outside the registry"):
        reg.new_version(KEY)
    assert _tree(outside) == before


# --------------------------------------------------------------------------- item 10


def test_a_version_past_the_integer_range_is_corruption_that_rebuild_fixes(
    tmp_path: Path,
) -> None:
    reg = Registry(tmp_path / "reg")
    reg.new_version(KEY)
    other = product("P002", "all", "mlstm")
    reg.new_version(other)
    versions = tmp_path / "reg" / "versions.json"
    data = json.loads(versions.read_text())
    data[KEY] = 2**63
    versions.write_text(json.dumps(data))
    with pytest.raises(RegistryCorruptError, match="rebuild-index"):
        reg.new_version(KEY)
    report = reg.rebuild_index()
    assert report.versions_json_changes[KEY] == (None, 1)
    assert reg.new_version(KEY).number == 2
    assert reg.new_version(other).number == 2  # the good entries survived the repair


def test_a_nan_in_metadata_does_not_break_rebuild(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")
    v = reg.new_version(KEY)
    meta = v.path / "metadata.json"
    meta.write_text(
        f'{{"key": "{KEY}", "version": 1, "created_at": "2024-01-01T00:00:00Z",'
        ' "summary": {"best": NaN, "worst": 1e999}}'
    )
    report = reg.rebuild_index()
    assert report.versions == 1 and any("metadata.json" in p for p in report.problems)
    assert reg.new_version(KEY).number == 2


@pytest.mark.parametrize("text", ["9" * 5000, str(2**63), "v" + "1" * 40])
def test_a_huge_version_number_is_a_clear_error(tmp_path: Path, text: str) -> None:
    reg = Registry(tmp_path / "reg")
    reg.new_version(KEY)
    with pytest.raises(RegistryKeyError, match="not a version number"):
        reg.version(KEY, text)
    result = invoke("registry", "show", KEY, text, "--registry", str(tmp_path / "reg"), ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert len(result.stderr) < 300


def test_a_huge_version_folder_is_no_version(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")
    v = reg.new_version(KEY)
    os.mkdir(v.path.parent / ("v" + "9" * 30))
    assert [x.number for x in reg.versions(KEY)] == [1]
    assert reg.new_version(KEY).number == 2
