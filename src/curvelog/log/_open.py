"""Opening a log for writing: the lock, the signature, the resume, the session header."""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from ..errors import CurvelogError, LogFormatError, LogLockedError, PathError
from . import _format
from ._format import FILE_MAGIC
from ._header import _first_record, _session_record
from ._hooks import _LOGGER

if TYPE_CHECKING:
    from ._writer import EventLog

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


#: seconds between two tries while only readers hold the file's lock
_READER_PAUSE: Final[float] = 0.001
#: seconds after which a lock only ever held shared is taken for another writer's
_READERS_MAX: Final[float] = 10.0


def _lock(fd: int, path: str) -> None:
    """Take the writer's exclusive flock, or raise `LogLockedError` if a writer has it.

    A reader (`_reader._writer_active`) takes a shared lock for a moment to
    ask whether a writer is live, which makes a non-blocking exclusive lock
    fail too. A shared lock of our own tells the two apart: it fails only
    while another writer holds the exclusive lock; when it succeeds, only
    readers were in the way, so we try again (a reader holds it for
    microseconds). Trying again converts our shared lock, which flock does
    by dropping it first: of two writers opening at once, one gets the lock
    and the other then finds it held exclusively and is refused.
    """
    deadline = time.monotonic() + _READERS_MAX
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LogLockedError(path) from None
        if time.monotonic() > deadline:  # a "reader" that never lets go: say it is locked
            raise LogLockedError(path)
        time.sleep(_READER_PAUSE)


def open_session(log: EventLog, config: dict[str, Any], charts: Any) -> None:
    """Open, lock and start a session: one sequence, kept whole so its order is visible.

    The order matters for crash safety: take the flock before reading
    anything (a second writer must fail before it looks), drop a signature
    torn by a creator that died (no record exists yet), refuse a file that
    is no log, keep the run id across resumes, then write and fsync the
    session header (and the folder entry of a new file) before any data.
    """
    folder = os.path.dirname(os.path.abspath(log.path))
    if not os.path.isdir(folder):  # runs/exp1/run.log on a fresh checkout
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise PathError(folder, f"cannot create folder ({e.strerror or e})") from None
    # O_NONBLOCK: a FIFO must not block the open (it is refused just below)
    flags = os.O_RDWR | os.O_APPEND | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    created = False  # by this open: a failed first write removes it (`_undo_open`)
    try:
        try:
            fd = os.open(log.path, flags | os.O_CREAT | os.O_EXCL, 0o644)
            created = True
        except FileExistsError:
            fd = os.open(log.path, flags)
    except OSError as e:
        raise PathError(log.path, f"cannot open for writing ({e.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PathError(
                log.path, "is not a regular file (a FIFO, device or socket); a log is a file"
            )
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    size = -1  # known once the lock is held: only then may a failed open cut the file
    try:
        if fcntl is not None:
            _lock(fd, log.path)
        size = os.fstat(fd).st_size
        head = os.pread(fd, len(FILE_MAGIC) + _format.HEADER_SIZE, 0) if size else b""
        if 0 < size < len(FILE_MAGIC) and FILE_MAGIC.startswith(head):
            # A creation that died before its signature was complete: no record
            # exists yet, so starting over loses nothing.
            os.ftruncate(fd, 0)
            size, head = 0, b""
        run_id, resumed = uuid.uuid4().hex, size > 0
        if resumed:
            state = _format.signature_state(head)
            if state == "none":
                raise LogFormatError(
                    log.path, 0, "not a curvelog log (bad signature); refusing to append"
                )
            if state == "damaged":  # the records are intact: appending loses nothing
                _LOGGER.warning(
                    "curvelog: %s has a damaged file signature; appending anyway "
                    "(readers report it and read every record)",
                    log.path,
                )
            first = _first_record(fd)
            if first.get("type") == "session" and isinstance(first.get("run_id"), str):
                run_id = first["run_id"]
        objective = {"metric": log.best_metric, "mode": log.mode} if log.best_metric else None
        log.sid = uuid.uuid4().hex[:16]
        log.run_id = run_id
        record = _session_record(
            log.sid, run_id, resumed=resumed, config=config, charts=charts,
            objective=objective, name=log.name,
        )  # fmt: skip
        data = _format.encode_frame(_format.pack(record))
        log._fd = fd
        written = _format.append_at(fd, data if resumed else FILE_MAGIC + data, size)
        os.fsync(fd)
        log._mark = log._mark._replace(size=written)
        if not resumed:
            from .._fs import fsync_dir

            fsync_dir(folder)
    except BaseException as e:
        log._fd = -1
        _undo_open(log.path, fd, size, created)
        if isinstance(e, OSError) and not isinstance(e, CurvelogError):  # a full disk
            raise PathError(
                log.path, f"cannot write the session header ({e.strerror or e})"
            ) from None
        raise


def _undo_open(path: str, fd: int, size: int, created: bool) -> None:
    """After a failed open: no half session record left behind, and no file that this
    open created (every reader would refuse an empty one as no log), then the fd
    closed. ``size`` is -1 until the lock was taken: before that, nothing is touched
    (another writer may have the file)."""
    try:
        if created and size == 0 and os.path.samestat(os.stat(path), os.fstat(fd)):
            os.unlink(path)  # made and locked by us: no other writer can be in it
        elif os.fstat(fd).st_size > size >= 0:
            os.ftruncate(fd, size)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def no_writer(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the writer lock of the log at ``path`` (if there is one) while a
    command replaces it (``import ... --force``).

    The atomic rename of a new log over one that an `EventLog` is writing would
    leave the writer appending to the old, unlinked file without an error: the
    whole run lost. So a log a writer holds is refused (`PathError`), and while
    the lock is held here no writer can open the old file either.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # nothing there (or unreadable: the replace itself will say so)
        yield
        return
    try:
        if fcntl is not None and stat.S_ISREG(os.fstat(fd).st_mode):
            try:
                _lock(fd, os.fspath(path))  # readers asking "is it live?" are waited for
            except LogLockedError:
                raise PathError(
                    os.fspath(path), "is being written by an EventLog; refusing to replace it"
                ) from None
        yield
    finally:
        os.close(fd)
