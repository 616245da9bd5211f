"""Files copied for a new version before it is allocated: ``<root>/.incoming/<uuid>/``.

``registry add`` without ``--version`` copies its model files here first (streamed,
fsynced), and the allocation moves the whole folder into ``.staging/`` and from
there into place, so the version appears with every file or not at all. A copy
may take minutes and runs without the registry lock, so ``.staging/`` (cleared
under that lock by every allocation) is no place for it.

The copying process holds an ``flock`` on its folder for as long as the folder
is its own. A folder nobody holds was left by a killed ``add``: the next
``add`` and ``rebuild-index`` remove it (`sweep`), each under the folder's own
lock, so an ``add`` still copying is never touched. Where ``flock`` does not
work, nothing is ever swept (as with `_version.stale_temp_file`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .._fs import os_errors
from ..errors import PathError
from ._confine import confine, no_link

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ._store import Registry

__all__ = ["INCOMING_DIR", "copy_into", "prepared_folder", "sweep"]

_LOGGER = logging.getLogger("curvelog.registry")

INCOMING_DIR: Final = ".incoming"
_CHUNK: Final = 4 * 2**20
_DIR_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _incoming(reg: Registry) -> Path:
    """``.incoming``, refused (`PathError`) if it resolves outside the root or is a link."""
    return no_link(confine(reg.root, reg.root / INCOMING_DIR))


def _try_lock(fd: int) -> bool | None:
    """True: locked; False: another process holds it; None: no ``flock`` here."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def _open_locked(incoming: Path) -> tuple[Path, int]:
    """A new folder in ``incoming`` and a descriptor holding its lock.

    A sweep may find the folder between ``mkdir`` and ``flock`` and take it for a
    killed add's: then it holds the lock (this one fails) or the folder is gone
    by the time this one has the lock (it is no longer the path's). Either way
    the folder is not ours to use and another name is tried.
    """
    for _ in range(8):
        path = incoming / uuid.uuid4().hex
        path.mkdir()
        fd = os.open(path, _DIR_FLAGS)
        locked = _try_lock(fd)
        try:
            if locked is not False and os.path.samestat(os.fstat(fd), os.lstat(path)):
                return path, fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise PathError(str(incoming), "cannot make a folder of its own here (removed at once)")


@contextlib.contextmanager
def prepared_folder(reg: Registry) -> Iterator[Path]:
    """A new folder under ``.incoming/``, locked while the block runs, removed after it
    unless the block moved it away (an allocation renamed it into its version)."""
    incoming = _incoming(reg)
    with os_errors(reg.root, "cannot write here"):
        incoming.mkdir(exist_ok=True)
    sweep(reg)
    with os_errors(incoming, "cannot write here"):
        path, fd = _open_locked(incoming)
    try:
        yield path
    finally:
        try:
            # still under its lock: a folder renamed away is gone from here, and a
            # uuid name is never taken again, so this only removes our copies
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


def copy_into(folder: Path, name: str, src: str) -> int:
    """Copy file ``src`` into ``folder`` as ``name``, streamed and fsynced; its size.

    :raises PathError: ``src`` cannot be opened, or the copy failed (a full disk):
        what it wrote stays in ``folder``, which its owner removes.
    """
    dest = folder / name
    with os_errors(src), open(src, "rb") as fin, os_errors(dest, "cannot write"):
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with open(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout, _CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
            return os.fstat(fout.fileno()).st_size


def _size(path: str) -> int:
    total = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, n)).st_size
    return total


def sweep(reg: Registry) -> list[tuple[str, int]]:
    """Remove the folders of ``.incoming/`` whose ``add`` was killed: (path, bytes) of each.

    A folder is removed under its own lock, so only when no process holds it;
    anything that is no folder (nothing an ``add`` makes) is left alone.
    """
    try:
        entries = list(os.scandir(_incoming(reg)))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for e in entries:
        if not e.is_dir(follow_symlinks=False):
            continue
        try:
            fd = os.open(e.path, _DIR_FLAGS)
        except OSError:
            continue
        try:
            if _try_lock(fd) and os.path.samestat(os.fstat(fd), os.lstat(e.path)):
                size = _size(e.path)
                shutil.rmtree(e.path, ignore_errors=True)
                _LOGGER.info("removed %s, left by an interrupted add", e.path)
                removed.append((e.path, size))
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed
