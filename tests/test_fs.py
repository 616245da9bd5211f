"""`curvelog._fs`: the one place outputs are checked and replaced atomically."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from _cli import assert_one_line_error, invoke
from curvelog import EventLog
from curvelog._fs import atomic_write_bytes, check_target
from curvelog.errors import OutputExistsError, PathError


def test_a_link_is_replaced_never_written_through(tmp_path: Path) -> None:
    """Writing through a link could land outside a registry's root or in another
    version (the registry's confinement relies on this): the link is replaced."""
    real = tmp_path / "runs" / "v3.json"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    with pytest.raises(OutputExistsError):
        atomic_write_bytes(link, b"new", overwrite=False)
    atomic_write_bytes(link, b"new")
    assert not link.is_symlink() and link.read_bytes() == b"new"
    assert real.read_bytes() == b"old"
    dangling = tmp_path / "out.json"
    dangling.symlink_to(tmp_path / "elsewhere" / "secret.json")
    with pytest.raises(OutputExistsError):  # a name in use, even if it leads nowhere
        atomic_write_bytes(dangling, b"x", overwrite=False)
    atomic_write_bytes(dangling, b"x")
    assert dangling.read_bytes() == b"x" and not (tmp_path / "elsewhere").exists()


def test_a_fifo_is_never_replaced(tmp_path: Path) -> None:
    """``-o /dev/full --force`` replaced the device node with a regular file (as root)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(PathError, match="is not a regular file; refusing to replace it"):
        atomic_write_bytes(fifo, b"x", overwrite=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    link = tmp_path / "to-pipe"
    link.symlink_to(fifo)  # nor a link to one (``-o /dev/stdout`` on a pipe)
    with pytest.raises(PathError, match="is not a regular file"):
        atomic_write_bytes(link, b"x", overwrite=True)
    assert link.is_symlink()


@pytest.mark.parametrize("overwrite", [False, True])
def test_what_is_refused_before_any_work(tmp_path: Path, overwrite: bool) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PathError) as err:
        check_target(tmp_path / "file" / "out.json", overwrite=overwrite)
    assert (err.value.path, err.value.reason) == (str(tmp_path / "file"), "is not a folder")
    with pytest.raises(PathError) as err:
        check_target(tmp_path / "none" / "out.json", overwrite=overwrite)
    assert err.value.reason == "folder does not exist"
    with pytest.raises(PathError, match="is a directory, not a file"):
        check_target(tmp_path, overwrite=overwrite)
    if overwrite:
        check_target(tmp_path / "file", overwrite=True)
    else:
        with pytest.raises(OutputExistsError):
            check_target(tmp_path / "file", overwrite=False)


def test_compact_force_onto_a_fifo_is_one_error_line(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with EventLog(log) as lg:
        for i in range(50):
            lg.append(i, loss=1.0 / (i + 1))
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    res = invoke("compact", str(log), "-o", str(fifo), "--force", ok=False)
    assert_one_line_error(res, f"{fifo}: is not a regular file; refusing to replace it")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    res = invoke("compact", str(log), "-o", str(blocker / "x.json"), ok=False)
    assert_one_line_error(res, f"{blocker}: is not a folder")
