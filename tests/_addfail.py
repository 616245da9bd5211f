"""`registry add` stopped mid-copy, for the SQLite and the PostgreSQL registry tests:
killed by SIGKILL while it copies a model, or failing (a full disk) on a later file."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from curvelog.registry import Registry

FORK = multiprocessing.get_context("fork")
#: bytes of the model the killed add has copied when it is killed
COPIED_BEFORE_THE_KILL = 1 << 20


def model_file(path: Path, size: int, seed: int) -> Path:
    """A model file of ``size`` random bytes (seeded)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def _add_until_killed(root: str, index: str | None, key: str, src: str, copying: Any) -> None:
    """The child: copies part of ``src``, says so, then waits to be killed."""
    from curvelog.registry._add import add_files

    def copy_part_then_wait(fin: Any, fout: Any, size: int = 0) -> None:
        fout.write(fin.read(COPIED_BEFORE_THE_KILL))
        fout.flush()
        copying.set()
        time.sleep(600)

    shutil.copyfileobj = copy_part_then_wait  # this child only
    add_files(Registry(root, index=index, lock_timeout=30), key, [src])


def kill_an_add_mid_copy(reg: Registry, index: str | None, key: str, src: Path) -> None:
    """Start ``registry add key src`` (a new version) in a child; SIGKILL it mid-copy."""
    copying = FORK.Event()
    child = FORK.Process(
        target=_add_until_killed, args=(str(reg.root), index, key, str(src), copying)
    )
    child.start()
    try:
        assert copying.wait(60), "the add never started copying"
    finally:
        os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        child.join(60)
    assert child.exitcode == -signal.SIGKILL


def disk_full_on(monkeypatch: pytest.MonkeyPatch, failing: Path) -> None:
    """Every copy of ``failing`` writes part of it, then fails as a full disk does."""
    copy = shutil.copyfileobj

    def full_disk(fin: Any, fout: Any, size: int = 0) -> None:
        if fin.name == str(failing):
            fout.write(fin.read(1000))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        copy(fin, fout, size)

    monkeypatch.setattr(shutil, "copyfileobj", full_disk)


def visible_files(folder: Path) -> list[str]:
    """Names in ``folder``, hidden ones too (a temporary file left behind shows)."""
    return sorted(p.name for p in folder.iterdir())
