"""Whole-file reads and atomic whole-file writes, shared by every module.

A file that replaces another is written to a temporary file in the same
folder, fsynced, moved over the target and the folder fsynced, so a reader
sees either the old bytes or the new ones, never a mix, even after a crash.
Without ``overwrite`` the move is a hard link, which fails when the name
exists: two writers racing for one name cannot both win, and a file created
meanwhile by someone else is never replaced.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CurvelogError, OutputExistsError, PathError

__all__ = [
    "Sha256Job",
    "atomic_path",
    "atomic_write_bytes",
    "fsync_dir",
    "os_errors",
    "path_text",
    "read_bytes",
    "regular_file",
    "same_file",
]


_HASH_CHUNK = 1 << 20


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: mkstemp creates 0600 files; a replaced file gets the mode open() would give it
_FILE_MODE = 0o666 & ~_current_umask()


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in ``folder`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def os_errors(path: str | os.PathLike[str], doing: str = "cannot read") -> Iterator[None]:
    """The one boundary where an ``OSError`` becomes a `PathError` naming the path.

    Curvelog errors raised inside pass through unchanged. ``doing`` says what
    failed ("cannot read", "cannot write here"); the error's own file name, if
    it has one, wins over ``path``.
    """
    try:
        yield
    except CurvelogError:
        raise
    except FileNotFoundError as e:
        raise PathError(str(e.filename or path), "no such file") from None
    except IsADirectoryError as e:
        raise PathError(str(e.filename or path), "is a directory, not a file") from None
    except OSError as e:
        raise PathError(str(e.filename or path), f"{doing} ({e.strerror or e})") from None


def regular_file(path: str | os.PathLike[str]) -> str:
    """``path`` if it names a regular file; `PathError` for a missing path, a folder,
    a FIFO or a device (opening a FIFO blocks, reading /dev/zero never ends)."""
    path = os.fspath(path)
    with os_errors(path):
        mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise PathError(path, "is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise PathError(path, "is not a regular file")
    return path


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The whole file, or a `PathError` that says why not."""
    path = regular_file(path)
    with os_errors(path), open(path, "rb") as f:
        return f.read()


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when both names lead to one file (or would, for a name not yet created)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_target(path: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Refuse, before any work, an output that cannot or must not be replaced.

    Its folder must exist and be a folder; an existing ``path`` must be a
    regular file and ``overwrite`` given. A link is replaced itself, never
    written through (the registry's confinement relies on it: a link in a
    version folder must not let a write land in another version or outside
    the root), but one that leads to a device, FIFO or folder is refused,
    as those are: ``-o /dev/full --force`` once replaced the device node
    with a file, and ``-o /dev/stdout`` would replace the link to fd 1.

    :raises PathError: the folder is missing or a file, or ``path`` is no regular file.
    :raises OutputExistsError: ``path`` exists (a dangling link too) and ``overwrite`` is false.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "folder does not exist"
        raise PathError(folder, what)
    if not os.path.lexists(target):
        return
    if os.path.exists(target):  # what it is, or what its link leads to (a dangling link: nothing)
        with os_errors(target, "cannot write"):
            mode = os.stat(target).st_mode
        if stat.S_ISDIR(mode):
            raise PathError(target, "is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise PathError(target, "is not a regular file; refusing to replace it")
    if not overwrite:
        raise OutputExistsError(target)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[str]:
    """Yield a temporary path beside ``path``; once the block succeeds it becomes ``path``.

    Whatever the block writes to the temporary path (a library writing by
    name, such as polars or sqlite) is fsynced, given the usual file mode and
    moved into place; if the block raises, the temporary file is removed and
    ``path`` is untouched.

    :raises PathError: the folder is missing or not writable (`check_target`).
    :raises OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    check_target(path, overwrite=overwrite)
    target = Path(path)
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except FileNotFoundError:
        raise PathError(str(folder), "folder does not exist") from None
    except OSError as e:
        raise PathError(str(folder), f"cannot write here ({e.strerror})") from None
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fchmod(f.fileno(), _FILE_MODE)
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise OutputExistsError(str(target)) from None
    except OSError as e:
        if isinstance(e, PathError):
            raise
        raise PathError(str(target), f"cannot write ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    fsync_dir(folder)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically (see `atomic_path`)."""
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        f.write(data)


def path_text(text: str) -> str:
    """A path (or a part of one, or any text from the user) as text that UTF-8, a
    bundle, a font and a web page can hold: bytes of a file name that are not
    UTF-8 (legal on Linux; Python keeps them as lone surrogates) become U+FFFD,
    as does any other lone surrogate (a cut emoji)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:  # bytes a file name held: one U+FFFD per byte that is not UTF-8
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


class Sha256Job:
    """sha256 of a file, computed in a thread while the caller works.

    ``hashlib`` releases the GIL on large updates, so on a machine with two
    cores the hash of a 480 MB log costs no wall time next to reading and
    sampling it. The thread reads the file itself, in 1 MiB chunks from the
    page cache, rather than keeping the reader's copy alive.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._h = hashlib.sha256()
        self._size = 0
        self._error = False
        self._thread = threading.Thread(target=self._run, name="curvelog-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "rb", buffering=0) as f:
                buf = bytearray(_HASH_CHUNK)
                view = memoryview(buf)
                while n := f.readinto(buf):
                    self._h.update(view[:n])
                    self._size += n
        except OSError:
            self._error = True

    def result(self, size: int) -> str | None:
        """The digest of the first ``size`` bytes (what the reader read); None if unreadable."""
        self._thread.join()
        if not self._error and self._size == size:
            return self._h.hexdigest()
        return _sha256_prefix(self.path, size)  # the file grew or changed meanwhile


def _sha256_prefix(path: str, size: int) -> str | None:
    h = hashlib.sha256()
    left = size
    try:
        with open(path, "rb") as f:
            while left > 0:
                chunk = f.read(min(_HASH_CHUNK, left))
                if not chunk:
                    return None  # shorter than what was read: not the same file any more
                h.update(chunk)
                left -= len(chunk)
    except OSError:
        return None
    return h.hexdigest()


# --------------------------------------------------------------------------- write, load
