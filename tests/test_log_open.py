"""Opening a log for writing (log/_open.py): the lock a writer takes, and who can stop it."""

from __future__ import annotations

import fcntl
import os
import types
from pathlib import Path

import pytest

import curvelog
from curvelog import EventLog, PathError
from curvelog.log import _open


def test_a_reader_probing_the_lock_does_not_stop_a_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`read` takes a shared flock for a moment to ask whether a writer is live; a writer
    opening at that moment used to raise LogLockedError although no writer existed."""
    path = tmp_path / "x.log"
    with EventLog(path) as log:
        log.append(0, x=1.0)
    reader = os.open(path, os.O_RDONLY)
    fcntl.flock(reader, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a reader inside its probe
    waits: list[float] = []

    def pause(seconds: float) -> None:  # the writer waits: the reader's probe ends
        waits.append(seconds)
        os.close(reader)

    clock = types.SimpleNamespace(sleep=pause, monotonic=lambda: 0.0)
    monkeypatch.setattr(_open, "time", clock, raising=False)
    with EventLog(path) as log:
        log.append(1, x=2.0)
    assert len(waits) == 1
    assert curvelog.read(path).series("x").steps.tolist() == [0, 1]


def test_a_writer_is_still_refused_while_readers_probe(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    with EventLog(path) as first:
        reader = os.open(path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):  # what a reader's probe meets: a live writer
                fcntl.flock(reader, fcntl.LOCK_SH | fcntl.LOCK_NB)
        finally:
            os.close(reader)
        with pytest.raises(curvelog.LogLockedError, match="another writer"):
            EventLog(path)
        first.append(0, x=1.0)
    assert curvelog.read(path).rows == 1


def test_an_open_that_cannot_write_its_header_is_a_path_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk at open raised a bare OSError and left a 0-byte file that every
    command then refused as "not a curvelog log" (crash QA)."""
    import errno

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    old = tmp_path / "old.log"
    with EventLog(old, flush_every=0) as log:
        log.append(0, loss=1.0)
    before = old.read_bytes()
    monkeypatch.setattr(os, "write", full)
    for path in (tmp_path / "new.log", old):
        with pytest.raises(PathError, match="cannot write the session header \\(No space left"):
            EventLog(path, flush_every=0)
    monkeypatch.undo()
    assert not (tmp_path / "new.log").exists()  # made by the failed open: gone
    assert old.read_bytes() == before  # there before: untouched
    with EventLog(tmp_path / "new.log", flush_every=0) as log:  # and the next open works
        log.append(0, loss=1.0)
    assert curvelog.read(tmp_path / "new.log").rows == 1
